package uploader

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/internal/dovecottest"
	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
)

func TestLedgerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "alice.ledger.jsonl")
	l, err := OpenLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	// A second run on the same account is refused while the first has it.
	if _, err := OpenLedger(path); !errors.Is(err, ErrLedgerLocked) {
		t.Fatalf("second open: %v, want ErrLedgerLocked", err)
	}
	l.Record(LedgerEntry{Key: "mid:a@x", Target: "INBOX", UIDValidity: 7, UID: 1})
	l.Record(LedgerEntry{Key: "mid:b@x", Target: "INBOX", UIDValidity: 7, UID: 2})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A run killed in the middle of a line leaves a torn line: skipped,
	// and the next entry starts on a line of its own.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"key":"mid:torn@x","tar`)
	f.Close()
	l, err = OpenLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Record(LedgerEntry{Key: "mid:c@x", Target: "INBOX", UIDValidity: 7, UID: 3})
	l.Close()
	r, err := ReadLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	known := r.Known("INBOX")
	for uid, want := range map[uint32]string{1: "mid:a@x", 2: "mid:b@x", 3: "mid:c@x"} {
		if k, ok := known(7, uid); !ok || k != want {
			t.Errorf("UID %d: %q %v, want %q", uid, k, ok, want)
		}
	}
	if _, ok := known(8, 1); ok {
		t.Error("a UID of another UIDVALIDITY is known")
	}
	if r.Known("Sent") != nil {
		t.Error("a folder the ledger never saw is known")
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n != 4 {
		t.Errorf("%d lines, want 4 (two, the torn one, one more):\n%s", n, b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("ledger mode %v, want 0600 (it names the account's messages)", st.Mode().Perm())
	}
	// A read-only ledger (dry run) on a missing file is empty, creates
	// nothing and records nothing.
	missing := filepath.Join(t.TempDir(), "none", "x.jsonl")
	ro, err := ReadLedger(missing)
	if err != nil || ro.Known("INBOX") != nil {
		t.Fatalf("ReadLedger of a missing file: %v", err)
	}
	ro.Record(LedgerEntry{Key: "mid:z@x", Target: "INBOX", UIDValidity: 1, UID: 1})
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a read-only ledger created its directory")
	}
}

// TestLedgerRerun: a run records what it uploaded; the rerun's plan uses
// the ledger (fetching the headers of no known message) and decides
// exactly as without it. A message deleted on the server since is
// uploaded again: the server, not the ledger, says what exists. A ledger
// that lies is caught by the sample and ignored.
func TestLedgerRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("real Dovecot: skipped with -short")
	}
	srv := dovecottest.Start(t, dovecottest.Options{Users: []dovecottest.User{{Name: testUser, Password: testPassword}}})
	cfg := &Config{Host: srv.Host, Port: srv.Port, TLS: TLSNone, User: testUser, Password: testPassword, Timeout: 10 * time.Second}
	o := dialObserver(t, srv.Addr())
	root := twoFolders(t, 30, 300)
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	l, err := OpenLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, cl := planned(t, root, cfg, plan.Options{}, PlanOptions{Ledger: l})
	if err := Execute(testCtx(t), rep, cfg, cl, ExecOptions{Ledger: l, Backoff: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n != rep.Totals.Uploaded || n == 0 {
		t.Fatalf("the ledger has %d entries, the run uploaded %d", n, rep.Totals.Uploaded)
	}

	// Delete one uploaded message test-side.
	var gone *report.Message
	for i := range rep.Messages {
		if rep.Messages[i].Outcome == report.DecisionUploaded {
			gone = &rep.Messages[i]
			break
		}
	}
	o.expunge(gone.Target, gone.UID)

	plans := func(l *Ledger) (*report.Report, *countingReader) {
		rep := scan(t, root, plan.Options{})
		cr := &countingReader{Reader: connect(t, cfg)}
		if err := Plan(context.Background(), rep, cr, PlanOptions{Ledger: l}); err != nil {
			t.Fatal(err)
		}
		return rep, cr
	}
	ro, err := ReadLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	withLedger, cr := plans(ro)
	without, _ := plans(nil)
	for i := range without.Messages {
		if a, b := withLedger.Messages[i].Plan, without.Messages[i].Plan; a != b {
			t.Errorf("%s: planned %s with the ledger, %s without", without.Messages[i].Location(), a, b)
		}
	}
	if withLedger.Totals.ToUpload != 1 {
		t.Errorf("to upload %d, want the 1 deleted on the server", withLedger.Totals.ToUpload)
	}
	if cr.known == 0 || cr.full != 0 {
		t.Errorf("%d mailboxes read with the ledger, %d fully: want the ledger used", cr.known, cr.full)
	}

	// A ledger that says another message has a UID: the sample catches
	// it, and the plan is the server's.
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	lb, _ := OpenLedger(bad)
	for i := range rep.Messages {
		m := rep.Messages[i]
		if m.Outcome == report.DecisionUploaded {
			lb.Record(LedgerEntry{Key: "mid:not-this-one-" + m.Key, Target: m.Target, UIDValidity: m.UIDValidity, UID: m.UID})
		}
	}
	lb.Close()
	rb, _ := ReadLedger(bad)
	lied, _ := plans(rb)
	if lied.Totals.ToUpload != 1 || lied.Totals.AlreadyOnServer != without.Totals.AlreadyOnServer {
		t.Errorf("with a lying ledger: to upload %d, on server %d; want %d, %d", lied.Totals.ToUpload, lied.Totals.AlreadyOnServer, 1, without.Totals.AlreadyOnServer)
	}
}

// countingReader counts how mailboxes are read.
type countingReader struct {
	Reader
	known, full int
}

func (c *countingReader) KnownMessages(ctx context.Context, mailbox string, prints map[string]bool, known KnownKeys) ([]ServerMessage, error) {
	if known != nil {
		c.known++
	} else {
		c.full++
	}
	return c.Reader.KnownMessages(ctx, mailbox, prints, known)
}
