package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/archive2imap/archive2imap/internal/memimap"
)

// TestFailedOut: the messages the server refuses are written to the
// --failed-out mbox, which a helpdesk fixes and migrates again: the rerun
// from that file uploads exactly them.
func TestFailedOut(t *testing.T) {
	var mu sync.Mutex
	refuse := true
	s := startMemIMAP(t, memimap.Options{User: "alice", Password: "pw", Refuse: func(_ string, size int64) error {
		mu.Lock()
		defer mu.Unlock()
		if refuse && size > 2000 { // the sample's message with the attachment
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too large"}
		}
		return nil
	}})
	work := t.TempDir()
	pw := writeFile(t, filepath.Join(work, "pw"), "pw\n")
	conn := plainConn(s.Host(), s.Port(), "alice", pw)
	failed := filepath.Join(work, "failed.mbox")
	o := runInProcess(t, nil, append([]string{"migrate", sampleDir(t), "--quiet", "--no-ledger", "--failed-out", failed, "--json"}, conn...)...)
	if o.code != exitFailures {
		t.Fatalf("exit %d, want 1 (a message refused):\n%s", o.code, o)
	}
	rep := decodeReport(t, "migrate", []byte(o.stdout))
	if rep.Totals.Failed != 1 {
		t.Fatalf("%d failed, want 1", rep.Totals.Failed)
	}
	b, err := os.ReadFile(failed)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\nFrom archive2imap ") + strings.Count(string(b[:min(len(b), 20)]), "From archive2imap "); n != 1 {
		t.Fatalf("%d messages in %s, want 1:\n%.300s", n, failed, b)
	}
	if !strings.Contains(string(b), "Photos from the trip") {
		t.Errorf("the failed message is not the refused one:\n%.300s", b)
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	o = runInProcess(t, nil, append([]string{"migrate", failed, "--quiet", "--no-ledger", "--json", "--folder-map", writeFile(t, filepath.Join(work, "map"), "failed = INBOX\n")}, conn...)...)
	if o.code != exitOK {
		t.Fatalf("migrating the failed messages again:\n%s", o)
	}
	if again := decodeReport(t, "rerun", []byte(o.stdout)); again.Totals.Uploaded != 1 {
		t.Errorf("uploaded %d from the failed-out file, want 1", again.Totals.Uploaded)
	}
}
