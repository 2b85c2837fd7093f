package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// batchStart is when the fixture batches start.
var batchStart = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// batchRow is a fixture row that ran from start to start+secs.
func batchFixtureRow(row int, user, status, reason string, startSec, secs float64, c Counters, problems, pending int) BatchMailbox {
	m := BatchMailbox{
		Row: row, Line: row + 1, User: user, Host: "mail.example.org", Port: 993, TLS: "implicit",
		Sources: []string{"/srv/archives/" + strings.SplitN(user, "@", 2)[0]},
		Status:  status, Reason: reason, Counters: c, Problems: problems, Pending: pending,
	}
	if status != StatusNotRun {
		m.Started = batchStart.Add(time.Duration(startSec * float64(time.Second)))
		m.Finished = m.Started.Add(time.Duration(secs * float64(time.Second)))
		m.Seconds = secs
		base := strconv.Itoa(1000 + row)[1:] + "-" + user + "@mail.example.org"
		m.Reports = []string{base + ".json", base + ".html"}
	}
	return m
}

// mixedBatch: a team of five after a run: three complete (one with two
// sources, one with everything already there), one incomplete (messages
// refused and a part unreadable), one failed (wrong password).
func mixedBatch() *Batch {
	b := &Batch{
		Tool: "archive2imap", Version: "v1.4.0", Command: CommandBatch,
		Started: batchStart, Finished: batchStart.Add(95 * time.Second), Status: StatusIncomplete,
		File: "/srv/helpdesk/team.csv", Parallel: 2, FailuresFile: "/srv/helpdesk/team.failures.csv",
	}
	b.Mailboxes = []BatchMailbox{
		batchFixtureRow(1, "alice", StatusComplete, "", 0, 41.5,
			Counters{Found: 1204, DuplicatesInSource: 3, AlreadyOnServer: 0, ToUpload: 1199, Uploaded: 1199, Skipped: 2, Bytes: 88_400_000, BytesToUpload: 88_100_000, BytesUploaded: 88_100_000}, 0, 0),
		batchFixtureRow(2, "bob", StatusIncomplete, "2 messages not migrated and 1 part of the source could not be read (first: /srv/archives/bob/Junk: not a regular file (named pipe): not read)", 0, 12.25,
			Counters{Found: 310, ToUpload: 310, Uploaded: 308, Failed: 2, Bytes: 5_400_000, BytesToUpload: 5_400_000, BytesUploaded: 5_350_000}, 1, 0),
		batchFixtureRow(3, "carol", StatusFailed, "cannot log in as carol on mail.example.org:993: the server said: [AUTHENTICATIONFAILED] Authentication failed.", 12.3, 0.4,
			Counters{}, 0, 0),
		batchFixtureRow(4, "dave", StatusComplete, "", 12.8, 30,
			Counters{Found: 77, AlreadyOnServer: 77, Bytes: 901_000}, 0, 0),
		batchFixtureRow(5, "=erin", StatusComplete, "", 42, 53,
			Counters{Found: 2, ToUpload: 2, Uploaded: 2, Bytes: 2048, BytesToUpload: 2048, BytesUploaded: 2048}, 0, 0),
	}
	b.Mailboxes[0].Sources = append(b.Mailboxes[0].Sources, "/srv/archives/alice-old/Inbox.mbox")
	b.Recount()
	return b
}

// interruptedBatch: Ctrl-C during the second row of four, one at a time.
func interruptedBatch() *Batch {
	b := &Batch{
		Tool: "archive2imap", Version: "v1.4.0", Command: CommandBatch,
		Started: batchStart, Finished: batchStart.Add(20 * time.Second), Status: StatusInterrupted,
		File: "/srv/helpdesk/Team 2025.csv", Parallel: 1, FailuresFile: "/srv/helpdesk/Team 2025.failures.csv",
	}
	b.Mailboxes = []BatchMailbox{
		batchFixtureRow(1, "alice@example.org", StatusComplete, "", 0, 8,
			Counters{Found: 10, ToUpload: 10, Uploaded: 10, Bytes: 10240, BytesToUpload: 10240, BytesUploaded: 10240}, 0, 0),
		batchFixtureRow(2, "bob@example.org", StatusInterrupted, "512 of 1,000 messages uploaded before the stop", 8, 12,
			Counters{Found: 1000, ToUpload: 1000, Uploaded: 512, Bytes: 1 << 20, BytesToUpload: 1 << 20, BytesUploaded: 1 << 19}, 0, 488),
		batchFixtureRow(3, "carol@example.org", StatusNotRun, "the batch was interrupted before this row started", 0, 0, Counters{}, 0, 0),
		batchFixtureRow(4, "<script>dave</script>", StatusNotRun, "the batch was interrupted before this row started", 0, 0, Counters{}, 0, 0),
	}
	b.Recount()
	return b
}

// dryRunBatch: the plan of three mailboxes, one unreachable.
func dryRunBatch() *Batch {
	b := &Batch{
		Tool: "archive2imap", Version: "v1.4.0", Command: CommandBatch, DryRun: true,
		Started: batchStart, Finished: batchStart.Add(4 * time.Second), Status: StatusIncomplete,
		File: "/srv/helpdesk/team.csv", Parallel: 3,
	}
	b.Mailboxes = []BatchMailbox{
		batchFixtureRow(1, "alice", StatusComplete, "", 0, 2.5,
			Counters{Found: 1204, DuplicatesInSource: 3, AlreadyOnServer: 100, ToUpload: 1099, Skipped: 2, Bytes: 88_400_000, BytesToUpload: 80_000_000}, 0, 0),
		batchFixtureRow(2, "bob", StatusIncomplete, "1 message cannot be uploaded (first: /srv/archives/bob/Sent: message 3 at byte 9120: too large for the server (APPENDLIMIT 35882577))", 0, 3,
			Counters{Found: 12, ToUpload: 11, Failed: 1, Bytes: 40_000_000, BytesToUpload: 1_000_000}, 0, 0),
		batchFixtureRow(3, "carol", StatusFailed, "cannot connect to mail.example.org:993: dial tcp: lookup mail.example.org: no such host", 0, 0.05, Counters{}, 0, 0),
	}
	b.Recount()
	return b
}

var batchFixtures = []struct {
	name  string
	batch func() *Batch
}{
	{"batch-mixed", mixedBatch},
	{"batch-interrupted", interruptedBatch},
	{"batch-dryrun", dryRunBatch},
}

// TestBatchGolden renders every batch fixture in every format and
// compares with testdata/golden/<fixture>.<ext>; `go test ./report
// -update` rewrites them after a deliberate change.
func TestBatchGolden(t *testing.T) {
	for _, f := range batchFixtures {
		for _, g := range []struct {
			ext   string
			write func(*bytes.Buffer, *Batch) error
		}{
			{"json", func(w *bytes.Buffer, b *Batch) error { return WriteBatchJSON(w, b) }},
			{"csv", func(w *bytes.Buffer, b *Batch) error { return WriteBatchCSV(w, b) }},
			{"html", func(w *bytes.Buffer, b *Batch) error { return WriteBatchHTML(w, b) }},
			{"txt", func(w *bytes.Buffer, b *Batch) error { return WriteBatchSummary(w, b) }},
		} {
			name := f.name + "." + g.ext
			t.Run(name, func(t *testing.T) {
				var b bytes.Buffer
				if err := g.write(&b, f.batch()); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", "golden", name)
				if *update {
					if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./report -update to create it)", err)
				}
				if !bytes.Equal(b.Bytes(), want) {
					t.Errorf("%s differs from the golden file (run go test ./report -update and review the diff):\n%s", name, firstDiff(want, b.Bytes()))
				}
			})
		}
	}
}

// The CSV summary, read back as a spreadsheet would, has the numbers of
// the JSON summary, decoded by its documented field names, for every row;
// and its column sums are the JSON totals.
func TestBatchCSVMatchesJSON(t *testing.T) {
	for _, f := range batchFixtures {
		t.Run(f.name, func(t *testing.T) {
			b := f.batch()
			var js, cs bytes.Buffer
			if err := WriteBatchJSON(&js, b); err != nil {
				t.Fatal(err)
			}
			if err := WriteBatchCSV(&cs, b); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Mailboxes []map[string]any `json:"mailboxes"`
				Totals    map[string]any   `json:"totals"`
			}
			if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&cs).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(doc.Mailboxes)+1 {
				t.Fatalf("%d CSV rows for %d mailboxes", len(recs)-1, len(doc.Mailboxes))
			}
			numeric := []string{"row", "line", "port", "found", "duplicates_in_source", "already_on_server", "to_upload", "uploaded",
				"skipped", "failed", "pending", "problems", "bytes", "bytes_to_upload", "bytes_uploaded", "duration_seconds"}
			sums := make(map[string]float64)
			for i, m := range doc.Mailboxes {
				row := make(map[string]string)
				for j, h := range recs[0] {
					row[h] = recs[i+1][j]
				}
				for _, col := range numeric {
					v, err := strconv.ParseFloat(row[col], 64)
					if err != nil {
						t.Fatalf("row %d: %s %q is not a number", i+1, col, row[col])
					}
					jv, ok := m[col].(float64)
					if !ok || jv != v {
						t.Errorf("row %d: %s is %v in the CSV, %v in the JSON", i+1, col, v, m[col])
					}
					sums[col] += v
				}
				for _, col := range []string{"status", "host", "tls"} {
					if row[col] != m[col] {
						t.Errorf("row %d: %s is %q in the CSV, %q in the JSON", i+1, col, row[col], m[col])
					}
				}
				if strings.TrimPrefix(row["user"], "'") != m["user"] {
					t.Errorf("row %d: user %q in the CSV, %q in the JSON", i+1, row["user"], m["user"])
				}
			}
			for _, col := range []string{"found", "already_on_server", "to_upload", "uploaded", "failed", "bytes_uploaded", "pending", "problems"} {
				if sums[col] != doc.Totals[col] {
					t.Errorf("the CSV's %s sum to %v, the JSON total is %v", col, sums[col], doc.Totals[col])
				}
			}
		})
	}
}

func TestBatchJSONRoundTrip(t *testing.T) {
	for _, f := range batchFixtures {
		b := f.batch()
		var buf bytes.Buffer
		if err := WriteBatchJSON(&buf, b); err != nil {
			t.Fatal(err)
		}
		got, err := ReadBatchJSON(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, b) {
			t.Errorf("%s: read back differs:\n got %+v\nwant %+v", f.name, got, b)
		}
	}
}

func TestBatchRecount(t *testing.T) {
	b := mixedBatch()
	want := BatchTotals{Mailboxes: 5, ByStatus: BatchStatuses{Complete: 3, Incomplete: 1, Failed: 1}, Problems: 1}
	want.Found = 1204 + 310 + 77 + 2
	want.Uploaded = 1199 + 308 + 2
	want.Failed = 2
	if got := b.Totals; got.Mailboxes != want.Mailboxes || got.ByStatus != want.ByStatus || got.Found != want.Found ||
		got.Uploaded != want.Uploaded || got.Failed != want.Failed || got.Problems != want.Problems || got.ByStatus.Unfinished() != 2 {
		t.Errorf("totals %+v, want %+v", got, want)
	}
	if got := interruptedBatch().Totals; got.ByStatus != (BatchStatuses{Complete: 1, Interrupted: 1, NotRun: 2}) || got.Pending != 488 {
		t.Errorf("interrupted totals %+v", got)
	}
}

// What an account name or a reason holds cannot reach the terminal as
// control characters, a spreadsheet as a formula, or the page as markup;
// the page allows itself its own style sheet and nothing else.
func TestBatchWritersNeutraliseNames(t *testing.T) {
	b := mixedBatch()
	b.Mailboxes[1].User = "bob\x1b[31m"
	b.Mailboxes[1].Reason = "line\nbreak <img src=x onerror=alert(1)>"
	var txt, cs, page0 bytes.Buffer
	if err := WriteBatchSummary(&txt, b); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(txt.String(), "\x1b") || !strings.Contains(txt.String(), "bob?[31m") {
		t.Errorf("the terminal summary passes control characters:\n%q", txt.String())
	}
	if err := WriteBatchCSV(&cs, b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cs.String(), ",'=erin,") {
		t.Errorf("the CSV does not neutralise the formula-like user \"=erin\":\n%s", cs.String())
	}
	if err := WriteBatchHTML(&page0, b); err != nil {
		t.Fatal(err)
	}
	page := page0.String()
	if strings.Contains(page, "<img src=x") || !strings.Contains(page, "&lt;img src=x") {
		t.Errorf("the page does not escape a reason")
	}
	if strings.Contains(interruptedHTML(t), "<script>dave") {
		t.Errorf("the page does not escape a user name")
	}
	if externalRef.MatchString(page) || strings.Contains(page, "<script") {
		t.Errorf("the page refers to the network or runs a script")
	}
	m := regexp.MustCompile(`<style>([\s\S]*?)</style>`).FindStringSubmatch(page)
	csp := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`).FindStringSubmatch(page)
	if m == nil || csp == nil {
		t.Fatalf("no style sheet or no Content-Security-Policy")
	}
	if p := html.UnescapeString(csp[1]); !strings.Contains(p, "style-src '"+cspHash(m[1])+"';") || !strings.HasPrefix(p, "default-src 'none';") || !strings.Contains(p, "script-src 'none';") {
		t.Errorf("the Content-Security-Policy %q does not allow exactly the page's style sheet", p)
	}
	// Each row's report is linked, relative to the summary.
	if !strings.Contains(page, `<a href="001-alice@mail.example.org.html"`) {
		t.Errorf("row 1's report is not linked")
	}
}

func interruptedHTML(t *testing.T) string {
	var b bytes.Buffer
	if err := WriteBatchHTML(&b, interruptedBatch()); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestWriteBatchFile(t *testing.T) {
	dir := t.TempDir()
	b := mixedBatch()
	for _, name := range []string{"batch.json", "batch.csv", "batch.html"} {
		p := filepath.Join(dir, name)
		if err := WriteBatchFile(p, b); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(p)
		want, _ := os.ReadFile(filepath.Join("testdata", "golden", "batch-mixed"+filepath.Ext(name)))
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not the golden batch-mixed%s", name, filepath.Ext(name))
		}
	}
	if err := WriteBatchFile(filepath.Join(dir, "batch.md"), b); err == nil {
		t.Errorf("a .md batch summary was written")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*")); len(m) > 0 {
		t.Errorf("temporary files left: %q", m)
	}
}

// The batch page in Chromium: the headline, the status, the figures and a
// row per mailbox with its status, where the page says they are, and no
// request leaves the page.
func TestBatchHTMLInBrowser(t *testing.T) {
	bin := chromium(t)
	proxy := newRecordingProxy(t)
	dir := t.TempDir()
	for _, f := range batchFixtures {
		t.Run(f.name, func(t *testing.T) {
			b := f.batch()
			path := filepath.Join(dir, f.name+".html")
			if err := WriteBatchFile(path, b); err != nil {
				t.Fatal(err)
			}
			proxy.reset()
			out := runChromium(t, bin, proxy, path, "--dump-dom")
			if seen := proxy.pageRequests(); len(seen) > 0 {
				t.Errorf("the page made requests: %q", seen)
			}
			doc, err := parseDOM(out)
			if err != nil {
				t.Fatal(err)
			}
			if h := doc.byID("headline"); h == nil || h.text() != batchHeadline(b) {
				t.Errorf("#headline is %q, want %q", textOf(h), batchHeadline(b))
			}
			if s := doc.byID("status"); s == nil || s.attr["data-status"] != b.Status {
				t.Errorf("#status does not say %q", b.Status)
			}
			figs := map[string]int64{"mailboxes": int64(len(b.Mailboxes)), "not_finished": int64(b.Totals.ByStatus.Unfinished()), "found": int64(b.Totals.Found)}
			if b.DryRun {
				figs["to_upload"] = int64(b.Totals.ToUpload)
			} else {
				figs["uploaded"] = int64(b.Totals.Uploaded)
			}
			for id, v := range figs {
				fig := doc.byID("fig-" + id)
				val := fig.find(func(n *node) bool { return n.hasClass("value") })
				if val == nil || val.attr["data-value"] != strconv.FormatInt(v, 10) {
					t.Errorf("figure %s: %q, want %d", id, textOf(val), v)
				}
			}
			rows := doc.byID("mailboxes").findAll(func(n *node) bool { return n.name == "tr" && n.attr["data-row"] != "" })
			if len(rows) != len(b.Mailboxes) {
				t.Fatalf("%d mailbox rows, want %d", len(rows), len(b.Mailboxes))
			}
			for i, r := range rows {
				m := b.Mailboxes[i]
				if r.attr["data-status"] != m.Status || !strings.Contains(r.text(), m.User) {
					t.Errorf("row %d: %q %q, want %q %q", i+1, r.attr["data-status"], r.text(), m.Status, m.User)
				}
			}
			problems := doc.byID("problems").findAll(func(n *node) bool { return n.name == "tr" && n.attr["data-row"] != "" })
			if len(problems) != b.Totals.ByStatus.Unfinished() {
				t.Errorf("%d rows in the not-finished list, want %d", len(problems), b.Totals.ByStatus.Unfinished())
			}
		})
	}
}
