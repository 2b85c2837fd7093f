package uploader

import (
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
)

// Authentication mechanisms.
const (
	MechLogin       = "LOGIN" // the IMAP LOGIN command
	MechPlain       = "PLAIN"
	MechXOAuth2     = "XOAUTH2"     // Gmail, Microsoft 365
	MechOAuthBearer = "OAUTHBEARER" // RFC 7628
)

// chooseMech picks how to log in, from the configuration and the server's
// capabilities. It never picks a mechanism that sends a password when the
// user gave a token, or the other way round.
func chooseMech(cfg *Config, caps imap.CapSet) (string, error) {
	m := strings.ToUpper(cfg.Mechanism)
	if cfg.OAuth2Token != "" {
		switch {
		case m == MechXOAuth2 || m == MechOAuthBearer:
		case m != "":
			return "", fmt.Errorf("%w: mechanism %s cannot use an OAuth2 token", ErrAuth, m)
		case caps.Has(imap.AuthCap(sasl.OAuthBearer)):
			m = MechOAuthBearer
		case caps.Has(imap.AuthCap(MechXOAuth2)):
			m = MechXOAuth2
		default:
			return "", fmt.Errorf("%w: the server offers neither OAUTHBEARER nor XOAUTH2 for the OAuth2 token", ErrAuth)
		}
		return m, nil
	}
	switch m {
	case MechLogin, MechPlain:
		return m, nil
	case "":
	default:
		return "", fmt.Errorf("%w: mechanism %s needs --oauth2-token-file", ErrAuth, m)
	}
	if caps.Has(imap.CapLoginDisabled) {
		if caps.Has(imap.AuthCap(sasl.Plain)) {
			return MechPlain, nil
		}
		return "", fmt.Errorf("%w: the server disables LOGIN and offers no AUTH=PLAIN on this connection (does it need TLS?)", ErrAuth)
	}
	return MechLogin, nil
}

// saslClient returns the SASL client for a mechanism other than LOGIN.
func saslClient(cfg *Config, mech string) sasl.Client {
	switch mech {
	case MechPlain:
		return sasl.NewPlainClient("", cfg.User, cfg.Password)
	case MechOAuthBearer:
		return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: cfg.User, Token: cfg.OAuth2Token, Host: cfg.Host, Port: cfg.Port})
	case MechXOAuth2:
		return &xoauth2Client{user: cfg.User, token: cfg.OAuth2Token}
	}
	return nil
}

// xoauth2Client is Google's and Microsoft's XOAUTH2 SASL mechanism
// (https://developers.google.com/gmail/imap/xoauth2-protocol), which
// go-sasl does not provide.
type xoauth2Client struct{ user, token string }

func (c *xoauth2Client) Start() (string, []byte, error) {
	return MechXOAuth2, []byte("user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

// Next answers the server's error challenge (a JSON status) with an empty
// response, as the protocol asks, so the server sends its tagged NO.
func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	return []byte{}, nil
}
