package uploader

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// TLSMode says how a connection is encrypted.
type TLSMode string

// The TLS modes. There is no mode that tries TLS and falls back to
// plaintext: TLSNone must be asked for explicitly.
const (
	TLSImplicit TLSMode = "implicit" // TLS from the first byte (port 993)
	TLSStartTLS TLSMode = "starttls" // plaintext greeting, then STARTTLS before anything else (port 143)
	TLSNone     TLSMode = "none"     // no encryption at all
)

// ParseTLSMode parses a --tls value.
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(s); m {
	case TLSImplicit, TLSStartTLS, TLSNone:
		return m, nil
	}
	return "", fmt.Errorf("unknown TLS mode %q (want implicit, starttls or none)", s)
}

// DefaultPort is the IMAP port for a TLS mode.
func (m TLSMode) DefaultPort() int {
	if m == TLSImplicit {
		return 993
	}
	return 143
}

// Config says how to reach and log in to the server. Its String method and
// every error built from it leave the secrets out.
type Config struct {
	Host string
	Port int
	TLS  TLSMode
	// CAFile is a PEM file of certificates to trust instead of the
	// system's, for servers with a private CA.
	CAFile string
	// InsecureSkipVerify turns certificate verification off.
	InsecureSkipVerify bool

	User string
	// Password logs in with LOGIN (or AUTHENTICATE PLAIN when the server
	// disables LOGIN). Never logged.
	Password string
	// OAuth2Token logs in with OAUTHBEARER or XOAUTH2 (whichever the server
	// offers; Mechanism forces one). Never logged.
	OAuth2Token string
	// Mechanism forces an authentication mechanism: LOGIN, PLAIN, XOAUTH2
	// or OAUTHBEARER; "" picks one.
	Mechanism string

	// Timeout bounds connecting, and waiting for any one server reply.
	Timeout time.Duration
	// DryRun makes every connection refuse CREATE, SUBSCRIBE and APPEND.
	DryRun bool
}

// Addr is host:port.
func (c *Config) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

func (c *Config) String() string {
	return fmt.Sprintf("%s@%s (tls %s)", c.User, c.Addr(), c.TLS)
}

func (c *Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 60 * time.Second
}

// tlsConfig builds the TLS configuration: the system's roots or CAFile's,
// verifying the host name, TLS 1.2 at least.
func (c *Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", c.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// conn is an established connection: TLS done as configured, the greeting
// read, and every write going through the guard.
type conn struct {
	net.Conn // the guarded connection
	// greeting is the server's greeting line, CRLF included.
	greeting string
	// br holds what was read past the greeting (nothing, normally).
	br *bufio.Reader
	// preauth is set when the greeting was PREAUTH.
	preauth bool
}

// Read reads through br, so nothing read while handling the greeting is
// lost.
func (c *conn) Read(p []byte) (int, error) { return c.br.Read(p) }

// replayGreeting returns a net.Conn that first yields the greeting again,
// for imapclient, which wants to read it itself.
func (c *conn) replayGreeting() net.Conn {
	return &replayConn{conn: c, r: io.MultiReader(strings.NewReader(c.greeting), c.br)}
}

type replayConn struct {
	*conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// dial connects as cfg says: TCP, TLS (implicit, or STARTTLS done here
// before anything else is sent, and never skipped when the server does not
// offer it), the greeting, and the guard on top. Errors wrap ErrConnect.
func dial(ctx context.Context, cfg *Config) (*conn, error) {
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: cfg.timeout()}
	raw, err := d.DialContext(ctx, "tcp", cfg.Addr())
	if err != nil {
		return nil, fmt.Errorf("%w to %s: %v", ErrConnect, cfg.Addr(), cleanNetErr(err))
	}
	nc := raw
	fail := func(err error) (*conn, error) {
		nc.Close()
		return nil, err
	}
	if cfg.TLS == TLSImplicit {
		t := tls.Client(raw, tc)
		hctx, cancel := context.WithTimeout(ctx, cfg.timeout())
		err := t.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return fail(tlsError(cfg, err))
		}
		nc = t
	}
	nc.SetReadDeadline(time.Now().Add(cfg.timeout()))
	br := bufio.NewReader(nc)
	greeting, err := br.ReadString('\n')
	if err != nil {
		return fail(fmt.Errorf("%w to %s: no IMAP greeting: %v", ErrConnect, cfg.Addr(), cleanNetErr(err)))
	}
	upper := strings.ToUpper(greeting)
	switch {
	case strings.HasPrefix(upper, "* OK"):
	case strings.HasPrefix(upper, "* PREAUTH"):
	case strings.HasPrefix(upper, "* BYE"):
		text := strings.TrimSpace(greeting[5:])
		return fail(markBusy(fmt.Errorf("%w to %s: the server refused the connection: %s", ErrConnect, cfg.Addr(), text), "", text))
	default:
		return fail(fmt.Errorf("%w to %s: not an IMAP server (greeting %q)", ErrConnect, cfg.Addr(), truncate(strings.TrimSpace(greeting), 60)))
	}
	preauth := strings.HasPrefix(upper, "* PREAUTH")
	if cfg.TLS == TLSStartTLS {
		if preauth {
			return fail(fmt.Errorf("%w to %s: the server sent PREAUTH before STARTTLS; refusing to continue unencrypted", ErrConnect, cfg.Addr()))
		}
		if _, err := io.WriteString(nc, "S0 STARTTLS\r\n"); err != nil {
			return fail(fmt.Errorf("%w to %s: %v", ErrConnect, cfg.Addr(), cleanNetErr(err)))
		}
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return fail(fmt.Errorf("%w to %s: STARTTLS: %v", ErrConnect, cfg.Addr(), cleanNetErr(err)))
			}
			if !strings.HasPrefix(line, "S0 ") {
				continue // untagged data
			}
			if !strings.HasPrefix(strings.ToUpper(line), "S0 OK") {
				return fail(fmt.Errorf("%w to %s: the server does not do STARTTLS (%s); use --tls implicit (port 993), or --tls none only on a network you trust", ErrConnect, cfg.Addr(), strings.TrimSpace(line[3:])))
			}
			break
		}
		if br.Buffered() > 0 {
			// RFC 9051 §6.2.1: nothing may follow the OK before the handshake.
			return fail(fmt.Errorf("%w to %s: unexpected data after STARTTLS (possible injection attack)", ErrConnect, cfg.Addr()))
		}
		t := tls.Client(raw, tc)
		hctx, cancel := context.WithTimeout(ctx, cfg.timeout())
		err := t.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return fail(tlsError(cfg, err))
		}
		nc = t
		br = bufio.NewReader(nc)
		// imapclient expects a greeting; the real one was before TLS and
		// its capabilities must not be trusted (RFC 9051 §6.2.1).
		greeting = "* OK TLS established\r\n"
	}
	nc.SetReadDeadline(time.Time{})
	g := newGuardConn(nc, !cfg.DryRun)
	return &conn{Conn: g, greeting: greeting, br: bufio.NewReaderSize(&readerOf{br}, 64<<10), preauth: preauth}, nil
}

// readerOf hides bufio.Reader's WriteTo so reads go through Read.
type readerOf struct{ r *bufio.Reader }

func (r *readerOf) Read(p []byte) (int, error) { return r.r.Read(p) }

// tlsError explains a failed handshake; certificate problems get a hint.
func tlsError(cfg *Config, err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var inval x509.CertificateInvalidError
	var verr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknown) || (errors.As(err, &verr) && errors.As(verr.Err, &unknown)):
		return fmt.Errorf("%w to %s: the server's TLS certificate is not signed by a trusted authority; if the server uses a private CA, pass it with --ca-file", ErrConnect, cfg.Addr())
	case errors.As(err, &host):
		return fmt.Errorf("%w to %s: the server's TLS certificate is not valid for %q (%v)", ErrConnect, cfg.Addr(), cfg.Host, host.Error())
	case errors.As(err, &inval):
		return fmt.Errorf("%w to %s: the server's TLS certificate is invalid: %v", ErrConnect, cfg.Addr(), inval.Error())
	}
	return fmt.Errorf("%w to %s: TLS handshake failed: %v (is --tls %s right for port %d?)", ErrConnect, cfg.Addr(), cleanNetErr(err), cfg.TLS, cfg.Port)
}

// cleanNetErr drops the noise of *net.OpError ("dial tcp 127.0.0.1:1:
// connect: connection refused" -> "connection refused").
func cleanNetErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
		var sc *os.SyscallError
		if errors.As(err, &sc) {
			err = sc.Err
		}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "cannot resolve host name " + dns.Name
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "timed out"
	}
	if errors.Is(err, io.EOF) {
		return "the server closed the connection"
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
