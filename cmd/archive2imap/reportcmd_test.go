package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/archive2imap/archive2imap/internal/memimap"
)

// TestReportCommand: a run's JSON report and its ledger are rendered again
// in every format, with the same numbers, without the archive or the
// server.
func TestReportCommand(t *testing.T) {
	s := startMemIMAP(t, memimap.Options{User: "alice", Password: "pw"})
	work := t.TempDir()
	pw := writeFile(t, filepath.Join(work, "pw"), "pw\n")
	ledger := filepath.Join(work, "ledger.jsonl")
	runJSON := filepath.Join(work, "run.json")
	o := runInProcess(t, nil, append([]string{"migrate", sampleDir(t), "--quiet", "--ledger", ledger, "--report", runJSON}, plainConn(s.Host(), s.Port(), "alice", pw)...)...)
	if o.code != exitOK {
		t.Fatalf("migrate:\n%s", o)
	}
	run := readReport(t, runJSON)
	s.Close() // the server is not needed any more
	// The run's own ledger is kept next to its report.
	runLedger := filepath.Join(work, "run.ledger.jsonl")
	if b, err := os.ReadFile(runLedger); err != nil || strings.Count(string(b), "\n") != run.Totals.Uploaded {
		t.Fatalf("the run's ledger next to the report: %v, want %d lines", err, run.Totals.Uploaded)
	}

	for _, src := range []string{runJSON, ledger, runLedger} {
		html := filepath.Join(work, filepath.Base(src)+".html")
		csv := filepath.Join(work, filepath.Base(src)+".csv")
		back := filepath.Join(work, filepath.Base(src)+".again.json")
		o := runInProcess(t, nil, "report", src, "--report", html, "--report", csv, "--report", back)
		if o.code != exitOK {
			t.Fatalf("report %s:\n%s", src, o)
		}
		again := readReport(t, back)
		if again.Totals.Uploaded != run.Totals.Uploaded || again.Totals.BytesUploaded != run.Totals.BytesUploaded {
			t.Errorf("%s rendered again: uploaded %d (%d bytes), the run %d (%d bytes)", src, again.Totals.Uploaded, again.Totals.BytesUploaded, run.Totals.Uploaded, run.Totals.BytesUploaded)
		}
		b, _ := os.ReadFile(csv)
		if rows := strings.Count(string(b), "\n") - 1; rows != len(again.Messages) || rows == 0 {
			t.Errorf("%s: %d CSV rows for %d messages", src, rows, len(again.Messages))
		}
		if h, _ := os.ReadFile(html); !strings.Contains(string(h), "<html") {
			t.Errorf("%s: no HTML written", src)
		}
	}
	o = runInProcess(t, nil, "report", sampleDir(t)+"/Inbox")
	checkErrorLine(t, o, exitUsage, "neither")
}
