package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/internal/dovecottest"
)

// TestApprovedPlan: a helpdesk makes a plan (a dry run with --plan-out),
// has it approved, and carries it out later with --plan: exactly the
// approved messages are uploaded, except those that reached the server
// meanwhile (the server is checked again); the password is never in the
// plan. When a source file changed after the plan was made, --plan refuses
// with exit 2 and says which file.
func TestApprovedPlan(t *testing.T) {
	t.Parallel()
	skipShort(t)
	srv := dovecottest.Start(t, dovecottest.Options{SpecialUse: map[string]string{`\Sent`: "Sent Items", `\Trash`: "Deleted Items", `\Drafts`: "Drafts"}})
	user := srv.Users[0]
	work := t.TempDir()
	src := filepath.Join(work, "archive")
	copyTree(t, sampleDir(t), src)
	pw := writeFile(t, filepath.Join(work, "pw"), user.Password+"\n")
	conn := plainConn(srv.Host, srv.Port, user.Name, pw)
	planFile := filepath.Join(work, "plan.json")
	env := []string{"XDG_STATE_HOME=" + filepath.Join(work, "state")}

	o := runBin(t, binRun{env: env}, append([]string{"migrate", src, "--dry-run", "--plan-out", planFile, "--quiet"}, conn...)...)
	if o.code != exitOK {
		t.Fatalf("dry run with --plan-out:\n%s", o)
	}
	planBytes, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(planBytes), user.Password) {
		t.Fatal("the plan holds the password")
	}
	approved := readReport(t, planFile)
	if !approved.DryRun || approved.Totals.ToUpload == 0 {
		t.Fatalf("the plan: dry run %v, %d to upload", approved.DryRun, approved.Totals.ToUpload)
	}
	if !strings.Contains(string(planBytes), `"sha256"`) || !strings.Contains(string(planBytes), `"settings"`) {
		t.Fatal("the plan records no source hashes or settings")
	}

	// A planned message reaches the server after the approval (the
	// customer's phone uploaded it, say): it must not be uploaded twice.
	c := imapLogin(t, srv.Addr(), user.Name, user.Password)
	var early jsonMessage
	for _, m := range approved.Messages {
		if m.Plan == "upload" && m.Target == "INBOX" {
			early = m
			break
		}
	}
	formats := approved.folderFormats()
	data := sourceMessage(t, formats[early.Folder], early, importers.Options{}).Data
	appendMsg(t, c, "INBOX", data, nil, time.Now())

	// No SOURCE and no server flags: they are the plan's. Only the secret.
	o = runBin(t, binRun{env: env}, "migrate", "--plan", planFile, "--password-file", pw, "--quiet", "--report", filepath.Join(work, "run.json"))
	if o.code != exitOK {
		t.Fatalf("migrate --plan:\n%s", o)
	}
	run := readReport(t, filepath.Join(work, "run.json"))
	if run.Totals.Uploaded != approved.Totals.ToUpload-1 || run.Totals.AlreadyOnServer != approved.Totals.AlreadyOnServer+1 {
		t.Errorf("uploaded %d (plan: %d to upload), on server %d (plan: %d); want one fewer uploaded, the one that came meanwhile",
			run.Totals.Uploaded, approved.Totals.ToUpload, run.Totals.AlreadyOnServer, approved.Totals.AlreadyOnServer)
	}
	for i, m := range run.Messages {
		if a := approved.Messages[i]; m.Path != a.Path || m.Offset != a.Offset || m.Target != a.Target {
			t.Fatalf("message %d: the run did %s -> %q, the plan had %s -> %q", i, m.Path, m.Target, a.Path, a.Target)
		}
	}
	// Running an approved plan again: everything is there now.
	o = runBin(t, binRun{env: env}, "migrate", "--plan", planFile, "--password-file", pw, "--quiet", "--json")
	if o.code != exitOK {
		t.Fatalf("second migrate --plan:\n%s", o)
	}
	if again := decodeReport(t, "second run", []byte(o.stdout)); again.Totals.Uploaded != 0 {
		t.Errorf("the second run of the plan uploaded %d", again.Totals.Uploaded)
	}

	// The customer's mail client changes the archive after the approval.
	inbox := filepath.Join(src, "Inbox")
	b, _ := os.ReadFile(inbox)
	if err := os.WriteFile(inbox, append(b, []byte("From - Mon Jan 06 09:00:00 2021\nSubject: new\nMessage-ID: <new@example.org>\n\nnew\n\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	o = runBin(t, binRun{env: env}, "migrate", "--plan", planFile, "--password-file", pw, "--quiet")
	checkErrorLine(t, o, exitUsage, "source changed", inbox)

	// A plan cannot be combined with sources or server flags.
	o = runBin(t, binRun{env: env}, append([]string{"migrate", "--plan", planFile, src}, conn...)...)
	if o.code != exitUsage {
		t.Errorf("--plan with SOURCE and server flags: exit %d, want 2:\n%s", o.code, o)
	}
}
