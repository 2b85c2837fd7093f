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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// Waiting for the never-closed stdin would last until the 10 s
	// timeout kills it; a bound well above a slow start tells them apart.
	if o.elapsed > 8*time.Second {
		t.Errorf("took %v to give up, want it at once", o.elapsed)
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

var base64Run = regexp.MustCompile(`[A-Za-z0-9+/]{8,}={0,2}`)

// leak returns how text holds the secret: as is, or base64-encoded in any
// SASL exchange (PLAIN, XOAUTH2, OAUTHBEARER: every run of base64
// characters is decoded, at each of the four alignments); "" when it does
// not.
func leak(text, user, secret string) string {
	for _, s := range secretForms(user, secret) {
		if strings.Contains(text, s) {
			return fmt.Sprintf("as %q", s)
		}
	}
	for _, run := range base64Run.FindAllString(text, -1) {
		run = strings.TrimRight(run, "=")
		for i := 0; i < 4 && i < len(run); i++ {
			b, err := base64.RawStdEncoding.DecodeString(run[i : i+(len(run)-i)/4*4])
			if err == nil && strings.Contains(string(b), secret) {
				return fmt.Sprintf("in base64 %q", run)
			}
		}
	}
	return ""
}

// checkNoSecret fails when any of the outputs or files holds the password;
// the files must exist and not be empty (reports, plans and the like).
func checkNoSecret(t testing.TB, user, password string, outs []outcome, files []string) {
	t.Helper()
	for _, o := range outs {
		if how := leak(o.stdout+"\n"+o.stderr, user, password); how != "" {
			t.Errorf("the output holds the secret (%s):\n%s", how, o)
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
		if how := leak(string(b), user, password); how != "" {
			t.Errorf("%s holds the secret (%s)", f, how)
		}
	}
}

// checkStateNoSecret fails when a file under the state directory (the
// account's ledger and lock) holds the secret, or when there is no ledger
// with entries or no lock file: then the check would prove nothing.
func checkStateNoSecret(t testing.TB, state, user, secret string) {
	t.Helper()
	var ledgers, locks int
	err := filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(p, ".ledger.jsonl") && len(b) > 0:
			ledgers++
		case strings.HasSuffix(p, ".lock"):
			locks++
		}
		if how := leak(string(b), user, secret); how != "" {
			t.Errorf("%s holds the secret (%s)", p, how)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading the state directory: %v", err)
	}
	if ledgers == 0 || locks == 0 {
		t.Errorf("the state directory %s holds %d ledgers with entries and %d lock files; want both", state, ledgers, locks)
	}
}

// The secret, a password (from a file or from the environment) or an
// OAuth2 access token (from a file, used with XOAUTH2 or OAUTHBEARER),
// appears in nothing the tool writes: standard output and error, every
// report format, the plan (--plan-out), the mbox of failed messages
// (--failed-out), the run's ledger next to its report, and the account's
// ledger and lock under $XDG_STATE_HOME; of a dry run, a run with
// failures, a run, verify, and a failed login. No command line holds it:
// the tool takes it from no flag, and refuses one that would.
func TestBinarySecretsNotLeaked(t *testing.T) {
	t.Parallel()
	sample := sampleDir(t)
	const user = "helpdesk@example.org"
	for _, via := range []string{"password file", "environment", "XOAUTH2 token file", "OAUTHBEARER token file"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			secret := "Pw-" + randomHex(10) + "-secret"
			mech, isToken := strings.CutSuffix(via, " token file")
			// While refusing, the server refuses the Sent messages: a
			// run with failures, for --failed-out.
			var refusing atomic.Bool
			opts := memimap.Options{User: user, Refuse: func(mailbox string, _ int64) error {
				if refusing.Load() && mailbox == "Sent" {
					return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too large"}
				}
				return nil
			}}
			if isToken {
				// Only the token logs in: LOGIN and PLAIN are refused,
				// so a run that uploads used it.
				opts.Token, opts.OAuthOnly = secret, true
			} else {
				opts.Password = secret
			}
			srv := startMemIMAP(t, opts)
			dir := t.TempDir()
			state := filepath.Join(dir, "state")
			conn := []string{"--host", srv.Host(), "--port", fmt.Sprint(srv.Port()), "--tls", "none", "--user", user}
			// login gives the command line and environment that log in
			// with the secret s.
			login := func(name, s string) ([]string, []string) {
				env := []string{"XDG_STATE_HOME=" + state}
				f := writeFile(t, filepath.Join(dir, name), s+"\n")
				switch {
				case isToken:
					return slices.Concat(conn, []string{"--oauth2-token-file", f, "--auth-mechanism", mech}), env
				case via == "password file":
					return slices.Concat(conn, []string{"--password-file", f}), env
				default:
					return conn, append(env, passwordEnv+"="+s)
				}
			}
			args, env := login("secret.txt", secret)
			plan, failed := filepath.Join(dir, "plan.json"), filepath.Join(dir, "failed.mbox")
			files := []string{plan, failed}
			var outs []outcome
			for _, step := range []struct {
				args []string
				code int
			}{
				{[]string{"migrate", "--dry-run", "--plan-out", plan}, exitOK},
				{[]string{"migrate", "--failed-out", failed}, exitFailures},
				{[]string{"migrate"}, exitOK},
				{[]string{"verify"}, exitOK},
				{[]string{"migrate", "--json"}, exitOK},
			} {
				name := strings.Join(step.args[:min(2, len(step.args))], "")
				a := slices.Concat(step.args, []string{sample}, args)
				for _, ext := range []string{"json", "csv", "md", "html"} {
					f := filepath.Join(dir, name+"."+ext)
					files = append(files, f)
					a = append(a, "--report", f)
				}
				refusing.Store(step.code == exitFailures)
				o := runBin(t, binRun{env: env}, a...)
				if o.code != step.code {
					t.Fatalf("want exit %d:\n%s", step.code, o)
				}
				outs = append(outs, o)
			}
			refusing.Store(false)
			// The runs really logged in and uploaded, and failed some:
			// the reports say so.
			for name, want := range map[string]func(r *jsonReport) bool{
				"migrate--failed-out": func(r *jsonReport) bool { return r.Totals.Uploaded > 0 && r.Totals.Failed > 0 },
				"migrate":             func(r *jsonReport) bool { return r.Totals.Uploaded > 0 && r.Totals.Failed == 0 },
			} {
				rep := readReport(t, filepath.Join(dir, name+".json"))
				if !want(rep) || rep.Server == nil || rep.Server.User != user {
					t.Errorf("%s: uploaded %d, failed %d, as %+v; want some uploaded as %s", name, rep.Totals.Uploaded, rep.Totals.Failed, rep.Server, user)
				}
			}
			// The run ledgers next to the reports of the runs that
			// uploaded (the others are empty).
			runLedgers, _ := filepath.Glob(filepath.Join(dir, "*.ledger.jsonl"))
			n := len(files)
			for _, f := range runLedgers {
				if fi, err := os.Stat(f); err == nil && fi.Size() > 0 {
					files = append(files, f)
				}
			}
			if len(files) == n {
				t.Errorf("no run ledger with entries next to the reports: %q", runLedgers)
			}
			// A failed login quotes the server, never the secret tried.
			wrong := "Wrong-" + secret
			wargs, wenv := login("wrong.txt", wrong)
			o := runBin(t, binRun{env: wenv}, append([]string{"migrate", sample}, wargs...)...)
			checkErrorLine(t, o, exitConnect, "the server said")
			checkNoSecret(t, user, wrong, []outcome{o}, nil)
			outs = append(outs, o)
			// No command line held the secret; one that does is refused
			// before anything is done, without repeating it.
			for _, o := range outs {
				if strings.Contains(strings.Join(o.args, " "), secret) {
					t.Errorf("a command line holds the secret: %q", o.args)
				}
			}
			flag, refusal := "--password", "there is no --password flag"
			if isToken {
				flag, refusal = "--oauth2-token", "unknown flag: --oauth2-token"
			}
			o = runBin(t, binRun{env: env}, append([]string{"migrate", sample, flag, secret}, conn...)...)
			checkErrorLine(t, o, exitUsage, refusal)
			outs = append(outs, o)
			checkNoSecret(t, user, secret, outs, files)
			checkStateNoSecret(t, state, user, secret)
		})
	}
}

// The leak check finds the secret in each form a SASL exchange would
// carry it, so that the test above can fail.
func TestLeakFindsSecrets(t *testing.T) {
	const user, secret = "helpdesk@example.org", "Pw-0123456789-secret"
	b64 := base64.StdEncoding.EncodeToString
	for _, text := range []string{
		"error: " + secret,
		"C: A1 AUTHENTICATE PLAIN " + b64([]byte("\x00"+user+"\x00"+secret)),
		"C: " + b64([]byte("user="+user+"\x01auth=Bearer "+secret+"\x01\x01")),
		`{"sasl":"` + b64([]byte("n,a="+user+",\x01host=127.0.0.1\x01port=993\x01auth=Bearer "+secret+"\x01\x01")) + `"}`,
		"x" + b64([]byte("...."+secret)),
	} {
		if leak(text, user, secret) == "" {
			t.Errorf("the secret is not found in %q", text)
		}
	}
	if how := leak("A1 OK LOGIN done; "+b64([]byte("\x00"+user+"\x00other")), user, secret); how != "" {
		t.Errorf("a leak found where there is none: %s", how)
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
