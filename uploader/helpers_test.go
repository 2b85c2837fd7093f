package uploader

// Shared helpers of the planning, execution, verification and client
// tests: a source archive written in t.TempDir(), an in-process server
// (internal/memimap), a separate go-imap client that looks at the server
// independently of the code under test, and a TCP proxy that breaks
// connections.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/internal/memimap"
	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
)

const (
	testUser     = "helpdesk@example.org"
	testPassword = "Tr0ub4dor&3-secret"
	testToken    = "ya29.a0AfH6-test-token-value"
)

// outlookFolders are special-use folders named as Exchange-era servers
// name them, so that mapping by attribute (not by name) shows.
var outlookFolders = map[string]string{
	`\Sent`: "Sent Items", `\Drafts`: "Drafts", `\Trash`: "Deleted Items", `\Junk`: "Junk E-mail", `\Archive`: "Archive",
}

// mail returns a message as a mail client stores it (LF line endings).
// An empty id leaves the Message-ID header out. extra header lines come
// first, as trace fields do.
func mail(id, subject, body string, extra ...string) string {
	var b strings.Builder
	for _, h := range extra {
		b.WriteString(h + "\n")
	}
	b.WriteString("Date: Mon, 4 Jan 2010 10:00:00 +0100\nFrom: Alice Example <alice@example.org>\nTo: Bob Example <bob@example.org>\n")
	b.WriteString("Subject: " + subject + "\n")
	if id != "" {
		b.WriteString("Message-ID: <" + id + ">\n")
	}
	b.WriteString("\n" + body + "\n")
	return b.String()
}

// crlf converts LF line endings to CRLF, as messages are uploaded.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// srcMsg is one message of a test archive.
type srcMsg struct {
	folder string // source folder: the path of its Maildir under the root ("inbox", "Sent", "Work/Clients")
	data   string
	info   string    // Maildir flag letters (S seen, R replied, F flagged, D draft, P passed, T trashed)
	at     time.Time // delivery time, in the file name; zero: an hour after the previous message
	inNew  bool      // in new/ (not yet seen: no flags)
}

// writeSource writes msgs as Maildirs (one per folder, nested as the
// folder path says) under a new temporary directory, plus empty Maildirs
// for the folders in empty, and returns the directory.
func writeSource(t *testing.T, msgs []srcMsg, empty ...string) string {
	t.Helper()
	root := t.TempDir()
	mkMaildir := func(folder string) string {
		dir := filepath.Join(root, filepath.FromSlash(folder))
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	for _, f := range empty {
		mkMaildir(f)
	}
	at := time.Date(2010, 1, 4, 9, 0, 0, 0, time.UTC)
	for i, m := range msgs {
		if m.at.IsZero() {
			at = at.Add(time.Hour)
		} else {
			at = m.at
		}
		dir := mkMaildir(m.folder)
		name := fmt.Sprintf("%d.M%dP4242.archive2imap-test:2,%s", at.Unix(), i+1, m.info)
		sub := "cur"
		if m.inNew {
			sub, name = "new", strings.TrimSuffix(name, ":2,"+m.info)
		}
		if err := os.WriteFile(filepath.Join(dir, sub, name), []byte(m.data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// testServer is a memimap server and how to reach it.
type testServer struct {
	*memimap.Server
	t *testing.T
}

// startServer starts memimap for testUser/testPassword (and testToken when
// opts.Token is "token"); it stops at the end of the test.
func startServer(t *testing.T, opts memimap.Options) *testServer {
	t.Helper()
	opts.User, opts.Password = testUser, testPassword
	if opts.Token == "token" {
		opts.Token = testToken
	}
	s, err := memimap.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &testServer{Server: s, t: t}
}

// config is how the code under test reaches the server.
func (s *testServer) config() *Config {
	return &Config{Host: s.Host(), Port: s.Port(), TLS: TLSNone, User: testUser, Password: testPassword, Timeout: 5 * time.Second}
}

// observer is a separate go-imap client, logged in on its own connection,
// that looks at (and, for the tests' own setup, changes) the server
// without going through the code under test.
type observer struct {
	t *testing.T
	c *imapclient.Client
}

func (s *testServer) observer() *observer {
	s.t.Helper()
	return dialObserver(s.t, s.Addr)
}

// dialObserver logs in to the server at addr (plaintext) as testUser.
func dialObserver(t *testing.T, addr string) *observer {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	return &observer{t: t, c: c}
}

// list returns every mailbox with its attributes.
func (o *observer) list() map[string][]string {
	o.t.Helper()
	data, err := o.c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
	if err != nil {
		o.t.Fatal(err)
	}
	out := make(map[string][]string)
	for _, d := range data {
		var attrs []string
		for _, a := range d.Attrs {
			// \Marked and \Unmarked say whether mail arrived since the
			// mailbox was last selected (RFC 3501 7.2.2): the server's
			// bookkeeping, which Dovecot may add between two snapshots,
			// not the mailbox's content.
			if a == imap.MailboxAttrMarked || a == imap.MailboxAttrUnmarked {
				continue
			}
			attrs = append(attrs, string(a))
		}
		out[d.Mailbox] = attrs
	}
	return out
}

// subscribed lists the subscribed mailboxes (LIST (SUBSCRIBED), RFC 5258).
func (o *observer) subscribed() []string {
	o.t.Helper()
	data, err := o.c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		o.t.Fatal(err)
	}
	var names []string
	for _, d := range data {
		names = append(names, d.Mailbox)
	}
	sort.Strings(names)
	return names
}

// serverMsg is a message as the observer fetched it.
type serverMsg struct {
	UID   uint32
	Flags []string
	Date  time.Time
	Data  []byte
}

func (m serverMsg) sum() string { return sha(m.Data) }

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// messages fetches every message of mailbox, read-only.
func (o *observer) messages(mailbox string) []serverMsg {
	o.t.Helper()
	sel, err := o.c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		o.t.Fatalf("EXAMINE %s: %v", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	all := imap.SeqSet{}
	all.AddRange(1, 0)
	bufs, err := o.c.Fetch(all, &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		o.t.Fatalf("FETCH %s: %v", mailbox, err)
	}
	out := make([]serverMsg, 0, len(bufs))
	for _, b := range bufs {
		m := serverMsg{UID: uint32(b.UID), Date: b.InternalDate}
		for _, f := range b.Flags {
			m.Flags = append(m.Flags, string(f))
		}
		sort.Strings(m.Flags)
		for _, s := range b.BodySection {
			m.Data = s.Bytes
		}
		out = append(out, m)
	}
	return out
}

// add appends a message (CRLF line endings) and returns its UID: the
// tests' own setup of what the account already holds.
func (o *observer) add(mailbox, data string, flags []imap.Flag, date time.Time) uint32 {
	o.t.Helper()
	b := []byte(crlf(data))
	cmd := o.c.Append(mailbox, int64(len(b)), &imap.AppendOptions{Flags: flags, Time: date})
	if _, err := cmd.Write(b); err != nil {
		o.t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		o.t.Fatal(err)
	}
	res, err := cmd.Wait()
	if err != nil {
		o.t.Fatalf("APPEND %s: %v", mailbox, err)
	}
	return uint32(res.UID)
}

// expunge deletes the message uid of mailbox (test side only: the code
// under test never deletes).
func (o *observer) expunge(mailbox string, uid uint32) {
	o.t.Helper()
	if _, err := o.c.Select(mailbox, nil).Wait(); err != nil {
		o.t.Fatal(err)
	}
	uids := imap.UIDSetNum(imap.UID(uid))
	if err := o.c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		o.t.Fatal(err)
	}
	if err := o.c.UIDExpunge(uids).Close(); err != nil {
		o.t.Fatal(err)
	}
}

// unflag removes a flag from the message uid of mailbox (test side only).
func (o *observer) unflag(mailbox string, uid uint32, flag imap.Flag) {
	o.t.Helper()
	if _, err := o.c.Select(mailbox, nil).Wait(); err != nil {
		o.t.Fatal(err)
	}
	if err := o.c.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{flag}}, nil).Close(); err != nil {
		o.t.Fatal(err)
	}
}

// snapshot dumps the whole account: every mailbox with its attributes and
// subscription, UIDVALIDITY and UIDNEXT, and every message's UID, flags,
// INTERNALDATE and bytes. Two equal snapshots mean nothing was written.
func (o *observer) snapshot() string {
	o.t.Helper()
	var b strings.Builder
	boxes := o.list()
	subs := o.subscribed()
	names := make([]string, 0, len(boxes))
	for n := range boxes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if hasAttrFold(boxes[n], `\Noselect`) || hasAttrFold(boxes[n], `\NonExistent`) {
			fmt.Fprintf(&b, "%s %v\n", n, boxes[n]) // a parent that holds no messages (Dovecot)
			continue
		}
		st, err := o.c.Status(n, &imap.StatusOptions{UIDNext: true, UIDValidity: true, NumMessages: true}).Wait()
		if err != nil {
			o.t.Fatalf("STATUS %s: %v", n, err)
		}
		fmt.Fprintf(&b, "%s %v subscribed=%v uidvalidity=%d uidnext=%d messages=%d\n", n, boxes[n], slices.Contains(subs, n), st.UIDValidity, st.UIDNext, *st.NumMessages)
		for _, m := range o.messages(n) {
			fmt.Fprintf(&b, "  %d %v %s %s\n", m.UID, m.Flags, m.Date.UTC().Format(time.RFC3339), m.sum())
		}
	}
	return b.String()
}

func hasAttrFold(attrs []string, a string) bool {
	return slices.ContainsFunc(attrs, func(x string) bool { return strings.EqualFold(x, a) })
}

// scan is plan.Inventory of one source.
func scan(t *testing.T, root string, opts plan.Options) *report.Report {
	t.Helper()
	rep, err := plan.Inventory(context.Background(), []string{root}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// connect is Connect, closed at the end of the test.
func connect(t *testing.T, cfg *Config) *Client {
	t.Helper()
	cl, err := Connect(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// planned scans root and plans it against the server, as migrate --dry-run
// does.
func planned(t *testing.T, root string, cfg *Config, popts plan.Options, opts PlanOptions) (*report.Report, *Client) {
	t.Helper()
	rep := scan(t, root, popts)
	cl := connect(t, cfg)
	if err := Plan(context.Background(), rep, cl, opts); err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return rep, cl
}

// migrate is what the migrate command does: Inventory, Connect, Plan and
// Execute.
func migrate(t *testing.T, ctx context.Context, root string, cfg *Config, opts PlanOptions, eopts ExecOptions) (*report.Report, error) {
	t.Helper()
	rep, cl := planned(t, root, cfg, plan.Options{}, opts)
	if eopts.Backoff == 0 {
		eopts.Backoff = 10 * time.Millisecond
	}
	err := Execute(ctx, rep, cfg, cl, eopts)
	return rep, err
}

// folderOf returns rep's folder named source.
func folderOf(t *testing.T, rep *report.Report, source string) *report.Folder {
	t.Helper()
	for i := range rep.Folders {
		if rep.Folders[i].Source == source {
			return &rep.Folders[i]
		}
	}
	t.Fatalf("no folder %q in the report", source)
	return nil
}

// sourceData reads a message of rep again from the source, as Execute does.
func sourceData(t *testing.T, rep *report.Report, m *report.Message) []byte {
	t.Helper()
	f := folderOf(t, rep, m.Folder)
	msg, err := importers.ReadMessage(importers.Format(f.Format), importers.Location{Path: m.Path, Offset: m.Offset, Length: m.Length, Index: m.Index}, importers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return msg.Data
}

// checkCounters checks that the counters of every folder and the totals
// agree with the message decisions and add up: in a plan, Found =
// DuplicatesInSource + AlreadyOnServer + ToUpload + Skipped + Failed;
// after a run, ToUpload = Uploaded + failed while uploading + pending.
func checkCounters(t *testing.T, rep *report.Report) {
	t.Helper()
	type count struct{ found, dup, exists, upload, skipped, planFailed, uploaded, runFailed, pending int }
	per := make(map[string]*count)
	var tot count
	for i := range rep.Messages {
		m := &rep.Messages[i]
		c := per[m.Folder]
		if c == nil {
			c = &count{}
			per[m.Folder] = c
		}
		for _, c := range []*count{c, &tot} {
			c.found++
			switch m.Plan {
			case report.DecisionDuplicate:
				c.dup++
			case report.DecisionExists:
				c.exists++
			case report.DecisionSkipped:
				c.skipped++
			case report.DecisionFailed:
				c.planFailed++
			case report.DecisionUpload:
				c.upload++
				switch m.Outcome {
				case report.DecisionUploaded:
					c.uploaded++
				case report.DecisionFailed:
					c.runFailed++
				case report.DecisionPending:
					c.pending++
				case "":
				default:
					t.Errorf("%s: outcome %q", m.Location(), m.Outcome)
				}
			default:
				t.Errorf("%s: plan %q", m.Location(), m.Plan)
			}
		}
	}
	check := func(what string, got report.Counters, c *count) {
		t.Helper()
		if c == nil {
			c = &count{}
		}
		if got.Found != c.dup+c.exists+c.upload+c.skipped+c.planFailed {
			t.Errorf("%s: found %d != duplicates %d + on server %d + to upload %d + skipped %d + failed in plan %d", what, got.Found, c.dup, c.exists, c.upload, c.skipped, c.planFailed)
		}
		want := report.Counters{Found: c.found, DuplicatesInSource: c.dup, AlreadyOnServer: c.exists, ToUpload: c.upload,
			Uploaded: c.uploaded, Skipped: c.skipped, Failed: c.planFailed + c.runFailed}
		got.Bytes, got.BytesToUpload, got.BytesUploaded = 0, 0, 0
		if got != want {
			t.Errorf("%s: counters %+v, want %+v", what, got, want)
		}
		if c.upload != c.uploaded+c.runFailed+c.pending && c.uploaded+c.runFailed+c.pending != 0 {
			t.Errorf("%s: to upload %d != uploaded %d + failed %d + pending %d", what, c.upload, c.uploaded, c.runFailed, c.pending)
		}
	}
	for _, f := range rep.Folders {
		check("folder "+f.Source, f.Counters, per[f.Source])
	}
	check("totals", rep.Totals.Counters, &tot)
}

// checkExactlyOnce checks that every message rep planned for upload is in
// its target folder exactly once: the same bytes (sha256 of what the
// observer fetches equals that of importers.ReadMessage's Data), the
// source's flags, the source's delivery time as INTERNALDATE (to the
// second), and the UID APPENDUID reported when the run uploaded it; and
// that the targets hold nothing else but the before[target] messages that
// were there already.
func checkExactlyOnce(t *testing.T, o *observer, rep *report.Report, before map[string]int) {
	t.Helper()
	checkOnServer(t, o, rep, before, func(m *report.Message) bool { return m.Plan == report.DecisionUpload })
}

// checkUploaded is checkExactlyOnce for the messages rep says were
// uploaded: after an interrupted run, those and only those (besides the
// before[target] ones, and extra that may or may not have landed) are
// there.
func checkUploaded(t *testing.T, o *observer, rep *report.Report, before map[string]int, extra int) {
	t.Helper()
	checkOnServer(t, o, rep, before, func(m *report.Message) bool { return m.Outcome == report.DecisionUploaded }, extra)
}

func checkOnServer(t *testing.T, o *observer, rep *report.Report, before map[string]int, want func(*report.Message) bool, extra ...int) {
	t.Helper()
	exps := make(map[string][]*report.Message) // target -> messages
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if want(m) {
			exps[m.Target] = append(exps[m.Target], m)
		}
	}
	slack := 0
	if len(extra) > 0 {
		slack = extra[0]
	}
	for target, ms := range exps {
		got := o.messages(target)
		if n := len(got) - len(ms) - before[target]; n < 0 || n > slack {
			t.Errorf("%s holds %d messages, want %d uploaded + %d there before (+ up to %d in doubt)", target, len(got), len(ms), before[target], slack)
		}
		for _, m := range ms {
			sum := sha(sourceData(t, rep, m))
			n := 0
			for _, sm := range got {
				if sm.sum() != sum {
					continue
				}
				n++
				if !slices.Equal(sm.Flags, sortedFlags(m.Flags)) {
					t.Errorf("%s: flags on the server %v, in the source %v", m.Location(), sm.Flags, m.Flags)
				}
				if !m.Date.IsZero() && sm.Date.Unix() != m.Date.Unix() {
					t.Errorf("%s: INTERNALDATE %s, delivered %s", m.Location(), sm.Date.UTC(), m.Date.UTC())
				}
				if m.Outcome == report.DecisionUploaded && m.UID != 0 && m.UID != sm.UID {
					t.Errorf("%s: report says UID %d, the server has it as UID %d", m.Location(), m.UID, sm.UID)
				}
			}
			if n != 1 {
				t.Errorf("%s (%q): %d copies in %s, want exactly 1", m.Location(), m.Subject, n, target)
			}
		}
	}
}

func sortedFlags(f []string) []string {
	out := slices.Clone(f)
	sort.Strings(out)
	return out
}

// cutProxy forwards TCP connections to a server, and breaks those that
// cut says, the way a connection dies with commands and replies in flight:
// once the client's data reaches byte dropFrom, the server's replies are
// no longer forwarded (they are read, counted and dropped); at byte cutAt
// the server's side is closed for writing, so that the server executes
// every command it received in full (a command cut short is not executed)
// and hangs up, and then the client is hung up on: as when a connection
// dies unnoticed and the client finds out later, its answers lost.
type cutProxy struct {
	ln     net.Listener
	target string
	// cut returns, for the n-th connection (from 1), the byte counts at
	// which replies stop and the connection is cut; 0, 0: forward all.
	cut func(n int) (dropFrom, cutAt int64)
	// late, when set, hangs up on the client first, and forwards what
	// came from byte dropFrom on only this long after: the server is
	// still executing commands of a connection the client already knows
	// is dead.
	late atomic.Int64 // a time.Duration

	conns  atomic.Int32
	lostOK atomic.Int32 // tagged OK replies the client never got
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string, cut func(n int) (int64, int64)) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, cut: cut}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// config is a Config that reaches the server through the proxy.
func (p *cutProxy) config(base *Config) *Config {
	cfg := *base
	addr := p.ln.Addr().(*net.TCPAddr)
	cfg.Host, cfg.Port = addr.IP.String(), addr.Port
	return &cfg
}

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		n := int(p.conns.Add(1))
		dropFrom, cutAt := p.cut(n)
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.pipe(c, s.(*net.TCPConn), dropFrom, cutAt)
	}
}

var taggedOK = regexp.MustCompile(`^A[0-9]+ OK`)

func (p *cutProxy) pipe(client net.Conn, server *net.TCPConn, dropFrom, cutAt int64) {
	defer p.wg.Done()
	var dropping atomic.Bool
	replies := make(chan struct{})
	go func() { // server -> client
		defer close(replies)
		br := bufio.NewReader(server)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				if dropping.Load() {
					if taggedOK.Match(line) {
						p.lostOK.Add(1)
					}
				} else if _, werr := client.Write(line); werr != nil {
					dropping.Store(true)
				}
			}
			if err != nil {
				client.Close()
				return
			}
		}
	}()
	// client -> server
	buf := make([]byte, 8<<10)
	var sent int64
	var held []byte // with late: what came from dropFrom on
	late := time.Duration(p.late.Load())
	for {
		n, err := client.Read(buf)
		chunk := buf[:n]
		if cutAt > 0 && !dropping.Load() && sent+int64(len(chunk)) >= dropFrom {
			// From here on, replies are lost: the flag is set before the
			// bytes are forwarded, so that no reply to them slips through.
			dropping.Store(true)
			k := max(dropFrom-sent, 0)
			if _, werr := server.Write(chunk[:k]); werr != nil {
				break
			}
			sent += k
			chunk = chunk[k:]
		}
		if cutAt > 0 && sent+int64(len(chunk)) >= cutAt {
			dropping.Store(true)
			if late > 0 {
				held = append(held, chunk[:cutAt-sent]...)
				client.Close()
				time.Sleep(late)
				server.Write(held)
			} else {
				server.Write(chunk[:cutAt-sent])
			}
			server.CloseWrite()
			<-replies // the server has hung up; the client is hung up on
			server.Close()
			return
		}
		if len(chunk) > 0 && late > 0 && dropping.Load() {
			held = append(held, chunk...)
			sent += int64(len(chunk))
		} else if len(chunk) > 0 {
			if _, werr := server.Write(chunk); werr != nil {
				break
			}
			sent += int64(len(chunk))
		}
		if err != nil {
			break
		}
	}
	server.CloseWrite()
	<-replies
	client.Close()
	server.Close()
}

// refuser is a memimap Refuse hook that answers the n-th APPEND (counting
// from 1, over all connections) as answer says.
type refuser struct {
	mu     sync.Mutex
	n      int
	answer func(n int, mailbox string, size int64) error
}

func (r *refuser) hook(mailbox string, size int64) error {
	r.mu.Lock()
	r.n++
	n := r.n
	answer := r.answer
	r.mu.Unlock()
	if answer == nil {
		return nil
	}
	return answer(n, mailbox, size)
}

// quiet waits until the server has had no APPEND for d (at most 5 s):
// after an interruption the server may still be executing commands of the
// connections the client dropped, as it would be for a moment after a
// user's Ctrl-C; a rerun comes later than that.
func (r *refuser) quiet(d time.Duration) {
	deadline := time.Now().Add(5 * time.Second)
	last := r.calls()
	for time.Now().Before(deadline) {
		time.Sleep(d)
		n := r.calls()
		if n == last {
			return
		}
		last = n
	}
}

func (r *refuser) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func no(code imap.ResponseCode, text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

// messagesOf returns rep's messages of a source folder, in source order.
func messagesOf(rep *report.Report, folder string) []*report.Message {
	var out []*report.Message
	for i := range rep.Messages {
		if rep.Messages[i].Folder == folder {
			out = append(out, &rep.Messages[i])
		}
	}
	return out
}

// bySubject returns rep's message with that subject in folder.
func bySubject(t *testing.T, rep *report.Report, folder, subject string) *report.Message {
	t.Helper()
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Folder == folder && m.Subject == subject {
			return m
		}
	}
	t.Fatalf("no message %q in folder %q", subject, folder)
	return nil
}

// testCtx is a context that ends with the test, bounded so that a hang
// fails the test instead of the whole package.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// noSecret fails when err's text holds a secret.
func noSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("error %q holds a secret", err)
		}
	}
}

// tree describes every file and directory under root (name, mode, size,
// modification time, sha256), to show that a run left the source alone.
func tree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		sum := ""
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum = sha(data)
		}
		fmt.Fprintf(&b, "%s %s %d %s %s\n", p, fi.Mode(), fi.Size(), fi.ModTime().Format(time.RFC3339Nano), sum)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// progress records what Execute reports, per phase.
type progress struct {
	mu     sync.Mutex
	phase  string
	totals map[string][2]int64 // phase -> total messages, bytes announced
	done   map[string][2]int64 // phase -> messages, bytes added
	open   int                 // phases started and not finished
}

func newProgress() *progress {
	return &progress{totals: make(map[string][2]int64), done: make(map[string][2]int64)}
}

func (p *progress) Start(phase string, total int, totalBytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase = phase
	p.totals[phase] = [2]int64{int64(total), totalBytes}
	p.open++
}

func (p *progress) Add(n int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.done[p.phase]
	p.done[p.phase] = [2]int64{d[0] + int64(n), d[1] + bytes}
}

func (p *progress) Logf(string, ...any) {}

func (p *progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open--
}
