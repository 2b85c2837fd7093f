package uploader

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/archive2imap/archive2imap/internal/dovecottest"
	"github.com/archive2imap/archive2imap/internal/memimap"
	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
)

// The messages of richSource that the server already has, or nearly.
var (
	inOne   = mail("in-1@example.org", "Inbox one", "First message.")
	inTwo   = mail("in-2@example.org", "Inbox two", "Second message.")
	inThree = mail("in-3@example.org", "Inbox three", "Third message.")
	// A message without a Message-ID, as a POP3 client kept it: its trace
	// and client-state fields differ from the server's copy.
	noIDKept = mail("", "No Message-ID", "Sent by an old form mailer.\nNo ID at all.",
		"Received: from mx1.example.org by pop.example.org; Mon, 4 Jan 2010 10:00:05 +0100", "Status: RO")
	noIDOnServer = mail("", "No Message-ID", "Sent by an old form mailer.\nNo ID at all.",
		"Received: from mx2.example.org by imap.example.org; Mon, 4 Jan 2010 10:00:09 +0100", "X-Mozilla-Status: 0001")
	// Same header fields, another body: another message.
	noIDOther = mail("", "No Message-ID", "A different body under the same headers.",
		"Received: from mx1.example.org by pop.example.org; Mon, 4 Jan 2010 11:00:00 +0100")
	inArchive = mail("acct-1@example.org", "Filed in Archive on the server", "Moved to Archive by the user's webmail.")
	sentTwo   = mail("sent-2@example.org", "Sent two", "Reply.")
)

const richLimit = 4000

// richSource is an archive with every case planning has to decide, and
// richServer the account it goes to (Exchange-style special-use names, an
// APPENDLIMIT, some of the source already there).
func richSource(t *testing.T) string {
	return writeSource(t, []srcMsg{
		{folder: "inbox", data: inOne, info: "S"},
		{folder: "inbox", data: inTwo, info: "RS"},                                     // byte-identical copy on the server
		{folder: "inbox", data: inThree},                                               // same Message-ID, other bytes on the server
		{folder: "inbox", data: inOne, info: "S"},                                      // the same message twice in one folder
		{folder: "inbox", data: noIDKept, info: "S"},                                   // no Message-ID, same fingerprint on the server
		{folder: "inbox", data: noIDOther},                                             // no Message-ID, same header print, other body
		{folder: "inbox", data: mail("del-1@example.org", "Deleted", "x"), info: "ST"}, // marked deleted (T)
		{folder: "inbox", data: mail("big-1@example.org", "Too big", strings.Repeat("0123456789abcdef\n", 300))},
		{folder: "Sent", data: mail("sent-1@example.org", "Sent one", "Hello."), info: "S"},
		{folder: "Sent", data: sentTwo, info: "S"},
		{folder: "Sent Messages", data: sentTwo, info: "S"}, // Apple Mail's name: the same target
		{folder: "Trash", data: mail("trash-1@example.org", "Thrown away", "Bye."), info: "S"},
		{folder: "Projects", data: inArchive, info: "SF"},
		{folder: "Projects", data: mail("proj-2@example.org", "Project two", "Plans."), info: "F"},
		{folder: "Work/Clients", data: mail("client-1@example.org", "Client one", "Invoice.")},
		{folder: "Work/Clients", data: inOne, info: "S"}, // also in the inbox
		{folder: "Café", data: mail("cafe-1@example.org", "Café crème", "Non-ASCII folder."), info: "S"},
	}, "Empty")
}

// richServer starts the account richSource goes to, and returns it with
// how many messages each folder held before.
func richServer(t *testing.T, opts memimap.Options) (*testServer, map[string]int) {
	opts.SpecialUse = outlookFolders
	opts.Folders = []string{"Projects"}
	if opts.AppendLimit == 0 {
		opts.AppendLimit = richLimit
	}
	s := startServer(t, opts)
	o := s.observer()
	when := time.Date(2010, 1, 4, 9, 30, 0, 0, time.UTC)
	o.add("INBOX", inTwo, []imap.Flag{imap.FlagSeen}, when)
	o.add("INBOX", strings.Replace(inThree, "Third message.", "Third message, as the server keeps it (rewritten by a gateway).", 1), nil, when)
	o.add("INBOX", noIDOnServer, []imap.Flag{imap.FlagSeen}, when)
	o.add("Archive", inArchive, []imap.Flag{imap.FlagSeen}, when)
	return s, map[string]int{"INBOX": 3, "Archive": 1}
}

func TestPlanFolders(t *testing.T) {
	s, _ := richServer(t, memimap.Options{})
	rep, _ := planned(t, richSource(t), s.config(), plan.Options{}, PlanOptions{})
	want := []struct {
		source, target, reason string
		create                 bool
	}{
		{"Café", "Café", report.MapName, true},
		{"Empty", "Empty", report.MapName, true},
		{"INBOX", "INBOX", report.MapInbox, false},
		{"Projects", "Projects", report.MapName, false},
		{"Sent", "Sent Items", report.MapSpecialUse + ` \Sent`, false},
		{"Sent Messages", "Sent Items", report.MapSpecialUse + ` \Sent`, false},
		{"Trash", "Deleted Items", report.MapSpecialUse + ` \Trash`, false},
		{"Work/Clients", "Work/Clients", report.MapName, true},
	}
	if len(rep.Folders) != len(want) {
		t.Fatalf("%d folders, want %d: %+v", len(rep.Folders), len(want), rep.Folders)
	}
	for _, w := range want {
		f := folderOf(t, rep, w.source)
		if f.Target != w.target || f.Reason != w.reason || f.Create != w.create {
			t.Errorf("%s -> %q (%s, create %v), want %q (%s, create %v)", w.source, f.Target, f.Reason, f.Create, w.target, w.reason, w.create)
		}
	}
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Target != folderOf(t, rep, m.Folder).Target {
			t.Errorf("%s: target %q, its folder's is %q", m.Location(), m.Target, folderOf(t, rep, m.Folder).Target)
		}
	}
	if rep.Server == nil || rep.Server.Delimiter != "/" || rep.Server.AppendLimit != richLimit || rep.Server.Auth != MechLogin {
		t.Errorf("server %+v", rep.Server)
	}
}

func TestPlanDecisions(t *testing.T) {
	type counts struct{ found, dup, exists, upload, skipped, failed int }
	tests := []struct {
		name    string
		dedupe  string
		folders map[string]counts
		// decisions by folder and position in it: plan and reason (prefix)
		decisions map[string][][2]string
	}{
		{
			name:   "dedupe folder (default): a message is skipped when its target folder has it",
			dedupe: "",
			folders: map[string]counts{
				"INBOX": {8, 1, 3, 2, 1, 1}, "Sent": {2, 0, 0, 2, 0, 0}, "Sent Messages": {1, 1, 0, 0, 0, 0},
				"Trash": {1, 0, 0, 1, 0, 0}, "Projects": {2, 0, 0, 2, 0, 0}, "Work/Clients": {2, 0, 0, 2, 0, 0},
				"Café": {1, 0, 0, 1, 0, 0}, "Empty": {},
			},
			decisions: map[string][][2]string{
				"INBOX": {
					{report.DecisionUpload, ""},
					{report.DecisionExists, "already on server"},
					{report.DecisionExists, "already on server"},
					{report.DecisionDuplicate, "duplicate of "},
					{report.DecisionExists, "already on server"},
					{report.DecisionUpload, ""},
					{report.DecisionSkipped, "marked deleted in the source"},
					{report.DecisionFailed, "too large for server (APPENDLIMIT 4000)"},
				},
				"Sent Messages": {{report.DecisionDuplicate, "duplicate of "}},
				"Projects":      {{report.DecisionUpload, ""}, {report.DecisionUpload, ""}},
				"Work/Clients":  {{report.DecisionUpload, ""}, {report.DecisionUpload, ""}},
			},
		},
		{
			name:   "dedupe account: a message is skipped when any folder has it",
			dedupe: DedupeAccount,
			folders: map[string]counts{
				"INBOX": {8, 1, 3, 2, 1, 1}, "Sent": {2, 0, 0, 2, 0, 0}, "Sent Messages": {1, 1, 0, 0, 0, 0},
				"Trash": {1, 0, 0, 1, 0, 0}, "Projects": {2, 0, 1, 1, 0, 0}, "Work/Clients": {2, 1, 0, 1, 0, 0},
				"Café": {1, 0, 0, 1, 0, 0}, "Empty": {},
			},
			decisions: map[string][][2]string{
				"Projects":     {{report.DecisionExists, "already on server (in Archive)"}, {report.DecisionUpload, ""}},
				"Work/Clients": {{report.DecisionUpload, ""}, {report.DecisionDuplicate, "duplicate of "}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := richServer(t, memimap.Options{})
			rep, cl := planned(t, richSource(t), s.config(), plan.Options{}, PlanOptions{Dedupe: tc.dedupe})
			checkCounters(t, rep)
			for name, w := range tc.folders {
				c := folderOf(t, rep, name).Counters
				got := counts{c.Found, c.DuplicatesInSource, c.AlreadyOnServer, c.ToUpload, c.Skipped, c.Failed}
				if got != w {
					t.Errorf("%s: found/duplicates/on server/to upload/skipped/failed = %v, want %v", name, got, w)
				}
			}
			for folder, ds := range tc.decisions {
				msgs := messagesOf(rep, folder)
				if len(msgs) != len(ds) {
					t.Fatalf("%s: %d messages, want %d", folder, len(msgs), len(ds))
				}
				for i, d := range ds {
					m := msgs[i]
					if m.Plan != d[0] || !strings.HasPrefix(m.Reason, d[1]) || (d[1] == "" && m.Reason != "") {
						t.Errorf("%s message %d (%s): %s %q, want %s %q", folder, i+1, m.Subject, m.Plan, m.Reason, d[0], d[1])
					}
				}
			}
			// The duplicates name the copy that is kept.
			inbox := messagesOf(rep, "INBOX")
			if want := "duplicate of " + inbox[0].Location(); inbox[3].Reason != want {
				t.Errorf("duplicate reason %q, want %q", inbox[3].Reason, want)
			}
			if want := "duplicate of " + messagesOf(rep, "Sent")[1].Location(); messagesOf(rep, "Sent Messages")[0].Reason != want {
				t.Errorf("duplicate reason %q, want %q", messagesOf(rep, "Sent Messages")[0].Reason, want)
			}
			if rep.Dedupe != map[string]string{"": DedupeFolder, DedupeAccount: DedupeAccount}[tc.dedupe] {
				t.Errorf("report dedupe %q", rep.Dedupe)
			}

			// Planning again on the planned report decides the same.
			before := append([]report.Message(nil), rep.Messages...)
			if err := Plan(context.Background(), rep, cl, PlanOptions{Dedupe: tc.dedupe}); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(before, rep.Messages) {
				t.Error("a second Plan on the same report decided differently")
			}
		})
	}
}

// TestPlanFingerprint: messages without a Message-ID are matched against
// the server's messages without one by fingerprint (Date, From, To, Cc,
// Subject and body), which leaves trace and client-state fields out.
func TestPlanFingerprint(t *testing.T) {
	for _, tc := range []struct {
		name     string
		onServer string
		want     string
	}{
		{"Eudora copy vs. server copy with other Received/Status: same message", noIDOnServer, report.DecisionExists},
		{"byte-identical copy", noIDKept, report.DecisionExists},
		{"same headers, other body: another message", noIDOther, report.DecisionUpload},
		{"same body, other Subject: another message", strings.Replace(noIDOnServer, "Subject: No Message-ID", "Subject: Re: No Message-ID", 1), report.DecisionUpload},
		{"the server's copy has a Message-ID (added by the server): not the same key", strings.Replace(noIDKept, "Status: RO\n", "Status: RO\nMessage-ID: <added@server>\n", 1), report.DecisionUpload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, memimap.Options{})
			s.observer().add("INBOX", tc.onServer, nil, time.Time{})
			root := writeSource(t, []srcMsg{{folder: "inbox", data: noIDKept}})
			rep, _ := planned(t, root, s.config(), plan.Options{}, PlanOptions{})
			if m := rep.Messages[0]; m.Plan != tc.want {
				t.Errorf("plan %s (%s), want %s", m.Plan, m.Reason, tc.want)
			}
		})
	}
}

// TestPlanAppendLimit: RFC 7889 refuses messages larger than APPENDLIMIT
// (the limit itself is allowed); the plan says so in advance, and what it
// plans for upload the server takes.
func TestPlanAppendLimit(t *testing.T) {
	const limit = 2000
	sized := func(id string, size int) string {
		m := mail(id, "Sized "+id, "")
		pad := size - len(crlf(m))
		return mail(id, "Sized "+id, strings.Repeat("z", pad))
	}
	var msgs []srcMsg
	for _, n := range []int{limit - 1, limit, limit + 1, 3 * limit} {
		msgs = append(msgs, srcMsg{folder: "inbox", data: sized(fmt.Sprintf("size-%d@example.org", n), n)})
	}
	s := startServer(t, memimap.Options{AppendLimit: limit})
	root := writeSource(t, msgs)
	rep, err := migrate(t, testCtx(t), root, s.config(), PlanOptions{}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ plan, outcome string }{
		{report.DecisionUpload, report.DecisionUploaded},
		{report.DecisionUpload, report.DecisionUploaded},
		{report.DecisionFailed, ""},
		{report.DecisionFailed, ""},
	}
	for i, m := range rep.Messages {
		if m.Size != int64([]int{limit - 1, limit, limit + 1, 3 * limit}[i]) {
			t.Fatalf("message %d: size %d", i+1, m.Size)
		}
		if m.Plan != want[i].plan || m.Outcome != want[i].outcome {
			t.Errorf("message of %d bytes: %s/%s (%s), want %s/%s", m.Size, m.Plan, m.Outcome, m.Reason, want[i].plan, want[i].outcome)
		}
		if m.Plan == report.DecisionFailed && m.Reason != "too large for server (APPENDLIMIT 2000)" {
			t.Errorf("reason %q", m.Reason)
		}
	}
	checkCounters(t, rep)
	checkExactlyOnce(t, s.observer(), rep, nil)
}

func TestPlanMaxSizeAndDeleted(t *testing.T) {
	root := writeSource(t, []srcMsg{
		{folder: "inbox", data: mail("small@example.org", "Small", "x")},
		{folder: "inbox", data: mail("large@example.org", "Large", strings.Repeat("y", 3000))},
		{folder: "inbox", data: mail("gone@example.org", "Deleted", "z"), info: "ST"},
		{folder: "inbox", data: mail("kept@example.org", "Deleted but kept", "z"), info: "T"},
	})
	s := startServer(t, memimap.Options{})
	for _, tc := range []struct {
		name  string
		popts plan.Options
		want  []string
	}{
		{"defaults: deleted-marked skipped", plan.Options{}, []string{report.DecisionUpload, report.DecisionUpload, report.DecisionSkipped, report.DecisionSkipped}},
		{"--max-size 1000", plan.Options{MaxSize: 1000}, []string{report.DecisionUpload, report.DecisionSkipped, report.DecisionSkipped, report.DecisionSkipped}},
		{"--include-deleted", plan.Options{IncludeDeleted: true}, []string{report.DecisionUpload, report.DecisionUpload, report.DecisionUpload, report.DecisionUpload}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, _ := planned(t, root, s.config(), tc.popts, PlanOptions{})
			checkCounters(t, rep)
			for i, m := range rep.Messages {
				if m.Plan != tc.want[i] {
					t.Errorf("%s: %s (%s), want %s", m.Subject, m.Plan, m.Reason, tc.want[i])
				}
				if m.Plan == report.DecisionSkipped && m.Deleted && !strings.HasPrefix(m.Reason, "marked deleted in the source") {
					t.Errorf("%s: reason %q", m.Subject, m.Reason)
				}
				if m.Plan == report.DecisionSkipped && !m.Deleted && m.Reason != "larger than --max-size (1000 bytes)" {
					t.Errorf("%s: reason %q", m.Subject, m.Reason)
				}
			}
		})
	}
}

// noSelect is a server whose folder name exists but cannot hold
// messages (\Noselect, as Gmail's "[Gmail]" and Dovecot's parent folders
// of a layout=fs tree are).
type noSelect struct {
	Reader
	name string
}

func (n noSelect) Mailboxes(ctx context.Context) ([]Mailbox, error) {
	boxes, err := n.Reader.Mailboxes(ctx)
	for i := range boxes {
		if boxes[i].Name == n.name {
			boxes[i].Attrs = append(boxes[i].Attrs, `\Noselect`)
		}
	}
	return boxes, err
}

func TestPlanNoSelectTarget(t *testing.T) {
	s, _ := richServer(t, memimap.Options{})
	rep := scan(t, richSource(t), plan.Options{})
	cl := connect(t, s.config())
	if err := Plan(context.Background(), rep, noSelect{cl, "Projects"}, PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	checkCounters(t, rep)
	// A \Noselect folder is planned to be created (the server decides at
	// run time), and its messages are planned for upload.
	f := folderOf(t, rep, "Projects")
	if !f.Create || f.Failed != 0 || f.ToUpload != 2 || !strings.Contains(f.Reason, "parent") {
		t.Errorf("Projects: create %v, failed %d, to upload %d, reason %q; want create, 2 to upload", f.Create, f.Failed, f.ToUpload, f.Reason)
	}
	if folderOf(t, rep, "Sent").ToUpload != 2 {
		t.Error("other folders are affected")
	}
}

// TestDryRunWritesNothing plans (and even tries to execute) with a dry-run
// configuration, whose connections refuse CREATE, SUBSCRIBE and APPEND, a
// migration that needs new folders: the account is exactly as before.
func TestDryRunWritesNothing(t *testing.T) {
	s, _ := richServer(t, memimap.Options{})
	o := s.observer()
	before := o.snapshot()
	cfg := s.config()
	cfg.DryRun = true
	rep, cl := planned(t, richSource(t), cfg, plan.Options{}, PlanOptions{})
	checkCounters(t, rep)
	if rep.Totals.ToUpload != 10 || folderOf(t, rep, "Work/Clients").Create != true {
		t.Errorf("dry run plan: to upload %d, Work/Clients create %v", rep.Totals.ToUpload, folderOf(t, rep, "Work/Clients").Create)
	}
	if after := o.snapshot(); after != before {
		t.Errorf("the plan changed the account:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Even Execute, which a dry run never calls, cannot write.
	err := Execute(testCtx(t), rep, cfg, cl, ExecOptions{Backoff: time.Millisecond, Retries: 1})
	if err != nil && !errors.Is(err, ErrRefusedCommand) {
		t.Errorf("Execute with a dry-run configuration: %v", err)
	}
	checkCounters(t, rep)
	for _, m := range rep.Messages {
		if m.Plan == report.DecisionUpload && (m.Outcome != report.DecisionFailed || !strings.Contains(m.Reason, "dry run") && !strings.Contains(m.Reason, "cannot create folder")) {
			t.Errorf("%s: %s %q, want failed, saying why", m.Location(), m.Outcome, m.Reason)
		}
	}
	if after := o.snapshot(); after != before {
		t.Errorf("Execute with a dry-run configuration changed the account:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if rep.Totals.Uploaded != 0 {
		t.Errorf("a dry run reports %d messages uploaded", rep.Totals.Uploaded)
	}
}

// TestPlanTargetPrefix: --target-prefix puts every folder under one new
// folder (INBOX too), so nothing there exists yet; with --dedupe account
// what the account has elsewhere is still found.
func TestPlanTargetPrefix(t *testing.T) {
	for _, tc := range []struct {
		dedupe          string
		exists, dupl, n int
	}{
		// "Sent" and "Sent Messages" are two folders now: only the inbox's
		// second in-1 is a duplicate.
		{DedupeFolder, 0, 1, 14},
		// in-2, in-3, the message without Message-ID and the one filed in
		// Archive are on the server; in-1 is in the inbox twice and in
		// Work/Clients, sent-2 in both Sent folders.
		{DedupeAccount, 4, 3, 8},
	} {
		t.Run(tc.dedupe, func(t *testing.T) {
			s, _ := richServer(t, memimap.Options{})
			rep, _ := planned(t, richSource(t), s.config(), plan.Options{}, PlanOptions{Dedupe: tc.dedupe, Folders: FolderOptions{Prefix: "Old mail"}})
			checkCounters(t, rep)
			for _, f := range rep.Folders {
				if !strings.HasPrefix(f.Target, "Old mail/") || !f.Create {
					t.Errorf("%s -> %q (create %v)", f.Source, f.Target, f.Create)
				}
			}
			if folderOf(t, rep, "INBOX").Target != "Old mail/INBOX" || folderOf(t, rep, "Sent").Target != "Old mail/Sent" {
				t.Errorf("INBOX -> %q, Sent -> %q", folderOf(t, rep, "INBOX").Target, folderOf(t, rep, "Sent").Target)
			}
			tot := rep.Totals
			if tot.AlreadyOnServer != tc.exists || tot.DuplicatesInSource != tc.dupl || tot.ToUpload != tc.n {
				t.Errorf("on server %d, duplicates %d, to upload %d; want %d, %d, %d", tot.AlreadyOnServer, tot.DuplicatesInSource, tot.ToUpload, tc.exists, tc.dupl, tc.n)
			}
		})
	}
}

// TestPlanParentFolder: a folder the server lists only because it has
// subfolders. RFC 5258 §3.4's \NonExistent (Dovecot's Maildir storage)
// means it does not exist, and RFC 9051's \Noselect (Dovecot's mdbox,
// Gmail's [Gmail]) that it holds no messages: both are planned to be
// created, and the server decides.
func TestPlanParentFolder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		attrs  []string
		parent bool // the reason says it is only a parent
	}{
		{`RFC 5258 \NonExistent (Dovecot, Maildir storage)`, []string{`\NonExistent`, `\HasChildren`}, false},
		{`RFC 9051 \Noselect (Dovecot mdbox, Gmail's [Gmail])`, []string{`\Noselect`, `\HasChildren`}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			boxes := []Mailbox{{Name: "INBOX", Delim: '/'}, {Name: "Work", Delim: '/', Attrs: tc.attrs}, {Name: "Work/Clients", Delim: '/'}}
			m := ResolveFolders([]string{"Work"}, boxes, ServerInfo{Delim: '/'}, FolderOptions{})[0]
			if m.Target != "Work" || !m.Create || strings.Contains(m.Reason, "parent") != tc.parent {
				t.Errorf("got %+v, want create (reason naming a parent: %v)", m, tc.parent)
			}
		})
	}
	t.Run("Dovecot: a source folder whose subfolder the account already has", func(t *testing.T) {
		if testing.Short() {
			t.Skip("real Dovecot: skipped with -short")
		}
		srv := dovecottest.Start(t, dovecottest.Options{Users: []dovecottest.User{{Name: testUser, Password: testPassword}}})
		o := dialObserver(t, srv.Addr())
		if err := o.c.Create("Work/Clients", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		cfg := &Config{Host: srv.Host, Port: srv.Port, TLS: TLSNone, User: testUser, Password: testPassword, Timeout: 10 * time.Second}
		root := writeSource(t, []srcMsg{{folder: "Work", data: mail("work-1@example.org", "Work", "x"), info: "S"}})
		rep, err := migrate(t, testCtx(t), root, cfg, PlanOptions{}, ExecOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if f := folderOf(t, rep, "Work"); !f.Create || f.Uploaded != 1 {
			t.Errorf("Work: create %v, uploaded %d (%s)", f.Create, f.Uploaded, rep.Messages[0].Reason)
		}
		checkExactlyOnce(t, o, rep, nil)
	})
}
