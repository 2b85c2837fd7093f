package main

// The integration suite: the built binary against a real Dovecot 2.3
// (internal/dovecottest), checked with a separate IMAP client. Skipped
// with -short; without Dovecot, skipped loudly (failed when CI is set).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/internal/corpora"
	"github.com/archive2imap/archive2imap/internal/dovecottest"
)

// outlookNames are special-use folders named as Exchange-era servers name
// them, so that the mapping by attribute (not by name) shows.
var outlookNames = map[string]string{
	`\Sent`: "Sent Items", `\Trash`: "Deleted Items", `\Drafts`: "Drafts", `\Junk`: "Junk", `\Archive`: "Archive",
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the real-Dovecot suite does not run")
	}
}

// srcMsg is a source message as importers.Walk reports it.
type srcMsg struct {
	Folder    string
	Format    importers.Format
	Loc       importers.Location
	MessageID string
	Deleted   bool
	Flags     []string
	Date      time.Time
}

func walkSource(t testing.TB, path string, opts importers.Options) []srcMsg {
	t.Helper()
	var out []srcMsg
	var cur *importers.Folder
	err := importers.Walk(context.Background(), path, opts, importers.Handler{
		Folder: func(f *importers.Folder) error { c := *f; cur = &c; return nil },
		Message: func(m *importers.Message) error {
			out = append(out, srcMsg{Folder: cur.Name, Format: cur.Format, Loc: m.Loc, MessageID: m.MessageID,
				Deleted: m.Deleted, Flags: append([]string(nil), m.Flags...), Date: m.Date})
			return nil
		},
	})
	if err != nil {
		t.Fatalf("walking %s: %v", path, err)
	}
	return out
}

func (m srcMsg) read(t testing.TB, opts importers.Options) *importers.Message {
	t.Helper()
	return sourceMessage(t, m.Format, jsonMessage{Path: m.Loc.Path, Offset: m.Loc.Offset, Length: m.Loc.Length, Index: m.Loc.Index}, opts)
}

// treeState records every file of a tree (size, mtime, mode, sha256), to
// show that a source was not changed.
func treeState(t testing.TB, dir string) map[string]string {
	t.Helper()
	st := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + sha(b)
		}
		st[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func checkTreeUnchanged(t testing.TB, before, after map[string]string) {
	t.Helper()
	for p, v := range before {
		if after[p] != v {
			t.Errorf("the source changed: %s was %q, is %q", p, v, after[p])
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("the source changed: %s appeared", p)
		}
	}
}

// diffSnapshots describes how two snapshots of an account differ.
func diffSnapshots(a, b map[string]*serverBox) []string {
	var d []string
	for name, ba := range a {
		bb, ok := b[name]
		if !ok {
			d = append(d, fmt.Sprintf("mailbox %q disappeared", name))
			continue
		}
		if strings.Join(ba.Attrs, " ") != strings.Join(bb.Attrs, " ") || ba.Subscribed != bb.Subscribed || ba.UIDValidity != bb.UIDValidity {
			d = append(d, fmt.Sprintf("mailbox %q: attributes %v subscribed %v uidvalidity %d became %v %v %d", name, ba.Attrs, ba.Subscribed, ba.UIDValidity, bb.Attrs, bb.Subscribed, bb.UIDValidity))
		}
		d = append(d, diffMsgs(name, ba.Msgs, bb.Msgs)...)
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			d = append(d, fmt.Sprintf("mailbox %q appeared", name))
		}
	}
	sort.Strings(d)
	return d
}

func diffMsgs(box string, a, b []serverMsg) []string {
	var d []string
	byUID := make(map[uint32]serverMsg)
	for _, m := range b {
		byUID[m.UID] = m
	}
	for _, m := range a {
		n, ok := byUID[m.UID]
		switch {
		case !ok:
			d = append(d, fmt.Sprintf("%q UID %d disappeared", box, m.UID))
		case n.Sum != m.Sum || !n.Date.Equal(m.Date) || strings.Join(n.Flags, " ") != strings.Join(m.Flags, " "):
			d = append(d, fmt.Sprintf("%q UID %d changed: flags %v date %v sha %.12s became %v %v %.12s", box, m.UID, m.Flags, m.Date, m.Sum, n.Flags, n.Date, n.Sum))
		}
		delete(byUID, m.UID)
	}
	for uid := range byUID {
		d = append(d, fmt.Sprintf("%q UID %d appeared", box, uid))
	}
	return d
}

func checkUnchanged(t testing.TB, what string, before, after map[string]*serverBox) {
	t.Helper()
	if d := diffSnapshots(before, after); len(d) > 0 {
		t.Errorf("%s changed the server:\n  %s", what, strings.Join(d, "\n  "))
	}
}

// wantMsg is what a source message must look like on the server.
type wantMsg struct {
	loc   string
	sum   string
	flags []string
	date  time.Time // zero: the server chose it
}

// checkMigrated checks that the account went from before to after by
// exactly the messages the dry run planned for upload: per target folder,
// the new messages are, byte for byte (sha256), the bytes the importers
// give for the planned source messages, with the source's flags and
// delivery date (INTERNALDATE); everything that was there is untouched;
// every folder that appeared was planned to be created, and is subscribed.
// It returns what it expected, by target and sha256.
func checkMigrated(t testing.TB, before, after map[string]*serverBox, dry *jsonReport, opts importers.Options) map[string]map[string]wantMsg {
	t.Helper()
	formats := dry.folderFormats()
	want := make(map[string][]wantMsg)
	for _, m := range dry.Messages {
		if m.Plan != "upload" {
			continue
		}
		msg := sourceMessage(t, formats[m.Folder], m, opts)
		w := wantMsg{loc: fmt.Sprintf("%s message %d at %d", m.Path, m.Index, m.Offset), sum: sha(msg.Data), flags: append([]string{}, msg.Flags...)}
		sort.Strings(w.flags)
		if msg.DateSource != importers.DateNone {
			// IMAP dates have whole seconds (file mtimes do not).
			w.date = msg.Date.Truncate(time.Second)
		}
		want[m.Target] = append(want[m.Target], w)
	}
	create := make(map[string]bool)
	for _, f := range dry.Folders {
		if f.Create {
			create[f.Target] = true
		}
	}
	// What was there before is still there, unchanged.
	for name, b := range before {
		a := after[name]
		if a == nil {
			t.Errorf("mailbox %q disappeared", name)
			continue
		}
		if a.UIDValidity != b.UIDValidity {
			t.Errorf("mailbox %q: UIDVALIDITY changed from %d to %d", name, b.UIDValidity, a.UIDValidity)
		}
		// The messages of a with UIDs that b had: they must equal b's.
		had := make(map[uint32]bool)
		for _, m := range b.Msgs {
			had[m.UID] = true
		}
		var aOld []serverMsg
		for _, m := range a.Msgs {
			if had[m.UID] {
				aOld = append(aOld, m)
			}
		}
		if d := diffMsgs(name, b.Msgs, aOld); len(d) > 0 {
			t.Errorf("messages that were on the server changed:\n  %s", strings.Join(d, "\n  "))
		}
	}
	// New folders were planned, and are subscribed. A server may list the
	// parents of a new nested folder as \Noselect or \NonExistent
	// placeholders: those must be parents of a planned folder.
	for name, a := range after {
		if before[name] != nil {
			continue
		}
		if slices.ContainsFunc(a.Attrs, func(s string) bool { return strings.EqualFold(s, `\Noselect`) || strings.EqualFold(s, `\NonExistent`) }) {
			parent := false
			for c := range create {
				parent = parent || strings.HasPrefix(c, name+"/")
			}
			if !parent || len(a.Msgs) > 0 {
				t.Errorf("mailbox %q (%v) appeared, but it is not the parent of a planned folder", name, a.Attrs)
			}
			continue
		}
		if !create[name] {
			t.Errorf("mailbox %q appeared but the dry run did not plan to create it", name)
		}
		if !a.Subscribed {
			t.Errorf("new mailbox %q is not subscribed", name)
		}
	}
	for name := range create {
		if after[name] == nil {
			t.Errorf("mailbox %q was planned but not created", name)
		}
	}
	// The new messages are exactly the planned ones.
	got := make(map[string]map[string]wantMsg)
	for name, a := range after {
		old := make(map[uint32]bool)
		if b := before[name]; b != nil {
			for _, m := range b.Msgs {
				old[m.UID] = true
			}
		}
		var fresh []serverMsg
		for _, m := range a.Msgs {
			if !old[m.UID] {
				fresh = append(fresh, m)
			}
		}
		ws := want[name]
		if len(fresh) != len(ws) {
			t.Errorf("mailbox %q: %d new messages, want %d", name, len(fresh), len(ws))
		}
		bySum := make(map[string][]serverMsg)
		for _, m := range fresh {
			bySum[m.Sum] = append(bySum[m.Sum], m)
		}
		got[name] = make(map[string]wantMsg)
		for _, w := range ws {
			got[name][w.sum] = w
			ms := bySum[w.sum]
			if len(ms) == 0 {
				t.Errorf("mailbox %q lacks %s (sha256 %.12s): not uploaded, or not byte for byte", name, w.loc, w.sum)
				continue
			}
			m := ms[0]
			bySum[w.sum] = ms[1:]
			if strings.Join(m.Flags, " ") != strings.Join(w.flags, " ") {
				t.Errorf("mailbox %q, %s: flags %v, want the source's %v", name, w.loc, m.Flags, w.flags)
			}
			if !w.date.IsZero() && !m.Date.Equal(w.date) {
				t.Errorf("mailbox %q, %s: INTERNALDATE %v, want the source's delivery date %v", name, w.loc, m.Date, w.date)
			}
		}
		for sum, ms := range bySum {
			for _, m := range ms {
				t.Errorf("mailbox %q: UID %d (sha256 %.12s) was uploaded but not planned", name, m.UID, sum)
			}
		}
	}
	for name := range want {
		if after[name] == nil {
			t.Errorf("mailbox %q, the target of %d messages, does not exist", name, len(want[name]))
		}
	}
	return got
}

// runReportMatches checks a run's report against its dry run and the
// server: per folder, uploaded = the dry run's to_upload; every uploaded
// message's UID is, on the server, the message read from the source.
func runReportMatches(t testing.TB, dry, run *jsonReport, after map[string]*serverBox, opts importers.Options) {
	t.Helper()
	if len(run.Folders) != len(dry.Folders) {
		t.Fatalf("the run has %d folders, the dry run %d", len(run.Folders), len(dry.Folders))
	}
	for i, f := range run.Folders {
		d := dry.Folders[i]
		if f.Source != d.Source || f.Target != d.Target || f.Uploaded != d.ToUpload || f.ToUpload != d.ToUpload || f.Failed != 0 {
			t.Errorf("folder %q -> %q: uploaded %d of %d (failed %d); the dry run planned %q -> %q, %d",
				f.Source, f.Target, f.Uploaded, f.ToUpload, f.Failed, d.Source, d.Target, d.ToUpload)
		}
	}
	if run.Totals.Uploaded != dry.Totals.ToUpload {
		t.Errorf("uploaded %d, the dry run said %d", run.Totals.Uploaded, dry.Totals.ToUpload)
	}
	formats := run.folderFormats()
	for _, m := range run.Messages {
		if m.Outcome != "uploaded" {
			continue
		}
		box := after[m.Target]
		if box == nil || m.UID == 0 {
			t.Errorf("%s message %d: uploaded to %q with UID %d, which is not on the server", m.Path, m.Index, m.Target, m.UID)
			continue
		}
		want := sha(sourceMessage(t, formats[m.Folder], m, opts).Data)
		found := false
		for _, s := range box.Msgs {
			if s.UID == m.UID {
				found = s.Sum == want
			}
		}
		if !found {
			t.Errorf("%s message %d: the report says UID %d in %q, which is not that message", m.Path, m.Index, m.UID, m.Target)
		}
	}
}

func totalMsgs(s map[string]*serverBox) int {
	n := 0
	for _, b := range s {
		n += len(b.Msgs)
	}
	return n
}

func TestDovecotMigrateSample(t *testing.T) {
	t.Parallel()
	skipShort(t)
	srv := dovecottest.Start(t, dovecottest.Options{SpecialUse: outlookNames})
	user := srv.Users[0]
	work := t.TempDir()
	pwFile := writeFile(t, filepath.Join(work, "password.txt"), user.Password+"\n")
	conn := plainConn(srv.Host, srv.Port, user.Name, pwFile)
	src := sampleDir(t)
	srcState := treeState(t, src)
	// mbox From_ lines carry no zone; name one, as a helpdesk would.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	tz := []string{"--mbox-timezone", "Europe/Berlin"}
	iopts := importers.Options{MboxLocation: berlin}
	var outs []outcome
	var reportFiles []string
	migrate := func(t *testing.T, name string, extra ...string) (outcome, *jsonReport) {
		t.Helper()
		args := append([]string{"migrate", src}, conn...)
		args = append(append(args, tz...), extra...)
		var rp string
		for _, ext := range []string{"json", "csv", "md", "html"} {
			f := filepath.Join(work, name+"."+ext)
			reportFiles = append(reportFiles, f)
			args = append(args, "--report", f)
			if ext == "json" {
				rp = f
			}
		}
		o := runBin(t, binRun{}, args...)
		outs = append(outs, o)
		checkNoTrace(t, o)
		if o.code != exitOK {
			t.Fatalf("want exit 0:\n%s", o)
		}
		return o, readReport(t, rp)
	}

	// 1. Pre-seed the account: two messages identical to sample messages
	// in their target folders (one with more flags than the source and
	// another date), one identical to a sample message but in another
	// folder than its own, and unrelated ones.
	c := imapLogin(t, srv.Addr(), user.Name, user.Password)
	var inboxMsg, sentMsg, projectsMsg *srcMsg
	for _, m := range walkSource(t, src, iopts) {
		m := m
		switch {
		case m.MessageID == "" || m.Deleted:
		case m.Folder == "INBOX" && inboxMsg == nil:
			inboxMsg = &m
		case m.Folder == "Sent" && sentMsg == nil:
			sentMsg = &m
		case m.Folder == "Projects" && projectsMsg == nil:
			projectsMsg = &m
		}
	}
	if inboxMsg == nil || sentMsg == nil || projectsMsg == nil {
		t.Fatal("the sample lacks an INBOX, Sent or Projects message with a Message-ID")
	}
	seedDate := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	appendMsg(t, c, "INBOX", inboxMsg.read(t, iopts).Data, append([]string{`\Flagged`, "$Preseeded"}, inboxMsg.Flags...), seedDate)
	appendMsg(t, c, "Sent Items", sentMsg.read(t, iopts).Data, sentMsg.Flags, sentMsg.Date)
	appendMsg(t, c, "INBOX", projectsMsg.read(t, iopts).Data, nil, seedDate)
	unrelated := "From: someone@example.com\r\nTo: alice@example.org\r\nSubject: already on the server\r\nMessage-ID: <unrelated-1@example.com>\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nThis message was on the server before the migration.\r\n"
	appendMsg(t, c, "INBOX", []byte(unrelated), []string{`\Seen`}, seedDate)
	appendMsg(t, c, "Junk", []byte(strings.Replace(unrelated, "unrelated-1", "unrelated-2", 1)), nil, seedDate)
	before := snapshot(t, c)
	if n := totalMsgs(before); n != 5 {
		t.Fatalf("pre-seeded %d messages, want 5", n)
	}

	// 2. The dry run changes nothing and plans by special-use attribute.
	var dry *jsonReport
	t.Run("dry run", func(t *testing.T) {
		_, dry = migrate(t, "dry", "--dry-run")
		checkUnchanged(t, "the dry run", before, snapshot(t, c))
		if !dry.DryRun || dry.Status != "complete" {
			t.Errorf("dry run report: dry_run %v status %q", dry.DryRun, dry.Status)
		}
		type plan struct {
			target  string
			create  bool
			already int
		}
		wantPlan := map[string]plan{
			"INBOX":                {"INBOX", false, 1}, // the Projects copy in INBOX does not count for Projects
			"Sent":                 {"Sent Items", false, 1},
			"Trash":                {"Deleted Items", false, 0},
			"Drafts":               {"Drafts", false, 0},
			"Archives":             {"Archive", false, 0},
			"Archives/2019":        {"Archive/2019", true, 0},
			"Projects":             {"Projects", true, 0},
			"Projects/Café Ümlaut": {"Projects/Café Ümlaut", true, 0},
		}
		if len(dry.Folders) != len(wantPlan) {
			t.Errorf("dry run has %d folders, want %d", len(dry.Folders), len(wantPlan))
		}
		sum := 0
		for _, f := range dry.Folders {
			w, ok := wantPlan[f.Source]
			if !ok || f.Target != w.target || f.Create != w.create || f.AlreadyOnServer != w.already {
				t.Errorf("folder %q -> %q (create %v, %d already there), want %+v", f.Source, f.Target, f.Create, f.AlreadyOnServer, w)
			}
			if f.Found != f.DuplicatesInSource+f.AlreadyOnServer+f.ToUpload+f.Skipped+f.Failed {
				t.Errorf("folder %q: counters do not add up: %+v", f.Source, f.jsonCounters)
			}
			sum += f.ToUpload
		}
		if sum == 0 || sum != dry.Totals.ToUpload {
			t.Errorf("to_upload: folders sum to %d, totals say %d", sum, dry.Totals.ToUpload)
		}
	})
	if dry == nil || t.Failed() {
		t.FailNow()
	}

	// 3. The run puts exactly the planned messages where planned.
	var afterRun map[string]*serverBox
	t.Run("run", func(t *testing.T) {
		_, run := migrate(t, "run")
		afterRun = snapshot(t, c)
		got := checkMigrated(t, before, afterRun, dry, iopts)
		// The checks above are not vacuous: the sample has every flag
		// a client sets, and a message without a Message-ID (found
		// again by its fingerprint in the rerun).
		flags := make(map[string]bool)
		for _, ws := range got {
			for _, w := range ws {
				for _, f := range w.flags {
					flags[f] = true
				}
			}
		}
		for _, f := range []string{`\Seen`, `\Answered`, `\Flagged`, `\Draft`} {
			if !flags[f] {
				t.Errorf("no uploaded message has %s: the flag check proves little", f)
			}
		}
		if !slices.ContainsFunc(dry.Messages, func(m jsonMessage) bool { return m.Plan == "upload" && m.MessageID == "" }) {
			t.Errorf("no message without a Message-ID is uploaded: fingerprint dedup is not exercised")
		}
		runReportMatches(t, dry, run, afterRun, iopts)
		if run.Status != "complete" {
			t.Errorf("status %q (%s), want complete", run.Status, run.StatusText)
		}
		if got, want := totalMsgs(afterRun), totalMsgs(before)+dry.Totals.ToUpload; got != want {
			t.Errorf("%d messages on the server, want %d", got, want)
		}
		// The projects message pre-seeded in INBOX is in Projects too.
		if b := afterRun["Projects"]; b == nil || len(b.Msgs) != 1 {
			t.Errorf("Projects: want the one source message, though a copy is in INBOX")
		}
		for _, name := range []string{"Archive/2019", "Projects/Café Ümlaut"} {
			if b := afterRun[name]; b == nil || !b.Subscribed || len(b.Msgs) == 0 {
				t.Errorf("folder %q: want it created, subscribed and holding its messages", name)
			}
		}
		if b := afterRun["Deleted Items"]; b == nil || len(b.Msgs) != 0 {
			t.Errorf("Deleted Items: want the server's \\Trash folder, empty as the sample's Trash")
		}
	})
	if afterRun == nil || t.Failed() {
		t.FailNow()
	}

	// 4. A second run uploads nothing and changes nothing.
	t.Run("rerun", func(t *testing.T) {
		_, again := migrate(t, "rerun")
		if again.Totals.Uploaded != 0 || again.Totals.ToUpload != 0 ||
			again.Totals.AlreadyOnServer != dry.Totals.ToUpload+dry.Totals.AlreadyOnServer {
			t.Errorf("rerun: to_upload %d uploaded %d already_on_server %d; want 0, 0, %d",
				again.Totals.ToUpload, again.Totals.Uploaded, again.Totals.AlreadyOnServer, dry.Totals.ToUpload+dry.Totals.AlreadyOnServer)
		}
		checkUnchanged(t, "the second run", afterRun, snapshot(t, c))
	})

	// 5. verify passes; after the test deletes one uploaded message, it
	// fails and names that message.
	t.Run("verify", func(t *testing.T) {
		args := append(append([]string{"verify", src}, conn...), tz...)
		o := runBin(t, binRun{}, append(args, "--quiet")...)
		outs = append(outs, o)
		if o.code != exitOK || !strings.Contains(o.stdout, "messages are on the server") {
			t.Fatalf("verify after the run: want exit 0 and all messages found:\n%s", o)
		}
		checkUnchanged(t, "verify", afterRun, snapshot(t, c))

		const box = "Projects/Café Ümlaut"
		var victim jsonMessage
		for _, m := range dry.Messages {
			if m.Target == box && m.Plan == "upload" {
				victim = m
			}
		}
		if victim.Path == "" || len(afterRun[box].Msgs) != 1 {
			t.Fatalf("no uploaded message in %q to delete", box)
		}
		expungeUID(t, c, box, afterRun[box].Msgs[0].UID)
		rp := filepath.Join(work, "verify.json")
		reportFiles = append(reportFiles, rp)
		o = runBin(t, binRun{}, append(args, "--quiet", "--report", rp)...)
		outs = append(outs, o)
		checkErrorLine(t, o, exitFailures, "1 messages missing")
		where := fmt.Sprintf("%s: message %d at byte %d: missing on the server (%s)", victim.Path, victim.Index, victim.Offset, box)
		if victim.Offset == 0 && victim.Length == 0 {
			where = victim.Path + ": missing on the server (" + box + ")"
		}
		if !strings.Contains(o.stdout, where) {
			t.Errorf("verify does not name the missing message (%q):\n%s", where, o)
		}
		vr := readReport(t, rp)
		if vr.Verify == nil || vr.Verify.Missing != 1 {
			t.Errorf("verify report: %+v, want 1 missing", vr.Verify)
		}
		for _, m := range vr.Messages {
			if (m.Verified == "missing") != (m.Path == victim.Path && m.Offset == victim.Offset) {
				t.Errorf("verify report: %s message %d verified %q", m.Path, m.Index, m.Verified)
			}
		}
	})

	// 6. A wrong password: exit 3, at once, quoting Dovecot, never the
	// password, from a file or from the environment.
	t.Run("wrong password", func(t *testing.T) {
		wrong := "wrong-" + user.Password
		bad := plainConn(srv.Host, srv.Port, user.Name, writeFile(t, filepath.Join(work, "wrong.txt"), wrong+"\n"))
		viaEnv := []string{"--host", srv.Host, "--port", fmt.Sprint(srv.Port), "--tls", "none", "--user", user.Name}
		for _, r := range []struct {
			name string
			run  binRun
			conn []string
		}{
			{"password file", binRun{}, bad},
			{"environment", binRun{env: []string{passwordEnv + "=" + wrong}}, viaEnv},
		} {
			o := runBin(t, r.run, append([]string{"migrate", src, "--dry-run"}, r.conn...)...)
			outs = append(outs, o)
			checkErrorLine(t, o, exitConnect, srv.Addr(), user.Name, "the server said: [AUTHENTICATIONFAILED] Authentication failed.")
			if o.elapsed > 10*time.Second { // not retried with backoff
				t.Errorf("%s: took %v to report a wrong password", r.name, o.elapsed)
			}
			checkNoSecret(t, user.Name, wrong, []outcome{o}, nil)
		}
	})

	checkNoSecret(t, user.Name, user.Password, outs, reportFiles)
	checkTreeUnchanged(t, srcState, treeState(t, src))
}

// The real-world corpora (third-party archives, read in place) into a
// fresh Dovecot: a dry run, a run that puts exactly the planned messages
// there byte for byte, a rerun that uploads nothing, and verify.
//
// Dovecot's default Maildir layout (Maildir++ on disk) refuses '.' in a
// mailbox name ("NO [CANNOT] Character not allowed in mailbox name: '.'"),
// and the corpora have mbox files named like "2001-November.txt", which
// become such folders. The dry run announces a fallback name for them
// ("2001-November_txt"); the run must create exactly that one when Dovecot
// refuses the first, and the rerun and verify must find it.
func TestDovecotCorpora(t *testing.T) {
	t.Parallel()
	skipShort(t)
	dir := corpora.Dir(t)
	srcState := treeState(t, dir)
	srv := dovecottest.Start(t, dovecottest.Options{})
	user := srv.Users[0]
	work := t.TempDir()
	conn := plainConn(srv.Host, srv.Port, user.Name, writeFile(t, filepath.Join(work, "pw"), user.Password+"\n"))
	iopts := importers.Options{MboxLocation: time.UTC}
	c := imapLogin(t, srv.Addr(), user.Name, user.Password)
	before := snapshot(t, c)

	migrate := func(name string, extra ...string) *jsonReport {
		t.Helper()
		rp := filepath.Join(work, name+".json")
		args := append(append([]string{"migrate", dir, "--mbox-timezone", "UTC", "--quiet", "--report", rp}, conn...), extra...)
		o := runBin(t, binRun{timeout: 3 * time.Minute}, args...)
		checkNoTrace(t, o)
		rep := readReport(t, rp)
		// Exit 1 exactly when part of the corpora cannot be read or a
		// message failed; the report lists them.
		want := exitOK
		if len(rep.Problems) > 0 || rep.Totals.Failed > 0 {
			want = exitFailures
		}
		if o.code != want {
			t.Fatalf("%s: exit %d, want %d (%d problems, %d failed):\n%s", name, o.code, want, len(rep.Problems), rep.Totals.Failed, o)
		}
		return rep
	}

	dry := migrate("dry", "--dry-run")
	checkUnchanged(t, "the dry run", before, snapshot(t, c))
	for _, p := range dry.Problems {
		t.Logf("unreadable part of the corpora (reported; exit 1): %s: %s", p.Path, p.Error)
	}
	if dry.Totals.ToUpload == 0 || dry.Totals.Failed != 0 {
		t.Fatalf("dry run: %d to upload, %d planned to fail", dry.Totals.ToUpload, dry.Totals.Failed)
	}

	first := migrate("run")
	after := snapshot(t, c)
	for _, m := range first.Messages {
		if m.Outcome == "failed" {
			t.Errorf("Dovecot refused %s message %d into %q: %s", m.Path, m.Index, m.Target, m.Reason)
		}
	}
	// What the run did is the dry run, with the folders Dovecot refused
	// under their announced fallback names.
	expected := *dry
	expected.Folders = append(expected.Folders[:0:0], dry.Folders...)
	expected.Messages = append([]jsonMessage(nil), dry.Messages...)
	runTarget := make(map[string]string)
	for _, f := range first.Folders {
		runTarget[f.Source] = f.Target
	}
	renamed := 0
	for i, f := range expected.Folders {
		rt := runTarget[f.Source]
		if rt == f.Target {
			continue
		}
		if f.Fallback == "" || rt != f.Fallback {
			t.Errorf("%s: the dry run planned %q (fallback %q), the run used %q", f.Source, f.Target, f.Fallback, rt)
		}
		expected.Folders[i].Target = rt
		renamed++
	}
	for i, m := range expected.Messages {
		expected.Messages[i].Target = runTarget[m.Folder]
	}
	t.Logf("corpora: %d messages in %d folders (%d duplicates in the source, %d skipped); %d uploaded; %d folders renamed because Dovecot refused their names; %d unreadable parts",
		dry.Totals.Found, len(dry.Folders), dry.Totals.DuplicatesInSource, dry.Totals.Skipped, first.Totals.Uploaded, renamed, len(dry.Problems))
	checkMigrated(t, before, after, &expected, iopts)
	if first.Totals.Uploaded != dry.Totals.ToUpload {
		t.Errorf("uploaded %d of the %d planned", first.Totals.Uploaded, dry.Totals.ToUpload)
	}
	var mapArgs []string

	again := migrate("rerun", mapArgs...)
	if again.Totals.Uploaded != 0 || again.Totals.ToUpload != 0 || again.Totals.Failed != 0 {
		t.Errorf("rerun: to_upload %d, uploaded %d, failed %d; want 0", again.Totals.ToUpload, again.Totals.Uploaded, again.Totals.Failed)
	}
	checkUnchanged(t, "the second run", after, snapshot(t, c))

	o := runBin(t, binRun{timeout: 3 * time.Minute}, append(append([]string{"verify", dir, "--mbox-timezone", "UTC", "--quiet", "--json"}, conn...), mapArgs...)...)
	vr := decodeReport(t, "verify's JSON", []byte(o.stdout))
	if o.code != exitOK || vr.Verify == nil || vr.Verify.Missing != 0 {
		for _, m := range vr.Messages {
			if m.Verified != "" && m.Verified != "present" {
				t.Errorf("verify: %s message %d in %q: %s", m.Path, m.Index, m.Target, m.Verified)
			}
		}
		t.Errorf("verify: exit %d, %+v; want 0 and nothing missing:\n%s", o.code, vr.Verify, o.stderr)
	}
	checkTreeUnchanged(t, srcState, treeState(t, dir))
}

// loginLines returns Dovecot's log lines of successful IMAP logins, after
// waiting up to two seconds for at least min of them (the log is written
// by another process, a little later).
func loginLines(srv *dovecottest.Server, min int) []string {
	deadline := time.Now().Add(2 * time.Second)
	for {
		var out []string
		for _, l := range strings.Split(srv.Log(), "\n") {
			if strings.Contains(l, "imap-login: Info: Login: ") {
				out = append(out, l)
			}
		}
		if len(out) >= min || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDovecotTLS(t *testing.T) {
	t.Parallel()
	skipShort(t)
	srv := dovecottest.Start(t, dovecottest.Options{TLS: true, Users: []dovecottest.User{
		{Name: "alice", Password: "alice-" + randomHex(8)}, {Name: "bob", Password: "bob-" + randomHex(8)},
	}})
	src := sampleDir(t)
	work := t.TempDir()
	pw := func(u dovecottest.User) string {
		return writeFile(t, filepath.Join(work, u.Name+".pw"), u.Password+"\n")
	}
	alice, bob := srv.Users[0], srv.Users[1]
	port := func(p int) []string { return []string{"--host", "127.0.0.1", "--port", fmt.Sprint(p)} }
	cases := []struct {
		name   string
		user   dovecottest.User
		args   []string
		code   int
		wants  []string // in stderr
		dryRun bool
	}{
		{"implicit TLS with --ca-file", alice, append(port(srv.TLSPort), "--tls", "implicit", "--ca-file", srv.CAFile), exitOK, nil, false},
		{"STARTTLS with --ca-file", bob, append(port(srv.Port), "--tls", "starttls", "--ca-file", srv.CAFile), exitOK, nil, false},
		{"implicit TLS is the default", alice, append(port(srv.TLSPort), "--ca-file", srv.CAFile), exitOK, nil, true},
		{"implicit TLS without --ca-file", alice, port(srv.TLSPort), exitConnect, []string{"not signed by a trusted authority", "--ca-file"}, true},
		{"STARTTLS without --ca-file", alice, append(port(srv.Port), "--tls", "starttls"), exitConnect, []string{"not signed by a trusted authority", "--ca-file"}, true},
		{"implicit TLS on the STARTTLS port", alice, append(port(srv.Port), "--tls", "implicit", "--ca-file", srv.CAFile), exitConnect, []string{"TLS handshake failed", "--tls implicit"}, true},
		{"--insecure-skip-verify", alice, append(port(srv.TLSPort), "--insecure-skip-verify"), exitOK, []string{"warning: --insecure-skip-verify"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logins := len(loginLines(srv, 0))
			rp := filepath.Join(work, strings.ReplaceAll(tc.name, " ", "_")+".json")
			args := append([]string{"migrate", src, "--user", tc.user.Name, "--password-file", pw(tc.user), "--report", rp}, tc.args...)
			if tc.dryRun {
				args = append(args, "--dry-run")
			}
			o := runBin(t, binRun{}, args...)
			if tc.code != exitOK {
				checkErrorLine(t, o, tc.code, tc.wants...)
				return
			}
			checkNoTrace(t, o)
			if o.code != exitOK {
				t.Fatalf("want exit 0:\n%s", o)
			}
			for _, w := range tc.wants {
				if !strings.Contains(o.stderr, w) {
					t.Errorf("standard error lacks %q:\n%s", w, o)
				}
			}
			if len(loginLines(srv, logins+1)) == logins {
				t.Errorf("no new login in Dovecot's log")
			}
			rep := readReport(t, rp)
			mode := "implicit"
			if slices.Contains(tc.args, "starttls") {
				mode = "starttls"
			}
			if rep.Server == nil || rep.Server.TLS != mode {
				t.Errorf("report server %+v, want TLS %s", rep.Server, mode)
			}
			if !tc.dryRun && (rep.Totals.Uploaded == 0 || rep.Totals.Uploaded != rep.Totals.ToUpload) {
				t.Errorf("uploaded %d of %d over TLS", rep.Totals.Uploaded, rep.Totals.ToUpload)
			}
		})
	}
	// Dovecot marks each login made over TLS with "TLS": none was made
	// without it, also not by the cases that failed (no plaintext fallback).
	for _, l := range loginLines(srv, 0) {
		if !strings.Contains(l, ", TLS,") {
			t.Errorf("a login without TLS: %s", l)
		}
	}
}
