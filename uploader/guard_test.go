package uploader

import (
	"errors"
	"net"
	"strings"
	"testing"
)

// recordConn is a net.Conn that records what is written.
type recordConn struct {
	net.Conn
	b strings.Builder
}

func (r *recordConn) Write(p []byte) (int, error) { r.b.Write(p); return len(p), nil }
func (r *recordConn) Close() error                { return nil }

func TestGuard(t *testing.T) {
	tests := []struct {
		name   string
		writes bool
		input  []string // written in these pieces
		ok     bool
		sent   string // what must have reached the wire (when !ok: nothing of the refused line)
	}{
		{"LOGIN with a literal password passes and the literal is not parsed as a command", true,
			[]string{"A1 LOGIN alice {11}\r\n", "STORE 1 +FL", "\r\n"}, true, "A1 LOGIN alice {11}\r\nSTORE 1 +FL\r\n"},
		{"APPEND with a LITERAL+ message containing command-like lines", true,
			[]string{"A2 APPEND INBOX (\\Seen) {21+}\r\nA3 EXPUNGE\r\nA4 DELETE", "\r\n"}, true, "A2 APPEND INBOX (\\Seen) {21+}\r\nA3 EXPUNGE\r\nA4 DELETE\r\n"},
		{"APPEND refused in a dry run (RFC 3501 §6.3.11 is a write)", false,
			[]string{"A2 APPEND INBOX {3+}\r\nabc\r\n"}, false, ""},
		{"CREATE refused in a dry run", false, []string{"A1 CREATE Foo\r\n"}, false, ""},
		{"EXPUNGE refused", true, []string{"A1 EXPUNGE\r\n"}, false, ""},
		{"UID EXPUNGE refused", true, []string{"A1 UID EXPUNGE 1:*\r\n"}, false, ""},
		{"STORE refused (flag change)", true, []string{"A1 UID STORE 1 +FLAGS (\\Deleted)\r\n"}, false, ""},
		{"DELETE refused", true, []string{"A1 DELETE INBOX\r\n"}, false, ""},
		{"RENAME refused", true, []string{"A1 RENAME a b\r\n"}, false, ""},
		{"MOVE refused", true, []string{"A1 UID MOVE 1 Trash\r\n"}, false, ""},
		{"COPY refused", true, []string{"A1 COPY 1 Trash\r\n"}, false, ""},
		{"CLOSE refused (expunges silently, RFC 9051 §6.4.1)", true, []string{"A1 CLOSE\r\n"}, false, ""},
		{"FETCH BODY[] refused (sets \\Seen)", true, []string{"A1 FETCH 1 (BODY[])\r\n"}, false, ""},
		{"FETCH RFC822 refused (sets \\Seen)", true, []string{"A1 UID FETCH 1:* (UID RFC822)\r\n"}, false, ""},
		{"FETCH BODY.PEEK passes", false, []string{"A1 UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (Message-ID)] RFC822.SIZE)\r\n"}, true,
			"A1 UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (Message-ID)] RFC822.SIZE)\r\n"},
		{"a refused command split across writes sends nothing of it", true, []string{"A1 EXP", "UNGE\r\n"}, false, ""},
		{"AUTHENTICATE continuation lines pass", false, []string{"A1 AUTHENTICATE PLAIN\r\n", "AGFsaWNlAHB3\r\n"}, true, "A1 AUTHENTICATE PLAIN\r\nAGFsaWNlAHB3\r\n"},
		{"a single-token line outside AUTHENTICATE is refused", false, []string{"A1 NOOP\r\n", "EXPUNGE\r\n"}, false, "A1 NOOP\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := &recordConn{}
			g := newGuardConn(rc, tc.writes)
			var err error
			for _, in := range tc.input {
				if _, err = g.Write([]byte(in)); err != nil {
					break
				}
			}
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrRefusedCommand) {
				t.Fatalf("err = %v, want ErrRefusedCommand", err)
			}
			if got := rc.b.String(); got != tc.sent {
				t.Errorf("sent %q, want %q", got, tc.sent)
			}
		})
	}
}

func TestGuardStaysClosedAfterRefusal(t *testing.T) {
	rc := &recordConn{}
	g := newGuardConn(rc, true)
	if _, err := g.Write([]byte("A1 EXPUNGE\r\n")); err == nil {
		t.Fatal("EXPUNGE passed")
	}
	if _, err := g.Write([]byte("A2 NOOP\r\n")); err == nil {
		t.Fatal("the connection was usable after a refusal")
	}
	if rc.b.Len() != 0 {
		t.Fatalf("sent %q", rc.b.String())
	}
}
