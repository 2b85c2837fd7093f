package uploader

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a scripted IMAP server for the APPEND connection's tests:
// it speaks just enough IMAP (CAPABILITY, LOGIN, AUTHENTICATE, STARTTLS,
// SELECT, APPEND, LOGOUT) and lets each test change what it answers, read
// exactly what the client sent, and break the connection where it wants.
type fakeServer struct {
	t  *testing.T
	ln net.Listener

	// Set before the first connection.
	greeting  string // without CRLF; default "* OK fake IMAP ready"
	caps      string // CAPABILITY before login
	authCaps  string // CAPABILITY after login
	user      string
	password  string
	tlsConfig *tls.Config // for STARTTLS
	tlsCaps   string      // CAPABILITY after STARTTLS, before login
	// auth handles AUTHENTICATE; nil answers NO.
	auth func(s *fakeSession, cmd *fakeCmd)
	// onAppend handles the n-th APPEND (from 1) of a connection; nil
	// answers OK with APPENDUID.
	onAppend func(s *fakeSession, n int, cmd *fakeCmd)
	// beforeCont is called when a command line ends with a synchronizing
	// literal, before the server sends "+".
	beforeCont func(s *fakeSession, size int64)
	// refuseLiteral, when it returns true for a synchronizing literal,
	// makes the server answer NO [TOOBIG] instead of "+".
	refuseLiteral func(s *fakeSession, size int64) bool
	// onLoginReply and onSelect replace the tagged reply to LOGIN and
	// SELECT.
	onLoginReply func(tag string) string
	onSelect     func(tag string) string

	mu      sync.Mutex
	cmds    []string // every command line received (literals as {N})
	appends [][]byte // every APPEND literal received, in order
	conns   int
	wg      sync.WaitGroup
}

// fakeSession is one connection to the fake server.
type fakeSession struct {
	srv      *fakeServer
	c        net.Conn
	br       *bufio.Reader
	authed   bool
	tls      bool
	nappend  int
	deferred []string // replies held back by a script
}

// fakeCmd is one command as received.
type fakeCmd struct {
	tag, name string
	line      string   // the whole command, literals replaced by {N} or {N+}
	args      []string // the arguments after the name (literals as strings)
	lits      [][]byte
	nonSync   []bool
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{
		t:        t,
		ln:       ln,
		greeting: "* OK fake IMAP ready",
		caps:     "IMAP4rev1 LITERAL+ AUTH=PLAIN",
		authCaps: "IMAP4rev1 LITERAL+ UIDPLUS",
		user:     "alice",
		password: "secret",
	}
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

// start serves connections until the test ends.
func (s *fakeServer) start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				sess := &fakeSession{srv: s, c: c, br: bufio.NewReader(c)}
				sess.serve()
			}()
		}
	}()
}

func (s *fakeServer) config() *Config {
	addr := s.ln.Addr().(*net.TCPAddr)
	return &Config{Host: "127.0.0.1", Port: addr.Port, TLS: TLSNone, User: s.user, Password: s.password, Timeout: 5 * time.Second}
}

// commands returns the command lines received so far.
func (s *fakeServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

func (s *fakeServer) appended() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.appends...)
}

func (f *fakeSession) write(s string) {
	f.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(f.c, s)
}

// flushDeferred writes the replies a script held back.
func (f *fakeSession) flushDeferred() {
	f.write(strings.Join(f.deferred, ""))
	f.deferred = nil
}

func (f *fakeSession) serve() {
	f.write(f.srv.greeting + "\r\n")
	for {
		cmd, err := f.readCmd()
		if err != nil {
			return
		}
		switch cmd.name {
		case "CAPABILITY":
			caps := f.srv.caps
			switch {
			case f.authed:
				caps = f.srv.authCaps
			case f.tls && f.srv.tlsCaps != "":
				caps = f.srv.tlsCaps
			}
			f.write("* CAPABILITY " + caps + "\r\n" + cmd.tag + " OK CAPABILITY completed\r\n")
		case "STARTTLS":
			if f.srv.tlsConfig == nil || f.tls {
				f.write(cmd.tag + " BAD no STARTTLS here\r\n")
				continue
			}
			f.write(cmd.tag + " OK begin TLS\r\n")
			tc := tls.Server(f.c, f.srv.tlsConfig)
			if err := tc.Handshake(); err != nil {
				return
			}
			f.c, f.br, f.tls = tc, bufio.NewReader(tc), true
		case "LOGIN":
			if len(cmd.args) == 2 && cmd.args[0] == f.srv.user && cmd.args[1] == f.srv.password {
				f.authed = true
				if f.srv.onLoginReply != nil {
					f.write(f.srv.onLoginReply(cmd.tag))
					continue
				}
				f.write(cmd.tag + " OK [CAPABILITY " + f.srv.authCaps + "] Logged in\r\n")
			} else {
				f.write(cmd.tag + " NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
			}
		case "AUTHENTICATE":
			if f.srv.auth == nil {
				f.write(cmd.tag + " NO mechanism not supported\r\n")
				continue
			}
			f.srv.auth(f, cmd)
		case "SELECT":
			if f.srv.onSelect != nil {
				f.write(f.srv.onSelect(cmd.tag))
				continue
			}
			f.write("* 0 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1700000000] UIDs valid\r\n* OK [UIDNEXT 1] Predicted next UID\r\n" + cmd.tag + " OK [READ-WRITE] Select completed\r\n")
		case "APPEND":
			f.nappend++
			f.srv.mu.Lock()
			if len(cmd.lits) > 0 {
				f.srv.appends = append(f.srv.appends, cmd.lits[len(cmd.lits)-1])
			}
			f.srv.mu.Unlock()
			if f.srv.onAppend != nil {
				f.srv.onAppend(f, f.nappend, cmd)
				continue
			}
			f.write(fmt.Sprintf("%s OK [APPENDUID 1700000000 %d] Append completed.\r\n", cmd.tag, f.nappend))
		case "LOGOUT":
			f.write("* BYE Logging out\r\n" + cmd.tag + " OK Logout completed.\r\n")
			return
		default:
			f.write(cmd.tag + " BAD unknown command\r\n")
		}
	}
}

// readLine reads one line without CRLF.
func (f *fakeSession) readLine() (string, error) {
	f.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := f.br.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}

// readCmd reads a command with its literals, sending "+" before each
// synchronizing one.
func (f *fakeSession) readCmd() (*fakeCmd, error) {
	cmd := &fakeCmd{}
	var full strings.Builder
	var parts []string // the line split around literals
	for {
		line, err := f.readLine()
		if err != nil {
			return nil, err
		}
		full.WriteString(line)
		n, nonSync, ok := fakeLiteral(line)
		if !ok {
			parts = append(parts, line)
			break
		}
		parts = append(parts, line[:strings.LastIndexByte(line, '{')])
		if !nonSync && f.srv.refuseLiteral != nil && f.srv.refuseLiteral(f, n) {
			tag, _, _ := strings.Cut(full.String(), " ")
			f.write(tag + " NO [TOOBIG] Message too large\r\n")
			f.srv.mu.Lock()
			f.srv.cmds = append(f.srv.cmds, full.String())
			f.srv.mu.Unlock()
			cmd, parts = &fakeCmd{}, nil
			full.Reset()
			continue
		}
		if !nonSync {
			if f.srv.beforeCont != nil {
				f.srv.beforeCont(f, n)
			}
			f.write("+ Ready for literal data\r\n")
		}
		lit := make([]byte, n)
		f.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(f.br, lit); err != nil {
			return nil, err
		}
		cmd.lits = append(cmd.lits, lit)
		cmd.nonSync = append(cmd.nonSync, nonSync)
		parts = append(parts, "\x00lit"+strconv.Itoa(len(cmd.lits)-1))
	}
	cmd.line = full.String()
	f.srv.mu.Lock()
	f.srv.cmds = append(f.srv.cmds, cmd.line)
	f.srv.mu.Unlock()
	words := fakeWords(strings.Join(parts, ""), cmd.lits)
	if len(words) < 2 {
		return cmd, nil
	}
	cmd.tag, cmd.name, cmd.args = words[0], strings.ToUpper(words[1]), words[2:]
	return cmd, nil
}

// fakeLiteral reports whether line ends with {N} or {N+}.
func fakeLiteral(line string) (n int64, nonSync, ok bool) {
	if !strings.HasSuffix(line, "}") {
		return 0, false, false
	}
	i := strings.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false, false
	}
	num := line[i+1 : len(line)-1]
	nonSync = strings.HasSuffix(num, "+")
	v, err := strconv.ParseInt(strings.TrimSuffix(num, "+"), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return v, nonSync, true
}

// fakeWords splits a command into words: atoms, quoted strings (unquoted),
// parenthesized lists (kept whole) and literals (their content).
func fakeWords(s string, lits [][]byte) []string {
	var out []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ':
			i++
		case c == 0:
			j := i + 4
			k := j
			for k < len(s) && s[k] >= '0' && s[k] <= '9' {
				k++
			}
			n, _ := strconv.Atoi(s[j:k])
			out = append(out, string(lits[n]))
			i = k
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			out = append(out, b.String())
			i = j + 1
		case c == '(':
			j := strings.IndexByte(s[i:], ')')
			if j < 0 {
				j = len(s) - i - 1
			}
			out = append(out, s[i:i+j+1])
			i += j + 1
		default:
			j := i
			for j < len(s) && s[j] != ' ' {
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out
}

// noBytesPending checks that the client sends nothing more for a while:
// used before "+" to prove that it waits for the continuation request.
func (f *fakeSession) noBytesPending(wait time.Duration) error {
	if n := f.br.Buffered(); n > 0 {
		return fmt.Errorf("%d bytes already sent before the continuation request", n)
	}
	f.c.SetReadDeadline(time.Now().Add(wait))
	_, err := f.br.Peek(1)
	f.c.SetReadDeadline(time.Time{})
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err == nil {
		return errors.New("the client sent literal bytes before the continuation request")
	}
	return err
}

// halfClose stops the server's side of the conversation: the client
// reads EOF after what was written; what it still sends is read and
// dropped until it closes (so no reset destroys the replies in flight).
func (f *fakeSession) halfClose() {
	if tc, ok := f.c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	f.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, f.c)
}

// writeTempFile writes data to a file in t's temporary directory.
func writeTempFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := t.TempDir() + "/" + name
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// bytesHasPrefixFold reports whether b starts with prefix, ignoring case.
func bytesHasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}
