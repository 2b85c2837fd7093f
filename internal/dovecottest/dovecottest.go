// Package dovecottest runs a real Dovecot IMAP server (Debian's
// dovecot-imapd, Dovecot 2.3) on a free loopback port with a throwaway
// configuration, for the integration tests and benchmarks of archive2imap.
//
// Each server lives in a fresh directory of its own (configuration, base_dir,
// state_dir, log, TLS files and the users' mail), listens on 127.0.0.1 only,
// and is stopped, with every process it started, by Close. The package never
// reads or changes the system's Dovecot configuration (/etc/dovecot) and never
// talks to a running system instance.
//
// Typical use in a test:
//
//	s := dovecottest.Start(t, dovecottest.Options{TLS: true})
//	c, err := imapclient.DialInsecure(s.Addr(), nil)
//	...
//	err = c.Login(s.Users[0].Name, s.Users[0].Password).Wait()
//	...
//	out, err := s.Doveadm("fetch", "-u", s.Users[0].Name, "guid flags", "mailbox", "INBOX")
//
// A start takes about 0.1 s (0.15 s with TLS, which makes a fresh key pair).
// Wrong passwords are refused at once: the configuration turns off Dovecot's
// failure delay and per-IP auth penalty, so tests of failed logins stay fast.
//
// Run as root (as CI does), Dovecot needs a non-root user to own the mail:
// the helper uses the system user "a2imail" and, when it does not exist yet,
// creates it once with
//
//	useradd --system --no-create-home --shell /usr/sbin/nologin a2imail
//
// (only ever as root; nothing else on the system is changed). The login and
// internal processes run as Debian's "dovenull" and "dovecot" users. Run as an
// ordinary user, every Dovecot process runs as that user and nothing is
// created outside the server's directory.
package dovecottest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ErrNotInstalled is returned by StartProcess when no dovecot binary is found.
var ErrNotInstalled = errors.New("dovecot is not installed (Debian: apt-get install dovecot-imapd)")

// Options configure a server. The zero value is a working server with one
// user, Maildir storage, no fsync and plaintext IMAP only.
type Options struct {
	// Users who can log in. Default: one user "alice" with a random
	// password (see Server.Users). A name may not contain ':', '/', '%',
	// spaces or control characters; a password may not contain ':' or
	// control characters (they are stored in a passwd-file as {PLAIN}).
	Users []User

	// Storage is the mail storage format: "maildir" (the default) or
	// "mdbox". Dovecot's Maildir slows down a lot once a folder holds more
	// than a few thousand messages; benchmarks use "mdbox".
	Storage string

	// FSync sets mail_fsync = optimized (Dovecot's default) when true, and
	// mail_fsync = never when false, which keeps tests fast.
	FSync bool

	// TLS makes the server also serve implicit TLS (imaps, Server.TLSPort)
	// and STARTTLS on Server.Port, with a certificate for "localhost" and
	// 127.0.0.1 signed by a throwaway CA whose PEM is Server.CAFile.
	// Plaintext LOGIN stays allowed on Port before STARTTLS; to refuse it,
	// put "disable_plaintext_auth = yes" in Extra.
	TLS bool

	// SpecialUse maps an RFC 6154 special-use attribute (`\Sent`,
	// `\Drafts`, `\Trash`, `\Junk`, `\Archive`, `\All`, `\Flagged`,
	// `\Important`) to the name of the mailbox that carries it. Each
	// mailbox is created and subscribed at first login (auto = subscribe).
	// Default (nil): \Sent "Sent", \Drafts "Drafts", \Trash "Trash", \Junk
	// "Junk", \Archive "Archive". A non-nil empty map means no special-use
	// mailboxes. Several attributes may name the same mailbox.
	SpecialUse map[string]string

	// MaxUserConnections is mail_max_userip_connections for IMAP: how many
	// sessions one user may have open from one IP address. 0 keeps
	// Dovecot's default of 10.
	MaxUserConnections int

	// Port is the IMAP port to listen on; 0 (the default, and what tests
	// want) picks a free one. A fixed port is for the practice server.
	Port int

	// Extra is appended verbatim to the end of the configuration, so it
	// can add or override settings: quota plugins, login_trusted_networks,
	// disable_plaintext_auth, imap_capability, and so on.
	Extra string
}

// User is an account on the test server.
type User struct {
	Name     string
	Password string
}

// Server is a running Dovecot instance. Its exported fields are set by Start
// and StartProcess and must not be changed.
type Server struct {
	// Host is the address the server listens on: "127.0.0.1".
	Host string
	// Port is the IMAP port: plaintext, and with Options.TLS it also
	// offers STARTTLS.
	Port int
	// TLSPort is the implicit-TLS (imaps) port when Options.TLS, else 0.
	TLSPort int
	// CAFile is the path of the PEM certificate of the CA that signed the
	// server's certificate, when Options.TLS, else "".
	CAFile string
	// Users are the accounts that can log in, with their passwords.
	Users []User
	// Dir is the server's own directory (configuration, logs, mail). Close
	// removes it.
	Dir string
	// Config is the path of the server's dovecot.conf, for doveadm and
	// doveconf (-c Config).
	Config string

	bin     binaries
	logPath string
	errPath string // dovecot's own stdout and stderr (errors before logging starts)
	proc    *process

	closeOnce sync.Once
	closeErr  error
}

// Addr returns the plaintext (or STARTTLS) IMAP address, "127.0.0.1:port".
func (s *Server) Addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// TLSAddr returns the implicit-TLS IMAP address when Options.TLS, else "".
func (s *Server) TLSAddr() string {
	if s.TLSPort == 0 {
		return ""
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(s.TLSPort))
}

// Log returns the contents of the Dovecot log (and anything Dovecot printed
// before its log was open), for test failure messages. Dovecot logs no
// passwords.
func (s *Server) Log() string {
	logText, _ := os.ReadFile(s.logPath)
	errText, _ := os.ReadFile(s.errPath)
	// Dovecot writes its fatal start-up errors to both; keep the stderr
	// lines the log lacks (those from before the log was open).
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(errText), "\n") {
		if strings.TrimSpace(line) != "" && !bytes.Contains(logText, bytes.TrimSpace([]byte(line))) {
			b.WriteString(line)
		}
	}
	b.Write(logText)
	return b.String()
}

// Doveadm runs `doveadm -c <Config> args...` against this instance and
// returns its standard output, e.g.
//
//	s.Doveadm("fetch", "-u", "alice", "guid flags", "mailbox", "INBOX")
//
// The error, if any, includes doveadm's standard error.
func (s *Server) Doveadm(args ...string) ([]byte, error) {
	if s.bin.doveadm == "" {
		return nil, errors.New("doveadm is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin.doveadm, append([]string{"-c", s.Config}, args...)...)
	cmd.Dir = s.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("doveadm %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Close stops Dovecot (SIGTERM to its process group, SIGKILL if it lingers),
// waits until none of its processes is left, and removes Dir. It may be
// called more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.proc != nil {
			if err := s.proc.stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping dovecot in %s: %w", s.Dir, err))
			}
		}
		if err := os.RemoveAll(s.Dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", s.Dir, err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Installed reports whether the dovecot binary is available (in PATH or in
// /usr/sbin, where Debian puts it).
func Installed() bool {
	_, err := findBinaries()
	return err == nil
}

var skipNotice sync.Once

// Start starts a server for a test, waits until it answers with its IMAP
// greeting and registers t.Cleanup to stop it (and, when the test failed, to
// log the tail of Dovecot's log). When Dovecot is not installed the test is
// skipped with a loud notice on standard error, unless the CI environment
// variable is set: then it fails, as CI must run the real-server tests.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if !Installed() {
		msg := "dovecot is not installed, so the real-Dovecot tests did NOT run; install Debian's dovecot-imapd (apt-get install dovecot-imapd) or run .ci/run"
		if os.Getenv("CI") != "" {
			t.Fatalf("%s (CI is set: CI must run them)", msg)
		}
		skipNotice.Do(func() {
			fmt.Fprintf(os.Stderr, "\n*** dovecottest: SKIPPING: %s ***\n\n", msg)
		})
		t.Skipf("SKIPPING: %s", msg)
	}
	s, err := StartProcess(opts)
	if err != nil {
		t.Fatalf("dovecottest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dovecot log (%s), last lines:\n%s", s.logPath, tail(s.Log(), 60))
		}
		if err := s.Close(); err != nil {
			t.Errorf("dovecottest: %v", err)
		}
	})
	return s
}

// startTimeout bounds one attempt to start Dovecot; a healthy start takes
// well under a second.
const startTimeout = 15 * time.Second

// StartProcess starts a server as Start does, without a test: for benchmarks
// and the bench command. The caller must call Close. It returns
// ErrNotInstalled when Dovecot is missing. A failed start's error includes
// the tail of Dovecot's log.
func StartProcess(opts Options) (*Server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	ids, err := resolveIdentity()
	if err != nil {
		return nil, err
	}
	// Another process may grab a port between our probe and Dovecot's
	// bind; then Dovecot exits with "Address already in use" and we try
	// again with fresh ports.
	const attempts = 5
	for i := 1; ; i++ {
		s, err := startOnce(bin, cfg, ids)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errAddrInUse) || i == attempts || cfg.port != 0 {
			return nil, err
		}
	}
}

var errAddrInUse = errors.New("address already in use")

func startOnce(bin binaries, cfg config, ids identity) (_ *Server, err error) {
	dir, err := makeServerDir(ids)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Host:    "127.0.0.1",
		Dir:     dir,
		Users:   cfg.users,
		Config:  filepath.Join(dir, "dovecot.conf"),
		bin:     bin,
		logPath: filepath.Join(dir, "dovecot.log"),
		errPath: filepath.Join(dir, "dovecot.stderr"),
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	if s.Port = cfg.port; s.Port == 0 {
		if s.Port, err = freePort(); err != nil {
			return nil, err
		}
	}
	var certFile, keyFile string
	if cfg.tls {
		if s.TLSPort, err = freePort(); err != nil {
			return nil, err
		}
		if s.CAFile, certFile, keyFile, err = writeCertificates(filepath.Join(dir, "tls")); err != nil {
			return nil, err
		}
	}
	if err := writeAccounts(dir, cfg.users, ids); err != nil {
		return nil, err
	}
	token := randomHex(8)
	conf := cfg.render(renderParams{
		dir:      dir,
		port:     s.Port,
		tlsPort:  s.TLSPort,
		certFile: certFile,
		keyFile:  keyFile,
		greeting: "Dovecot ready (dovecottest " + token + ")",
		ids:      ids,
	})
	if err := os.WriteFile(s.Config, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("writing dovecot config: %w", err)
	}

	errFile, err := os.Create(s.errPath)
	if err != nil {
		return nil, fmt.Errorf("creating dovecot output file: %w", err)
	}
	defer errFile.Close()
	cmd := exec.Command(bin.dovecot, "-F", "-c", s.Config)
	cmd.Dir = dir
	cmd.Stdin = nil
	cmd.Stdout = errFile
	cmd.Stderr = errFile
	cmd.Env = dovecotEnv()
	if s.proc, err = startProcess(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin.dovecot, err)
	}
	if err := s.waitReady(token); err != nil {
		log := s.Log()
		if strings.Contains(log, "Address already in use") {
			err = fmt.Errorf("%w: %v", errAddrInUse, err)
		}
		return nil, fmt.Errorf("dovecot in %s did not start: %w\ndovecot log, last lines:\n%s", dir, err, tail(log, 40))
	}
	return s, nil
}

// waitReady waits until the IMAP port answers with this instance's greeting
// (which carries token, so a foreign server that took the port is not
// mistaken for ours), or Dovecot exits, or startTimeout passes.
func (s *Server) waitReady(token string) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.proc.exited:
			return fmt.Errorf("dovecot exited: %v", s.proc.waitErr)
		default:
		}
		greeting, err := readGreeting(s.Addr())
		if err == nil {
			if !strings.Contains(greeting, token) {
				return fmt.Errorf("%s answered with another server's greeting %q: %w", s.Addr(), greeting, errAddrInUse)
			}
			return nil
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no IMAP greeting on %s after %v: %v", s.Addr(), startTimeout, last)
}

func readGreeting(addr string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 0, 512)
	tmp := make([]byte, 512)
	for !bytes.Contains(buf, []byte("\r\n")) && len(buf) < 4096 {
		n, err := conn.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			return "", fmt.Errorf("reading the greeting: %w", err)
		}
	}
	line, _, _ := strings.Cut(string(buf), "\r\n")
	if !strings.HasPrefix(line, "* OK") {
		return "", fmt.Errorf("unexpected greeting %q", line)
	}
	return line, nil
}

// freePort asks the kernel for a free loopback port. The port is released
// before Dovecot binds it; StartProcess retries if it was taken meanwhile.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// binaries are the paths of the Dovecot programs.
type binaries struct {
	dovecot string
	doveadm string // "" when missing
}

func findBinaries() (binaries, error) {
	var b binaries
	b.dovecot = lookPath("dovecot", "/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
	if b.dovecot == "" {
		return b, ErrNotInstalled
	}
	b.doveadm = lookPath("doveadm", "/usr/bin/doveadm", "/usr/local/bin/doveadm")
	return b, nil
}

func lookPath(name string, fallbacks ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range fallbacks {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// dovecotEnv is a small, predictable environment for the dovecot master
// (Dovecot itself clears most of it for its children).
func dovecotEnv() []string {
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, k := range []string{"USER", "HOME", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d earlier lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
