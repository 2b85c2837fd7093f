package main

// Helpers shared by cli_test.go (the command run in-process), e2e_test.go
// (the built binary) and dovecot_test.go (the binary against a real
// Dovecot).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/internal/memimap"
)

// sampleDir is the sample archive the demo embeds: a Thunderbird tree.
func sampleDir(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "testdata", "sample"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the sample archive is missing: %v", err)
	}
	return p
}

// outcome is what one command did.
type outcome struct {
	args    []string
	code    int
	stdout  string
	stderr  string
	elapsed time.Duration
}

func (o outcome) String() string {
	return fmt.Sprintf("archive2imap %s\nexit code %d after %v\n--- stdout:\n%s--- stderr:\n%s---",
		strings.Join(o.args, " "), o.code, o.elapsed.Round(time.Millisecond), o.stdout, o.stderr)
}

// runInProcess runs the command line in this process through run, the
// function main calls. stdin nil is an empty, non-terminal input.
func runInProcess(t testing.TB, stdin io.Reader, args ...string) outcome {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(args, stdin, &stdout, &stderr)
	return outcome{args: args, code: code, stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
}

// traceMarks are what a Go panic or a leaked internal error looks like.
var traceMarks = []string{"panic", "goroutine ", ".go:", "runtime.", "[recovered]"}

// checkNoTrace fails when the output looks like a Go stack trace.
func checkNoTrace(t testing.TB, o outcome) {
	t.Helper()
	for _, m := range traceMarks {
		if strings.Contains(o.stderr, m) || strings.Contains(o.stdout, m) {
			t.Errorf("output contains %q (a stack trace or internal detail):\n%s", m, o)
		}
	}
}

// checkErrorLine checks the exit code and that standard error is one clear
// line, "archive2imap: ...", holding every string of wants.
func checkErrorLine(t testing.TB, o outcome, code int, wants ...string) {
	t.Helper()
	if o.code != code {
		t.Errorf("exit code %d, want %d:\n%s", o.code, code, o)
	}
	checkNoTrace(t, o)
	line := strings.TrimSuffix(o.stderr, "\n")
	if line == "" || strings.Contains(line, "\n") {
		t.Errorf("standard error is not one line:\n%s", o)
		return
	}
	if !strings.HasPrefix(line, "archive2imap: ") {
		t.Errorf("standard error does not start with \"archive2imap: \":\n%s", o)
	}
	for _, w := range wants {
		if !strings.Contains(line, w) {
			t.Errorf("standard error does not say %q:\n%s", w, o)
		}
	}
}

// writeFile writes a file of a test, 0600 (as a password file should be).
func writeFile(t testing.TB, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeClosedPort returns a loopback port nothing listens on.
func freeClosedPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// startMemIMAP starts the in-process practice server, closed at cleanup.
func startMemIMAP(t testing.TB, opts memimap.Options) *memimap.Server {
	t.Helper()
	s, err := memimap.Start(opts)
	if err != nil {
		t.Fatalf("memimap: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// plainConn is the connection flags for an unencrypted loopback server.
func plainConn(host string, port int, user, pwFile string) []string {
	return []string{"--host", host, "--port", fmt.Sprint(port), "--tls", "none", "--user", user, "--password-file", pwFile}
}

// sampleFolders reads the folder tree of a Thunderbird archive directly
// from its files: every mbox file (not the .msf indexes) is a folder,
// "X.sbd/" holds the subfolders of X, and the top-level "Inbox" is INBOX.
// Messages are counted by their "From " separator lines, which in this
// handmade archive are the only lines starting with "From ".
func sampleFolders(t testing.TB, dir string) map[string]int {
	t.Helper()
	out := make(map[string]int)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".msf") || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		segs := strings.Split(filepath.ToSlash(rel), "/")
		for i := range segs[:len(segs)-1] {
			segs[i] = strings.TrimSuffix(segs[i], ".sbd")
		}
		name := strings.Join(segs, "/")
		if name == "Inbox" {
			name = "INBOX"
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n := 0
		prevBlank := true
		for _, line := range strings.Split(string(b), "\n") {
			if prevBlank && strings.HasPrefix(line, "From ") {
				n++
			}
			prevBlank = strings.TrimRight(line, "\r") == ""
		}
		out[name] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// textTable is one table of a summary: a header and rows of cells, keyed
// by column name.
type textTable struct {
	header []string
	rows   []map[string]string
}

// row returns the row whose first column is first.
func (tt textTable) row(t testing.TB, first string) map[string]string {
	t.Helper()
	for _, r := range tt.rows {
		if r[tt.header[0]] == first {
			return r
		}
	}
	t.Fatalf("no row %q in the table with columns %q", first, tt.header)
	return nil
}

// parseTables finds the summary tables in out: a line starting with one of
// the column names firsts, and the lines up to the next blank line.
// Columns are found from the layout, not from the words: a column boundary
// is a run of two or more positions (in runes) that are blank on every line
// of the table, so cells may hold single spaces ("1.5 KB", "Café Ümlaut")
// and be empty ("TOTAL" has no target).
func parseTables(out string, firsts ...string) []textTable {
	lines := strings.Split(out, "\n")
	var tables []textTable
	for i := 0; i < len(lines); i++ {
		isHead := false
		for _, f := range firsts {
			if strings.HasPrefix(lines[i], f+"  ") {
				isHead = true
			}
		}
		if !isHead {
			continue
		}
		var block [][]rune
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			block = append(block, []rune(lines[i]))
		}
		width := 0
		for _, l := range block {
			width = max(width, len(l))
		}
		blank := make([]bool, width)
		for p := range blank {
			blank[p] = true
			for _, l := range block {
				if p < len(l) && l[p] != ' ' {
					blank[p] = false
				}
			}
		}
		// Segments: runs of non-blank positions, joined across gaps of one.
		type seg struct{ a, b int }
		var segs []seg
		for p := 0; p < width; {
			if blank[p] {
				p++
				continue
			}
			a := p
			for p < width && (!blank[p] || (p+1 < width && !blank[p+1] && p > a)) {
				p++
			}
			segs = append(segs, seg{a, p})
		}
		cell := func(l []rune, s seg) string {
			if s.a >= len(l) {
				return ""
			}
			return strings.TrimSpace(string(l[s.a:min(s.b, len(l))]))
		}
		var tt textTable
		for _, s := range segs {
			tt.header = append(tt.header, cell(block[0], s))
		}
		for _, l := range block[1:] {
			r := make(map[string]string)
			for k, s := range segs {
				r[tt.header[k]] = cell(l, s)
			}
			tt.rows = append(tt.rows, r)
		}
		tables = append(tables, tt)
	}
	return tables
}

// jsonReport is the JSON report as the README documents it: decoded with
// the documented field names, not with the report package's own types, so
// that a renamed field fails these tests.
type jsonReport struct {
	Tool       string `json:"tool"`
	Command    string `json:"command"`
	DryRun     bool   `json:"dry_run"`
	Status     string `json:"status"`
	StatusText string `json:"status_text"`
	Server     *struct {
		Host string `json:"host"`
		Port int    `json:"port"`
		TLS  string `json:"tls"`
		User string `json:"user"`
	} `json:"server"`
	Folders []struct {
		Source   string `json:"source"`
		Target   string `json:"target"`
		Fallback string `json:"fallback"`
		Format   string `json:"format"`
		Reason   string `json:"reason"`
		Create   bool   `json:"create"`
		jsonCounters
	} `json:"folders"`
	Totals   jsonCounters `json:"totals"`
	Problems []struct {
		Path  string `json:"path"`
		Error string `json:"error"`
	} `json:"problems"`
	Messages []jsonMessage `json:"messages"`
	Verify   *struct {
		Checked int `json:"checked"`
		Present int `json:"present"`
		Missing int `json:"missing"`
	} `json:"verify"`
}

type jsonCounters struct {
	Found              int   `json:"found"`
	DuplicatesInSource int   `json:"duplicates_in_source"`
	AlreadyOnServer    int   `json:"already_on_server"`
	ToUpload           int   `json:"to_upload"`
	Uploaded           int   `json:"uploaded"`
	Skipped            int   `json:"skipped"`
	Failed             int   `json:"failed"`
	BytesUploaded      int64 `json:"bytes_uploaded"`
}

type jsonMessage struct {
	Folder    string    `json:"folder"`
	Target    string    `json:"target"`
	Path      string    `json:"path"`
	Offset    int64     `json:"offset"`
	Length    int64     `json:"length"`
	Index     int       `json:"index"`
	Key       string    `json:"key"`
	MessageID string    `json:"message_id"`
	Date      time.Time `json:"date"`
	Flags     []string  `json:"flags"`
	Plan      string    `json:"plan"`
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason"`
	UID       uint32    `json:"uid"`
	Verified  string    `json:"verified"`
}

func decodeReport(t testing.TB, what string, b []byte) *jsonReport {
	t.Helper()
	var r jsonReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s is not a JSON report: %v\n%s", what, err, b)
	}
	return &r
}

func readReport(t testing.TB, path string) *jsonReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the report was not written: %v", err)
	}
	return decodeReport(t, path, b)
}

// folderFormats maps a report's source folders to their formats.
func (r *jsonReport) folderFormats() map[string]importers.Format {
	m := make(map[string]importers.Format)
	for _, f := range r.Folders {
		m[f.Source] = importers.Format(f.Format)
	}
	return m
}

// sourceMessage reads a report message again from the source, as the
// importers give it for upload.
func sourceMessage(t testing.TB, format importers.Format, m jsonMessage, opts importers.Options) *importers.Message {
	t.Helper()
	msg, err := importers.ReadMessage(format, importers.Location{Path: m.Path, Offset: m.Offset, Length: m.Length, Index: m.Index}, opts)
	if err != nil {
		t.Fatalf("reading %s message %d at %d again: %v", m.Path, m.Index, m.Offset, err)
	}
	// Data is only valid until the next read: keep a copy.
	msg.Data = bytes.Clone(msg.Data)
	return msg
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// --- A separate IMAP client, for what the tests put on and read from a server.

// imapLogin connects without TLS and logs in; closed at cleanup.
func imapLogin(t testing.TB, addr, user, password string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatalf("test client: dialing %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("test client: login: %v", err)
	}
	return c
}

// serverMsg is one message on the server as the test client saw it.
type serverMsg struct {
	UID   uint32
	Flags []string // sorted, without \Recent (a session property, not state)
	Date  time.Time
	Sum   string // sha256 of the bytes
	Data  []byte
}

// serverBox is one mailbox and its messages.
type serverBox struct {
	Attrs       []string // sorted, without \Subscribed and the \Has*Children noise
	Subscribed  bool
	UIDValidity uint32
	Msgs        []serverMsg // by UID
}

// snapshot reads every mailbox of the account (EXAMINE: read-only, so
// fetching changes no \Seen flag) with every message's UID, flags,
// INTERNALDATE and bytes.
func snapshot(t testing.TB, c *imapclient.Client) map[string]*serverBox {
	t.Helper()
	list, err := c.List("", "*", &imap.ListOptions{ReturnSubscribed: true, ReturnSpecialUse: true}).Collect()
	if err != nil {
		t.Fatalf("test client: LIST: %v", err)
	}
	boxes := make(map[string]*serverBox)
	for _, l := range list {
		b := &serverBox{}
		for _, a := range l.Attrs {
			switch a {
			case imap.MailboxAttrSubscribed:
				b.Subscribed = true
			case imap.MailboxAttrHasChildren, imap.MailboxAttrHasNoChildren,
				// \Marked and \Unmarked say whether mail arrived since the
				// mailbox was last selected (RFC 3501 §7.2.2): the server's
				// bookkeeping, not the mailbox's content.
				imap.MailboxAttrMarked, imap.MailboxAttrUnmarked:
			default:
				b.Attrs = append(b.Attrs, string(a))
			}
		}
		sort.Strings(b.Attrs)
		boxes[l.Mailbox] = b
		if hasAttr(l.Attrs, imap.MailboxAttrNoSelect) || hasAttr(l.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("test client: EXAMINE %q: %v", l.Mailbox, err)
		}
		b.UIDValidity = sel.UIDValidity
		if sel.NumMessages == 0 {
			continue
		}
		var all imap.SeqSet
		all.AddRange(1, 0) // 1:*
		bufs, err := c.Fetch(all, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		}).Collect()
		if err != nil {
			t.Fatalf("test client: FETCH in %q: %v", l.Mailbox, err)
		}
		for _, m := range bufs {
			sm := serverMsg{UID: uint32(m.UID), Date: m.InternalDate}
			for _, f := range m.Flags {
				if !strings.EqualFold(string(f), `\Recent`) {
					sm.Flags = append(sm.Flags, string(f))
				}
			}
			sort.Strings(sm.Flags)
			if len(m.BodySection) > 0 {
				sm.Data = m.BodySection[0].Bytes
			}
			sm.Sum = sha(sm.Data)
			b.Msgs = append(b.Msgs, sm)
		}
		sort.Slice(b.Msgs, func(i, j int) bool { return b.Msgs[i].UID < b.Msgs[j].UID })
	}
	if c.Mailbox() != nil {
		if err := c.Unselect().Wait(); err != nil {
			t.Fatalf("test client: UNSELECT: %v", err)
		}
	}
	return boxes
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

// appendMsg puts a message on the server and returns its UID (APPENDUID).
func appendMsg(t testing.TB, c *imapclient.Client, mailbox string, data []byte, flags []string, date time.Time) uint32 {
	t.Helper()
	opts := &imap.AppendOptions{Time: date}
	for _, f := range flags {
		opts.Flags = append(opts.Flags, imap.Flag(f))
	}
	cmd := c.Append(mailbox, int64(len(data)), opts)
	if _, err := cmd.Write(data); err != nil {
		t.Fatalf("test client: APPEND to %q: %v", mailbox, err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("test client: APPEND to %q: %v", mailbox, err)
	}
	res, err := cmd.Wait()
	if err != nil {
		t.Fatalf("test client: APPEND to %q: %v", mailbox, err)
	}
	if res.UID == 0 {
		t.Fatalf("test client: APPEND to %q: no APPENDUID", mailbox)
	}
	return uint32(res.UID)
}

// expungeUID deletes one message: STORE \Deleted and EXPUNGE. Only the
// test ever deletes anything.
func expungeUID(t testing.TB, c *imapclient.Client, mailbox string, uid uint32) {
	t.Helper()
	if _, err := c.Select(mailbox, nil).Wait(); err != nil {
		t.Fatalf("test client: SELECT %q: %v", mailbox, err)
	}
	set := imap.UIDSetNum(imap.UID(uid))
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatalf("test client: STORE \\Deleted: %v", err)
	}
	if err := c.UIDExpunge(set).Close(); err != nil {
		t.Fatalf("test client: UID EXPUNGE: %v", err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatalf("test client: UNSELECT: %v", err)
	}
}

// --- The built binary.

// binPath is the archive2imap binary TestMain builds.
var binPath string

// buildBinary builds the command into dir, with the race detector when
// this test binary has it, so that races in the real process show too.
func buildBinary(dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			goBin = "/usr/local/go/bin/go"
		}
	}
	out := filepath.Join(dir, "archive2imap")
	args := []string{"build", "-o", out}
	if raceEnabled() {
		args = append(args, "-race")
	}
	args = append(args, ".")
	cmd := exec.Command(goBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// binRun says how to run the binary.
type binRun struct {
	env   []string  // besides PATH and HOME
	stdin io.Reader // nil: /dev/null
	dir   string    // working directory; "" a fresh temporary one
	// timeout kills the process (and fails the test) after this long;
	// 0: two minutes.
	timeout time.Duration
}

// runBin runs the built binary with a scrubbed environment: only PATH,
// HOME (a fresh temporary directory) and r.env.
func runBin(t testing.TB, r binRun, args ...string) outcome {
	t.Helper()
	if binPath == "" {
		t.Fatal("the binary was not built (TestMain)")
	}
	if r.timeout == 0 {
		r.timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	home := t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}, r.env...)
	cmd.Dir = r.dir
	if cmd.Dir == "" {
		cmd.Dir = home
	}
	cmd.Stdin = r.stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	o := outcome{args: args, code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("still running after %v, killed:\n%s", r.timeout, o)
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("running the binary: %v", err)
	}
	if strings.Contains(o.stderr, "WARNING: DATA RACE") {
		t.Errorf("the race detector found a data race in the binary:\n%s", o)
	}
	return o
}

// lines returns the non-empty lines of s.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}
