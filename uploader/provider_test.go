package uploader

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/archive2imap/archive2imap/internal/memimap"
	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
)

// Provider profiles, against in-process servers that imitate Gmail's and
// Microsoft 365's capabilities, folder layouts and answers. memimap
// listens on 127.0.0.1, so host detection is tested on its own (a table)
// and the servers are recognised by their capabilities or a forced
// provider.

// gmailCaps are the capabilities Gmail advertises after login (captured
// from imap.gmail.com: IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST
// CHILDREN X-GM-EXT-1 UIDPLUS COMPRESS=DEFLATE ENABLE MOVE CONDSTORE
// ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS LITERAL- SPECIAL-USE
// APPENDLIMIT=35651584), those imapserver implements; gmailExtra the
// ones memimap only announces.
func gmailCaps() imap.CapSet {
	return imap.CapSet{
		imap.CapIMAP4rev1: {}, imap.CapUnselect: {}, imap.CapNamespace: {}, imap.CapChildren: {},
		imap.CapUIDPlus: {}, imap.CapMove: {}, imap.CapListExtended: {}, imap.CapSpecialUse: {},
	}
}

var gmailExtra = []string{"QUOTA", "ID", "XLIST", "X-GM-EXT-1"}

// gmailServer imitates a Gmail account: Gmail's greeting, capabilities,
// "[Gmail]" container and special-use folders.
func gmailServer(t *testing.T, opts memimap.Options) *testServer {
	opts.Greeting = "Gimap ready for requests from 127.0.0.1 x1mb1234567abc"
	opts.Caps, opts.ExtraCaps = gmailCaps(), gmailExtra
	opts.HideAppendLimit = opts.AppendLimit == 0
	opts.SpecialUse = map[string]string{
		`\Sent`: "[Gmail]/Sent Mail", `\All`: "[Gmail]/All Mail", `\Junk`: "[Gmail]/Spam",
		`\Trash`: "[Gmail]/Trash", `\Drafts`: "[Gmail]/Drafts", `\Flagged`: "[Gmail]/Starred", `\Important`: "[Gmail]/Important",
	}
	opts.NoSelect = []string{"[Gmail]"}
	return startServer(t, opts)
}

// m365Caps are Exchange Online's capabilities after login (captured from
// outlook.office365.com: IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR
// UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION
// BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+), those imapserver
// implements; m365Extra the ones memimap only announces. No SPECIAL-USE:
// Exchange marks its special folders with their attributes all the same.
func m365Caps() imap.CapSet {
	return imap.CapSet{
		imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}, imap.CapUnselect: {},
		imap.CapChildren: {}, imap.CapNamespace: {}, imap.CapLiteralPlus: {},
	}
}

var m365Extra = []string{"IMAP4", "ID", "CLIENTACCESSRULES", "CLIENTNETWORKPRESENCELOCATION", "BACKENDAUTHENTICATE"}

// m365Server imitates a Microsoft 365 mailbox: the Exchange greeting and
// capabilities, OAuth2 only (AUTH=PLAIN advertised and refused as Exchange
// does), Outlook's folder names, the hidden reserved Files folder.
func m365Server(t *testing.T, opts memimap.Options) *testServer {
	opts.Greeting = "The Microsoft Exchange IMAP4 service is ready. [TQBXADIAUABSADAANgBDAEEAMAAwADAANAAuAG4AYQBtAHAAcgBkADAANgAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A]"
	opts.Caps, opts.ExtraCaps, opts.HideAppendLimit = m365Caps(), m365Extra, opts.AppendLimit == 0
	opts.Token = "token"
	opts.OAuthOnly, opts.OfferPlain = true, true
	opts.LoginRefusal = &imap.Error{Type: imap.StatusResponseTypeNo, Text: "LOGIN failed."}
	opts.SpecialUse = map[string]string{
		`\Sent`: "Sent Items", `\Trash`: "Deleted Items", `\Junk`: "Junk Email", `\Drafts`: "Drafts", `\Archive`: "Archive",
	}
	opts.Hidden = []string{"Files"}
	return startServer(t, opts)
}

func (s *testServer) tokenConfig() *Config {
	cfg := s.config()
	cfg.Password, cfg.OAuth2Token = "", testToken
	return cfg
}

func TestProviderOfHost(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"imap.gmail.com", ProviderGmail},
		{"IMAP.Gmail.COM.", ProviderGmail}, // DNS names are case-insensitive; a trailing dot is the root
		{"imap.googlemail.com", ProviderGmail},
		{"outlook.office365.com", ProviderM365},
		{"outlook.office.com", ProviderM365},
		{"imap-mail.outlook.com", ProviderM365},
		{"eur.outlook.com", ProviderM365},
		{"gmail.com", ""},                     // not the IMAP host
		{"imap.gmail.com.example.org", ""},    // someone else's host
		{"outlook.com.example.org", ""},       // someone else's host
		{"mail.example.org", ""},              // a generic server
		{"notoutlook.com", ""},                // only *.outlook.com
		{"exchange.example.org", ""},          // Exchange on premises is not Microsoft 365
		{"127.0.0.1", ""},                     //
		{"outlook.office365.com.evil.io", ""}, //
	} {
		if got := ProviderOfHost(tc.host); got != tc.want {
			t.Errorf("ProviderOfHost(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
}

func TestParseProvider(t *testing.T) {
	for in, want := range map[string]string{"": ProviderAuto, "auto": ProviderAuto, "Gmail": ProviderGmail, "m365": ProviderM365, "office365": ProviderM365, "generic": ProviderGeneric} {
		if got, err := ParseProvider(in); err != nil || got != want {
			t.Errorf("ParseProvider(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseProvider("yahoo"); err == nil || !strings.Contains(err.Error(), "want auto, gmail, m365 or generic") {
		t.Errorf("ParseProvider(yahoo): %v", err)
	}
}

func TestDetectProvider(t *testing.T) {
	plain := ServerInfo{Caps: imap.CapSet{imap.CapIMAP4rev1: {}}}
	for _, tc := range []struct {
		name, forced, host string
		info               ServerInfo
		want, by           string
	}{
		{"Gmail by host", "", "imap.gmail.com", plain, ProviderGmail, "the host name imap.gmail.com"},
		{"Microsoft 365 by host", "auto", "outlook.office365.com", plain, ProviderM365, "the host name outlook.office365.com"},
		{"Gmail by its capability X-GM-EXT-1 (a proxy or another name)", "", "127.0.0.1", ServerInfo{Caps: withExtra(gmailCaps(), gmailExtra)}, ProviderGmail, "the capability X-GM-EXT-1"},
		{"Microsoft 365 by Exchange Online's capabilities", "", "mail.example.org", ServerInfo{Caps: withExtra(m365Caps(), m365Extra)}, ProviderM365, "the capability CLIENTACCESSRULES"},
		{"Exchange on premises (no Exchange Online capability) is generic", "", "mail.example.org", ServerInfo{Caps: withExtra(m365Caps(), []string{"IMAP4", "ID"})}, ProviderGeneric, ""},
		{"generic: Dovecot's capabilities", "", "mail.example.org", plain, ProviderGeneric, ""},
		{"forced: --provider m365 on a loopback server", "m365", "127.0.0.1", plain, ProviderM365, "--provider m365"},
		{"forced: --provider generic wins over the host", "generic", "imap.gmail.com", ServerInfo{Caps: withExtra(gmailCaps(), gmailExtra)}, ProviderGeneric, "--provider generic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := DetectProvider(tc.forced, tc.host, tc.info)
			if p.Name != tc.want || p.DetectedBy != tc.by {
				t.Errorf("got %s (by %q), want %s (by %q)", p.Name, p.DetectedBy, tc.want, tc.by)
			}
		})
	}
}

func TestProviderSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		provider string
		advert   int64
		want     int64
		reason   string
	}{
		{"RFC 7889: Gmail's advertised APPENDLIMIT wins", ProviderGmail, 35651584, 35651584, "too large for server (APPENDLIMIT 35651584)"},
		{"Gmail without APPENDLIMIT: 25 MB", ProviderGmail, 0, 25 << 20, "too large for Gmail (its limit is 25.0 MB; the server advertises no APPENDLIMIT)"},
		{"Microsoft 365 without APPENDLIMIT: Exchange Online's 35 MB", ProviderM365, 0, 35 << 20, "too large for Microsoft 365 (its limit is 35.0 MB; the server advertises no APPENDLIMIT)"},
		{"Microsoft 365 with an APPENDLIMIT: the server's", ProviderM365, 150 << 20, 150 << 20, fmt.Sprintf("too large for server (APPENDLIMIT %d)", 150<<20)},
		{"generic without APPENDLIMIT: no limit", ProviderGeneric, 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ProfileOf(tc.provider)
			lim, why := p.sizeLimit(ServerInfo{AppendLimit: tc.advert})
			if lim != tc.want || why != tc.reason {
				t.Errorf("got %d %q, want %d %q", lim, why, tc.want, tc.reason)
			}
		})
	}
}

// TestGmailLayout migrates an archive into the Gmail imitation, which is
// recognised by its capability: Sent, Spam, Trash and Archive go to
// Gmail's special folders, the \Noselect [Gmail] container is never a
// target, and a message in two folders is one message with two labels.
func TestGmailLayout(t *testing.T) {
	srv := gmailServer(t, memimap.Options{AppendLimit: 35651584})
	shared := mail("shared-1@example.org", "In two folders", "Filed twice by the user.")
	root := writeSource(t, []srcMsg{
		{folder: "inbox", data: shared, info: "S"},
		{folder: "inbox", data: mail("in-1@example.org", "Inbox one", "x"), info: "S"},
		{folder: "Sent", data: mail("sent-1@example.org", "Sent one", "x"), info: "S"},
		{folder: "Spam", data: mail("spam-1@example.org", "Spam one", "x")},
		{folder: "Trash", data: mail("trash-1@example.org", "Trash one", "x"), info: "S"},
		{folder: "Archive", data: mail("arch-1@example.org", "Archived", "x"), info: "S"},
		{folder: "Archive", data: shared, info: "S"},
		{folder: "Work", data: shared, info: "S"},
		{folder: "Work", data: mail("work-1@example.org", "Work one", "x")},
		// A Thunderbird profile of a Gmail IMAP account has a [Gmail] folder.
		{folder: "[Gmail]", data: mail("container-1@example.org", "Filed in the container", "x")},
		// Filed in Accounts, then archived: All Mail shows it anyway.
		{folder: "Accounts", data: mail("shared-2@example.org", "Filed then archived", "x"), info: "S"},
		{folder: "Archive", data: mail("shared-2@example.org", "Filed then archived", "x"), info: "S"},
		// Two copies without a Message-ID: nothing tells Gmail they are one.
		{folder: "inbox", data: mail("", "No ID", "same bytes")},
		{folder: "Work", data: mail("", "No ID", "same bytes")},
	})
	cfg := srv.config()
	rep := scan(t, root, plan.Options{})
	cl := connect(t, cfg)
	prof := DetectProvider("", cfg.Host, cl.Info())
	if prof.Name != ProviderGmail {
		t.Fatalf("the Gmail imitation was recognised as %q", prof.Name)
	}
	if err := Plan(testCtx(t), rep, cl, PlanOptions{Profile: &prof}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"INBOX": "INBOX", "Sent": "[Gmail]/Sent Mail", "Spam": "[Gmail]/Spam", "Trash": "[Gmail]/Trash",
		"Archive": "[Gmail]/All Mail", "Work": "Work", "[Gmail]": "[Gmail] (archive)",
	}
	for src, tgt := range want {
		if f := folderOf(t, rep, src); f.Target != tgt {
			t.Errorf("%s goes to %q (%s), want %q", src, f.Target, f.Reason, tgt)
		}
	}
	if f := folderOf(t, rep, "[Gmail]"); !f.Create || !strings.Contains(f.Reason, `Gmail's "[Gmail]" is a container that holds no mail: renamed`) {
		t.Errorf("[Gmail]: create %v, reason %q", f.Create, f.Reason)
	}
	// Labels: the shared message is uploaded into All Mail (the copy: the
	// Archive folder comes first in the source), then INBOX and Work (a
	// label each).
	var labels []string
	for _, m := range rep.Messages {
		if m.AddsLabel {
			labels = append(labels, m.Folder+": "+m.Reason)
		}
		if m.MessageID == "" && m.AddsLabel {
			t.Errorf("a message without a Message-ID counted as a label: %s", m.Location())
		}
	}
	wantLabels := []string{
		`Archive: the message of "Accounts" again: Gmail keeps one copy, and [Gmail]/All Mail shows every message once`,
		`INBOX: adds the label "INBOX" to the message in "[Gmail]/All Mail": Gmail keeps one copy, with a label per folder`,
		`Work: adds the label "Work" to the message in "[Gmail]/All Mail": Gmail keeps one copy, with a label per folder`,
	}
	if strings.Join(labels, "\n") != strings.Join(wantLabels, "\n") {
		t.Errorf("labels:\n%s\nwant:\n%s", strings.Join(labels, "\n"), strings.Join(wantLabels, "\n"))
	}
	if rep.Totals.Labels != 3 || rep.Totals.ToUpload != 14 {
		t.Errorf("totals: %d to upload, %d labels; want 14 and 3", rep.Totals.ToUpload, rep.Totals.Labels)
	}
	if rep.Server.Provider != ProviderGmail || !strings.Contains(strings.Join(rep.Server.ProviderNotes, "\n"), "Gmail (recognised by the capability X-GM-EXT-1)") {
		t.Errorf("provider %q, notes %q", rep.Server.Provider, rep.Server.ProviderNotes)
	}
	if f := folderOf(t, rep, "Work"); f.Labels != 1 || f.ToUpload != 3 {
		t.Errorf("Work: %d to upload, %d labels; want 3 and 1", f.ToUpload, f.Labels)
	}

	o := srv.observer()
	if err := Execute(testCtx(t), rep, cfg, cl, ExecOptions{Backoff: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Uploaded != 14 || rep.Totals.Failed != 0 {
		t.Fatalf("uploaded %d, failed %d:\n%v", rep.Totals.Uploaded, rep.Totals.Failed, rep.Messages)
	}
	for tgt, n := range map[string]int{"INBOX": 3, "[Gmail]/Sent Mail": 1, "[Gmail]/Spam": 1, "[Gmail]/Trash": 1, "[Gmail]/All Mail": 3, "Work": 3, "[Gmail] (archive)": 1, "Accounts": 1} {
		if got := len(o.messages(tgt)); got != n {
			t.Errorf("%s holds %d messages, want %d", tgt, got, n)
		}
	}
	if attrs := o.list()["[Gmail]"]; !hasAttrFold(attrs, `\Noselect`) {
		t.Errorf("[Gmail] is %v after the run, want still the \\Noselect container", attrs)
	}
}

// TestGmailSizeLimitWithoutAppendLimit: a server in Gmail's place that
// advertises no APPENDLIMIT gets Gmail's documented 25 MB; a generic one
// no limit.
func TestGmailSizeLimitWithoutAppendLimit(t *testing.T) {
	srv := gmailServer(t, memimap.Options{})
	big := mail("big-1@example.org", "Scanned contract", strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01\n", 26<<20/65))
	root := writeSource(t, []srcMsg{
		{folder: "inbox", data: big},
		{folder: "inbox", data: mail("small-1@example.org", "Small", "x")},
	})
	for _, tc := range []struct {
		provider string
		plan     string
		reason   string
	}{
		{ProviderGmail, report.DecisionFailed, "too large for Gmail (its limit is 25.0 MB; the server advertises no APPENDLIMIT)"},
		{ProviderGeneric, report.DecisionUpload, ""},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			prof := DetectProvider(tc.provider, "127.0.0.1", ServerInfo{})
			rep, _ := planned(t, root, srv.config(), plan.Options{}, PlanOptions{Profile: &prof})
			m := bySubject(t, rep, "INBOX", "Scanned contract")
			if m.Size <= 25<<20 {
				t.Fatalf("the big message is only %d bytes", m.Size)
			}
			if m.Plan != tc.plan || m.Reason != tc.reason {
				t.Errorf("big message: %s %q, want %s %q", m.Plan, m.Reason, tc.plan, tc.reason)
			}
			if s := bySubject(t, rep, "INBOX", "Small"); s.Plan != report.DecisionUpload {
				t.Errorf("small message: %s", s.Plan)
			}
		})
	}
}

// TestM365Files: a source folder named Files (and its subfolders) must not
// go to Microsoft 365's hidden, reserved Files folder, where the mail
// would be out of sight; it goes to "Files (archive)", and the plan says
// why. The imitation is recognised by its capabilities and logged in to
// with a token, as Microsoft 365 requires.
func TestM365Files(t *testing.T) {
	srv := m365Server(t, memimap.Options{})
	root := writeSource(t, []srcMsg{
		{folder: "Files", data: mail("files-1@example.org", "Scan of the lease", "x"), info: "S"},
		{folder: "Files/2019", data: mail("files-2@example.org", "Scan of 2019", "x"), info: "S"},
		{folder: "Sent Items", data: mail("sent-1@example.org", "Sent one", "x"), info: "S"},
		{folder: "Junk E-mail", data: mail("junk-1@example.org", "Junk one", "x")},
		{folder: "Deleted Items", data: mail("del-1@example.org", "Deleted one", "x"), info: "S"},
		{folder: "Profiles", data: mail("prof-1@example.org", "Not reserved", "x"), info: "S"},
	})
	cfg := srv.tokenConfig()
	rep := scan(t, root, plan.Options{})
	cl := connect(t, cfg)
	prof := DetectProvider("", cfg.Host, cl.Info())
	if prof.Name != ProviderM365 || prof.DetectedBy != "the capability CLIENTACCESSRULES" {
		t.Fatalf("the Microsoft 365 imitation was recognised as %q by %q", prof.Name, prof.DetectedBy)
	}
	if err := Plan(testCtx(t), rep, cl, PlanOptions{Profile: &prof}); err != nil {
		t.Fatal(err)
	}
	for src, tgt := range map[string]string{
		"Files": "Files (archive)", "Files/2019": "Files (archive)/2019", "Sent Items": "Sent Items",
		"Junk E-mail": "Junk Email", "Deleted Items": "Deleted Items", "Profiles": "Profiles",
	} {
		f := folderOf(t, rep, src)
		if f.Target != tgt {
			t.Errorf("%s goes to %q, want %q", src, f.Target, tgt)
		}
		if strings.HasPrefix(src, "Files") && !strings.Contains(f.Reason, `Microsoft 365 reserves the folder name "Files": renamed`) {
			t.Errorf("%s: reason %q does not say why", src, f.Reason)
		}
	}
	if err := Execute(testCtx(t), rep, cfg, cl, ExecOptions{Backoff: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	o := dialTokenObserver(t, srv)
	if n := len(o.messages("Files (archive)")); n != 1 {
		t.Errorf("Files (archive) holds %d messages, want 1", n)
	}
	if n := len(o.messages("Files (archive)/2019")); n != 1 {
		t.Errorf("Files (archive)/2019 holds %d messages, want 1", n)
	}
	// The hidden Files folder got nothing.
	if n := len(o.messages("Files")); n != 0 {
		t.Errorf("the reserved Files folder holds %d messages", n)
	}
	if rep.Totals.Uploaded != 6 {
		t.Errorf("uploaded %d of 6", rep.Totals.Uploaded)
	}
}

// dialTokenObserver is an observer logged in with XOAUTH2, for the
// OAuth-only imitation.
func dialTokenObserver(t *testing.T, s *testServer) *observer {
	t.Helper()
	cl := connect(t, s.tokenConfig())
	return &observer{t: t, c: cl.c}
}

// TestM365PasswordRefused: Microsoft 365 refuses passwords ("NO LOGIN
// failed."); the error says to use a token, and stays a login error.
func TestM365PasswordRefused(t *testing.T) {
	srv := m365Server(t, memimap.Options{})
	cfg := srv.config()
	_, err := Connect(testCtx(t), cfg)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Connect with a password: %v, want ErrAuth", err)
	}
	for _, tc := range []struct {
		name, forced, host string
		want               bool
	}{
		{"--provider m365", ProviderM365, cfg.Host, true},
		{"host outlook.office365.com", "", "outlook.office365.com", true},
		{"a generic server's refusal stays as it is", "", cfg.Host, false},
		{"--provider gmail", ProviderGmail, "outlook.office365.com", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *cfg
			c.Host = tc.host
			got := ExplainLogin(err, &c, tc.forced)
			if !errors.Is(got, ErrAuth) {
				t.Errorf("%v does not wrap ErrAuth", got)
			}
			says := strings.HasPrefix(got.Error(), "Microsoft 365 accepts only OAuth2 here: use --oauth2-token-file (")
			if says != tc.want {
				t.Errorf("error %q; want the OAuth2 advice: %v", got, tc.want)
			}
			if !strings.Contains(got.Error(), "LOGIN failed.") {
				t.Errorf("error %q lost the server's words", got)
			}
			noSecret(t, got, testPassword)
		})
	}
	// With a token, the same server lets the user in.
	connect(t, srv.tokenConfig())
}

// TestGmailBandwidthAtLogin: Gmail refuses the login of an account over its
// bandwidth limit; that is the budget, not a wrong password.
func TestGmailBandwidthAtLogin(t *testing.T) {
	err := fmt.Errorf("%w as u on imap.gmail.com:993: the server said: [ALERT] Account exceeded command or bandwidth limits. (Failure)", ErrAuth)
	got := ExplainLogin(err, &Config{Host: "imap.gmail.com"}, "")
	var be *BudgetError
	if !errors.As(got, &be) || !errors.Is(got, ErrBudgetReached) || errors.Is(got, ErrAuth) {
		t.Fatalf("ExplainLogin: %v (%T)", got, got)
	}
	if !strings.Contains(got.Error(), "[ALERT] Account exceeded command or bandwidth limits. (Failure)") || !strings.Contains(got.Error(), "run the same command again in a few hours") {
		t.Errorf("error %q", got)
	}
}

// TestM365SuggestedBackoff: Microsoft 365 throttles with "BAD Request is
// throttled. Suggested Backoff Time: N milliseconds"; the run waits at
// least that long, fails nothing and uploads everything once.
func TestM365SuggestedBackoff(t *testing.T) {
	const hint = 400 * time.Millisecond
	r := &refuser{answer: func(n int, mailbox string, size int64) error {
		if n <= 2 {
			return &imap.Error{Type: imap.StatusResponseTypeBad, Text: fmt.Sprintf("Request is throttled. Suggested Backoff Time: %d milliseconds", hint.Milliseconds())}
		}
		return nil
	}}
	srv := m365Server(t, memimap.Options{Refuse: r.hook})
	var msgs []srcMsg
	for i := range 6 {
		msgs = append(msgs, srcMsg{folder: "inbox", data: mail(fmt.Sprintf("t-%d@example.org", i), fmt.Sprintf("Throttled %d", i), "x"), info: "S"})
	}
	root := writeSource(t, msgs)
	cfg := srv.tokenConfig()
	prof := ProfileOf(ProviderM365)
	start := time.Now()
	rep, err := migrate(t, testCtx(t), root, cfg, PlanOptions{Profile: &prof}, ExecOptions{Connections: 1})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Uploaded != 6 || rep.Totals.Failed != 0 {
		t.Errorf("uploaded %d, failed %d", rep.Totals.Uploaded, rep.Totals.Failed)
	}
	if elapsed < hint {
		t.Errorf("the run took %v: it did not wait the suggested %v", elapsed, hint)
	}
	o := dialTokenObserver(t, srv)
	if n := len(o.messages("INBOX")); n != 6 {
		t.Errorf("INBOX holds %d messages, want each of the 6 once", n)
	}
}

// TestMDNSentPlanned: with the option, a read message that asked for a
// read receipt is uploaded with $MDNSent; an unread one (its receipt is
// still the user's decision) and a read one that asked nothing are not.
func TestMDNSentPlanned(t *testing.T) {
	srv := gmailServer(t, memimap.Options{})
	root := writeSource(t, []srcMsg{
		{folder: "inbox", data: mail("r-1@example.org", "Read, asked", "x"), info: "S"},
		{folder: "inbox", data: mail("r-2@example.org", "Unread, asked", "x")},
		{folder: "inbox", data: mail("r-3@example.org", "Read, not asked", "x"), info: "RS"},
	})
	asks := map[string]bool{"Read, asked": true, "Unread, asked": true}
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("mdn-sent=%v", on), func(t *testing.T) {
			rep := scan(t, root, plan.Options{})
			for i := range rep.Messages {
				rep.Messages[i].AsksReceipt = asks[rep.Messages[i].Subject]
			}
			cl := connect(t, srv.config())
			prof := ProfileOf(ProviderGmail)
			if err := Plan(testCtx(t), rep, cl, PlanOptions{Profile: &prof, MDNSent: on}); err != nil {
				t.Fatal(err)
			}
			// Planned twice (an approved plan's recheck, a rerun): once.
			if err := Plan(testCtx(t), rep, cl, PlanOptions{Profile: &prof, MDNSent: on}); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"Read, asked": `[\Seen]`, "Unread, asked": `[]`, "Read, not asked": `[\Answered \Seen]`}
			if on {
				want["Read, asked"] = `[$MDNSent \Seen]`
			}
			for subj, w := range want {
				if got := fmt.Sprint(bySubject(t, rep, "INBOX", subj).Flags); got != w && !(w == "[]" && got == "[]") {
					t.Errorf("%s: flags %s, want %s", subj, got, w)
				}
			}
			notes := strings.Join(rep.Server.ProviderNotes, "\n")
			if strings.Contains(notes, "$MDNSent") != on {
				t.Errorf("the notes say $MDNSent: %v, want %v:\n%s", !on, on, notes)
			}
		})
	}
}

func withExtra(caps imap.CapSet, extra []string) imap.CapSet {
	for _, c := range extra {
		caps[imap.Cap(c)] = struct{}{}
	}
	return caps
}
