package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/report"
)

const mbox = "From a@example.org Mon Jan  1 10:00:00 2018\nMessage-ID: <1@x>\nSubject: one\n\nbody one\n\n" +
	"From a@example.org Mon Jan  1 11:00:00 2018\nMessage-ID: <1@x>\nSubject: one again\n\nbody one\n\n" +
	"From a@example.org Mon Jan  1 12:00:00 2018\nMessage-ID: <2@x>\nStatus: RO\nX-Status: D\nSubject: deleted\n\nbody two\n\n" +
	"From a@example.org Mon Jan  1 13:00:00 2018\nMessage-ID: <3@x>\nSubject: big\n\n" + "a long body\n" + "\n"

func writeArchive(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inbox"), []byte(mbox), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Empty"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInventory(t *testing.T) {
	dir := writeArchive(t)
	rep, err := Inventory(context.Background(), []string{dir}, Options{MaxSize: 100, Import: importers.Options{Format: importers.FormatMbox}})
	if err != nil {
		t.Fatal(err)
	}
	MarkDuplicates(rep, func(m *report.Message) string { return m.Folder })
	want := []string{report.DecisionUpload, report.DecisionDuplicate, report.DecisionSkipped, report.DecisionUpload}
	for i, m := range rep.Messages {
		if m.Plan != want[i] {
			t.Errorf("message %d: %s (%s), want %s", i+1, m.Plan, m.Reason, want[i])
		}
	}
	if !strings.Contains(rep.Messages[1].Reason, "message 1") || !strings.Contains(rep.Messages[2].Reason, "deleted") {
		t.Errorf("reasons: %q, %q", rep.Messages[1].Reason, rep.Messages[2].Reason)
	}
	if len(rep.Folders) != 2 || rep.Totals.Found != 4 || rep.Totals.DuplicatesInSource != 1 || rep.Totals.Skipped != 1 || rep.Totals.ToUpload != 2 {
		t.Errorf("folders %d, totals %+v", len(rep.Folders), rep.Totals.Counters)
	}
	// --max-size 10 skips the messages over it: all of them here.
	rep2, _ := Inventory(context.Background(), []string{dir}, Options{MaxSize: 10})
	for _, m := range rep2.Messages {
		if m.Plan != report.DecisionSkipped {
			t.Errorf("%s: %s, want skipped by --max-size", m.Location(), m.Plan)
		}
	}
	if _, err := Inventory(context.Background(), []string{filepath.Join(dir, "missing")}, Options{}); !errors.Is(err, importers.ErrNotFound) {
		t.Errorf("a missing source: %v, want ErrNotFound", err)
	}
}

func TestPlanFiles(t *testing.T) {
	dir := writeArchive(t)
	rep, err := Inventory(context.Background(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckFiles(rep); err == nil {
		t.Error("CheckFiles passed a report that records no files")
	}
	if err := RecordFiles(rep); err != nil {
		t.Fatal(err)
	}
	if n := len(rep.Sources[0].Files); n != 2 {
		t.Fatalf("%d files recorded, want the mbox and the empty folder's file", n)
	}
	if err := CheckFiles(rep); err != nil {
		t.Fatalf("unchanged source: %v", err)
	}
	now, _ := Inventory(context.Background(), []string{dir}, Options{})
	if err := SameMessages(rep, now); err != nil {
		t.Fatalf("unchanged source: %v", err)
	}
	// The mail client writes a message into the empty folder.
	empty := filepath.Join(dir, "Empty")
	os.WriteFile(empty, []byte("From b@example.org Tue Jan  2 10:00:00 2018\nMessage-ID: <9@x>\n\nnew\n"), 0o644)
	err = CheckFiles(rep)
	if !errors.Is(err, ErrSourceChanged) || !strings.Contains(err.Error(), empty) {
		t.Errorf("CheckFiles after a change: %v, want ErrSourceChanged naming %s", err, empty)
	}
	now, _ = Inventory(context.Background(), []string{dir}, Options{})
	if err := SameMessages(rep, now); !errors.Is(err, ErrSourceChanged) {
		t.Errorf("SameMessages with a message more: %v", err)
	}
	os.Remove(empty)
	if err := CheckFiles(rep); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("CheckFiles after a removal: %v", err)
	}
}

func TestWriteFailed(t *testing.T) {
	dir := writeArchive(t)
	rep, err := Inventory(context.Background(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Messages 1 and 4 failed; the others did not.
	rep.Messages[0].Plan, rep.Messages[0].Reason = report.DecisionFailed, "too large for server (APPENDLIMIT 10)"
	rep.Messages[3].Outcome = report.DecisionFailed
	rep.Messages[3].Flags = []string{importers.FlagSeen, importers.FlagFlagged}
	out := filepath.Join(t.TempDir(), "failed.mbox")
	n, err := WriteFailed(out, rep, importers.Options{})
	if err != nil || n != 2 {
		t.Fatalf("wrote %d: %v", n, err)
	}
	// It reads back as the two messages, with the same keys and flags.
	back, err := Inventory(context.Background(), []string{out}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Messages) != 2 || back.Messages[0].Key != rep.Messages[0].Key || back.Messages[1].Key != rep.Messages[3].Key {
		t.Fatalf("read back %d messages: %+v", len(back.Messages), back.Messages)
	}
	if f := back.Messages[1].Flags; len(f) != 2 {
		t.Errorf("flags read back: %v, want \\Flagged \\Seen", f)
	}
	if !back.Messages[1].Date.Equal(rep.Messages[3].Date) {
		t.Errorf("date %v, want %v", back.Messages[1].Date, rep.Messages[3].Date)
	}
	// Never into a source.
	if _, err := WriteFailed(filepath.Join(dir, "failed.mbox"), rep, importers.Options{}); err == nil {
		t.Error("wrote inside the source")
	}
}
