package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/archive2imap/archive2imap/report"
	"github.com/archive2imap/archive2imap/uploader"
)

// passwordEnv is the environment variable a password may come from.
const passwordEnv = "ARCHIVE2IMAP_PASSWORD"

// serverFlags say how to reach and log in to the IMAP server. There is no
// flag that takes a password or token: a command line is visible to every
// user of the machine (ps, /proc) and lands in shell histories.
type serverFlags struct {
	host               string
	port               int
	tls                string
	caFile             string
	insecureSkipVerify bool
	user               string
	passwordFile       string
	oauth2TokenFile    string
	mechanism          string
	timeout            time.Duration
	password           string // the refused --password flag, to explain the refusal
}

func (f *serverFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.host, "host", "", "IMAP server host name (required)")
	fs.IntVar(&f.port, "port", 0, "IMAP server port (default 993, or 143 with --tls starttls/none)")
	fs.StringVar(&f.tls, "tls", "", "how to encrypt: implicit (TLS from the start, port 993: the default), starttls (port 143), or none (unencrypted: only on a network you trust)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of the certificate authority that signed the server's certificate, for servers with a private CA")
	fs.BoolVar(&f.insecureSkipVerify, "insecure-skip-verify", false, "do not verify the server's certificate (unsafe: anyone on the network could read the password and the mail)")
	fs.StringVar(&f.user, "user", "", "login name on the IMAP server (required)")
	fs.StringVar(&f.passwordFile, "password-file", "", "read the password from this file (first line); otherwise from $"+passwordEnv+", otherwise asked on the terminal")
	fs.StringVar(&f.oauth2TokenFile, "oauth2-token-file", "", "log in with the OAuth2 access token in this file (XOAUTH2 or OAUTHBEARER, as Gmail and Microsoft 365 require) instead of a password")
	fs.StringVar(&f.mechanism, "auth-mechanism", "", "force an authentication mechanism: LOGIN, PLAIN, XOAUTH2 or OAUTHBEARER (default: chosen from what the server offers)")
	fs.DurationVar(&f.timeout, "timeout", 60*time.Second, "give up on a connection when the server does not answer for this long")
	fs.StringVar(&f.password, "password", "", "")
	fs.MarkHidden("password")
}

// errNoPasswordFlag explains why --password is refused, on every command
// and wherever on the command line it is given.
var errNoPasswordFlag = usagef(errors.New("there is no --password flag, because a password on the command line can be read by other users of this computer; use --password-file FILE, the " + passwordEnv + " environment variable, or type it when asked"))

// config builds the uploader configuration, reading the secret from a
// file, the environment or the terminal. It never waits for input that
// cannot come: without a password and without a terminal it fails at once.
func (f *serverFlags) config(fs *pflag.FlagSet, s *streams) (*uploader.Config, error) {
	if fs.Changed("password") {
		return nil, errNoPasswordFlag
	}
	if f.host == "" {
		return nil, usagef(errors.New("--host is required (the IMAP server's name)"))
	}
	if f.user == "" {
		return nil, usagef(errors.New("--user is required (the login name on the IMAP server)"))
	}
	cfg := &uploader.Config{
		Host: f.host, Port: f.port, CAFile: f.caFile, InsecureSkipVerify: f.insecureSkipVerify,
		User: f.user, Mechanism: strings.ToUpper(f.mechanism), Timeout: f.timeout,
	}
	switch {
	case f.tls != "":
		m, err := uploader.ParseTLSMode(f.tls)
		if err != nil {
			return nil, usagef(fmt.Errorf("--tls: %w", err))
		}
		cfg.TLS = m
	case f.port == 143:
		cfg.TLS = uploader.TLSStartTLS
	default:
		cfg.TLS = uploader.TLSImplicit
	}
	if cfg.Port == 0 {
		cfg.Port = cfg.TLS.DefaultPort()
	}
	if cfg.TLS == uploader.TLSNone {
		if !isLoopback(cfg.Host) {
			fmt.Fprintf(s.errOut, "warning: --tls none: the password and every message cross the network unencrypted\n")
		}
		if f.caFile != "" || f.insecureSkipVerify {
			return nil, usagef(errors.New("--ca-file and --insecure-skip-verify make no sense with --tls none"))
		}
	}
	if f.insecureSkipVerify {
		fmt.Fprintf(s.errOut, "warning: --insecure-skip-verify: the server's certificate is not checked\n")
	}
	switch m := cfg.Mechanism; m {
	case "", uploader.MechLogin, uploader.MechPlain, uploader.MechXOAuth2, uploader.MechOAuthBearer:
	default:
		return nil, usagef(fmt.Errorf("--auth-mechanism: unknown mechanism %q (want LOGIN, PLAIN, XOAUTH2 or OAUTHBEARER)", m))
	}
	if f.oauth2TokenFile != "" {
		if f.passwordFile != "" {
			return nil, usagef(errors.New("give either --password-file or --oauth2-token-file, not both"))
		}
		tok, err := readSecretFile(f.oauth2TokenFile, "--oauth2-token-file")
		if err != nil {
			return nil, err
		}
		cfg.OAuth2Token = tok
		return cfg, nil
	}
	pw, err := f.readPassword(s)
	if err != nil {
		return nil, err
	}
	cfg.Password = pw
	return cfg, nil
}

func (f *serverFlags) readPassword(s *streams) (string, error) {
	if f.passwordFile != "" {
		return readSecretFile(f.passwordFile, "--password-file")
	}
	if pw, ok := os.LookupEnv(passwordEnv); ok {
		if pw == "" {
			return "", usagef(errors.New("$" + passwordEnv + " is set but empty"))
		}
		return pw, nil
	}
	in, ok := s.in.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return "", usagef(errors.New("no password: use --password-file FILE or the " + passwordEnv + " environment variable (standard input is not a terminal, so it cannot be asked)"))
	}
	fmt.Fprintf(s.errOut, "Password for %s at %s: ", f.user, f.host)
	b, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(s.errOut)
	if err != nil {
		return "", usagef(fmt.Errorf("reading the password: %w", err))
	}
	if len(b) == 0 {
		return "", usagef(errors.New("empty password"))
	}
	return string(b), nil
}

// readSecretFile reads the first line of a password or token file.
func readSecretFile(path, flag string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", usagef(fmt.Errorf("%s: %w", flag, err))
	}
	defer fh.Close()
	line, err := bufio.NewReader(io.LimitReader(fh, 64<<10)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", usagef(fmt.Errorf("%s %s: %w", flag, path, err))
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usagef(fmt.Errorf("%s %s: the file is empty", flag, path))
	}
	return line, nil
}

// serverInfo is the report's description of the server: no secrets.
func serverInfo(cfg *uploader.Config) *report.Server {
	return &report.Server{Host: cfg.Host, Port: cfg.Port, TLS: string(cfg.TLS), User: cfg.User}
}

// isLoopback reports whether host is this machine, where unencrypted IMAP
// crosses no network.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
