package main

// End-to-end tests: the archive2imap binary, built once by TestMain, run
// as a user runs it, with a scrubbed environment (only PATH, a fresh HOME
// and what a test sets), checking exit codes and what it prints.

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/archive2imap/archive2imap/internal/memimap"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "archive2imap-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// In-process runs keep their ledgers here, not in the user's home.
	os.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	binPath, err = buildBinary(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the archive2imap binary: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestBinaryUsageErrors(t *testing.T) {
	t.Parallel()
	sample := sampleDir(t)
	tmp := t.TempDir()
	pw := writeFile(t, filepath.Join(tmp, "pw"), "pw\n")
	conn := plainConn("127.0.0.1", freeClosedPort(t), "alice", pw)
	noMail := t.TempDir()
	writeFile(t, filepath.Join(noMail, "readme.txt"), "not mail\n")
	cases := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"no arguments", nil, exitUsage, []string{"missing command"}},
		{"unknown flag", []string{"scan", sample, "--frobnicate"}, exitUsage, []string{"unknown flag: --frobnicate"}},
		{"unknown command", []string{"upload"}, exitUsage, []string{`unknown command "upload"`}},
		{"--password", append([]string{"migrate", sample, "--password", "hunter2"}, conn...), exitUsage, []string{"there is no --password flag"}},
		{"missing --host", []string{"migrate", sample, "--user", "alice", "--password-file", pw}, exitUsage, []string{"--host is required"}},
		{"missing --user", []string{"verify", sample, "--host", "127.0.0.1", "--password-file", pw}, exitUsage, []string{"--user is required"}},
		{"--tls bogus", append([]string{"migrate", sample}, append(conn, "--tls", "bogus")...), exitUsage, []string{"--tls"}},
		{"--format bogus", []string{"scan", sample, "--format", "bogus"}, exitUsage, []string{"--format"}},
		{"missing source path", []string{"scan", filepath.Join(tmp, "gone")}, exitUsage, []string{filepath.Join(tmp, "gone"), "no such file or directory"}},
		{"directory without mail", []string{"scan", noMail}, exitUsage, []string{noMail, "not a mail archive"}},
		{"nothing listening", append([]string{"migrate", sample, "--dry-run"}, conn...), exitConnect, []string{"127.0.0.1:" + conn[3], "connection refused"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := runBin(t, binRun{}, tc.args...)
			checkErrorLine(t, o, tc.code, tc.wants...)
			if strings.Contains(o.stderr, "hunter2") {
				t.Errorf("the error repeats the password:\n%s", o)
			}
		})
	}
}

// The environment is scrubbed, so ARCHIVE2IMAP_PASSWORD is not set; with
// no password file and a standard input that is a pipe nobody writes to,
// the binary stops at once with exit 2.
func TestBinaryNoPasswordNeverWaitsOnStdin(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	o := runBin(t, binRun{stdin: r, timeout: 10 * time.Second},
		"migrate", sampleDir(t), "--host", "127.0.0.1", "--port", fmt.Sprint(freeClosedPort(t)), "--tls", "none", "--user", "alice")
	checkErrorLine(t, o, exitUsage, "no password", "not a terminal")
	if o.elapsed > 2*time.Second {
		t.Errorf("took %v to give up, want < 2s", o.elapsed)
	}
}

func TestBinaryVersionAndHelp(t *testing.T) {
	t.Parallel()
	o := runBin(t, binRun{}, "--version")
	if o.code != 0 || o.stderr != "" || !regexp.MustCompile(`^archive2imap \S+\n$`).MatchString(o.stdout) {
		t.Errorf("--version: want exit 0 and one line \"archive2imap VERSION\":\n%s", o)
	}
	o = runBin(t, binRun{}, "--help")
	if o.code != 0 || o.stderr != "" || !strings.Contains(o.stdout, "Usage:") || !strings.Contains(o.stdout, "migrate") {
		t.Errorf("--help: want exit 0 and the usage:\n%s", o)
	}
}

func TestBinaryScanSample(t *testing.T) {
	t.Parallel()
	sample := sampleDir(t)
	want := sampleFolders(t, sample)
	o := runBin(t, binRun{}, "scan", sample)
	if o.code != 0 {
		t.Fatalf("want exit 0:\n%s", o)
	}
	tables := parseTables(o.stdout, "FOLDER")
	if len(tables) != 1 {
		t.Fatalf("want one table:\n%s", o)
	}
	for name, n := range want {
		if got := tables[0].row(t, name)["MESSAGES"]; got != fmt.Sprint(n) {
			t.Errorf("folder %q: %s messages, want %d", name, got, n)
		}
	}
	// Standard error is not a terminal: progress comes as log lines.
	if !strings.Contains(o.stderr, "scanning done: ") {
		t.Errorf("no progress log line on standard error:\n%s", o)
	}
}

// demoSections splits the demo's output at its "== N. title" lines.
func demoSections(out string) map[string]string {
	sec := make(map[string]string)
	parts := strings.Split(out, "\n== ")
	for _, p := range parts[1:] {
		title, body, _ := strings.Cut(p, "\n")
		n, _, _ := strings.Cut(title, ".")
		sec[n] = body
	}
	return sec
}

func TestBinaryDemo(t *testing.T) {
	t.Parallel()
	sample := sampleDir(t)
	found := 0
	for _, n := range sampleFolders(t, sample) {
		found += n
	}
	o := runBin(t, binRun{timeout: time.Minute}, "demo")
	if o.code != 0 {
		t.Fatalf("demo: want exit 0:\n%s", o)
	}
	checkNoTrace(t, o)
	if o.stderr != "" {
		t.Errorf("demo wrote to standard error:\n%s", o)
	}
	sec := demoSections(o.stdout)
	for _, n := range []string{"1", "2", "3", "4", "5"} {
		if sec[n] == "" {
			t.Fatalf("demo output lacks step %s:\n%s", n, o)
		}
	}
	// 1: the inventory.
	if st := parseTables(sec["1"], "FOLDER"); len(st) != 1 || st[0].row(t, "TOTAL")["MESSAGES"] != fmt.Sprint(found) {
		t.Errorf("step 1 (scan) does not show the %d messages of the sample:\n%s", found, sec["1"])
	}
	table := func(n string) textTable {
		t.Helper()
		tt := parseTables(sec[n], "SOURCE FOLDER")
		if len(tt) != 1 {
			t.Fatalf("step %s: want one table:\n%s", n, sec[n])
		}
		return tt[0]
	}
	dry, runT, verify, rerun := table("2"), table("3"), table("4"), table("5")
	// 2: the dry run plans every message that is neither a duplicate
	// nor skipped, and says that nothing was written.
	dt := dry.row(t, "TOTAL")
	toUpload := atoi(t, dt["TO UPLOAD"])
	if toUpload == 0 || atoi(t, dt["FOUND"]) != found ||
		toUpload != found-atoi(t, dt["DUP IN SOURCE"])-atoi(t, dt["SKIPPED"])-atoi(t, dt["ON SERVER"])-atoi(t, dt["FAILED"]) {
		t.Errorf("dry run totals do not add up: %v (found %d in the sample)", dt, found)
	}
	if !strings.Contains(sec["2"], fmt.Sprintf("Dry run: %d messages", toUpload)) || !strings.Contains(sec["2"], "nothing was written") {
		t.Errorf("step 2 does not say what a run would do and that nothing was written:\n%s", sec["2"])
	}
	// The practice server names its folders as Outlook-era servers do.
	if got := dry.row(t, "Sent")["TARGET"]; got != "Sent Items" {
		t.Errorf("Sent goes to %q, want the server's \\Sent folder \"Sent Items\"", got)
	}
	if got := dry.row(t, "Trash")["TARGET"]; got != "Deleted Items" {
		t.Errorf("Trash goes to %q, want the server's \\Trash folder \"Deleted Items\"", got)
	}
	// 3: the run uploads exactly what the dry run said, folder by folder.
	for _, r := range dry.rows {
		name := r["SOURCE FOLDER"]
		got := runT.row(t, name)
		if got["UPLOADED"] != r["TO UPLOAD"] || got["FAILED"] != "0" {
			t.Errorf("folder %q: the run uploaded %s (failed %s), the dry run said %s", name, got["UPLOADED"], got["FAILED"], r["TO UPLOAD"])
		}
	}
	if !strings.Contains(sec["3"], fmt.Sprintf("Migration complete: %d messages", toUpload)) {
		t.Errorf("step 3 does not say the migration completed with %d messages:\n%s", toUpload, sec["3"])
	}
	// 4: verify finds every expected message.
	vt := verify.row(t, "TOTAL")
	if vt["MISSING"] != "0" || vt["FLAGS DIFFER"] != "0" || vt["PRESENT"] != vt["CHECKED"] || atoi(t, vt["PRESENT"]) < toUpload {
		t.Errorf("verify totals: %v, want everything present", vt)
	}
	if !regexp.MustCompile(`(?i)all \d+ messages are on the server`).MatchString(sec["4"]) {
		t.Errorf("step 4 does not say that all messages are on the server:\n%s", sec["4"])
	}
	// 5: the rerun uploads nothing: everything is already there.
	rt := rerun.row(t, "TOTAL")
	if rt["UPLOADED"] != "0" || rt["TO UPLOAD"] != "0" || atoi(t, rt["ON SERVER"]) != toUpload {
		t.Errorf("rerun totals: %v, want 0 uploaded and %d on the server", rt, toUpload)
	}
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(strings.ReplaceAll(s, ",", ""), &n); err != nil {
		t.Fatalf("not a number in a table cell: %q", s)
	}
	return n
}

// secretForms are the ways a password could leak: as is, and inside the
// base64 of an AUTHENTICATE PLAIN exchange.
func secretForms(user, password string) []string {
	return []string{
		password,
		base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password)),
		base64.StdEncoding.EncodeToString([]byte(password)),
	}
}

// checkNoSecret fails when any of the outputs or files holds the password.
func checkNoSecret(t testing.TB, user, password string, outs []outcome, files []string) {
	t.Helper()
	for _, o := range outs {
		for _, s := range secretForms(user, password) {
			if strings.Contains(o.stdout, s) || strings.Contains(o.stderr, s) {
				t.Errorf("the output holds the password (as %q):\n%s", s, o)
			}
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Errorf("report %s not written: %v", f, err)
			continue
		}
		if len(b) == 0 {
			t.Errorf("report %s is empty", f)
		}
		for _, s := range secretForms(user, password) {
			if strings.Contains(string(b), s) {
				t.Errorf("report %s holds the password (as %q)", f, s)
			}
		}
	}
}

// The password, from a file or from the environment, appears in nothing the
// tool writes: standard output, standard error, and every report format,
// of a dry run, a run, verify, and a failed login.
func TestBinarySecretsNotLeaked(t *testing.T) {
	t.Parallel()
	sample := sampleDir(t)
	const user = "helpdesk@example.org"
	for _, via := range []string{"password file", "environment"} {
		t.Run(via, func(t *testing.T) {
			password := "Pw-" + randomHex(10) + "-secret"
			srv := startMemIMAP(t, memimap.Options{User: user, Password: password})
			dir := t.TempDir()
			var env []string
			conn := []string{"--host", srv.Host(), "--port", fmt.Sprint(srv.Port()), "--tls", "none", "--user", user}
			if via == "password file" {
				conn = append(conn, "--password-file", writeFile(t, filepath.Join(dir, "pw.txt"), password+"\n"))
			} else {
				env = []string{passwordEnv + "=" + password}
			}
			var outs []outcome
			var files []string
			for _, step := range [][]string{{"migrate", "--dry-run"}, {"migrate"}, {"verify"}, {"migrate", "--json"}} {
				name := strings.Join(step, "")
				args := append(append(step, sample), conn...)
				for _, ext := range []string{"json", "csv", "md", "html"} {
					f := filepath.Join(dir, name+"."+ext)
					files = append(files, f)
					args = append(args, "--report", f)
				}
				o := runBin(t, binRun{env: env}, args...)
				if o.code != exitOK {
					t.Fatalf("want exit 0:\n%s", o)
				}
				outs = append(outs, o)
			}
			// The run really logged in and uploaded: the report says so.
			if rep := readReport(t, filepath.Join(dir, "migrate.json")); rep.Totals.Uploaded == 0 || rep.Server == nil || rep.Server.User != user {
				t.Errorf("the run uploaded %d messages as %+v; want some, as %s", rep.Totals.Uploaded, rep.Server, user)
			}
			// A failed login quotes the server, never the password tried.
			wrong := "Wrong-" + password
			wenv, wconn := env, conn
			if via == "password file" {
				wconn = append(append([]string(nil), conn[:len(conn)-1]...), writeFile(t, filepath.Join(dir, "wrong.txt"), wrong+"\n"))
			} else {
				wenv = []string{passwordEnv + "=" + wrong}
			}
			o := runBin(t, binRun{env: wenv}, append([]string{"migrate", sample}, wconn...)...)
			checkErrorLine(t, o, exitConnect, "the server said")
			outs = append(outs, o)
			checkNoSecret(t, user, password, outs, files)
			checkNoSecret(t, user, wrong, outs[len(outs)-1:], nil)
		})
	}
}

// SIGINT stops a run with exit 130 and the report so far written, saying
// it was interrupted; the server's hook holds the first APPEND so the
// signal comes in the middle of the upload.
func TestBinaryInterrupted(t *testing.T) {
	t.Parallel()
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := startMemIMAP(t, memimap.Options{User: "alice", Password: "pw-int", Refuse: func(string, int64) error {
		select {
		case held <- struct{}{}:
		default:
		}
		<-release
		return nil
	}})
	// Cleanups run last-in first-out: release the hook before the server
	// closes.
	t.Cleanup(func() { close(release) })
	dir := t.TempDir()
	pw := writeFile(t, filepath.Join(dir, "pw"), "pw-int\n")
	rp := filepath.Join(dir, "run.json")
	cmd := exec.Command(binPath, append([]string{"migrate", sampleDir(t), "--report", rp}, plainConn(srv.Host(), srv.Port(), "alice", pw)...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatalf("no APPEND reached the server in 30s:\n%s", stderr.String())
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGINT:\n%s", stderr.String())
	}
	o := outcome{args: cmd.Args[1:], code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	if o.code != exitInterrupted {
		t.Fatalf("exit code %d after SIGINT, want %d:\n%s", o.code, exitInterrupted, o)
	}
	checkNoTrace(t, o)
	if l := lines(o.stderr); len(l) == 0 || l[len(l)-1] != "archive2imap: interrupted" {
		t.Errorf("the last line on standard error is not \"archive2imap: interrupted\":\n%s", o)
	}
	rep := readReport(t, rp)
	if rep.Status != "interrupted" || !strings.Contains(rep.StatusText, "again") || rep.Totals.Uploaded >= rep.Totals.ToUpload {
		t.Errorf("report: status %q (%q), %d of %d uploaded; want interrupted, a hint to rerun, not all uploaded",
			rep.Status, rep.StatusText, rep.Totals.Uploaded, rep.Totals.ToUpload)
	}
}

// The server refusing messages: one refused for good is a failed message
// (exit 1, the server's words in the report, the rest uploaded); an
// account that is full stops the run (exit 4, the report says so).
func TestBinaryServerRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		refuse func(mailbox string, size int64) error
		code   int
		status string
		last   string // the last line on standard error
	}{
		{"Exchange-style NO [TOOBIG] for the Sent folder", func(mailbox string, _ int64) error {
			if mailbox == "Sent" {
				return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too large for this folder"}
			}
			return nil
		}, exitFailures, "incomplete", "archive2imap: 3 messages not migrated"},
		{"Dovecot-style NO [OVERQUOTA] after the first message", func() func(string, int64) error {
			n := 0
			var mu sync.Mutex
			return func(string, int64) error {
				mu.Lock()
				defer mu.Unlock()
				if n++; n > 1 {
					return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Quota exceeded (mailbox for user is full)"}
				}
				return nil
			}
		}(), exitStopped, "interrupted", "archive2imap: the account on the server is full (OVERQUOTA)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startMemIMAP(t, memimap.Options{User: "alice", Password: "pw-refuse", Refuse: tc.refuse})
			dir := t.TempDir()
			rp := filepath.Join(dir, "run.json")
			args := append([]string{"migrate", sampleDir(t), "--quiet", "--report", rp}, plainConn(srv.Host(), srv.Port(), "alice", writeFile(t, filepath.Join(dir, "pw"), "pw-refuse\n"))...)
			o := runBin(t, binRun{}, args...)
			checkErrorLine(t, o, tc.code, tc.last)
			rep := readReport(t, rp)
			if rep.Status != tc.status {
				t.Errorf("report status %q (%s), want %s", rep.Status, rep.StatusText, tc.status)
			}
			if tc.code == exitFailures {
				// The refused messages carry the server's words; the
				// others went through.
				for _, m := range rep.Messages {
					if m.Target == "Sent" && m.Plan == "upload" && (m.Outcome != "failed" || !strings.Contains(m.Reason, "Message too large for this folder")) {
						t.Errorf("%s message %d: outcome %q reason %q, want failed with the server's words", m.Path, m.Index, m.Outcome, m.Reason)
					}
				}
				if rep.Totals.Uploaded+rep.Totals.Failed != rep.Totals.ToUpload || rep.Totals.Uploaded == 0 {
					t.Errorf("uploaded %d, failed %d of %d", rep.Totals.Uploaded, rep.Totals.Failed, rep.Totals.ToUpload)
				}
			} else if rep.Totals.Uploaded != 1 || !strings.Contains(rep.StatusText, "run the same command again") {
				t.Errorf("uploaded %d (want 1 before the account was full); status text %q", rep.Totals.Uploaded, rep.StatusText)
			}
		})
	}
}
