package uploader

import (
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/internal/dovecottest"
)

// TestFolderNameFallback: Dovecot's default Maildir layout refuses "." in
// mailbox names ("NO [CANNOT] Character not allowed in mailbox name:
// '.'"), which Thunderbird and mutt folder names often hold. The run
// creates the fallback name instead and uploads there; a rerun finds the
// fallback folder, so it uploads nothing twice.
func TestFolderNameFallback(t *testing.T) {
	if testing.Short() {
		t.Skip("real Dovecot: skipped with -short")
	}
	srv := dovecottest.Start(t, dovecottest.Options{Users: []dovecottest.User{{Name: testUser, Password: testPassword}}})
	o := dialObserver(t, srv.Addr())
	cfg := &Config{Host: srv.Host, Port: srv.Port, TLS: TLSNone, User: testUser, Password: testPassword, Timeout: 10 * time.Second}
	root := writeSource(t, []srcMsg{
		{folder: "Invoices 2019.01", data: mail("inv-1@example.org", "Invoice 1", "one"), info: "S"},
		{folder: "Invoices 2019.01", data: mail("inv-2@example.org", "Invoice 2", "two")},
		{folder: "Invoices 2019.01/Q1", data: mail("inv-3@example.org", "Invoice 3", "three"), info: "F"},
	})
	rep, err := migrate(t, testCtx(t), root, cfg, PlanOptions{}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkCounters(t, rep)
	if rep.Totals.Uploaded != 3 || rep.Totals.Failed != 0 {
		t.Fatalf("uploaded %d, failed %d; want 3, 0 (%+v)", rep.Totals.Uploaded, rep.Totals.Failed, rep.Messages)
	}
	for src, want := range map[string]string{"Invoices 2019.01": "Invoices 2019_01", "Invoices 2019.01/Q1": "Invoices 2019_01/Q1"} {
		f := folderOf(t, rep, src)
		if f.Target != want {
			t.Errorf("%s -> %q (%s), want %q", src, f.Target, f.Reason, want)
		}
		if n := len(o.messages(want)); n != f.Uploaded || n == 0 {
			t.Errorf("%s holds %d messages, the report says %d uploaded", want, n, f.Uploaded)
		}
	}
	rep2, err := migrate(t, testCtx(t), root, cfg, PlanOptions{}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Totals.ToUpload != 0 || rep2.Totals.AlreadyOnServer != 3 {
		t.Errorf("rerun: to upload %d, on server %d; want 0, 3", rep2.Totals.ToUpload, rep2.Totals.AlreadyOnServer)
	}
	checkExactlyOnce(t, o, rep, nil)
}
