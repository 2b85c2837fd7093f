package uploader

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/archive2imap/archive2imap/internal/dovecottest"
)

// acMessage is a generated test message.
type acMessage struct {
	data  []byte
	flags []string
	date  time.Time
}

// acMessages makes n messages of sizes spread log-uniformly between min
// and max bytes, with CRLF lines, some 8-bit text, and varied flags and
// dates (in several zones), reproducibly.
func acMessages(n, min, max int, seed uint64) []acMessage {
	rng := mrand.New(mrand.NewPCG(seed, 1))
	flagSets := [][]string{nil, {`\Seen`}, {`\Seen`, `\Answered`}, {`\Flagged`, `$Forwarded`}, {`\Draft`}, {`\Seen`, `$Label1`, `Junk`}}
	zones := []*time.Location{time.UTC, time.FixedZone("", -7*3600), time.FixedZone("", 5*3600+30*60)}
	out := make([]acMessage, n)
	for i := range out {
		size := int(float64(min) * math.Pow(float64(max)/float64(min), rng.Float64()))
		var b bytes.Buffer
		fmt.Fprintf(&b, "Message-ID: <%d.%d@appendconn.test>\r\nFrom: a@example.org\r\nTo: b@example.org\r\nSubject: message %d, caf\xc3\xa9\r\n\r\n", seed, i, i)
		for b.Len() < size {
			line := make([]byte, 20+rng.IntN(70))
			for k := range line {
				line[k] = byte('a' + rng.IntN(26))
			}
			b.Write(line)
			b.WriteString(" \xc3\xa9t\xc3\xa9\r\n")
		}
		out[i] = acMessage{
			data:  b.Bytes(),
			flags: flagSets[rng.IntN(len(flagSets))],
			date:  time.Date(1995+rng.IntN(30), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), 0, zones[rng.IntN(len(zones))]),
		}
	}
	return out
}

// acMemServer serves imapmemserver on 127.0.0.1 with caps and returns the
// Config for user "alice".
func acMemServer(t testing.TB, caps imap.CapSet) (*Config, *imapmemserver.User) {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("alice", "p@ss w\"ord")
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	cfg := &Config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, TLS: TLSNone, User: "alice", Password: "p@ss w\"ord", Timeout: 20 * time.Second}
	return cfg, user
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...interface{}) {}

// acResults collects Done calls and checks they come once each, in order.
type acResults struct {
	mu    sync.Mutex
	order []int
	res   map[int]appendResult
	calls map[int]int
}

func newACResults() *acResults {
	return &acResults{res: map[int]appendResult{}, calls: map[int]int{}}
}

func (r *acResults) done(i int) func(appendResult) {
	return func(res appendResult) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.order = append(r.order, i)
		r.res[i] = res
		r.calls[i]++
	}
}

// check asserts that exactly the requests in queued got one Done call
// each, in request order.
func (r *acResults) check(t *testing.T, queued []int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Equal(r.order, queued) {
		t.Fatalf("Done calls in order %v, want %v", r.order, queued)
	}
	for i, n := range r.calls {
		if n != 1 {
			t.Errorf("request %d: Done called %d times", i, n)
		}
	}
}

func (r *acResults) get(i int) appendResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.res[i]
}

// appendAll appends the messages into mailbox and returns the indexes
// whose Append returned nil (queued).
func appendAll(t *testing.T, a *appendConn, mailbox string, msgs []acMessage, r *acResults) []int {
	t.Helper()
	var queued []int
	for i, m := range msgs {
		err := a.Append(context.Background(), appendRequest{Mailbox: mailbox, Flags: m.flags, Date: m.date, Data: m.data, Done: r.done(i)})
		if err != nil {
			continue
		}
		queued = append(queued, i)
	}
	return queued
}

func TestAppendConnMemServer(t *testing.T) {
	base := imap.CapSet{imap.CapIMAP4rev1: {}}
	for _, tc := range []struct {
		name    string
		caps    []imap.Cap
		uidplus bool
	}{
		// RFC 7888 LITERAL+: every literal non-synchronizing.
		{"LITERAL+ and UIDPLUS", []imap.Cap{imap.CapLiteralPlus, imap.CapUIDPlus}, true},
		// imapserver always offers LITERAL- (RFC 7888 §5): literals over
		// 4096 bytes wait for the continuation request.
		{"LITERAL- only", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caps := base.Copy()
			for _, c := range tc.caps {
				caps[c] = struct{}{}
			}
			cfg, _ := acMemServer(t, caps)
			ctx := context.Background()
			a, err := openAppendConn(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if got := a.Caps().Has(imap.CapLiteralPlus); got != slices.Contains(tc.caps, imap.CapLiteralPlus) {
				t.Fatalf("LITERAL+ after login = %v", got)
			}
			sel, err := a.Select(ctx, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			if sel.UIDValidity == 0 || sel.UIDNext != 1 || sel.Exists != 0 {
				t.Fatalf("SELECT INBOX = %+v", sel)
			}
			msgs := acMessages(500, 1<<10, 300<<10, 1)
			r := newACResults()
			queued := appendAll(t, a, "INBOX", msgs, r)
			if len(queued) != len(msgs) {
				t.Fatalf("%d of %d Appends returned an error", len(msgs)-len(queued), len(msgs))
			}
			if err := a.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			r.check(t, queued)
			uidOf := map[uint32]int{}
			for i := range msgs {
				res := r.get(i)
				if res.Err != nil {
					t.Fatalf("message %d: %v", i, res.Err)
				}
				// imapserver sends APPENDUID whatever it advertises.
				if res.UIDValidity != sel.UIDValidity || res.UID != uint32(i+1) {
					t.Fatalf("message %d: APPENDUID %d %d, want %d %d", i, res.UIDValidity, res.UID, sel.UIDValidity, i+1)
				}
				uidOf[res.UID] = i
			}
			acVerify(t, cfg.Addr(), "INBOX", "alice", cfg.Password, msgs, uidOf)
		})
	}
}

// acVerify reads mailbox back with imapclient and compares count, bytes,
// flags and INTERNALDATE with msgs; uidOf maps UIDs to indexes in msgs.
func acVerify(t *testing.T, addr, mailbox, user, password string, msgs []acMessage, uidOf map[uint32]int) {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if int(sel.NumMessages) != len(msgs) {
		t.Fatalf("%s has %d messages, want %d", mailbox, sel.NumMessages, len(msgs))
	}
	all := imap.SeqSet{}
	all.AddRange(1, 0)
	fetch := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	seen := map[int]bool{}
	for {
		m := fetch.Next()
		if m == nil {
			break
		}
		buf, err := m.Collect()
		if err != nil {
			t.Fatal(err)
		}
		i, ok := uidOf[uint32(buf.UID)]
		if !ok {
			t.Fatalf("UID %d is not one of the APPENDUIDs", buf.UID)
		}
		seen[i] = true
		want := msgs[i]
		var body []byte
		for _, b := range buf.BodySection {
			body = b.Bytes
		}
		if sha256.Sum256(body) != sha256.Sum256(want.data) {
			t.Errorf("message %d (UID %d): %d bytes on the server differ from the %d sent", i, buf.UID, len(body), len(want.data))
		}
		var got []string
		for _, f := range buf.Flags {
			if !strings.EqualFold(string(f), `\Recent`) {
				got = append(got, strings.ToLower(string(f)))
			}
		}
		var wantFlags []string
		for _, f := range want.flags {
			wantFlags = append(wantFlags, strings.ToLower(f))
		}
		sort.Strings(got)
		sort.Strings(wantFlags)
		if !slices.Equal(got, wantFlags) {
			t.Errorf("message %d: flags %v, want %v", i, got, wantFlags)
		}
		if !buf.InternalDate.Equal(want.date) {
			t.Errorf("message %d: INTERNALDATE %v, want %v", i, buf.InternalDate, want.date)
		}
	}
	if err := fetch.Close(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(msgs) {
		t.Fatalf("fetched %d distinct messages, want %d", len(seen), len(msgs))
	}
}

func TestAppendConnRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, reply, status, code, text string
	}{
		// RFC 9051 §7.1: TOOBIG, OVERQUOTA response codes.
		{"RFC 9051 TOOBIG", "NO [TOOBIG] Message too large", "NO", "TOOBIG", "Message too large"},
		{"RFC 9051 OVERQUOTA (Dovecot's text)", "NO [OVERQUOTA] Quota exceeded (mailbox for user is full)", "NO", "OVERQUOTA", "Quota exceeded (mailbox for user is full)"},
		// Gmail refuses some messages with a plain NO.
		{"NO without code (Gmail)", "NO [ALERT] Message rejected", "NO", "ALERT", "Message rejected"},
		{"BAD (syntax)", "BAD Error in IMAP command APPEND: Invalid arguments.", "BAD", "", "Error in IMAP command APPEND: Invalid arguments."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t)
			const bad = 5
			s.onAppend = func(f *fakeSession, n int, cmd *fakeCmd) {
				if n == bad {
					f.write(cmd.tag + " " + tc.reply + "\r\n")
					return
				}
				f.write(fmt.Sprintf("%s OK [APPENDUID 1700000000 %d] Append completed.\r\n", cmd.tag, n))
			}
			s.start()
			a, err := openAppendConn(context.Background(), s.config())
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			msgs := acMessages(10, 500, 20<<10, 2)
			r := newACResults()
			queued := appendAll(t, a, "INBOX", msgs, r)
			if err := a.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.check(t, queued)
			if len(queued) != 10 {
				t.Fatalf("queued %v", queued)
			}
			for i := range msgs {
				res := r.get(i)
				if i == bad-1 {
					var se *serverError
					if !errors.As(res.Err, &se) || se.Status != tc.status || se.Code != tc.code || se.Text != tc.text {
						t.Fatalf("message %d: %#v, want %s [%s] %s", i, res.Err, tc.status, tc.code, tc.text)
					}
					if res.UID != 0 {
						t.Errorf("refused message has UID %d", res.UID)
					}
					continue
				}
				if res.Err != nil || res.UID == 0 {
					t.Errorf("message %d: %+v", i, res)
				}
			}
			// The refused message's literal was sent once, like the others:
			// nothing resent, nothing skipped.
			if got := s.appended(); len(got) != 10 {
				t.Errorf("the server read %d literals, want 10", len(got))
			}
		})
	}
}

func TestAppendConnServerErrorText(t *testing.T) {
	e := &serverError{Status: "NO", Code: "TOOBIG", Text: "Message too large"}
	if got := e.Error(); got != "server refused: [TOOBIG] Message too large" {
		t.Errorf("Error() = %q", got)
	}
	e = &serverError{Status: "BAD", Text: "Invalid arguments"}
	if got := e.Error(); got != "server refused: Invalid arguments" {
		t.Errorf("Error() = %q", got)
	}
}

// TestAppendConnByeMidPipeline: the server reads ten APPENDs, answers the
// first five, then says BYE and closes (Dovecot does this on shutdown).
func TestAppendConnByeMidPipeline(t *testing.T) {
	s := newFakeServer(t)
	s.onAppend = func(f *fakeSession, n int, cmd *fakeCmd) {
		if n <= 5 {
			f.deferred = append(f.deferred, fmt.Sprintf("%s OK [APPENDUID 1700000000 %d] done\r\n", cmd.tag, n))
		}
		if n == 10 {
			f.flushDeferred()
			f.write("* BYE Server shutting down.\r\n")
			f.halfClose()
		}
	}
	s.start()
	a, err := openAppendConn(context.Background(), s.config())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	msgs := acMessages(10, 200, 8<<10, 3)
	r := newACResults()
	queued := appendAll(t, a, "INBOX", msgs, r)
	if len(queued) != 10 {
		t.Fatalf("queued %v", queued)
	}
	if err := a.Wait(context.Background()); !errors.Is(err, errConnClosed) {
		t.Fatalf("Wait = %v, want the connection closed", err)
	}
	r.check(t, queued)
	for i := range msgs {
		res := r.get(i)
		if i < 5 {
			if res.Err != nil || res.UID != uint32(i+1) {
				t.Errorf("message %d: %+v", i, res)
			}
			continue
		}
		if !errors.Is(res.Err, errOutcomeUnknown) || !strings.Contains(res.Err.Error(), "Server shutting down.") {
			t.Errorf("message %d: %v, want outcome unknown with the BYE text", i, res.Err)
		}
	}
	if err := a.Append(context.Background(), appendRequest{Mailbox: "INBOX", Data: msgs[0].data, Done: func(appendResult) { t.Error("Done called for a request that was not queued") }}); !errors.Is(err, errConnClosed) {
		t.Errorf("Append after BYE = %v", err)
	}
}

// TestAppendConnCutInLiteral: the connection ends in the middle of a
// message's literal. Requests answered before the cut keep their result;
// the others get errOutcomeUnknown or were never queued; none is lost or
// reported twice.
func TestAppendConnCutInLiteral(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(f *fakeSession)
	}{
		{"server half-closes", func(f *fakeSession) { f.halfClose() }},
		{"server resets", func(f *fakeSession) {
			if tc, ok := f.c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			f.c.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t)
			s.caps, s.authCaps = "IMAP4rev1 LITERAL+", "IMAP4rev1 LITERAL+ UIDPLUS"
			// Answer 4, then read half of the 5th literal and cut. readCmd
			// reads whole literals, so the 5th command is read by hand.
			s.onAppend = func(f *fakeSession, n int, cmd *fakeCmd) {
				f.write(fmt.Sprintf("%s OK [APPENDUID 1700000000 %d] done\r\n", cmd.tag, n))
				if n == 4 {
					line, err := f.readLine()
					if err != nil {
						return
					}
					size, _, _ := fakeLiteral(line)
					io.CopyN(io.Discard, f.br, size/2)
					tc.cut(f)
				}
			}
			s.start()
			a, err := openAppendConn(context.Background(), s.config())
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			msgs := acMessages(12, 30<<10, 100<<10, 4)
			r := newACResults()
			queued := appendAll(t, a, "INBOX", msgs, r)
			a.Wait(context.Background())
			r.check(t, queued)
			if len(queued) < 5 {
				t.Fatalf("only %d requests queued; the 5th was being sent at the cut", len(queued))
			}
			for _, i := range queued {
				res := r.get(i)
				switch {
				case i < 4 && tc.name == "server half-closes":
					if res.Err != nil {
						t.Errorf("message %d answered before the cut: %v", i, res.Err)
					}
				case i < 4:
					// A reset may destroy replies in flight: either is right.
					if res.Err != nil && !errors.Is(res.Err, errOutcomeUnknown) {
						t.Errorf("message %d: %v", i, res.Err)
					}
				default:
					if !errors.Is(res.Err, errOutcomeUnknown) {
						t.Errorf("message %d sent during or after the cut: %v, want outcome unknown", i, res.Err)
					}
				}
			}
		})
	}
}

// TestAppendConnUntaggedLiteral: an untagged FETCH with a literal (which
// holds text looking like a tagged reply) comes between two tagged
// replies; it must be skipped whole.
func TestAppendConnUntaggedLiteral(t *testing.T) {
	s := newFakeServer(t)
	lit := "A3 OK [APPENDUID 1 999] fake\r\n* BYE not really\r\n"
	s.onAppend = func(f *fakeSession, n int, cmd *fakeCmd) {
		f.write(fmt.Sprintf("%s OK [APPENDUID 1700000000 %d] done\r\n", cmd.tag, n))
		if n == 1 {
			f.write(fmt.Sprintf("* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {%d}\r\n%s FLAGS (\\Seen))\r\n", len(lit), lit))
			f.write("* 2 FETCH (BODY[] {0}\r\n)\r\n")
		}
	}
	s.start()
	a, err := openAppendConn(context.Background(), s.config())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	msgs := acMessages(4, 300, 3000, 5)
	r := newACResults()
	queued := appendAll(t, a, "INBOX", msgs, r)
	if err := a.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.check(t, queued)
	for i := range msgs {
		if res := r.get(i); res.Err != nil || res.UID != uint32(i+1) {
			t.Errorf("message %d: %+v", i, res)
		}
	}
}

// TestAppendConnSynchronizingLiterals: without LITERAL+ the client sends
// the command line, waits for "+", then sends the literal (RFC 9051
// §4.3); with LITERAL- only literals up to 4096 bytes go without waiting
// (RFC 7888 §5).
func TestAppendConnSynchronizingLiterals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		caps     string
		syncOver int // literals larger than this are synchronizing
	}{
		{"RFC 3501 server (no LITERAL+)", "IMAP4rev1 UIDPLUS", -1},
		{"RFC 7888 LITERAL-", "IMAP4rev1 LITERAL- UIDPLUS", 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t)
			s.caps, s.authCaps = tc.caps, tc.caps
			var mu sync.Mutex
			var problems []string
			conts := 0
			s.beforeCont = func(f *fakeSession, size int64) {
				mu.Lock()
				defer mu.Unlock()
				conts++
				if err := f.noBytesPending(50 * time.Millisecond); err != nil {
					problems = append(problems, fmt.Sprintf("literal of %d bytes: %v", size, err))
				}
			}
			s.start()
			a, err := openAppendConn(context.Background(), s.config())
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			msgs := acMessages(8, 1000, 9000, 6)
			msgs = append(msgs, acMessage{data: bytes.Repeat([]byte("x"), 4096)}, acMessage{data: bytes.Repeat([]byte("y"), 4097)})
			r := newACResults()
			queued := appendAll(t, a, "INBOX", msgs, r)
			if err := a.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.check(t, queued)
			mu.Lock()
			defer mu.Unlock()
			for _, p := range problems {
				t.Error(p)
			}
			wantConts := 0
			for _, m := range msgs {
				if len(m.data) > tc.syncOver {
					wantConts++
				}
			}
			if conts != wantConts {
				t.Errorf("%d synchronizing literals, want %d", conts, wantConts)
			}
			got := s.appended()
			if len(got) != len(msgs) {
				t.Fatalf("server read %d messages", len(got))
			}
			for i := range msgs {
				if !bytes.Equal(got[i], msgs[i].data) {
					t.Errorf("message %d differs on the server", i)
				}
			}
			for _, line := range s.commands() {
				if !strings.Contains(line, "APPEND") {
					continue
				}
				n, nonSync, _ := fakeLiteral(line)
				if want := int(n) <= tc.syncOver; nonSync != want {
					t.Errorf("%q: non-synchronizing %v, want %v", line, nonSync, want)
				}
			}
		})
	}
}

// TestAppendConnTooBigBeforeLiteral: a server without LITERAL+ may refuse
// an APPEND on its command line (imapserver and Dovecot do, for a literal
// over their limit) instead of sending "+": the client must not send the
// literal, and must go on with the next message.
func TestAppendConnTooBigBeforeLiteral(t *testing.T) {
	s := newFakeServer(t)
	s.caps, s.authCaps = "IMAP4rev1", "IMAP4rev1 UIDPLUS"
	// Refuse literals over 10000 bytes on sight, as imapserver does over
	// its APPENDLIMIT.
	s.refuseLiteral = func(f *fakeSession, size int64) bool { return size > 10000 }
	s.start()
	a, err := openAppendConn(context.Background(), s.config())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	msgs := []acMessage{
		{data: bytes.Repeat([]byte("a"), 5000)},
		{data: bytes.Repeat([]byte("b"), 20000)},
		{data: bytes.Repeat([]byte("c"), 6000)},
	}
	r := newACResults()
	queued := appendAll(t, a, "INBOX", msgs, r)
	if err := a.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.check(t, queued)
	var se *serverError
	if res := r.get(1); !errors.As(res.Err, &se) || se.Code != "TOOBIG" {
		t.Fatalf("message 1: %v, want TOOBIG", res.Err)
	}
	for _, i := range []int{0, 2} {
		if res := r.get(i); res.Err != nil {
			t.Errorf("message %d: %v", i, res.Err)
		}
	}
	got := s.appended()
	if len(got) != 2 || !bytes.Equal(got[0], msgs[0].data) || !bytes.Equal(got[1], msgs[2].data) {
		t.Errorf("server read %d messages; the refused literal must not have been sent", len(got))
	}
}

func TestAppendConnLogin(t *testing.T) {
	for _, tc := range []struct {
		name, user, password string
		wire                 string // how the LOGIN line must look (literals as {N})
	}{
		{"atoms", "alice", "secret", "LOGIN alice secret"},
		{"RFC 9051 quoted-specials", "alice@example.org", `pa"ss\word here`, `LOGIN alice@example.org "pa\"ss\\word here"`},
		{"8-bit password as literal", "alice", "pässwörd", "LOGIN alice {10+}"},
		{"empty password", "alice", "", `LOGIN alice ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t)
			s.user, s.password = tc.user, tc.password
			s.start()
			a, err := openAppendConn(context.Background(), s.config())
			if err != nil {
				t.Fatal(err)
			}
			a.Close()
			var login string
			for _, l := range s.commands() {
				if strings.Contains(l, " LOGIN ") {
					login = l[strings.IndexByte(l, ' ')+1:]
				}
			}
			if !strings.HasPrefix(login, tc.wire) {
				t.Errorf("LOGIN sent as %q, want %q", login, tc.wire)
			}
		})
	}
}

func TestAppendConnLoginRefused(t *testing.T) {
	s := newFakeServer(t)
	s.start()
	cfg := s.config()
	cfg.Password = "hunter2-wrong"
	_, err := openAppendConn(context.Background(), cfg)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "Authentication failed.") || !strings.Contains(msg, "AUTHENTICATIONFAILED") {
		t.Errorf("error %q does not carry the server's text", msg)
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error %q contains the password", msg)
	}
}

func TestAppendConnCapabilitiesAfterLogin(t *testing.T) {
	// Dovecot sends new capabilities in the LOGIN reply's code; a server
	// that does not gets a CAPABILITY command.
	for _, inCode := range []bool{true, false} {
		t.Run(fmt.Sprintf("in LOGIN reply %v", inCode), func(t *testing.T) {
			s := newFakeServer(t)
			s.caps = "IMAP4rev1 AUTH=PLAIN"
			s.authCaps = "IMAP4rev1 LITERAL+ UIDPLUS APPENDLIMIT=1000"
			if !inCode {
				s.onLoginReply = func(tag string) string { return tag + " OK Logged in\r\n" }
			}
			s.start()
			a, err := openAppendConn(context.Background(), s.config())
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			caps := a.Caps()
			if !caps.Has(imap.CapLiteralPlus) || !caps.Has(imap.CapUIDPlus) {
				t.Errorf("caps after login = %v", caps)
			}
			if lim, ok := caps.AppendLimit(); !ok || lim == nil || *lim != 1000 {
				t.Errorf("APPENDLIMIT = %v %v", lim, ok)
			}
			ncap := 0
			for _, l := range s.commands() {
				if strings.HasSuffix(l, " CAPABILITY") {
					ncap++
				}
			}
			if want := map[bool]int{true: 1, false: 2}[inCode]; ncap != want {
				t.Errorf("%d CAPABILITY commands, want %d", ncap, want)
			}
		})
	}
}

func TestAppendConnSASL(t *testing.T) {
	const token = "ya29.token-value"
	xoauth2 := "user=alice\x01auth=Bearer " + token + "\x01\x01"
	for _, tc := range []struct {
		name     string
		mech     string
		saslIR   bool
		fail     bool
		wantResp string // the decoded client response
	}{
		{"XOAUTH2 (Gmail) with SASL-IR", MechXOAuth2, true, false, xoauth2},
		{"XOAUTH2 (Microsoft 365) without SASL-IR", MechXOAuth2, false, false, xoauth2},
		{"RFC 7628 OAUTHBEARER with SASL-IR", MechOAuthBearer, true, false, "n,a=alice,\x01host=127.0.0.1\x01port=%d\x01auth=Bearer " + token + "\x01\x01"},
		{"RFC 7628 OAUTHBEARER without SASL-IR", MechOAuthBearer, false, false, "n,a=alice,\x01host=127.0.0.1\x01port=%d\x01auth=Bearer " + token + "\x01\x01"},
		{"XOAUTH2 token refused", MechXOAuth2, true, true, xoauth2},
		{"RFC 7628 OAUTHBEARER token refused", MechOAuthBearer, false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t)
			s.caps = "IMAP4rev1 AUTH=" + tc.mech
			if tc.saslIR {
				s.caps += " SASL-IR"
			}
			var mu sync.Mutex
			var got, after string
			s.auth = func(f *fakeSession, cmd *fakeCmd) {
				var ir string
				if len(cmd.args) > 1 {
					ir = cmd.args[1]
				} else {
					f.write("+ \r\n")
					ir, _ = f.readLine()
				}
				b, _ := base64.StdEncoding.DecodeString(ir)
				mu.Lock()
				got = string(b)
				mu.Unlock()
				if tc.fail {
					f.write("+ " + base64.StdEncoding.EncodeToString([]byte(`{"status":"invalid_token","schemes":"Bearer","scope":"https://mail.google.com/"}`)) + "\r\n")
					l, _ := f.readLine()
					mu.Lock()
					after = l
					mu.Unlock()
					f.write(cmd.tag + " NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n")
					return
				}
				f.authed = true
				f.write(cmd.tag + " OK [CAPABILITY " + f.srv.authCaps + "] Logged in\r\n")
			}
			s.start()
			cfg := s.config()
			cfg.Password, cfg.OAuth2Token = "", token
			a, err := openAppendConn(context.Background(), cfg)
			mu.Lock()
			defer mu.Unlock()
			want := tc.wantResp
			if strings.Contains(want, "%d") {
				want = fmt.Sprintf(want, cfg.Port)
			}
			if want != "" && got != want {
				t.Errorf("initial response %q, want %q", got, want)
			}
			if tc.fail {
				if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "Invalid credentials (Failure)") {
					t.Fatalf("err = %v, want ErrAuth with the server's text", err)
				}
				if strings.Contains(err.Error(), token) {
					t.Errorf("error %q contains the token", err)
				}
				// XOAUTH2 answers the error challenge with an empty
				// response, OAUTHBEARER with %x01 (RFC 7628 §3.2.3).
				wantAfter := map[string]string{MechXOAuth2: "=", MechOAuthBearer: "AQ=="}[tc.mech]
				if after != wantAfter {
					t.Errorf("answer to the error challenge %q, want %q", after, wantAfter)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a.Close()
		})
	}
}

// acSelfSigned makes a self-signed certificate for 127.0.0.1 and returns
// the server's TLS configuration and the certificate's PEM.
func acSelfSigned(t *testing.T) (*tls.Config, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "appendconn test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestAppendConnStartTLS: the capabilities seen before STARTTLS
// (LOGINDISABLED, no LITERAL+) are not trusted after it (RFC 9051
// §6.2.1); the login and the APPEND go over TLS.
func TestAppendConnStartTLS(t *testing.T) {
	s := newFakeServer(t)
	tc, pemBytes := acSelfSigned(t)
	s.tlsConfig = tc
	s.caps = "IMAP4rev1 STARTTLS LOGINDISABLED"
	s.tlsCaps = "IMAP4rev1 LITERAL+ AUTH=PLAIN"
	var overTLS atomic.Bool
	s.onAppend = func(f *fakeSession, n int, cmd *fakeCmd) {
		overTLS.Store(f.tls)
		f.write(fmt.Sprintf("%s OK [APPENDUID 1700000000 %d] done\r\n", cmd.tag, n))
	}
	s.start()
	cfg := s.config()
	cfg.TLS = TLSStartTLS
	cfg.CAFile = writeTempFile(t, "ca.pem", pemBytes)
	a, err := openAppendConn(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Caps().Has(imap.CapLoginDisabled) {
		t.Error("pre-TLS capabilities kept")
	}
	r := newACResults()
	msgs := acMessages(3, 10<<10, 20<<10, 7)
	queued := appendAll(t, a, "INBOX", msgs, r)
	if err := a.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.check(t, queued)
	if len(queued) != 3 || !overTLS.Load() {
		t.Fatalf("queued %v, over TLS %v", queued, overTLS.Load())
	}
	cmds := s.commands()
	if len(cmds) < 3 || cmds[0] != "S0 STARTTLS" || !strings.HasSuffix(cmds[1], " CAPABILITY") || !strings.Contains(cmds[2], " LOGIN ") {
		t.Errorf("commands %q: want STARTTLS, CAPABILITY, LOGIN", cmds[:min(3, len(cmds))])
	}
	// Without the CA file the certificate is refused.
	cfg.CAFile = ""
	if _, err := openAppendConn(context.Background(), cfg); !errors.Is(err, ErrConnect) {
		t.Errorf("self-signed certificate accepted without --ca-file: %v", err)
	}
}

// TestAppendConnDryRun: in a dry run the guard refuses the APPEND before
// it reaches the wire.
func TestAppendConnDryRun(t *testing.T) {
	s := newFakeServer(t)
	s.start()
	cfg := s.config()
	cfg.DryRun = true
	a, err := openAppendConn(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Select(context.Background(), "INBOX"); err != nil {
		t.Fatal(err)
	}
	called := false
	err = a.Append(context.Background(), appendRequest{Mailbox: "INBOX", Data: []byte("Subject: x\r\n\r\nx\r\n"), Done: func(appendResult) { called = true }})
	if !errors.Is(err, ErrRefusedCommand) {
		t.Fatalf("Append in a dry run = %v, want ErrRefusedCommand", err)
	}
	a.Wait(context.Background())
	a.Close()
	if called {
		t.Error("Done called for a refused request")
	}
	for _, l := range s.commands() {
		if strings.Contains(strings.ToUpper(l), "APPEND") {
			t.Errorf("the server saw %q", l)
		}
	}
}

func TestAppendConnTimeout(t *testing.T) {
	s := newFakeServer(t)
	s.onAppend = func(f *fakeSession, n int, cmd *fakeCmd) {} // never answers
	s.start()
	cfg := s.config()
	cfg.Timeout = 300 * time.Millisecond
	a, err := openAppendConn(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r := newACResults()
	queued := appendAll(t, a, "INBOX", acMessages(3, 100, 1000, 8), r)
	start := time.Now()
	if err := a.Wait(context.Background()); !errors.Is(err, errConnClosed) || !strings.Contains(err.Error(), "no answer from the server") {
		t.Fatalf("Wait = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout took %v", d)
	}
	r.check(t, queued)
	for _, i := range queued {
		if res := r.get(i); !errors.Is(res.Err, errOutcomeUnknown) {
			t.Errorf("message %d: %v", i, res.Err)
		}
	}
}

func TestAppendConnIdleNoTimeout(t *testing.T) {
	// Nothing pending: no read deadline, the connection stays usable.
	s := newFakeServer(t)
	s.start()
	cfg := s.config()
	cfg.Timeout = 200 * time.Millisecond
	a, err := openAppendConn(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	time.Sleep(600 * time.Millisecond)
	r := newACResults()
	queued := appendAll(t, a, "INBOX", acMessages(2, 100, 1000, 9), r)
	if err := a.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.check(t, queued)
	if len(queued) != 2 || r.get(1).Err != nil {
		t.Fatalf("queued %v, %+v", queued, r.get(1))
	}
}

func TestAppendConnContextCancel(t *testing.T) {
	s := newFakeServer(t)
	s.onAppend = func(f *fakeSession, n int, cmd *fakeCmd) {} // never answers
	s.start()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := openAppendConn(ctx, s.config())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r := newACResults()
	queued := appendAll(t, a, "INBOX", acMessages(3, 100, 1000, 10), r)
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := a.Wait(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	r.check(t, queued)
	for _, i := range queued {
		if res := r.get(i); !errors.Is(res.Err, errOutcomeUnknown) || !errors.Is(res.Err, context.Canceled) {
			t.Errorf("message %d: %v", i, res.Err)
		}
	}
}

// TestAppendConnWindow: Append blocks while window commands are in
// flight.
func TestAppendConnWindow(t *testing.T) {
	s := newFakeServer(t)
	release := make(chan struct{})
	s.onAppend = func(f *fakeSession, n int, cmd *fakeCmd) {
		f.deferred = append(f.deferred, fmt.Sprintf("%s OK [APPENDUID 1700000000 %d] done\r\n", cmd.tag, n))
		if n == 4 {
			<-release
			f.flushDeferred()
		}
		if n > 4 {
			f.flushDeferred()
		}
	}
	s.start()
	a, err := openAppendConn(context.Background(), s.config())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.window = 4 // as the executor sets it, after openAppendConn
	r := newACResults()
	msgs := acMessages(6, 100, 1000, 11)
	done := make(chan []int)
	go func() { done <- appendAll(t, a, "INBOX", msgs, r) }()
	time.Sleep(200 * time.Millisecond)
	if n := len(s.appended()); n != 4 {
		t.Errorf("with a window of 4 and no reply, the server got %d APPENDs", n)
	}
	close(release)
	queued := <-done
	if err := a.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.check(t, queued)
	if len(queued) != 6 || len(s.appended()) != 6 {
		t.Fatalf("queued %v, server got %d", queued, len(s.appended()))
	}
}

// TestAppendConnDropsData: once its literal is written, a request's Data
// is not referenced any more, even while its reply is awaited.
func TestAppendConnDropsData(t *testing.T) {
	s := newFakeServer(t)
	hold := make(chan struct{})
	s.onAppend = func(f *fakeSession, n int, cmd *fakeCmd) {
		<-hold
		f.write(fmt.Sprintf("%s OK done\r\n", cmd.tag))
	}
	s.start()
	a, err := openAppendConn(context.Background(), s.config())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var freed atomic.Bool
	func() {
		data := make([]byte, 1<<20)
		copy(data, "Subject: big\r\n\r\n")
		runtime.SetFinalizer(&data[0], func(*byte) { freed.Store(true) })
		if err := a.Append(context.Background(), appendRequest{Mailbox: "INBOX", Data: data, Done: func(appendResult) {}}); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !freed.Load() && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	close(hold)
	if !freed.Load() {
		t.Error("the message's data is still referenced while its reply is awaited")
	}
	if err := a.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestAppendConnSelectAndMailboxNames(t *testing.T) {
	for _, tc := range []struct {
		name, mailbox, wire string
	}{
		{"atom", "Archive", "Archive"},
		{"space (Outlook's Sent Items)", "Sent Items", `"Sent Items"`},
		{"RFC 3501 §5.1.3 example", "~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"ampersand", "R&D", "R&-D"},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"wildcards", "100%*", `"100%*"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t)
			s.start()
			a, err := openAppendConn(context.Background(), s.config())
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			sel, err := a.Select(context.Background(), tc.mailbox)
			if err != nil {
				t.Fatal(err)
			}
			if sel != (selectInfo{UIDValidity: 1700000000, UIDNext: 1, Exists: 0}) {
				t.Errorf("SELECT = %+v", sel)
			}
			r := newACResults()
			appendAll(t, a, tc.mailbox, []acMessage{{data: []byte("Subject: x\r\n\r\nx\r\n"), flags: []string{`\Seen`, "$Forwarded"}, date: time.Date(2004, 3, 7, 9, 5, 1, 0, time.FixedZone("", -5*3600))}}, r)
			if err := a.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			var sel1, app string
			for _, l := range s.commands() {
				if strings.Contains(l, " SELECT ") {
					sel1 = l[strings.Index(l, " SELECT ")+8:]
				}
				if strings.Contains(l, " APPEND ") {
					app = l[strings.Index(l, " APPEND ")+8:]
				}
			}
			if sel1 != tc.wire {
				t.Errorf("SELECT %s, want %s", sel1, tc.wire)
			}
			if want := tc.wire + ` (\Seen $Forwarded) "07-Mar-2004 09:05:01 -0500" {17+}`; app != want {
				t.Errorf("APPEND %s, want %s", app, want)
			}
		})
	}
}

func TestAppendConnSelectRefused(t *testing.T) {
	s := newFakeServer(t)
	s.onSelect = func(tag string) string { return tag + " NO [NONEXISTENT] Mailbox doesn't exist: Nope\r\n" }
	s.start()
	a, err := openAppendConn(context.Background(), s.config())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = a.Select(context.Background(), "Nope")
	var se *serverError
	if !errors.As(err, &se) || se.Code != "NONEXISTENT" || !strings.Contains(err.Error(), `"Nope"`) {
		t.Fatalf("Select = %v", err)
	}
}

func TestAppendParts(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  appendRequest
		want string // "" for an invalid request
	}{
		{"no flags, no date", appendRequest{Mailbox: "INBOX"}, "APPEND INBOX {0}"},
		{"RFC 3501 \\Recent cannot be set", appendRequest{Mailbox: "INBOX", Flags: []string{`\Recent`, `\Seen`}}, `APPEND INBOX (\Seen) {0}`},
		{"only \\Recent", appendRequest{Mailbox: "INBOX", Flags: []string{`\Recent`}}, `APPEND INBOX {0}`},
		{"keyword with space", appendRequest{Mailbox: "INBOX", Flags: []string{"to do"}}, ""},
		{"keyword with bracket", appendRequest{Mailbox: "INBOX", Flags: []string{"a]"}}, ""},
		{"RFC 9051 date-day-fixed, UTC", appendRequest{Mailbox: "INBOX", Date: time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)}, `APPEND INBOX "31-Dec-1999 23:59:59 +0000" {0}`},
		{"year out of range", appendRequest{Mailbox: "INBOX", Date: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts, err := appendParts(tc.req)
			if tc.want == "" {
				if !errors.Is(err, errInvalidRequest) {
					t.Fatalf("err = %v, want errInvalidRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, p := range parts {
				if p.isLit {
					fmt.Fprintf(&b, "{%d}", len(p.lit))
				} else {
					b.WriteString(p.text)
				}
			}
			if b.String() != tc.want {
				t.Errorf("got %q, want %q", b.String(), tc.want)
			}
		})
	}
}

func BenchmarkAppendConnMem(b *testing.B) {
	cfg, _ := acMemServer(b, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapLiteralPlus: {}, imap.CapUIDPlus: {}})
	ctx := context.Background()
	a, err := openAppendConn(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Select(ctx, "INBOX"); err != nil {
		b.Fatal(err)
	}
	msgs := acMessages(64, 2<<10, 40<<10, 12)
	var failed atomic.Int64
	done := func(r appendResult) {
		if r.Err != nil {
			failed.Add(1)
		}
	}
	var bytesSent int64
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		m := msgs[i%len(msgs)]
		bytesSent += int64(len(m.data))
		if err := a.Append(ctx, appendRequest{Mailbox: "INBOX", Flags: m.flags, Date: m.date, Data: m.data, Done: done}); err != nil {
			b.Fatal(err)
		}
	}
	if err := a.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d APPENDs failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	b.SetBytes(bytesSent / int64(b.N))
}

// TestAppendConnDovecot: 2,000 messages pipelined into INBOX (plaintext)
// and into a folder with a non-ASCII name (implicit TLS) of a real
// Dovecot, read back with imapclient: count, bytes, flags, INTERNALDATE,
// and the APPENDUIDs are the UIDs UID FETCH shows.
func TestAppendConnDovecot(t *testing.T) {
	if testing.Short() {
		t.Skip("real Dovecot: skipped with -short")
	}
	srv := dovecottest.Start(t, dovecottest.Options{TLS: true, Storage: "mdbox"})
	user := srv.Users[0]
	const folder = "Entwürfe & 台北"
	c, err := imapclient.DialInsecure(srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user.Name, user.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
	c.Close()

	for i, tc := range []struct {
		name, mailbox string
		tls           TLSMode
	}{
		{"INBOX, plaintext", "INBOX", TLSNone},
		{"non-ASCII folder, implicit TLS", folder, TLSImplicit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{Host: srv.Host, Port: srv.Port, TLS: tc.tls, User: user.Name, Password: user.Password, Timeout: 30 * time.Second}
			if tc.tls == TLSImplicit {
				cfg.Port, cfg.CAFile = srv.TLSPort, srv.CAFile
			}
			ctx := context.Background()
			a, err := openAppendConn(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if !a.Caps().Has(imap.CapLiteralPlus) || !a.Caps().Has(imap.CapUIDPlus) {
				t.Fatalf("Dovecot's capabilities after login: %v", a.Caps())
			}
			sel, err := a.Select(ctx, tc.mailbox)
			if err != nil {
				t.Fatal(err)
			}
			msgs := acMessages(2000, 1<<10, 100<<10, uint64(100+i))
			r := newACResults()
			start := time.Now()
			queued := appendAll(t, a, tc.mailbox, msgs, r)
			if err := a.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			el := time.Since(start)
			t.Logf("%d messages in %v (%.0f msgs/s)", len(msgs), el, float64(len(msgs))/el.Seconds())
			r.check(t, queued)
			if len(queued) != len(msgs) {
				t.Fatalf("%d queued", len(queued))
			}
			uidOf := map[uint32]int{}
			var last uint32
			for k := range msgs {
				res := r.get(k)
				if res.Err != nil {
					t.Fatalf("message %d: %v", k, res.Err)
				}
				if res.UIDValidity != sel.UIDValidity || res.UID <= last {
					t.Fatalf("message %d: APPENDUID %d %d (UIDVALIDITY %d, previous UID %d)", k, res.UIDValidity, res.UID, sel.UIDValidity, last)
				}
				last = res.UID
				uidOf[res.UID] = k
			}
			acVerify(t, srv.Addr(), tc.mailbox, user.Name, user.Password, msgs, uidOf)
		})
	}
}

// TestAppendConnCloseWithPending: Close with APPENDs unanswered reports
// them (outcome unknown) before it returns, and never after.
func TestAppendConnCloseWithPending(t *testing.T) {
	s := newFakeServer(t)
	s.onAppend = func(f *fakeSession, n int, cmd *fakeCmd) {} // never answers
	s.start()
	a, err := openAppendConn(context.Background(), s.config())
	if err != nil {
		t.Fatal(err)
	}
	r := newACResults()
	queued := appendAll(t, a, "INBOX", acMessages(5, 100, 1000, 13), r)
	start := time.Now()
	a.Close()
	if d := time.Since(start); d > logoutTimeout+time.Second {
		t.Errorf("Close took %v", d)
	}
	r.check(t, queued)
	for _, i := range queued {
		if res := r.get(i); !errors.Is(res.Err, errOutcomeUnknown) {
			t.Errorf("message %d: %v", i, res.Err)
		}
	}
	if len(queued) != 5 {
		t.Errorf("queued %v", queued)
	}
	if err := a.Append(context.Background(), appendRequest{Mailbox: "INBOX", Data: []byte("x\r\n"), Done: func(appendResult) { t.Error("Done after Close") }}); !errors.Is(err, errConnClosed) {
		t.Errorf("Append after Close = %v", err)
	}
}

// TestAppendConnPlainMem: AUTHENTICATE PLAIN with SASL-IR (RFC 4616,
// RFC 4959) against go-imap's server, accepted and refused.
func TestAppendConnPlainMem(t *testing.T) {
	cfg, _ := acMemServer(t, imap.CapSet{imap.CapIMAP4rev1: {}})
	cfg.Mechanism = MechPlain
	a, err := openAppendConn(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	cfg.Password = "wrong-s3cret"
	_, err = openAppendConn(context.Background(), cfg)
	if !errors.Is(err, ErrAuth) || strings.Contains(err.Error(), "wrong-s3cret") {
		t.Fatalf("err = %v, want ErrAuth without the password", err)
	}
}

// TestAppendConnPreauth: a PREAUTH greeting (RFC 9051 §7.1.4, e.g. a
// server behind a trusted tunnel) needs no login.
func TestAppendConnPreauth(t *testing.T) {
	s := newFakeServer(t)
	s.greeting = "* PREAUTH [CAPABILITY IMAP4rev1] logged in as alice"
	s.caps = "IMAP4rev1 LITERAL+ UIDPLUS"
	s.start()
	a, err := openAppendConn(context.Background(), s.config())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !a.Caps().Has(imap.CapLiteralPlus) {
		t.Errorf("caps %v", a.Caps())
	}
	for _, l := range s.commands() {
		if strings.Contains(l, "LOGIN") || strings.Contains(l, "AUTHENTICATE") {
			t.Errorf("sent %q after PREAUTH", l)
		}
	}
}
