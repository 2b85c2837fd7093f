package main

// Fast checks of the command line, run in this process through run (what
// main calls): usage errors and their exit codes, connection errors
// against the in-process IMAP server, and scan on the sample archive.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/internal/memimap"
)

// unsetEnv removes an environment variable for the test (restored after).
func unsetEnv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "")
	os.Unsetenv(key)
}

func TestUsageErrors(t *testing.T) {
	unsetEnv(t, passwordEnv)
	sample := sampleDir(t)
	tmp := t.TempDir()
	pw := writeFile(t, filepath.Join(tmp, "pw"), "not-used-here\n")
	missing := filepath.Join(tmp, "no-such-archive")
	noMail := filepath.Join(tmp, "notes")
	if err := os.Mkdir(noMail, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(noMail, "notes.txt"), "shopping list: milk, bread\n")
	// Nothing listens here: a test that got past the usage checks would
	// fail with exit 3, not 2.
	conn := plainConn("127.0.0.1", freeClosedPort(t), "alice", pw)
	// A server that works, for the errors only found once logged in
	// (what is in a directory is known only after reading it, which
	// comes after the login check).
	live := startMemIMAP(t, memimap.Options{User: "alice", Password: "not-used-here"})
	liveConn := plainConn(live.Host(), live.Port(), "alice", pw)
	const secret = "hunter2-on-the-command-line"
	noPasswordFlag := []string{"there is no --password flag", "other users", "--password-file", passwordEnv}

	cases := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"no arguments", nil, []string{"missing command", "--help"}},
		{"unknown flag", []string{"scan", sample, "--bogus"}, []string{"unknown flag: --bogus"}},
		{"unknown flag without a command", []string{"--bogus"}, []string{"unknown flag: --bogus"}},
		{"unknown command", []string{"bogus"}, []string{`unknown command "bogus"`}},
		{"--password on migrate", append([]string{"migrate", sample, "--password", secret}, conn...), noPasswordFlag},
		{"--password=x on verify", append([]string{"verify", sample, "--password=" + secret}, conn...), noPasswordFlag},
		{"--password and no source", []string{"migrate", "--password", secret}, noPasswordFlag},
		{"--password on scan", []string{"scan", sample, "--password", secret}, noPasswordFlag},
		{"--password without a command", []string{"--password", secret}, noPasswordFlag},
		{"migrate without --host", []string{"migrate", sample, "--user", "alice", "--password-file", pw}, []string{"--host is required"}},
		{"migrate without --user", []string{"migrate", sample, "--host", "127.0.0.1", "--password-file", pw}, []string{"--user is required"}},
		{"verify without --host", []string{"verify", sample, "--user", "alice", "--password-file", pw}, []string{"--host is required"}},
		{"migrate without a source", append([]string{"migrate"}, conn...), []string{"missing SOURCE"}},
		{"--tls bogus", append([]string{"migrate", sample}, append(conn, "--tls", "bogus")...), []string{"--tls", "bogus"}},
		{"--format bogus on scan", []string{"scan", sample, "--format", "bogus"}, []string{"--format", `"bogus"`}},
		{"--format bogus on migrate", append([]string{"migrate", sample, "--format", "bogus"}, conn...), []string{"--format", `"bogus"`}},
		{"--mbox-timezone bogus", []string{"scan", sample, "--mbox-timezone", "Mars/Olympus_Mons"}, []string{"--mbox-timezone", "Mars/Olympus_Mons"}},
		{"--report with an unknown extension", []string{"scan", sample, "--report", filepath.Join(tmp, "r.pdf")}, []string{"--report", "r.pdf"}},
		{"--dedupe bogus", append([]string{"migrate", sample, "--dedupe", "bogus"}, conn...), []string{"--dedupe", "bogus"}},
		{"--connections 0", append([]string{"migrate", sample, "--connections", "0"}, conn...), []string{"--connections"}},
		{"--password-file missing", []string{"migrate", sample, "--host", "127.0.0.1", "--user", "alice", "--password-file", filepath.Join(tmp, "nope")}, []string{"--password-file", "nope"}},
		{"scan: missing source path", []string{"scan", missing}, []string{missing, "no such file or directory"}},
		{"scan: one of two sources missing", []string{"scan", sample, missing}, []string{missing, "no such file or directory"}},
		// The source is checked before the server is contacted: exit 2
		// (the server, which is unreachable too, would give 3).
		{"migrate: missing source path", append([]string{"migrate", missing}, conn...), []string{missing, "no such file or directory"}},
		{"verify: missing source path", append([]string{"verify", missing}, conn...), []string{missing, "no such file or directory"}},
		{"scan: directory without mail", []string{"scan", noMail}, []string{noMail, "not a mail archive"}},
		{"migrate: directory without mail", append([]string{"migrate", noMail}, liveConn...), []string{noMail, "not a mail archive"}},
		{"verify: directory without mail", append([]string{"verify", noMail}, liveConn...), []string{noMail, "not a mail archive"}},
		{"--tls none with --ca-file", append([]string{"migrate", sample, "--ca-file", pw}, conn...), []string{"--ca-file"}},
		{"--auth-mechanism bogus", append([]string{"migrate", sample, "--auth-mechanism", "CRAM-MD5"}, conn...), []string{"--auth-mechanism", "CRAM-MD5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := runInProcess(t, nil, tc.args...)
			checkErrorLine(t, o, exitUsage, tc.wants...)
			if o.stdout != "" {
				t.Errorf("a usage error printed on standard output:\n%s", o)
			}
			if strings.Contains(o.stderr, secret) {
				t.Errorf("the error repeats the password given on the command line:\n%s", o)
			}
		})
	}
}

// Without a password file, $ARCHIVE2IMAP_PASSWORD or a terminal, migrate
// and verify stop at once (exit 2): they never wait for a password on a
// standard input that is not a terminal (a pipe from a script, cron).
func TestNoPasswordNeverWaitsOnStdin(t *testing.T) {
	unsetEnv(t, passwordEnv)
	sample := sampleDir(t)
	port := fmt.Sprint(freeClosedPort(t))
	for _, cmd := range []string{"migrate", "verify"} {
		t.Run(cmd, func(t *testing.T) {
			// A pipe nobody writes to or closes: reading it would block.
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			done := make(chan outcome, 1)
			go func() {
				done <- runInProcess(t, r, cmd, sample, "--host", "127.0.0.1", "--port", port, "--tls", "none", "--user", "alice")
			}()
			select {
			case o := <-done:
				checkErrorLine(t, o, exitUsage, "no password", "--password-file", passwordEnv, "not a terminal")
				// Waiting for the never-closed stdin would hang: a bound
				// far above a slow machine's start-up tells the two apart.
				if o.elapsed > 8*time.Second {
					t.Errorf("took %v to give up, want it at once", o.elapsed)
				}
			case <-time.After(8 * time.Second):
				t.Fatal("still running after 2s: it waits for a password on standard input, which is not a terminal")
			}
		})
	}
}

// An empty $ARCHIVE2IMAP_PASSWORD is a mistake, not an empty password.
func TestEmptyPasswordEnv(t *testing.T) {
	t.Setenv(passwordEnv, "")
	o := runInProcess(t, nil, append([]string{"migrate", sampleDir(t)}, "--host", "127.0.0.1", "--port", fmt.Sprint(freeClosedPort(t)), "--tls", "none", "--user", "alice")...)
	checkErrorLine(t, o, exitUsage, passwordEnv, "empty")
}

func TestVersionAndHelp(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wants   []string
		refuses []string
	}{
		{"--version", []string{"--version"}, []string{"archive2imap " + toolVersion()}, nil},
		{"--help", []string{"--help"}, []string{"Usage:", "scan", "migrate", "verify", "demo"}, nil},
		{"help command", []string{"help"}, []string{"Usage:", "migrate"}, nil},
		// The refused --password flag is hidden from the help.
		{"migrate --help", []string{"migrate", "--help"}, []string{"--dry-run", "--password-file", "--host", "Exit codes"}, []string{"--password "}},
		{"verify -h", []string{"verify", "-h"}, []string{"--password-file"}, []string{"--password "}},
		{"scan --help", []string{"scan", "--help"}, []string{"--report", "--json"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := runInProcess(t, nil, tc.args...)
			if o.code != exitOK {
				t.Errorf("exit code %d, want 0:\n%s", o.code, o)
			}
			if o.stderr != "" {
				t.Errorf("wrote to standard error:\n%s", o)
			}
			for _, w := range tc.wants {
				if !strings.Contains(o.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, o)
				}
			}
			for _, r := range tc.refuses {
				if strings.Contains(o.stdout, r) {
					t.Errorf("output shows %q:\n%s", r, o)
				}
			}
		})
	}
}

func TestWrongPasswordMemIMAP(t *testing.T) {
	unsetEnv(t, passwordEnv)
	const right, wrong = "right-pw-5be1c0", "wrong-pw-77c3aa"
	srv := startMemIMAP(t, memimap.Options{User: "alice@example.org", Password: right})
	pw := writeFile(t, filepath.Join(t.TempDir(), "pw"), wrong+"\n")
	before := srv.Mailboxes()
	for _, cmd := range [][]string{{"migrate", "--dry-run"}, {"migrate"}, {"verify"}} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			args := append(append(cmd, sampleDir(t)), plainConn(srv.Host(), srv.Port(), "alice@example.org", pw)...)
			o := runInProcess(t, nil, args...)
			// The server's words, quoted: go-imap's server answers
			// NO [AUTHENTICATIONFAILED] Authentication failed.
			checkErrorLine(t, o, exitConnect, srv.Addr, "alice@example.org", "the server said: [AUTHENTICATIONFAILED] Authentication failed")
			// A refused login is not retried (backoff would take tens
			// of seconds); the bound leaves room for a slow machine.
			if o.elapsed > 10*time.Second {
				t.Errorf("took %v, want a few seconds at most", o.elapsed)
			}
			for _, p := range []string{wrong, right} {
				if strings.Contains(o.stdout+o.stderr, p) {
					t.Errorf("the output contains a password:\n%s", o)
				}
			}
		})
	}
	if got, want := strings.Join(srv.Mailboxes(), ","), strings.Join(before, ","); got != want {
		t.Errorf("mailboxes after failed logins: %s, want unchanged %s", got, want)
	}
}

func TestNothingListening(t *testing.T) {
	pw := writeFile(t, filepath.Join(t.TempDir(), "pw"), "pw\n")
	port := freeClosedPort(t)
	o := runInProcess(t, nil, append([]string{"migrate", sampleDir(t), "--dry-run"}, plainConn("127.0.0.1", port, "alice", pw)...)...)
	checkErrorLine(t, o, exitConnect, fmt.Sprintf("127.0.0.1:%d", port), "connection refused")
}

// Implicit TLS against a server that speaks plaintext IMAP: the handshake
// fails with a message that says what to check, and nothing is sent in
// plaintext instead.
func TestImplicitTLSAgainstPlaintextPort(t *testing.T) {
	srv := startMemIMAP(t, memimap.Options{User: "alice", Password: "pw-3d1f"})
	pw := writeFile(t, filepath.Join(t.TempDir(), "pw"), "pw-3d1f\n")
	args := []string{"migrate", sampleDir(t), "--dry-run", "--host", "127.0.0.1", "--port", fmt.Sprint(srv.Port()), "--tls", "implicit", "--user", "alice", "--password-file", pw}
	o := runInProcess(t, nil, args...)
	checkErrorLine(t, o, exitConnect, srv.Addr, "TLS", "--tls implicit")
}

func TestScanSampleTable(t *testing.T) {
	sample := sampleDir(t)
	want := sampleFolders(t, sample)
	o := runInProcess(t, nil, "scan", sample, "--quiet")
	if o.code != exitOK || o.stderr != "" {
		t.Fatalf("want exit 0 and nothing on standard error:\n%s", o)
	}
	tables := parseTables(o.stdout, "FOLDER")
	if len(tables) != 1 {
		t.Fatalf("want one table, found %d:\n%s", len(tables), o)
	}
	tt := tables[0]
	if len(tt.rows) != len(want)+1 {
		t.Errorf("%d rows, want %d folders and TOTAL:\n%s", len(tt.rows), len(want), o)
	}
	total := 0
	for name, n := range want {
		r := tt.row(t, name)
		if r["MESSAGES"] != fmt.Sprint(n) || r["FORMAT"] != "mbox" {
			t.Errorf("folder %q: %q messages in format %q, want %d in mbox", name, r["MESSAGES"], r["FORMAT"], n)
		}
		total += n
	}
	if got := tt.row(t, "TOTAL")["MESSAGES"]; got != fmt.Sprint(total) {
		t.Errorf("TOTAL: %s messages, want %d", got, total)
	}
	if !strings.Contains(o.stdout, "No server was contacted") {
		t.Errorf("the summary does not say that no server was contacted:\n%s", o)
	}
}

func TestScanReportFiles(t *testing.T) {
	sample := sampleDir(t)
	want := sampleFolders(t, sample)
	dir := t.TempDir()
	args := []string{"scan", sample}
	for _, ext := range []string{"json", "csv", "md", "html"} {
		args = append(args, "--report", filepath.Join(dir, "scan."+ext))
	}
	o := runInProcess(t, nil, args...)
	if o.code != exitOK {
		t.Fatalf("want exit 0:\n%s", o)
	}
	rep := readReport(t, filepath.Join(dir, "scan.json"))
	total := 0
	for _, n := range want {
		total += n
	}
	if rep.Command != "scan" || rep.Totals.Found != total || rep.Server != nil {
		t.Errorf("report: command %q, totals.found %d, server %v; want scan, %d, none", rep.Command, rep.Totals.Found, rep.Server, total)
	}
	if len(rep.Folders) != len(want) {
		t.Errorf("report has %d folders, want %d", len(rep.Folders), len(want))
	}
	for _, f := range rep.Folders {
		if n, ok := want[f.Source]; !ok || f.Found != n {
			t.Errorf("report folder %q: found %d, want %d (known: %v)", f.Source, f.Found, n, ok)
		}
	}
	for _, ext := range []string{"csv", "md", "html"} {
		fi, err := os.Stat(filepath.Join(dir, "scan."+ext))
		if err != nil || fi.Size() == 0 {
			t.Errorf("scan.%s not written: %v", ext, err)
		}
		if !strings.Contains(o.stderr, "report written to "+filepath.Join(dir, "scan."+ext)) {
			t.Errorf("standard error does not say where scan.%s went:\n%s", ext, o)
		}
	}
}

func TestScanJSONStdout(t *testing.T) {
	sample := sampleDir(t)
	want := sampleFolders(t, sample)
	o := runInProcess(t, nil, "scan", sample, "--json")
	if o.code != exitOK {
		t.Fatalf("want exit 0:\n%s", o)
	}
	rep := decodeReport(t, "standard output", []byte(o.stdout))
	total := 0
	for _, n := range want {
		total += n
	}
	if rep.Tool != "archive2imap" || rep.Totals.Found != total || len(rep.Messages) != total {
		t.Errorf("JSON on stdout: tool %q, totals.found %d, %d messages; want archive2imap, %d, %d", rep.Tool, rep.Totals.Found, len(rep.Messages), total, total)
	}
}

// copyTree copies a directory tree of regular files.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A source with a part that cannot be read: the rest is read, the part is
// listed, and the exit code is 1. The tests run as root, for whom
// permissions do not stop reading, so the unreadable parts are a link to
// a deleted file and a named pipe (which must not block the scan).
func TestScanUnreadablePart(t *testing.T) {
	sample := sampleDir(t)
	want := sampleFolders(t, sample)
	total := 0
	for _, n := range want {
		total += n
	}
	cases := []struct {
		name string
		make func(t *testing.T, dir string) string // returns the bad path
	}{
		{"dangling symlink (mbox moved away, link left behind)", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "Old Inbox")
			if err := os.Symlink(filepath.Join(dir, "gone-mbox"), p); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"named pipe (FIFO) among the mbox files", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "Queue")
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skipf("cannot make a FIFO here: %v", err)
			}
			return p
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "archive")
			copyTree(t, sample, dir)
			bad := tc.make(t, dir)
			rp := filepath.Join(t.TempDir(), "scan.json")
			done := make(chan outcome, 1)
			go func() { done <- runInProcess(t, nil, "scan", dir, "--quiet", "--report", rp) }()
			var o outcome
			select {
			case o = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("scan still running after 20s (blocked on the unreadable part?)")
			}
			checkErrorLine(t, o, exitFailures, "1 part(s) of the source could not be read")
			if !strings.Contains(o.stdout, bad) {
				t.Errorf("the summary does not name %s:\n%s", bad, o)
			}
			rep := readReport(t, rp)
			if len(rep.Problems) != 1 || rep.Problems[0].Path != bad {
				t.Errorf("report problems %+v, want one about %s", rep.Problems, bad)
			}
			if rep.Totals.Found != total {
				t.Errorf("found %d messages, want all %d of the readable folders", rep.Totals.Found, total)
			}
		})
	}
}
