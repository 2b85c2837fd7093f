package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fixed reports the tests render: one archive (an mbox inbox and a
// Maildir++ tree) seen by each command. Names and subjects carry what a
// renderer must escape or neutralise.

const (
	mboxPath = "/srv/archives/alice/inbox.mbox"
	mailDir  = "/srv/archives/alice/Mail"
)

var (
	tStart = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	tEnd   = time.Date(2025, 3, 1, 10, 2, 13, 0, time.UTC)
)

func date(y int, mo time.Month, d, h, mi int, zone int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.FixedZone("", zone*3600))
}

// baseMessages are the messages of the archive, planned for upload; each
// fixture then decides what happened to them.
func baseMessages() []Message {
	mbox := func(idx int, off, size int64, mid, subject string, d time.Time, flags ...string) Message {
		m := Message{Folder: "INBOX", Path: mboxPath, Offset: off, Length: size, Index: idx, MessageID: mid,
			Date: d, DateSource: "from_line", Size: size, Subject: subject, Flags: flags, Plan: DecisionUpload}
		m.Key = "mid:" + mid
		return m
	}
	file := func(folder, dir, name string, size int64, mid, subject string, d time.Time, flags ...string) Message {
		m := Message{Folder: folder, Path: mailDir + "/" + dir + "/cur/" + name, MessageID: mid, Date: d,
			DateSource: "maildir_name", Size: size, Subject: subject, Flags: flags, Plan: DecisionUpload}
		m.Key = "mid:" + mid
		return m
	}
	noID := mbox(3, 4200, 1700, "", "=SUM(A1)", date(2009, 12, 24, 18, 5, 1))
	noID.Key = "fp:9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
	noID.Warnings = []string{"no Message-ID: recognised by a content fingerprint", "Date header unreadable: used the From_ line"}
	undated := file("Entwürfe", ".Entwürfe", "1310000001.M2P9.host:2,D", 812, "d2@example.com", "", time.Time{}, `\Draft`)
	undated.DateSource = "none"
	deleted := file("Entwürfe", ".Entwürfe", "1310000000.M1P9.host:2,DT", 920, "d1@example.com", "Entwurf: Angebot", date(2011, 7, 1, 9, 0, 2), `\Draft`, `\Deleted`)
	deleted.Deleted = true
	return []Message{
		mbox(1, 0, 1500, "a1@example.com", "Quarterly numbers | Q1 2008", date(2008, 3, 14, 9, 26, 1), `\Seen`),
		mbox(2, 1500, 2700, "a2@example.com", "<script>alert('x')</script> & <b>hello</b>", date(2009, 11, 2, 8, 0, 0), `\Seen`, `\Flagged`),
		noID,
		mbox(4, 5900, 1500, "a1@example.com", "Quarterly numbers | Q1 2008", date(2008, 3, 14, 9, 26, 1), `\Seen`),
		mbox(5, 7400, 41943040, "big@example.com", "Photos from the party", date(2010, 1, 5, 20, 15, 1)),
		file("Sent", ".Sent", "1262304000.M1P2.host:2,S", 2100, "s1@example.com", "Re: Quarterly numbers", date(2010, 1, 1, 0, 0, 0), `\Seen`),
		file("Sent", ".Sent", "1309392000.M3P2.host:2,S", 3300, "s2@example.com", "Rückfrage zur Rechnung", date(2011, 6, 30, 0, 0, 2), `\Seen`),
		deleted,
		undated,
		file("Projekte/Été 2019 | Q3", ".Projekte.Été 2019 | Q3", "1563148800.M1P3.host:2,S", 5200, "p1@example.org", "Été 2019: planning ✓", date(2019, 7, 15, 0, 0, 2), `\Seen`),
		file("Projekte/Été 2019 | Q3", ".Projekte.Été 2019 | Q3", "1564617600.M2P3.host:2,", 2600, "p2@example.org", "+1 from me", date(2019, 8, 1, 0, 0, 2)),
		file("Projekte/Été 2019 | Q3", ".Projekte.Été 2019 | Q3", "1564704000.M3P3.host:2,", 2650, "p3@example.org", "@team reminder: -- minutes --", date(2019, 8, 2, 0, 0, 2)),
		file("受信箱/旧", ".受信箱.旧", "1112313600.M1P4.host:2,S", 1900, "j1@example.jp", "お知らせ", date(2005, 4, 1, 9, 0, 9), `\Seen`),
	}
}

func baseFolders(targets bool) []Folder {
	fs := []Folder{
		{Source: "INBOX", SourcePath: mboxPath, Format: "mbox", Target: "INBOX", Reason: MapInbox},
		{Source: "Sent", SourcePath: mailDir + "/.Sent", Format: "maildir", Target: "Sent Items", Reason: `special-use \Sent`},
		{Source: "Entwürfe", SourcePath: mailDir + "/.Entwürfe", Format: "maildir", Target: "Drafts", Reason: `special-use \Drafts`},
		{Source: "Projekte/Été 2019 | Q3", SourcePath: mailDir + "/.Projekte.Été 2019 | Q3", Format: "maildir", Target: "Archive/Projekte/Été 2019 | Q3", Reason: MapName, Create: true},
		{Source: "受信箱/旧", SourcePath: mailDir + "/.受信箱.旧", Format: "maildir", Target: "Old mail/Japan", Reason: MapFolderMap + ": line 2"},
	}
	if !targets {
		for i := range fs {
			fs[i].Target, fs[i].Reason, fs[i].Create = "", "", false
		}
	}
	return fs
}

func baseReport(command string, dryRun bool) *Report {
	rep := &Report{
		Tool: "archive2imap", Version: "v1.4.0", Command: command, DryRun: dryRun,
		Started: tStart, Finished: tEnd, Status: StatusComplete,
		Sources: []Source{
			{Path: mboxPath, Format: "mbox", Files: []SourceFile{{Path: mboxPath, Size: 41960000, ModTime: time.Date(2010, 1, 6, 0, 0, 0, 0, time.UTC)}}},
			{Path: mailDir, Format: "auto"},
		},
		Folders:  baseFolders(command != CommandScan),
		Messages: baseMessages(),
		Problems: []Problem{
			{Path: mboxPath, Offset: 41943040 + 7400, Index: 6, Folder: "INBOX", Error: "truncated message: the file ends inside the header"},
		},
	}
	if command != CommandScan {
		rep.Server = &Server{Host: "imap.example.com", Port: 993, TLS: "implicit TLS", User: "alice@example.com", Auth: "PLAIN",
			Delimiter: "/", Capabilities: []string{"IMAP4rev1", "LITERAL+", "UIDPLUS", "SPECIAL-USE", "APPENDLIMIT=35882577"}, AppendLimit: 35882577}
		rep.Dedupe = "folder"
		for i := range rep.Messages {
			m := &rep.Messages[i]
			for _, f := range rep.Folders {
				if f.Source == m.Folder {
					m.Target = f.Target
				}
			}
		}
	}
	// What the plan decides without a server: the deleted draft is
	// skipped, the second copy of a1 is a duplicate.
	msgs := rep.Messages
	msgs[7].Plan, msgs[7].Reason = DecisionSkipped, "marked deleted in the source (--include-deleted keeps it)"
	msgs[3].Plan, msgs[3].Reason = DecisionDuplicate, "duplicate of "+msgs[0].Location()
	return rep
}

// planServerSide adds the decisions that need the server: a2 and s1 are
// already there, the 40 MB message is over APPENDLIMIT.
func planServerSide(rep *Report) {
	msgs := rep.Messages
	msgs[1].Plan, msgs[1].Reason = DecisionExists, "already on server"
	msgs[5].Plan, msgs[5].Reason = DecisionExists, "already on server"
	msgs[4].Plan, msgs[4].Reason = DecisionFailed, "too large for server (APPENDLIMIT 35882577)"
}

func scanReport() *Report {
	rep := baseReport(CommandScan, false)
	rep.Problems = append(rep.Problems, Problem{Path: mailDir + "/.Sent/cur/1262304999.M9P2.host:2,S", Offset: -1, Folder: "Sent", Error: "open: permission denied"})
	rep.Ignored = []Ignored{{Path: mailDir + "/.Sent/dovecot-uidlist", Reason: "Dovecot index file"}, {Path: mailDir + "/notes.txt", Reason: "not a mail file"}}
	rep.Recount()
	return rep
}

func dryRunReport() *Report {
	rep := baseReport(CommandMigrate, true)
	planServerSide(rep)
	rep.Recount()
	return rep
}

// runIncompleteReport is a finished migrate where the server refused one
// message (over quota).
func runIncompleteReport() *Report {
	rep := baseReport(CommandMigrate, false)
	planServerSide(rep)
	uid := uint32(100)
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Plan != DecisionUpload {
			continue
		}
		if i == 6 {
			m.Outcome, m.Reason = DecisionFailed, "server refused: [OVERQUOTA] Quota exceeded (mailbox full)"
			continue
		}
		m.Outcome, m.UIDValidity, m.UID = DecisionUploaded, 1710000000, uid
		uid++
	}
	rep.Status = StatusIncomplete
	rep.StatusText = "1 message was not uploaded; fix the cause and run the same command again: what is already on the server is not uploaded twice."
	rep.Recount()
	return rep
}

// runInterruptedReport is a migrate stopped by Ctrl-C half way.
func runInterruptedReport() *Report {
	rep := baseReport(CommandMigrate, false)
	planServerSide(rep)
	done := 0
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Plan != DecisionUpload {
			continue
		}
		if done < 3 {
			m.Outcome, m.UIDValidity, m.UID = DecisionUploaded, 1710000000, uint32(200+done)
			done++
			continue
		}
		m.Outcome = DecisionPending
	}
	rep.Status = StatusInterrupted
	rep.StatusText = "interrupted by signal; 3 of 8 messages uploaded; run the same command again to continue."
	rep.Problems = nil
	rep.Recount()
	return rep
}

// verifyReport is a verify after the incomplete run: the message refused
// for quota is missing, one message's flags differ on the server.
func verifyReport() *Report {
	rep := baseReport(CommandVerify, false)
	planServerSide(rep)
	rep.Problems = nil
	v := &Verify{FoldersSeen: 5}
	for i := range rep.Messages {
		m := &rep.Messages[i]
		switch {
		case i == 6:
			m.Plan, m.Verified, m.Reason = DecisionUpload, "missing", "not found on the server"
		case i == 1:
			m.Plan, m.Verified, m.Reason = DecisionExists, "flags differ", `server has \Seen; archive has \Seen \Flagged`
		case m.Plan == DecisionUpload || m.Plan == DecisionExists:
			m.Plan, m.Verified, m.Reason = DecisionExists, "present", "already on server"
		}
		tallyVerified(v, m.Verified)
	}
	rep.Verify = v
	rep.Recount()
	return rep
}

func emptyScanReport() *Report {
	rep := &Report{Tool: "archive2imap", Version: "v1.4.0", Command: CommandScan, Started: tStart, Finished: tStart.Add(40 * time.Millisecond),
		Status: StatusComplete, Sources: []Source{{Path: "/srv/archives/empty", Format: "auto"}}}
	rep.Recount()
	return rep
}

func migrateFailedReport() *Report {
	rep := &Report{Tool: "archive2imap", Version: "v1.4.0", Command: CommandMigrate, Started: tStart, Finished: tStart.Add(3 * time.Second),
		Status: StatusFailed, StatusText: "cannot connect to imap.example.com:993: connection refused",
		Sources: []Source{{Path: mboxPath, Format: "mbox"}},
		Server:  &Server{Host: "imap.example.com", Port: 993, TLS: "implicit TLS", User: "alice@example.com"}}
	rep.Recount()
	return rep
}

// fixtures are the reports of the golden and round-trip tests, by name.
var fixtures = []struct {
	name string
	rep  func() *Report
}{
	{"scan", scanReport},
	{"dryrun", dryRunReport},
	{"run-incomplete", runIncompleteReport},
	{"run-interrupted", runInterruptedReport},
	{"verify", verifyReport},
	{"empty-scan", emptyScanReport},
	{"migrate-failed", migrateFailedReport},
}

// TestFixturesCoverEveryDecision guards the fixtures themselves: together
// they must hold every decision kind and every verify result, or the
// golden files would not show how each is rendered.
func TestFixturesCoverEveryDecision(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range fixtures {
		for _, m := range f.rep().Messages {
			seen[m.Plan] = true
			seen[m.Decision()] = true
			if m.Verified != "" {
				seen["verified "+m.Verified] = true
			}
		}
	}
	for _, want := range []string{DecisionUpload, DecisionDuplicate, DecisionExists, DecisionSkipped, DecisionFailed,
		DecisionUploaded, DecisionPending, "verified present", "verified missing", "verified flags differ"} {
		if !seen[want] {
			t.Errorf("no fixture has a message with %s", want)
		}
	}
}

func TestCSVNeutralisesFormulas(t *testing.T) {
	// OWASP "CSV injection": Excel, LibreOffice Calc and Google Sheets run
	// a cell starting with these characters as a formula.
	tests := []struct {
		name, subject, want string
	}{
		{"Excel formula =", "=SUM(A1)", "'=SUM(A1)"},
		{"Excel DDE via =", `=cmd|' /C calc'!A0`, `'=cmd|' /C calc'!A0`},
		{"plus sign", "+1 from me", "'+1 from me"},
		{"minus sign", "-- minutes --", "'-- minutes --"},
		{"Lotus @ function", "@team reminder", "'@team reminder"},
		{"leading tab", "\tindented", "'\tindented"},
		// encoding/csv in CRLF mode drops a lone CR; the apostrophe stays.
		{"leading carriage return", "\rcr", "'cr"},
		{"RFC 5322 plain subject", "Re: Quarterly numbers", "Re: Quarterly numbers"},
		{"formula character later in the text", "a=b", "a=b"},
		{"empty subject", "", ""},
		{"RFC 2047 decoded non-ASCII", "Été 2019: planning ✓", "Été 2019: planning ✓"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &Report{Messages: []Message{{Folder: "INBOX", Subject: tt.subject, Plan: DecisionUpload}}}
			var b bytes.Buffer
			if err := WriteCSV(&b, rep); err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(&b).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if got := rows[1][csvColumn(t, "subject")]; got != tt.want {
				t.Errorf("subject cell = %q, want %q", got, tt.want)
			}
		})
	}
}

func csvColumn(t *testing.T, name string) int {
	t.Helper()
	for i, h := range csvHeader {
		if h == name {
			return i
		}
	}
	t.Fatalf("no CSV column %q", name)
	return -1
}

// TestCSVRows checks the columns of one row against the message they come
// from.
func TestCSVRows(t *testing.T) {
	rep := runIncompleteReport()
	var b bytes.Buffer
	if err := WriteCSV(&b, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "folder,target,path,offset,index,key,message_id,date,") {
		t.Errorf("header = %q", strings.SplitN(b.String(), "\r\n", 2)[0])
	}
	if !strings.Contains(b.String(), "\r\n") {
		t.Error("CSV lines do not end in CRLF (RFC 4180)")
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(rep.Messages) {
		t.Fatalf("%d rows, want a header and %d messages", len(rows), len(rep.Messages))
	}
	col := func(row []string, name string) string { return row[csvColumn(t, name)] }
	for i, m := range rep.Messages {
		row := rows[i+1]
		if got := col(row, "offset"); got != strconv.FormatInt(m.Offset, 10) {
			t.Errorf("message %d: offset %q, want %d", i, got, m.Offset)
		}
		if got := col(row, "decision"); got != m.Decision() {
			t.Errorf("message %d: decision %q, want %q", i, got, m.Decision())
		}
		if got, want := col(row, "flags"), strings.Join(m.Flags, " "); got != want {
			t.Errorf("message %d: flags %q, want %q", i, got, want)
		}
		if m.Date.IsZero() {
			if got := col(row, "date"); got != "" {
				t.Errorf("message %d has no date, cell %q", i, got)
			}
		} else if d, err := time.Parse(time.RFC3339, col(row, "date")); err != nil || !d.Equal(m.Date) {
			t.Errorf("message %d: date %q (%v), want %v", i, col(row, "date"), err, m.Date)
		}
		if m.UID != 0 && col(row, "uid") != strconv.Itoa(int(m.UID)) {
			t.Errorf("message %d: uid %q, want %d", i, col(row, "uid"), m.UID)
		}
		if m.UID == 0 && col(row, "uid") != "" {
			t.Errorf("message %d: uid %q, want empty", i, col(row, "uid"))
		}
		if got, want := col(row, "warnings"), strings.Join(m.Warnings, "; "); got != want {
			t.Errorf("message %d: warnings %q, want %q", i, got, want)
		}
	}
}

// TestCSVAndJSONAgree reads the CSV back with encoding/csv, recounts each
// folder by the decision column, and compares with what ReadJSON gives for
// the same report, and with the model.
func TestCSVAndJSONAgree(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			rep := f.rep()
			var cb, jb bytes.Buffer
			if err := WriteCSV(&cb, rep); err != nil {
				t.Fatal(err)
			}
			if err := WriteJSON(&jb, rep); err != nil {
				t.Fatal(err)
			}
			back, err := ReadJSON(&jb)
			if err != nil {
				t.Fatal(err)
			}
			r := csv.NewReader(&cb)
			header, err := r.Read()
			if err != nil {
				t.Fatal(err)
			}
			cols := map[string]int{}
			for i, h := range header {
				cols[h] = i
			}
			fromCSV := map[string]*Counters{}
			var total Counters
			for {
				row, err := r.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				folder := strings.TrimPrefix(row[cols["folder"]], "'")
				size, err := strconv.ParseInt(row[cols["size"]], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				c := fromCSV[folder]
				if c == nil {
					c = &Counters{}
					fromCSV[folder] = c
				}
				for _, c := range []*Counters{c, &total} {
					c.Found++
					c.Bytes += size
					switch row[cols["decision"]] {
					case DecisionUpload, DecisionPending:
						c.ToUpload++
					case DecisionUploaded:
						c.ToUpload++
						c.Uploaded++
					case DecisionDuplicate:
						c.DuplicatesInSource++
					case DecisionExists:
						c.AlreadyOnServer++
					case DecisionSkipped:
						c.Skipped++
					case DecisionFailed:
						c.Failed++
						if row[cols["plan"]] == DecisionUpload {
							c.ToUpload++
						}
					default:
						t.Errorf("unknown decision %q", row[cols["decision"]])
					}
				}
			}
			counts := func(c Counters) Counters {
				c.BytesToUpload, c.BytesUploaded = 0, 0
				return c
			}
			if len(back.Folders) != len(rep.Folders) {
				t.Fatalf("JSON has %d folders, the model %d", len(back.Folders), len(rep.Folders))
			}
			for i, jf := range back.Folders {
				want := counts(jf.Counters)
				got := Counters{}
				if c := fromCSV[jf.Source]; c != nil {
					got = *c
				}
				if got != want {
					t.Errorf("folder %q: CSV counts %+v, JSON %+v", jf.Source, got, want)
				}
				if m := counts(rep.Folders[i].Counters); m != want {
					t.Errorf("folder %q: JSON counts %+v, model %+v", jf.Source, want, m)
				}
				delete(fromCSV, jf.Source)
			}
			for name := range fromCSV {
				t.Errorf("CSV has messages of folder %q, which JSON lacks", name)
			}
			if want := counts(back.Totals.Counters); total != want {
				t.Errorf("CSV totals %+v, JSON %+v", total, want)
			}
			if m := counts(rep.Totals.Counters); m != counts(back.Totals.Counters) {
				t.Errorf("JSON totals %+v, model %+v", back.Totals.Counters, m)
			}
		})
	}
}

func TestMarkdownEscape(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"GFM table cell pipe", "Été 2019 | Q3", `Été 2019 \| Q3`},
		{"CommonMark raw HTML", "<script>x</script>", `\<script\>x\</script\>`},
		{"CommonMark emphasis", "*urgent* _now_", `\*urgent\* \_now\_`},
		{"CommonMark link", "[click](x)", `\[click\](x)`},
		{"CommonMark code span", "`rm -rf`", "\\`rm -rf\\`"},
		{"CommonMark backslash", `C:\Mail`, `C:\\Mail`},
		{"GFM strikethrough", "~~old~~", `\~\~old\~\~`},
		{"CommonMark entity", "&lt;b&gt; &#60;", `\&lt;b\&gt; \&#60;`},
		{"plain ampersand", "Tom & Jerry", "Tom & Jerry"},
		{"RFC 2047 folded subject with line break", "line one\r\n line two", "line one   line two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mdEscape(tt.in); got != tt.want {
				t.Errorf("mdEscape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestMarkdownTablesKeepTheirShape checks that every table row of the
// Markdown report has as many cells as its header, whatever the folder
// names hold: an unescaped | in a name would add a cell.
func TestMarkdownTablesKeepTheirShape(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteMarkdown(&b, f.rep()); err != nil {
				t.Fatal(err)
			}
			cells := -1
			for _, line := range strings.Split(b.String(), "\n") {
				if !strings.HasPrefix(line, "|") {
					cells = -1
					continue
				}
				n := cellBorders(line)
				if cells == -1 {
					cells = n
				} else if n != cells {
					t.Errorf("row with %d cell borders, header has %d: %s", n, cells, line)
				}
			}
		})
	}
}

func TestMarkdownCapsProblems(t *testing.T) {
	rep := dryRunReport()
	for i := range 60 {
		rep.Problems = append(rep.Problems, Problem{Path: mboxPath, Offset: int64(1000 * i), Index: i + 1, Error: "bad header"})
	}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, rep); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	// 61 file problems and the message over APPENDLIMIT.
	if !strings.Contains(md, "## Problems (62)") {
		t.Errorf("no problem count of 62 in:\n%s", md)
	}
	if n := strings.Count(md, "\n- **Could not be read:**") + strings.Count(md, "\n- **Not uploaded:**"); n != mdMaxList {
		t.Errorf("%d problems listed, want %d", n, mdMaxList)
	}
	if !strings.Contains(md, "… and 12 more: the CSV report") {
		t.Error("no 'and 12 more' line")
	}
}

func TestHeadline(t *testing.T) {
	tests := []struct {
		name string
		rep  *Report
		want string
	}{
		{"scan", scanReport(), "Scan: 13 messages (40.0 MB) in 5 folders; 1 duplicate within a folder; 1 would be skipped; 2 parts could not be read. No server was contacted."},
		{"dry run", dryRunReport(), "Dry run: 8 messages (19.2 KB) would be uploaded to alice@example.com on imap.example.com into 5 folders (1 new); 2 are already there; 1 cannot be uploaded (see the problems); nothing was written."},
		{"run with a failure", runIncompleteReport(), "Migration incomplete: 7 of 8 messages (16.0 KB) uploaded to alice@example.com on imap.example.com; 2 failed (see the problems); 2 were already there."},
		{"interrupted run", runInterruptedReport(), "Migration interrupted: 3 of 8 messages (6.3 KB) uploaded to alice@example.com on imap.example.com; 1 failed (see the problems); 5 not done yet; 2 were already there; run the same command again to continue."},
		{"verify with a missing message", verifyReport(), "Verification: 1 of 10 messages is missing from the server (alice@example.com on imap.example.com); 1 has different flags; 3 were not checked (duplicates or skipped)."},
		{"empty scan", emptyScanReport(), "Scan: no messages found. No server was contacted."},
		{"failed migrate", migrateFailedReport(), "Migration failed: cannot connect to imap.example.com:993: connection refused."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := headline(tt.rep); got != tt.want {
				t.Errorf("headline:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	t.Run("complete run", func(t *testing.T) {
		rep := runIncompleteReport()
		for i := range rep.Messages {
			if rep.Messages[i].Decision() == DecisionFailed {
				rep.Messages[i].Plan, rep.Messages[i].Outcome = DecisionSkipped, ""
			}
		}
		rep.Status = StatusComplete
		rep.Recount()
		want := "Migration complete: 7 messages (16.0 KB) uploaded to alice@example.com on imap.example.com into 4 folders (1 new); 2 were already there."
		if got := headline(rep); got != want {
			t.Errorf("headline:\n got %s\nwant %s", got, want)
		}
	})
	t.Run("verify all present", func(t *testing.T) {
		rep := verifyReport()
		rep.Verify.Missing, rep.Verify.FlagsDiffer, rep.Verify.NotExpected = 0, 0, 0
		want := "Verification: all 10 messages are on the server (alice@example.com on imap.example.com)."
		if got := headline(rep); got != want {
			t.Errorf("headline:\n got %s\nwant %s", got, want)
		}
	})
}

func TestReasonWords(t *testing.T) {
	tests := []struct{ name, reason, want string }{
		{"inbox", MapInbox, "Inbox: goes to the server's INBOX"},
		{"RFC 6154 \\Sent", `special-use \Sent`, "Sent items: matched the server's Sent folder"},
		{"RFC 6154 \\Trash", `special-use \Trash`, "Deleted items: matched the server's Trash folder"},
		{"RFC 6154 \\Junk, lower case", `special-use \junk`, "Junk mail: matched the server's Junk folder"},
		{"RFC 6154 unknown attribute", `special-use \Important`, `matched the server's \Important folder`},
		{"by name", MapName, "same name as in the archive"},
		{"--folder-map line", "folder map: line 2", "set by --folder-map (line 2)"},
		{"--folder-map", MapFolderMap, "set by --folder-map"},
		{"unknown reason kept", "chosen by hand", "chosen by hand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reasonWords(tt.reason); got != tt.want {
				t.Errorf("reasonWords(%q) = %q, want %q", tt.reason, got, tt.want)
			}
		})
	}
}

func TestNum(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1234: "1,234", 123456: "123,456", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := num(n); got != want {
			t.Errorf("num(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for peak, want := range map[int]int{1: 1, 3: 1, 4: 1, 7: 2, 10: 5, 40: 10, 90: 25, 1000: 250, 12345: 5000} {
		if got := niceStep(peak); got != want {
			t.Errorf("niceStep(%d) = %d, want %d", peak, got, want)
		}
	}
}

// TestHTMLEscapes checks that text from the archive cannot become markup
// in the HTML report.
func TestHTMLEscapes(t *testing.T) {
	rep := dryRunReport()
	rep.Messages[0].Subject = `"><img src=x onerror=alert(1)>`
	rep.Folders[0].Source = "<b>INBOX</b>"
	rep.Messages[0].Folder = "<b>INBOX</b>"
	rep.Recount()
	var b bytes.Buffer
	if err := WriteHTML(&b, rep); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script>alert", "<img src=x", "<b>INBOX</b>", "<b>hello</b>"} {
		if strings.Contains(page, bad) {
			t.Errorf("HTML holds unescaped %q", bad)
		}
	}
	for _, good := range []string{"&lt;script&gt;alert", "&lt;img src=x onerror=alert(1)&gt;", "&lt;b&gt;INBOX&lt;/b&gt;"} {
		if !strings.Contains(page, good) {
			t.Errorf("HTML lacks the escaped %q", good)
		}
	}
	if strings.Count(page, "<script>") != 1 {
		t.Errorf("want exactly the page's own script, found %d", strings.Count(page, "<script>"))
	}
}

// TestHTMLContentSecurityPolicy checks that the page's own style sheet and
// script match the hashes its policy allows, so the policy neither blocks
// the page nor allows anything else.
func TestHTMLContentSecurityPolicy(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, dryRunReport()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	csp := regexp.MustCompile(`http-equiv="Content-Security-Policy" content="([^"]*)"`).FindStringSubmatch(page)
	if csp == nil {
		t.Fatal("no Content-Security-Policy")
	}
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(page)
	script := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindStringSubmatch(page)
	if style == nil || script == nil {
		t.Fatal("no inline style or script")
	}
	unescape := strings.NewReplacer("&#39;", "'", "&#43;", "+", "&#34;", `"`, "&amp;", "&").Replace
	pol := unescape(csp[1])
	for _, want := range []string{"default-src 'none'", "'" + cspHash(style[1]) + "'", "'" + cspHash(script[1]) + "'"} {
		if !strings.Contains(pol, want) {
			t.Errorf("policy %q lacks %q", pol, want)
		}
	}
}

// TestWritersHandleEveryReport runs every writer, through Write, on every
// fixture and on a report with nothing filled in.
func TestWritersHandleEveryReport(t *testing.T) {
	reps := map[string]*Report{"zero value": {}}
	for _, f := range fixtures {
		reps[f.name] = f.rep()
	}
	for name, rep := range reps {
		for _, format := range []Format{FormatJSON, FormatCSV, FormatMarkdown, FormatHTML} {
			var b bytes.Buffer
			if err := Write(&b, format, rep); err != nil {
				t.Errorf("%s as %s: %v", name, format, err)
			}
			if b.Len() == 0 {
				t.Errorf("%s as %s: empty output", name, format)
			}
		}
		var b bytes.Buffer
		if err := WriteSummary(&b, rep); err != nil {
			t.Errorf("%s summary: %v", name, err)
		}
	}
}

// TestWritersReportWriteErrors checks that a failing writer (a full disk)
// is an error, not a silently short report.
func TestWritersReportWriteErrors(t *testing.T) {
	rep := dryRunReport()
	for _, format := range []Format{FormatJSON, FormatCSV, FormatMarkdown, FormatHTML} {
		if err := Write(failWriter{}, format, rep); err == nil {
			t.Errorf("%s: no error from a failing writer", format)
		}
	}
	if err := WriteSummary(failWriter{}, rep); err == nil {
		t.Error("summary: no error from a failing writer")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

// bigReport is a dry run over n messages in 200 folders, for benchmarks
// and the large-report test.
func bigReport(n int) *Report {
	rep := dryRunReport()
	base := rep.Messages
	rep.Messages = make([]Message, 0, n)
	rep.Folders = rep.Folders[:0]
	for f := range 200 {
		rep.Folders = append(rep.Folders, Folder{Source: "Folder " + strconv.Itoa(f), Target: "Archive/Folder " + strconv.Itoa(f), Reason: MapName})
	}
	for i := range n {
		m := base[i%len(base)]
		m.Folder = rep.Folders[i%200].Source
		m.Target = rep.Folders[i%200].Target
		m.Index, m.Offset = i+1, int64(i)*3000
		if !m.Date.IsZero() {
			m.Date = m.Date.AddDate(i%15, 0, 0)
		}
		rep.Messages = append(rep.Messages, m)
	}
	rep.Recount()
	return rep
}

// TestHTMLLargeReport checks that a large report keeps every message, caps
// the per-folder chart, and stays lean per row.
func TestHTMLLargeReport(t *testing.T) {
	rep := bigReport(3000)
	var b bytes.Buffer
	if err := WriteHTML(&b, rep); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	list := page[strings.Index(page, `<table class="messages`):]
	body := list[strings.Index(list, "<tbody>"):strings.Index(list, "</tbody>")]
	if n := strings.Count(body, "<tr>"); n != len(rep.Messages) {
		t.Errorf("%d rows in the message list, want %d", n, len(rep.Messages))
	}
	if strings.Contains(body, "class=") || strings.Contains(body, "style=") {
		t.Error("message rows carry per-row styling")
	}
	if per := len(body) / len(rep.Messages); per > 400 {
		t.Errorf("%d bytes per message row, want at most 400", per)
	}
	cap := fmt.Sprintf("The %d largest of %d folders", chartMaxBars, len(rep.Folders))
	if !strings.Contains(page, cap) {
		t.Errorf("the folder chart is not capped: no %q", cap)
	}
	chart := page[strings.Index(page, `id="chart-folders"`):]
	chart = chart[:strings.Index(chart, "</svg>")]
	if n := strings.Count(chart, "<g>"); n != chartMaxBars {
		t.Errorf("%d bars in the folder chart, want %d", n, chartMaxBars)
	}
}

func BenchmarkWriteHTML(b *testing.B) {
	rep := bigReport(100000)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteHTML(io.Discard, rep); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteCSV(b *testing.B) {
	rep := bigReport(100000)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteCSV(io.Discard, rep); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteMarkdown(b *testing.B) {
	rep := bigReport(100000)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteMarkdown(io.Discard, rep); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDisplayWidth(t *testing.T) {
	tests := []struct {
		name string
		s    string
		want int
	}{
		{"ASCII", "INBOX", 5},
		{"Latin-1, precomposed (NFC)", "Entwürfe", 8},
		{"combining acute accent (NFD, as macOS file names)", "Ete\u0301", 3},
		{"CJK ideographs (Thunderbird folder of a Japanese user)", "受信箱", 6},
		{"Hangul", "받은편지함", 10},
		{"fullwidth forms", "ＡＢ", 4},
		{"emoji", "📁", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := displayWidth(tt.s); got != tt.want {
				t.Errorf("displayWidth(%q) = %d, want %d", tt.s, got, tt.want)
			}
		})
	}
}

// TestSummaryTableAlignsWideNames checks that the terminal table's columns
// line up on screen when folder names hold wide or combining characters.
func TestSummaryTableAlignsWideNames(t *testing.T) {
	tt := newTextTable("FOLDER", "MESSAGES>")
	for _, name := range []string{"受信箱/旧", "Entwürfe", "Ete\u0301", "INBOX"} {
		tt.add(name, "12")
	}
	var b bytes.Buffer
	tt.write(&b)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for _, l := range lines {
		if displayWidth(l) != displayWidth(lines[0]) {
			t.Errorf("line %q is %d cells wide, the heading %d:\n%s", l, displayWidth(l), displayWidth(lines[0]), b.String())
		}
	}
}

// TestSummaryNeutralisesControlCharacters checks that names and errors
// from an archive cannot send escape sequences to the terminal.
func TestSummaryNeutralisesControlCharacters(t *testing.T) {
	rep := dryRunReport()
	rep.Folders[0].Source = "INBOX\x1b[2J\x1b]0;owned\x07"
	rep.Folders[0].Target = "INBOX\r\nfake line"
	rep.Problems[0].Error = "bad header\x1b[31m\u009b1m"
	var b bytes.Buffer
	if err := WriteSummary(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, r := range out {
		if r != '\n' && (r < 0x20 || (r >= 0x7f && r < 0xa0)) {
			t.Fatalf("summary holds control character %U:\n%q", r, out)
		}
	}
	for _, want := range []string{"INBOX?[2J?]0;owned?", "INBOX??fake line", "bad header?[31m?1m"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestShorten(t *testing.T) {
	tests := []struct {
		name, in string
		cells    int
		want     string
	}{
		{"fits", "INBOX", 36, "INBOX"},
		{"Thunderbird nested folder, middle cut", "bigbang/tests/data/2001-November.txt", 20, "bigban…-November.txt"},
		{"CJK counts two cells", "受信箱/旧/二〇〇五年/四月", 12, "受…年/四月"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shorten(tt.in, tt.cells)
			if got != tt.want {
				t.Errorf("shorten(%q, %d) = %q, want %q", tt.in, tt.cells, got, tt.want)
			}
			if w := displayWidth(got); w > tt.cells {
				t.Errorf("shorten(%q, %d) = %q is %d cells", tt.in, tt.cells, got, w)
			}
		})
	}
}

// cellBorders counts the pipes of a Markdown table line that are cell
// borders: those not escaped by an odd run of backslashes.
func cellBorders(line string) int {
	n, slashes := 0, 0
	for _, r := range line {
		switch {
		case r == '\\':
			slashes++
			continue
		case r == '|' && slashes%2 == 0:
			n++
		}
		slashes = 0
	}
	return n
}

// FuzzWriters feeds arbitrary folder names and subjects (as an archive may
// hold: any bytes, line breaks, markup, formulas) to the CSV, Markdown and
// HTML writers and checks that none of it escapes its cell.
func FuzzWriters(f *testing.F) {
	f.Add("INBOX", "Hello")
	f.Add("Projekte/Été 2019 | Q3", "=SUM(A1)")
	f.Add("<b>Posteingang</b>", "<script>alert(1)</script> &amp;")
	f.Add("a\nb\\|c", "-1\r\n+2")
	f.Add("\x1b[2J", "@\xff\xfe")
	f.Fuzz(func(t *testing.T, folder, subject string) {
		mk := func(folder, subject string) *Report {
			rep := &Report{Command: CommandMigrate, DryRun: true, Status: StatusComplete,
				Folders:  []Folder{{Source: folder, Target: folder, Reason: MapName, Create: true}},
				Messages: []Message{{Folder: folder, Target: folder, Path: folder, Subject: subject, Plan: DecisionUpload, Size: 10}},
			}
			rep.Recount()
			return rep
		}
		rep := mk(folder, subject)

		var cb bytes.Buffer
		if err := WriteCSV(&cb, rep); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&cb).ReadAll()
		if err != nil {
			t.Fatalf("CSV does not read back: %v", err)
		}
		if len(rows) != 2 || len(rows[1]) != len(csvHeader) {
			t.Fatalf("CSV has %d rows (want 2), %v", len(rows), rows)
		}
		// encoding/csv writes CRLF line ends, dropping a lone CR.
		if got, want := rows[1][csvColumn(t, "subject")], strings.ReplaceAll(csvText(subject), "\r", ""); got != want {
			t.Errorf("subject reads back as %q, want %q", got, want)
		}
		for i, cell := range rows[1] {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("column %s starts with a formula character: %q", csvHeader[i], cell)
			}
		}

		var mb bytes.Buffer
		if err := WriteMarkdown(&mb, rep); err != nil {
			t.Fatal(err)
		}
		cells := -1
		for _, line := range strings.Split(mb.String(), "\n") {
			if !strings.HasPrefix(line, "|") {
				cells = -1
				continue
			}
			if n := cellBorders(line); cells == -1 {
				cells = n
			} else if n != cells {
				t.Errorf("Markdown row with %d cell borders, header %d: %q", n, cells, line)
			}
		}
		for i := strings.IndexByte(mb.String(), '<'); i >= 0; {
			if i == 0 || mb.String()[i-1] != '\\' {
				t.Errorf("Markdown has a raw < at %d", i)
				break
			}
			j := strings.IndexByte(mb.String()[i+1:], '<')
			if j < 0 {
				break
			}
			i += 1 + j
		}

		// Text from the archive adds no markup: the page has as many tags
		// as the page of a report with plain names.
		var hb, plain bytes.Buffer
		if err := WriteHTML(&hb, rep); err != nil {
			t.Fatal(err)
		}
		if err := WriteHTML(&plain, mk("Folder", "Subject")); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Count(hb.String(), "<"), strings.Count(plain.String(), "<"); got != want {
			t.Errorf("HTML has %d '<', a plain report %d", got, want)
		}
	})
}
