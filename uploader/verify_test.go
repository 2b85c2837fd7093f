package uploader

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/archive2imap/archive2imap/internal/memimap"
	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
)

// verifyAs runs what the verify command runs: a new inventory, a plan
// (with a dry-run configuration: verify never writes) and Verify.
func verifyAs(t *testing.T, root string, s *testServer, dedupe string) *report.Report {
	t.Helper()
	cfg := s.config()
	cfg.DryRun = true
	rep, cl := planned(t, root, cfg, plan.Options{}, PlanOptions{Dedupe: dedupe})
	if err := Verify(context.Background(), rep, cl, dedupe, nil); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

// findOn returns the UID of the message of mailbox whose bytes are those
// of the source message m.
func findOn(t *testing.T, o *observer, rep *report.Report, m *report.Message) uint32 {
	t.Helper()
	sum := sha(sourceData(t, rep, m))
	for _, sm := range o.messages(m.Target) {
		if sm.sum() == sum {
			return sm.UID
		}
	}
	t.Fatalf("%s is not in %s", m.Location(), m.Target)
	return 0
}

func TestVerify(t *testing.T) {
	s, _ := richServer(t, memimap.Options{})
	o := s.observer()
	root := richSource(t)
	rep, err := migrate(t, testCtx(t), root, s.config(), PlanOptions{}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 17 source messages: the deleted-marked one and the one over the
	// APPENDLIMIT are not expected; the 15 others (10 uploaded, 3 that
	// were there, 2 duplicates of those) are. "Inbox two" was on the
	// server before, read (\Seen) but not answered; the source has it
	// \Answered too: its flags differ (migrate never changes a message that
	// is there).
	want := report.Verify{Checked: 15, Present: 14, FlagsDiffer: 1, NotExpected: 2, FoldersSeen: 6}

	// Right after the run, on the run's own report.
	if err := Verify(context.Background(), rep, connect(t, s.config()), DedupeFolder, nil); err != nil {
		t.Fatal(err)
	}
	if *rep.Verify != want {
		t.Errorf("after the run: %+v, want %+v", *rep.Verify, want)
	}

	// As the verify command does it, later.
	vrep := verifyAs(t, root, s, DedupeFolder)
	if *vrep.Verify != want {
		t.Errorf("verify: %+v, want %+v", *vrep.Verify, want)
	}
	for _, m := range vrep.Messages {
		switch {
		case m.Deleted || m.Plan == report.DecisionFailed:
			if m.Verified != "" {
				t.Errorf("%s (not expected): verified %q", m.Subject, m.Verified)
			}
		case m.Subject == "Inbox two":
			if m.Verified != "flags differ" {
				t.Errorf("%s: verified %q, want flags differ", m.Subject, m.Verified)
			}
		case m.Verified != "present":
			t.Errorf("%s: verified %q", m.Subject, m.Verified)
		}
	}

	// A message read on the server since (more flags) is still present.
	o.add("Sent Items", mail("other@example.org", "Not from the archive", "x"), nil, rep.Started)
	if _, err := o.c.Select("Sent Items", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sentOne := bySubject(t, vrep, "Sent", "Sent one")
	if err := o.c.Store(imap.UIDSetNum(imap.UID(findOn(t, o, vrep, sentOne))), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if v := verifyAs(t, root, s, DedupeFolder).Verify; *v != want {
		t.Errorf("with more flags on the server and a message not from the archive: %+v, want %+v", *v, want)
	}

	// Deleted on the server (test side): missing. Its duplicate in "Sent
	// Messages" is then missing too: it was expected through it.
	sentTwo := bySubject(t, vrep, "Sent", "Sent two")
	o.expunge("Sent Items", findOn(t, o, vrep, sentTwo))
	// A flag removed on the server (test side): flags differ.
	trash := bySubject(t, vrep, "Trash", "Thrown away")
	o.unflag("Deleted Items", findOn(t, o, vrep, trash), imap.FlagSeen)
	// A whole folder deleted: its messages are missing, and the folder.
	if err := o.c.Delete("Café").Wait(); err != nil {
		t.Fatal(err)
	}

	vrep = verifyAs(t, root, s, DedupeFolder)
	v := vrep.Verify
	if (report.Verify{Checked: 15, Present: 10, Missing: 3, FlagsDiffer: 2, NotExpected: 2, FoldersSeen: 5, MissingFolds: 1}) != *v {
		t.Errorf("after changes on the server: %+v", *v)
	}
	for _, w := range []struct{ folder, subject, verified string }{
		{"Sent", "Sent two", "missing"},
		{"Sent Messages", "Sent two", "missing"},
		{"Trash", "Thrown away", "flags differ"},
		{"Café", "Café crème", "missing"},
		{"Sent", "Sent one", "present"},
		{"INBOX", "Deleted", ""},
	} {
		if m := bySubject(t, vrep, w.folder, w.subject); m.Verified != w.verified {
			t.Errorf("%s/%s: verified %q, want %q", w.folder, w.subject, m.Verified, w.verified)
		}
	}

	// Migrating again puts back what is missing (the flag is not
	// changed on a message that is there: uploader never modifies one).
	if _, err := migrate(t, testCtx(t), root, s.config(), PlanOptions{}, ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	if v := verifyAs(t, root, s, DedupeFolder).Verify; v.Missing != 0 || v.FlagsDiffer != 2 || v.Present != 13 {
		t.Errorf("after migrating again: %+v", *v)
	}
}

// TestVerifyDedupeScope: with --dedupe account, a message the account has
// in another folder is present; with --dedupe folder, it must be in its
// own target.
func TestVerifyDedupeScope(t *testing.T) {
	s, _ := richServer(t, memimap.Options{})
	root := richSource(t)
	if _, err := migrate(t, testCtx(t), root, s.config(), PlanOptions{Dedupe: DedupeAccount}, ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	acct := verifyAs(t, root, s, DedupeAccount)
	// Two messages were there before with fewer flags than in the source.
	if v := acct.Verify; v.Missing != 0 || v.Present != 13 || v.FlagsDiffer != 2 || v.Checked != 15 {
		t.Errorf("account scope: %+v", *v)
	}
	if m := bySubject(t, acct, "Projects", "Filed in Archive on the server"); m.Verified != "flags differ" {
		t.Errorf("the message in Archive (\\Seen there, \\Seen \\Flagged in the source): %q", m.Verified)
	}
	folder := verifyAs(t, root, s, DedupeFolder)
	// In folder scope the message filed in Archive, and the inbox message
	// that account scope uploaded to INBOX only, are not in their own
	// folders.
	if v := folder.Verify; v.Missing != 2 {
		t.Errorf("folder scope: %+v, want 2 missing", *v)
	}
	for _, w := range []struct{ folder, subject string }{{"Projects", "Filed in Archive on the server"}, {"Work/Clients", "Inbox one"}} {
		if m := bySubject(t, folder, w.folder, w.subject); m.Verified != "missing" {
			t.Errorf("%s/%s: %q, want missing", w.folder, w.subject, m.Verified)
		}
	}
}
