package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/internal/dovecottest"
	"github.com/archive2imap/archive2imap/report"
)

// TestDovecotBudget: the binary against a real Dovecot with a daily
// upload budget a third of the sample's size. The run uploads part of it
// and exits 5 with one line saying how many messages are left and when to
// run again; the ledger lists exactly what went, the report has the rest
// pending and the budget reached. A rerun with the same budget the same
// day counts what the ledger says went and uploads no more than fits; a
// rerun with a raised budget finishes; every planned message is then on
// the server exactly once.
func TestDovecotBudget(t *testing.T) {
	t.Parallel()
	skipShort(t)
	srv := dovecottest.Start(t, dovecottest.Options{})
	user := srv.Users[0]
	work := t.TempDir()
	pwFile := writeFile(t, filepath.Join(work, "password.txt"), user.Password+"\n")
	ledger := filepath.Join(work, "account.ledger.jsonl")
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	iopts := importers.Options{MboxLocation: berlin}
	args := append([]string{"migrate", sampleDir(t), "--quiet", "--json", "--mbox-timezone", "Europe/Berlin", "--ledger", ledger},
		plainConn(srv.Host, srv.Port, user.Name, pwFile)...)
	c := imapLogin(t, srv.Addr(), user.Name, user.Password)
	before := snapshot(t, c)

	o := runBin(t, binRun{}, append(args, "--dry-run")...)
	if o.code != exitOK {
		t.Fatalf("dry run:\n%s", o)
	}
	dry := decodeReport(t, "the dry run", []byte(o.stdout))
	dryFull := fullReport(t, o)
	total := dryFull.Totals.BytesToUpload
	perDay := total / 3
	if dry.Totals.ToUpload < 6 {
		t.Fatalf("the sample has %d messages to upload: too few for this test", dry.Totals.ToUpload)
	}

	// 1. The budget stops the run.
	start := time.Now()
	o = runBin(t, binRun{}, append(args, "--max-bytes-per-day", fmt.Sprint(perDay))...)
	checkNoTrace(t, o)
	if o.code != exitBudget {
		t.Fatalf("exit %d, want %d (the budget):\n%s", o.code, exitBudget, o)
	}
	stderr := strings.TrimSuffix(o.stderr, "\n")
	re := regexp.MustCompile(`^archive2imap: stopped at the daily upload budget \(([^)]*) in 24 h\); (\d+) messages? left; run the same command again after (\d{4}-\d\d-\d\d \d\d:\d\d) \S+$`)
	m := re.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("standard error is not the one budget line:\n%s", o)
	}
	first := fullReport(t, o)
	if first.Status != report.StatusInterrupted || first.Budget == nil || !first.Budget.Reached || first.Budget.BytesPerDay != perDay {
		t.Errorf("report: status %q, budget %+v; want interrupted, %d a day, reached", first.Status, first.Budget, perDay)
	}
	if first.Budget != nil {
		resume := first.Budget.ResumeAfter
		if resume.Before(start.Add(24*time.Hour-time.Minute)) || resume.After(time.Now().Add(24*time.Hour+time.Minute)) {
			t.Errorf("resume after %v: want about 24 hours after the run (%v)", resume, start)
		}
		if got := resume.Local().Format("2006-01-02 15:04"); got != m[3] {
			t.Errorf("the error line says %s, the report %s", m[3], got)
		}
	}
	uploaded, pending := first.Totals.Uploaded, 0
	var sent int64
	for _, msg := range first.Messages {
		switch msg.Outcome {
		case report.DecisionPending:
			pending++
		case report.DecisionUploaded:
			sent += msg.Size
		}
	}
	if uploaded == 0 || pending == 0 || uploaded+pending != first.Totals.ToUpload || first.Totals.Failed != 0 {
		t.Errorf("uploaded %d, pending %d of %d, failed %d: want some of each, none failed", uploaded, pending, first.Totals.ToUpload, first.Totals.Failed)
	}
	if m[2] != fmt.Sprint(pending) {
		t.Errorf("the error line says %s messages left, the report has %d pending", m[2], pending)
	}
	if sent > perDay {
		t.Errorf("uploaded %d bytes with a budget of %d", sent, perDay)
	}
	if got, want := ledgerKeys(t, ledger), uploadedKeys(first); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the ledger lists %d uploads, the report %d:\n%v\n%v", len(got), len(want), got, want)
	}
	if n := totalMsgs(snapshot(t, c)) - totalMsgs(before); n != uploaded {
		t.Errorf("%d messages on the server after the stop, the report says %d uploaded", n, uploaded)
	}

	// 2. The same budget again the same day: the ledger's uploads count,
	// so at most what is left of the budget goes.
	o = runBin(t, binRun{}, append(args, "--max-bytes-per-day", fmt.Sprint(perDay))...)
	again := fullReport(t, o)
	var sentAgain int64
	for _, msg := range again.Messages {
		if msg.Outcome == report.DecisionUploaded {
			sentAgain += msg.Size
		}
	}
	if o.code != exitBudget || sent+sentAgain > perDay || again.Budget == nil || again.Budget.UsedLast24h != sent {
		t.Errorf("the same day, the same budget: exit %d, %d more bytes after %d (budget %d), used before %+v; want exit 5 within the budget, counting the first run:\n%s", o.code, sentAgain, sent, perDay, again.Budget, o)
	}

	// 3. A raised budget finishes: every planned message once.
	o = runBin(t, binRun{}, append(args, "--max-bytes-per-day", "1GB")...)
	if o.code != exitOK {
		t.Fatalf("with a raised budget:\n%s", o)
	}
	last := fullReport(t, o)
	if last.Totals.Uploaded+uploaded+again.Totals.Uploaded != dry.Totals.ToUpload {
		t.Errorf("uploaded %d + %d + %d, planned %d", uploaded, again.Totals.Uploaded, last.Totals.Uploaded, dry.Totals.ToUpload)
	}
	checkMigrated(t, before, snapshot(t, c), dry, iopts)
	if got := ledgerKeys(t, ledger); len(got) != dry.Totals.ToUpload {
		t.Errorf("the ledger lists %d uploads, want each of the %d once", len(got), dry.Totals.ToUpload)
	}
}

// fullReport decodes the JSON report a command printed, with every field.
func fullReport(t testing.TB, o outcome) *report.Report {
	t.Helper()
	rep, err := report.ReadJSON(strings.NewReader(o.stdout))
	if err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, o)
	}
	return rep
}

// ledgerKeys returns the message keys a ledger file lists, sorted.
func ledgerKeys(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			Key string `json:"key"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("ledger line %q: %v", sc.Text(), err)
		}
		keys = append(keys, e.Key)
	}
	sort.Strings(keys)
	return keys
}

// uploadedKeys returns the keys of the messages rep says were uploaded,
// sorted.
func uploadedKeys(rep *report.Report) []string {
	var keys []string
	for _, m := range rep.Messages {
		if m.Outcome == report.DecisionUploaded {
			keys = append(keys, m.Key)
		}
	}
	sort.Strings(keys)
	return keys
}
