package uploader

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
)

// The guard is what makes "never delete, expunge or change anything on the
// server" true by construction rather than by care: every connection the
// uploader opens writes through a guardConn, which reads the IMAP commands
// on their way out and refuses, before a byte of them reaches the wire, any
// command that is not on the list below. A dry run's connections refuse
// the three writes as well, so a dry run cannot write even by mistake.

// readCommands change nothing on the server. SELECT is here because
// appending into a selected mailbox is much cheaper for servers (see
// appendconn.go); it only resets \Recent, which is session state. FETCH is
// checked further: only BODY.PEEK and other non-\Seen-setting items pass.
var readCommands = map[string]bool{
	"CAPABILITY": true, "NOOP": true, "LOGOUT": true, "STARTTLS": true,
	"LOGIN": true, "AUTHENTICATE": true, "ENABLE": true, "ID": true,
	"SELECT": true, "EXAMINE": true, "UNSELECT": true,
	"LIST": true, "LSUB": true, "XLIST": true, "STATUS": true, "NAMESPACE": true,
	"FETCH": true, "UID FETCH": true, "SEARCH": true, "UID SEARCH": true,
	"GETQUOTA": true, "GETQUOTAROOT": true,
}

// writeCommands are the only writes archive2imap ever makes.
var writeCommands = map[string]bool{"CREATE": true, "SUBSCRIBE": true, "APPEND": true}

// ErrRefusedCommand is wrapped by the error a guarded connection returns
// when asked to send a command it does not allow.
var ErrRefusedCommand = errors.New("refused to send a command that could change the server")

// guardConn is a net.Conn that only lets allowed IMAP commands through.
type guardConn struct {
	net.Conn
	allowWrites bool

	mu      sync.Mutex
	line    []byte // the current command line, held until its CRLF
	scratch []byte // reused for the lines of one Write
	literal int64  // bytes of a literal still to pass through
	inAuth  bool   // after AUTHENTICATE: single-token lines are SASL responses
	// continuation is set when the last line ended in a literal: the next
	// line continues command lastCmd.
	continuation bool
	lastCmd      string
	failed       error
}

func newGuardConn(c net.Conn, allowWrites bool) *guardConn {
	return &guardConn{Conn: c, allowWrites: allowWrites}
}

// Write passes p through once every command line it completes is allowed.
// Literal data (message bodies) is not copied: the command lines and the
// literal bytes of one Write go out in one writev.
func (g *guardConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failed != nil {
		return 0, g.failed
	}
	n := len(p)
	var out net.Buffers
	lines := g.scratch[:0] // the checked lines of this Write, back to back
	for len(p) > 0 {
		if g.literal > 0 {
			k := int64(len(p))
			if k > g.literal {
				k = g.literal
			}
			out = append(out, p[:k])
			p = p[k:]
			g.literal -= k
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			g.line = append(g.line, p...)
			break
		}
		g.line = append(g.line, p[:i+1]...)
		p = p[i+1:]
		if err := g.check(g.line); err != nil {
			g.failed = err
			g.Conn.Close()
			return 0, err
		}
		start := len(lines)
		lines = append(lines, g.line...)
		out = append(out, lines[start:len(lines):len(lines)])
		g.literal = literalSize(g.line)
		g.line = g.line[:0]
	}
	g.scratch = lines[:0]
	if len(out) > 0 {
		if _, err := out.WriteTo(g.Conn); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// check decides on one complete line. A line that follows a literal is the
// rest of the same command and is not a new command.
func (g *guardConn) check(line []byte) error {
	if g.continuation {
		g.continuation = false
		return g.checkItems(g.lastCmd, line)
	}
	fields := bytes.Fields(line)
	if len(fields) == 1 && g.inAuth {
		return nil // a SASL response
	}
	g.inAuth = false
	if len(fields) < 2 {
		return fmt.Errorf("%w: malformed command line", ErrRefusedCommand)
	}
	cmd := string(bytes.ToUpper(fields[1]))
	if cmd == "UID" && len(fields) >= 3 {
		cmd += " " + string(bytes.ToUpper(fields[2]))
	}
	switch {
	case readCommands[cmd]:
	case writeCommands[cmd] && g.allowWrites:
	case writeCommands[cmd]:
		return fmt.Errorf("%w: %s in a dry run", ErrRefusedCommand, cmd)
	default:
		return fmt.Errorf("%w: %s (archive2imap only ever creates folders and appends messages)", ErrRefusedCommand, cmd)
	}
	if cmd == "AUTHENTICATE" {
		g.inAuth = true
	}
	g.lastCmd = cmd
	return g.checkItems(cmd, line)
}

// checkItems refuses FETCH items that set \Seen as a side effect
// (RFC 9051 §6.4.5: BODY[...] without .PEEK, RFC822, RFC822.TEXT).
func (g *guardConn) checkItems(cmd string, line []byte) error {
	if literalSize(line) > 0 {
		g.continuation = true
	}
	if cmd != "FETCH" && cmd != "UID FETCH" {
		return nil
	}
	up := bytes.ToUpper(line)
	if bytes.Contains(up, []byte("BODY[")) || bytes.Contains(up, []byte("BINARY[")) {
		return fmt.Errorf("%w: FETCH without PEEK would mark messages read", ErrRefusedCommand)
	}
	for _, f := range bytes.FieldsFunc(up, func(r rune) bool { return r == ' ' || r == '(' || r == ')' || r == '\r' || r == '\n' }) {
		if string(f) == "RFC822" || string(f) == "RFC822.TEXT" {
			return fmt.Errorf("%w: FETCH %s would mark messages read", ErrRefusedCommand, f)
		}
	}
	return nil
}

// literalSize returns N when line ends with a literal announcement {N} or
// {N+} (RFC 9051 §4.3, RFC 7888), else 0.
func literalSize(line []byte) int64 {
	line = bytes.TrimRight(line, "\r\n")
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0
	}
	s := string(bytes.TrimSuffix(line[i+1:len(line)-1], []byte("+")))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
