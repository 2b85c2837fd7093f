package main

// Provider profiles at the command line, against in-process servers that
// imitate Gmail's and Microsoft 365's greetings, capabilities, folders and
// refusals (internal/memimap). memimap listens on 127.0.0.1, so the
// imitations are recognised by their capabilities after login, as a
// server behind a relay name would be.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/archive2imap/archive2imap/internal/memimap"
	"github.com/archive2imap/archive2imap/report"
	"github.com/archive2imap/archive2imap/uploader"
)

// gmailImitation imitates a Gmail account: Gmail's greeting, capabilities
// after login (X-GM-EXT-1 among them, no APPENDLIMIT), the \Noselect
// "[Gmail]" container and its special-use folders.
func gmailImitation(t *testing.T, user, password string) *memimap.Server {
	return startMemIMAP(t, memimap.Options{
		User: user, Password: password,
		Greeting: "Gimap ready for requests from 127.0.0.1 x1mb1234567abc",
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapUnselect: {}, imap.CapNamespace: {}, imap.CapChildren: {},
			imap.CapUIDPlus: {}, imap.CapMove: {}, imap.CapListExtended: {}, imap.CapSpecialUse: {},
		},
		ExtraCaps:       []string{"QUOTA", "ID", "XLIST", "X-GM-EXT-1"},
		HideAppendLimit: true,
		SpecialUse: map[string]string{
			`\Sent`: "[Gmail]/Sent Mail", `\All`: "[Gmail]/All Mail", `\Junk`: "[Gmail]/Spam",
			`\Trash`: "[Gmail]/Trash", `\Drafts`: "[Gmail]/Drafts", `\Flagged`: "[Gmail]/Starred",
		},
		NoSelect: []string{"[Gmail]"},
	})
}

// m365Imitation imitates a Microsoft 365 mailbox: the Exchange greeting
// and capabilities, AUTH=PLAIN advertised and every password refused with
// Exchange's "NO LOGIN failed.", OAuth2 tokens accepted, Outlook's folder
// names and the hidden, reserved Files folder.
func m365Imitation(t *testing.T, user, token string) *memimap.Server {
	return startMemIMAP(t, memimap.Options{
		User: user, Password: "the-password-it-refuses", Token: token,
		OAuthOnly: true, OfferPlain: true,
		LoginRefusal: &imap.Error{Type: imap.StatusResponseTypeNo, Text: "LOGIN failed."},
		Greeting:     "The Microsoft Exchange IMAP4 service is ready. [TQBXADIAUABSADAANgBDAEEAMAAwADAANAAuAG4AYQBtAHAAcgBkADAANgAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A]",
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}, imap.CapUnselect: {},
			imap.CapChildren: {}, imap.CapNamespace: {}, imap.CapLiteralPlus: {},
		},
		ExtraCaps:       []string{"IMAP4", "ID", "CLIENTACCESSRULES", "CLIENTNETWORKPRESENCELOCATION", "BACKENDAUTHENTICATE"},
		HideAppendLimit: true,
		SpecialUse: map[string]string{
			`\Sent`: "Sent Items", `\Trash`: "Deleted Items", `\Junk`: "Junk Email", `\Drafts`: "Drafts", `\Archive`: "Archive",
		},
		Hidden: []string{"Files"},
	})
}

// maildirMsg is one message of a test Maildir tree.
type maildirMsg struct {
	folder, info, data string
}

// writeMaildirs writes msgs as one Maildir per folder under a new
// directory and returns it.
func writeMaildirs(t *testing.T, msgs []maildirMsg) string {
	t.Helper()
	root := t.TempDir()
	at := time.Date(2012, 5, 6, 9, 0, 0, 0, time.UTC)
	for i, m := range msgs {
		dir := filepath.Join(root, filepath.FromSlash(m.folder))
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		at = at.Add(time.Hour)
		name := fmt.Sprintf("%d.M%dP99.provider-test:2,%s", at.Unix(), i+1, m.info)
		if err := os.WriteFile(filepath.Join(dir, "cur", name), []byte(m.data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// letter is a small message; extra header lines come first.
func letter(id, subject string, extra ...string) string {
	var b strings.Builder
	for _, h := range extra {
		b.WriteString(h + "\n")
	}
	fmt.Fprintf(&b, "From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\nDate: Sun, 6 May 2012 10:00:00 +0200\nSubject: %s\nMessage-ID: <%s>\n\nAbout %s.\n", subject, id, subject)
	return b.String()
}

// msgFlags returns the flags of the message with subject in box, as a
// separate client sees them.
func msgFlags(t *testing.T, boxes map[string]*serverBox, box, subject string) []string {
	t.Helper()
	b := boxes[box]
	if b == nil {
		t.Fatalf("no mailbox %q on the server", box)
	}
	for _, m := range b.Msgs {
		if strings.Contains(string(m.Data), "Subject: "+subject+"\r\n") {
			return m.Flags
		}
	}
	t.Fatalf("no message %q in %s", subject, box)
	return nil
}

// TestGmailProfileCLI: against the Gmail imitation, migrate recognises
// Gmail by X-GM-EXT-1 and, without any provider flag, states Gmail's
// budget in the dry run, counts the second folder of a message as a
// label, keeps [Gmail] a container, and uploads a read message that asked
// for a read receipt with $MDNSent (an unread one without).
func TestGmailProfileCLI(t *testing.T) {
	unsetEnv(t, passwordEnv)
	srv := gmailImitation(t, "alice@gmail.example", "gm-pw-51d0")
	work := t.TempDir()
	pw := writeFile(t, filepath.Join(work, "pw"), "gm-pw-51d0\n")
	conn := plainConn(srv.Host(), srv.Port(), "alice@gmail.example", pw)
	dnt := "Disposition-Notification-To: Carol <carol@example.org>"
	src := writeMaildirs(t, []maildirMsg{
		{"inbox", "S", letter("shared-1@example.org", "Filed twice")},
		{"inbox", "S", letter("receipt-1@example.org", "Read and asked", dnt)},
		{"inbox", "", letter("receipt-2@example.org", "Unread and asked", dnt)},
		{"inbox", "S", letter("plain-1@example.org", "Read, asked nothing")},
		{"Work", "S", letter("shared-1@example.org", "Filed twice")},
		{"Work", "S", letter("work-1@example.org", "Work only")},
		{"Sent", "S", letter("sent-1@example.org", "Sent one")},
	})
	ledger := filepath.Join(work, "gmail.ledger.jsonl")
	args := append([]string{"migrate", src, "--quiet", "--ledger", ledger}, conn...)

	// The dry run's summary states the budget.
	o := runInProcess(t, nil, append(args, "--dry-run")...)
	if o.code != exitOK {
		t.Fatalf("dry run:\n%s", o)
	}
	if !regexp.MustCompile(`\d+(\.\d)? KB to upload; at Gmail's ~500 MB/day this takes 1 day\.`).MatchString(o.stdout) {
		t.Errorf("the dry run does not state Gmail's budget:\n%s", o)
	}
	if !strings.Contains(o.stdout, "1 of them adds a label to a message in another folder") {
		t.Errorf("the dry run does not count the label:\n%s", o)
	}
	o = runInProcess(t, nil, append(args, "--dry-run", "--json")...)
	dry := fullReport(t, o)
	if dry.Server.Provider != uploader.ProviderGmail || !strings.Contains(strings.Join(dry.Server.ProviderNotes, "\n"), "Gmail (recognised by the capability X-GM-EXT-1)") {
		t.Errorf("provider %q, notes %q", dry.Server.Provider, dry.Server.ProviderNotes)
	}
	if b := dry.Budget; b == nil || b.BytesPerDay != uploader.GmailBytesPerDay || b.Label != "Gmail's ~500 MB/day" || b.Days != 1 || b.BytesToUpload != dry.Totals.BytesToUpload {
		t.Errorf("budget %+v, want Gmail's 500,000,000 a day, 1 day for %d bytes", dry.Budget, dry.Totals.BytesToUpload)
	}
	if dry.Totals.Labels != 1 || dry.Totals.ToUpload != 7 {
		t.Errorf("%d to upload, %d labels; want 7 and 1", dry.Totals.ToUpload, dry.Totals.Labels)
	}

	// A budget smaller than the upload: the dry run says how many days.
	o = runInProcess(t, nil, append(args, "--dry-run", "--max-bytes-per-day", "1KB")...)
	if m := regexp.MustCompile(`to upload; at the budget of 1000 B/day this takes (\d+) days: each run stops at the budget, run the same command again the next day\.`).FindStringSubmatch(o.stdout); m == nil {
		t.Errorf("the dry run with --max-bytes-per-day 1KB does not state the days:\n%s", o)
	} else if want := fmt.Sprint((dry.Totals.BytesToUpload + 999) / 1000); m[1] != want {
		t.Errorf("%s days for %d bytes at 1000 a day, want %s", m[1], dry.Totals.BytesToUpload, want)
	}

	o = runInProcess(t, nil, append(args, "--json")...)
	if o.code != exitOK {
		t.Fatalf("run:\n%s", o)
	}
	run := fullReport(t, o)
	if run.Totals.Uploaded != 7 || run.Totals.Labels != 1 {
		t.Errorf("uploaded %d (labels %d), want 7 (1)", run.Totals.Uploaded, run.Totals.Labels)
	}
	if run.Budget == nil || run.Budget.Reached {
		t.Errorf("the run's budget %+v: want Gmail's, not reached", run.Budget)
	}
	c := imapLogin(t, srv.Addr, "alice@gmail.example", "gm-pw-51d0")
	boxes := snapshot(t, c)
	if got := msgFlags(t, boxes, "INBOX", "Read and asked"); !slices.Equal(got, []string{"$MDNSent", `\Seen`}) {
		t.Errorf("the read message that asked for a receipt has %v, want $MDNSent and \\Seen", got)
	}
	if got := msgFlags(t, boxes, "INBOX", "Unread and asked"); len(got) != 0 {
		t.Errorf("the unread message that asked for a receipt has %v, want no flags", got)
	}
	if got := msgFlags(t, boxes, "INBOX", "Read, asked nothing"); !slices.Equal(got, []string{`\Seen`}) {
		t.Errorf("a read message that asked nothing has %v", got)
	}
	if b := boxes["[Gmail]"]; b == nil || !slices.Contains(b.Attrs, `\Noselect`) || len(b.Msgs) != 0 {
		t.Errorf("[Gmail] after the run: %+v, want still the empty \\Noselect container", b)
	}
	if n := len(boxes["[Gmail]/Sent Mail"].Msgs); n != 1 {
		t.Errorf("[Gmail]/Sent Mail holds %d messages, want 1", n)
	}

	// --mdn-sent=false: the same read message, in a new folder, without.
	src2 := writeMaildirs(t, []maildirMsg{{"Later", "S", letter("receipt-3@example.org", "Read and asked, later", dnt)}})
	o = runInProcess(t, nil, append([]string{"migrate", src2, "--quiet", "--no-ledger", "--mdn-sent=false", "--json"}, conn...)...)
	if o.code != exitOK {
		t.Fatalf("--mdn-sent=false:\n%s", o)
	}
	if s := fullReport(t, o).Settings; s == nil || s.MDNSent == nil || *s.MDNSent {
		t.Errorf("the report's settings do not record --mdn-sent=false: %+v", s)
	}
	if got := msgFlags(t, snapshot(t, c), "Later", "Read and asked, later"); !slices.Equal(got, []string{`\Seen`}) {
		t.Errorf("with --mdn-sent=false the message has %v, want only \\Seen", got)
	}
}

// TestGmailSizeLimitCLI: Gmail advertises no APPENDLIMIT here, so a
// message over Gmail's documented 25 MB is planned as failed with the
// reason; with --provider generic it would be uploaded.
func TestGmailSizeLimitCLI(t *testing.T) {
	unsetEnv(t, passwordEnv)
	srv := gmailImitation(t, "alice@gmail.example", "gm-pw-51d0")
	pw := writeFile(t, filepath.Join(t.TempDir(), "pw"), "gm-pw-51d0\n")
	conn := plainConn(srv.Host(), srv.Port(), "alice@gmail.example", pw)
	big := letter("big-1@example.org", "Scanned contract") + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01\n", 26<<20/65)
	src := writeMaildirs(t, []maildirMsg{{"inbox", "S", big}, {"inbox", "S", letter("small-1@example.org", "Small")}})
	for _, tc := range []struct {
		provider string
		code     int
		failed   int
	}{{"auto", exitFailures, 1}, {"generic", exitOK, 0}} {
		t.Run(tc.provider, func(t *testing.T) {
			o := runInProcess(t, nil, append([]string{"migrate", src, "--dry-run", "--quiet", "--no-ledger", "--json", "--provider", tc.provider}, conn...)...)
			if o.code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", o.code, tc.code, o)
			}
			rep := fullReport(t, o)
			if rep.Totals.Failed != tc.failed {
				t.Errorf("%d planned as failed, want %d", rep.Totals.Failed, tc.failed)
			}
			for _, m := range rep.Messages {
				if m.Subject == "Scanned contract" && tc.failed == 1 && m.Reason != "too large for Gmail (its limit is 25.0 MB; the server advertises no APPENDLIMIT)" {
					t.Errorf("the big message: %s %q", m.Plan, m.Reason)
				}
			}
		})
	}
}

// TestM365ProfileCLI: against the Microsoft 365 imitation, a password is
// refused with Exchange's own words and the error line says to use a
// token (exit 3); with the token, a source folder named Files goes to
// "Files (archive)", not into the service's hidden Files folder.
func TestM365ProfileCLI(t *testing.T) {
	unsetEnv(t, passwordEnv)
	const user, token = "alice@contoso.example", "eyJ0eXAiOiJKV1QiLCJub25jZSI6-test-token"
	srv := m365Imitation(t, user, token)
	work := t.TempDir()
	pw := writeFile(t, filepath.Join(work, "pw"), "the-password-it-refuses\n")
	tok := writeFile(t, filepath.Join(work, "token"), token+"\n")
	src := writeMaildirs(t, []maildirMsg{
		{"Files", "S", letter("files-1@example.org", "Scan of the lease")},
		{"Files/2019", "S", letter("files-2@example.org", "Scan of 2019")},
		{"inbox", "S", letter("in-1@example.org", "Hello")},
	})
	base := []string{"migrate", src, "--quiet", "--no-ledger", "--host", srv.Host(), "--port", fmt.Sprint(srv.Port()), "--tls", "none", "--user", user}

	o := runInProcess(t, nil, append(base, "--password-file", pw, "--provider", "m365", "--dry-run")...)
	checkErrorLine(t, o, exitConnect, "Microsoft 365 accepts only OAuth2 here: use --oauth2-token-file", "LOGIN failed.")
	if strings.Contains(o.stderr+o.stdout, "the-password-it-refuses") {
		t.Errorf("the output holds the password:\n%s", o)
	}

	o = runInProcess(t, nil, append(base, "--oauth2-token-file", tok, "--json")...)
	if o.code != exitOK {
		t.Fatalf("run with the token:\n%s", o)
	}
	rep := fullReport(t, o)
	if rep.Server.Provider != uploader.ProviderM365 {
		t.Errorf("provider %q, want m365 (by its capabilities)", rep.Server.Provider)
	}
	for _, f := range rep.Folders {
		if strings.HasPrefix(f.Source, "Files") && !strings.HasPrefix(f.Target, "Files (archive)") {
			t.Errorf("%s goes to %q", f.Source, f.Target)
		}
	}
	if rep.Budget != nil {
		t.Errorf("Microsoft 365 has no daily budget by default: %+v", rep.Budget)
	}
	c := oauthLogin(t, srv.Addr, user, token)
	boxes := snapshot(t, c)
	if n := len(boxes["Files (archive)"].Msgs) + len(boxes["Files (archive)/2019"].Msgs); n != 2 {
		t.Errorf("Files (archive) and its subfolder hold %d messages, want 2", n)
	}
	if sel, err := c.Select("Files", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil || sel.NumMessages != 0 {
		t.Errorf("the reserved Files folder: %v, %+v; want it there and empty", err, sel)
	}
}

// oauthLogin logs a separate client in with OAUTHBEARER, as Microsoft 365
// requires.
func oauthLogin(t *testing.T, addr, user, token string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Authenticate(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: token})); err != nil {
		t.Fatalf("test client: OAUTHBEARER: %v", err)
	}
	return c
}

// TestProviderFlagUsage: bad values of the new flags are usage errors,
// before anything connects; with --plan, the profile is the plan's.
func TestProviderFlagUsage(t *testing.T) {
	unsetEnv(t, passwordEnv)
	pw := writeFile(t, filepath.Join(t.TempDir(), "pw"), "pw\n")
	conn := plainConn("127.0.0.1", freeClosedPort(t), "alice", pw)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--provider", "yahoo"}, `--provider: unknown provider "yahoo"`},
		{[]string{"--max-bytes-per-day", "lots"}, `"lots" is not a size`},
		{[]string{"--max-bytes-per-second", "5 parsecs"}, `"5 parsecs" is not a size`},
	} {
		o := runInProcess(t, nil, append(append([]string{"migrate", sampleDir(t)}, conn...), tc.args...)...)
		checkErrorLine(t, o, exitUsage, tc.want)
	}
	o := runInProcess(t, nil, "migrate", "--plan", writeFile(t, filepath.Join(t.TempDir(), "p.json"), "{}"), "--provider", "gmail", "--password-file", pw)
	checkErrorLine(t, o, exitUsage, "--provider: with --plan, this comes from the approved plan")
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1234": 1234, "500MB": 500_000_000, "500 MB": 500_000_000, "500mb": 500_000_000,
		"2GiB": 2 << 30, "1.5GB": 1_500_000_000, "64KiB": 64 << 10, "10k": 10_000, "7B": 7,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "-5MB", "5 XB", "1e9", "five"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

// TestGmailApprovedPlanBudget: an approved plan keeps the profile it was
// made with (Gmail, and the $MDNSent its messages were approved with);
// the budget flags apply to the run that carries it out, which stops at
// --max-bytes-per-day with exit 5 and the rerun line; the same plan run
// again with Gmail's own budget finishes, every message once.
func TestGmailApprovedPlanBudget(t *testing.T) {
	unsetEnv(t, passwordEnv)
	srv := gmailImitation(t, "alice@gmail.example", "gm-pw-51d0")
	work := t.TempDir()
	pw := writeFile(t, filepath.Join(work, "pw"), "gm-pw-51d0\n")
	ledger := filepath.Join(work, "gmail.ledger.jsonl")
	var msgs []maildirMsg
	for i := range 12 {
		msgs = append(msgs, maildirMsg{"inbox", "S", letter(fmt.Sprintf("plan-%02d@example.org", i), fmt.Sprintf("Planned %02d", i))})
	}
	msgs = append(msgs, maildirMsg{"inbox", "S", letter("plan-receipt@example.org", "Planned receipt", "Disposition-Notification-To: carol@example.org")})
	src := writeMaildirs(t, msgs)
	plan := filepath.Join(work, "plan.json")
	o := runInProcess(t, nil, append([]string{"migrate", src, "--quiet", "--dry-run", "--plan-out", plan, "--ledger", ledger}, plainConn(srv.Host(), srv.Port(), "alice@gmail.example", pw)...)...)
	if o.code != exitOK {
		t.Fatalf("dry run:\n%s", o)
	}

	o = runInProcess(t, nil, "migrate", "--plan", plan, "--password-file", pw, "--quiet", "--json", "--ledger", ledger, "--max-bytes-per-day", "1KB")
	checkErrorLine(t, o, exitBudget, "archive2imap: stopped at the daily upload budget (1000 B in 24 h); ", " left; run the same command again after ")
	first := fullReport(t, o)
	if first.Server.Provider != uploader.ProviderGmail || !strings.Contains(strings.Join(first.Server.ProviderNotes, "\n"), "Gmail (recognised by the approved plan)") {
		t.Errorf("the approved plan's run: provider %q, notes %q", first.Server.Provider, first.Server.ProviderNotes)
	}
	if b := first.Budget; b == nil || !b.Reached || b.BytesPerDay != 1000 || b.ResumeAfter.IsZero() {
		t.Errorf("budget %+v: want 1000 a day, reached, with a resume time", first.Budget)
	}
	left := 0
	for _, m := range first.Messages {
		if m.Outcome == report.DecisionPending {
			left++
		}
	}
	if first.Totals.Uploaded == 0 || left == 0 || !strings.Contains(o.stderr, fmt.Sprintf("; %d messages left;", left)) {
		t.Errorf("uploaded %d, %d pending; want some of each, and the line to say so:\n%s", first.Totals.Uploaded, left, o)
	}

	o = runInProcess(t, nil, "migrate", "--plan", plan, "--password-file", pw, "--quiet", "--json", "--ledger", ledger)
	if o.code != exitOK {
		t.Fatalf("the plan again with Gmail's budget:\n%s", o)
	}
	again := fullReport(t, o)
	if again.Totals.Uploaded != left || again.Budget == nil || again.Budget.BytesPerDay != uploader.GmailBytesPerDay || again.Budget.UsedLast24h == 0 {
		t.Errorf("rerun: uploaded %d of the %d left, budget %+v; want Gmail's, counting the first run", again.Totals.Uploaded, left, again.Budget)
	}
	boxes := snapshot(t, imapLogin(t, srv.Addr, "alice@gmail.example", "gm-pw-51d0"))
	if n := len(boxes["INBOX"].Msgs); n != 13 {
		t.Errorf("INBOX holds %d messages, want each of the 13 once", n)
	}
	seen := make(map[string]bool)
	for _, m := range boxes["INBOX"].Msgs {
		if seen[m.Sum] {
			t.Errorf("UID %d is a second copy", m.UID)
		}
		seen[m.Sum] = true
	}
	if got := msgFlags(t, boxes, "INBOX", "Planned receipt"); !slices.Equal(got, []string{"$MDNSent", `\Seen`}) {
		t.Errorf("the approved read message that asked for a receipt has %v, want $MDNSent and \\Seen", got)
	}
}
