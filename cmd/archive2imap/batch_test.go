package main

// Tests of batch: the CSV file (table tests and a fuzz target), the
// scheduler (rows of one account never at once), the failures file, an
// interrupted batch, and the acceptance test against a real
// Dovecot with ten accounts.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/internal/dovecottest"
	"github.com/archive2imap/archive2imap/internal/memimap"
	"github.com/archive2imap/archive2imap/report"
	"github.com/archive2imap/archive2imap/uploader"
)

// --- The batch file.

func TestParseBatch(t *testing.T) {
	t.Parallel()
	const dir = "/srv/team"
	type want struct {
		sources               []string
		host, user            string
		port                  int
		tls                   uploader.TLSMode
		password, token, fmap string
		prefix                string
	}
	cases := []struct {
		name    string
		in      string
		rows    []want
		bom     bool
		crlf    bool
		err     []string // parts of the error, which names the line
		errLine int
	}{
		{
			name: "written by hand in an editor: LF, the columns in the order of the help, defaults left empty",
			in: "source,host,port,tls,user,password_file,oauth2_token_file,folder_map,target_prefix\n" +
				"/home/alice/Mail,mail.example.org,,,alice,/etc/a2i/alice.pw,,,\n",
			rows: []want{{sources: []string{"/home/alice/Mail"}, host: "mail.example.org", user: "alice", port: 993, tls: uploader.TLSImplicit, password: "/etc/a2i/alice.pw"}},
		},
		{
			name: "LibreOffice Calc: columns in another order, every cell quoted, only the needed columns",
			in: `"user","password_file","host","source"` + "\n" +
				`"bob@example.org","pw/bob.txt","imap.example.org","archives/bob.mbox"` + "\n",
			rows: []want{{sources: []string{dir + "/archives/bob.mbox"}, host: "imap.example.org", user: "bob@example.org", port: 993, tls: uploader.TLSImplicit, password: dir + "/pw/bob.txt"}},
		},
		{
			name: `Excel for Windows "CSV UTF-8": byte order mark, CRLF line ends, non-ASCII cells`,
			in: "\ufeffsource,host,user,password_file\r\n" +
				"C:/Mail/Jürgen,mail.example.de,jürgen,C:/pw/jürgen.txt\r\n",
			bom: true, crlf: true,
			rows: []want{{sources: []string{dir + "/C:/Mail/Jürgen"}, host: "mail.example.de", user: "jürgen", port: 993, tls: uploader.TLSImplicit, password: dir + "/C:/pw/jürgen.txt"}},
		},
		{
			name: `RFC 4180 §2.6: a quoted cell holding ";" and "," is one cell; ";" then separates the sources`,
			in: "source,host,user,oauth2_token_file\n" +
				`"/mail/Smith, John/Inbox;old mail/2019 Archive; ;/mail/x.mbox",outlook.office365.com,john@example.com,tokens/john` + "\n",
			rows: []want{{sources: []string{"/mail/Smith, John/Inbox", dir + "/old mail/2019 Archive", "/mail/x.mbox"}, host: "outlook.office365.com", user: "john@example.com", port: 993, tls: uploader.TLSImplicit, token: dir + "/tokens/john"}},
		},
		{
			name: "relative paths (source, secret, folder map) are relative to the batch file's directory; absolute ones stay",
			in: "source,host,user,password_file,folder_map,target_prefix\n" +
				"./carol,h,carol,../secrets/carol,maps/carol.map,Old mail/2010\n",
			rows: []want{{sources: []string{dir + "/carol"}, host: "h", user: "carol", port: 993, tls: uploader.TLSImplicit, password: "/srv/secrets/carol", fmap: dir + "/maps/carol.map", prefix: "Old mail/2010"}},
		},
		{
			name: "as migrate: port 143 without tls is STARTTLS, tls none without port is 143, cells are trimmed and tls is any case",
			in: "source,host,port,tls,user,password_file\n" +
				"a, h ,143,,u,p\n" +
				"b,h,, NONE ,u,p\n" +
				"c,h,10993,implicit,u,p\n",
			rows: []want{
				{sources: []string{dir + "/a"}, host: "h", user: "u", port: 143, tls: uploader.TLSStartTLS, password: dir + "/p"},
				{sources: []string{dir + "/b"}, host: "h", user: "u", port: 143, tls: uploader.TLSNone, password: dir + "/p"},
				{sources: []string{dir + "/c"}, host: "h", user: "u", port: 10993, tls: uploader.TLSImplicit, password: dir + "/p"},
			},
		},
		{
			name: "Excel: rows of empty cells (a cleared spreadsheet row) are skipped, header names in any case with dashes",
			in: "Source,HOST,User,Password-File\n" +
				",,,\n" +
				"a,h,u,p\n" +
				" , , , \n",
			rows: []want{{sources: []string{dir + "/a"}, host: "h", user: "u", port: 993, tls: uploader.TLSImplicit, password: dir + "/p"}},
		},
		{
			name:    "an unknown column is named",
			in:      "source,host,user,password_file,quota\na,h,u,p,1G\n",
			err:     []string{`unknown column "quota"`, "the columns are: source, host"},
			errLine: 1,
		},
		{
			name:    `Excel in a German or French locale: ";"-separated, said so`,
			in:      "source;host;user;password_file\na;h;u;p\n",
			err:     []string{`unknown column "source;host;user;password_file"`, `separated by ";"`},
			errLine: 1,
		},
		{
			name:    "a column twice",
			in:      "source,host,user,password_file,Host\na,h,u,p,h\n",
			err:     []string{`column "host" appears twice`},
			errLine: 1,
		},
		{
			name:    "a header cell without a name",
			in:      "source,host,,user,password_file\na,h,x,u,p\n",
			err:     []string{"column 3 of the header has no name"},
			errLine: 1,
		},
		{
			name:    "no user column",
			in:      "source,host,password_file\na,h,p\n",
			err:     []string{`no "user" column`},
			errLine: 1,
		},
		{
			name:    "no secret column: a batch never asks",
			in:      "source,host,user\na,h,u\n",
			err:     []string{`no "password_file" or "oauth2_token_file" column`},
			errLine: 1,
		},
		{
			name:    "RFC 4180 §2.4: a row with fewer cells than the header",
			in:      "source,host,user,password_file\na,h,u,p\nb,h,u\n",
			err:     []string{"3 cells, but the header has 4 columns"},
			errLine: 3,
		},
		{
			name:    "RFC 4180 §2.4: a row with more cells than the header (an unquoted comma in a path)",
			in:      "source,host,user,password_file\n/mail/Smith, John,h,u,p\n",
			err:     []string{"5 cells, but the header has 4 columns"},
			errLine: 2,
		},
		{
			name:    "a row without source",
			in:      "source,host,user,password_file\na,h,u,p\n,h,u,p\n",
			err:     []string{"the source cell is empty"},
			errLine: 3,
		},
		{
			name:    "a row whose source is only separators",
			in:      "source,host,user,password_file\n ; ;,h,u,p\n",
			err:     []string{"the source cell names no path"},
			errLine: 2,
		},
		{
			name:    "a row without host",
			in:      "source,host,user,password_file\na,,u,p\n",
			err:     []string{"the host cell is empty"},
			errLine: 2,
		},
		{
			name:    "a row without user",
			in:      "host,source,user,password_file\nh,a, ,p\n",
			err:     []string{"the user cell is empty"},
			errLine: 2,
		},
		{
			name:    "both password_file and oauth2_token_file",
			in:      "source,host,user,password_file,oauth2_token_file\na,h,u,p,\nb,h,u,p,t\n",
			err:     []string{"both password_file and oauth2_token_file are set"},
			errLine: 3,
		},
		{
			name:    "neither password_file nor oauth2_token_file",
			in:      "source,host,user,password_file,oauth2_token_file\na,h,u,,\n",
			err:     []string{"no password_file or oauth2_token_file"},
			errLine: 2,
		},
		{
			name:    "a port that is a service name",
			in:      "source,host,port,user,password_file\na,h,imaps,u,p\n",
			err:     []string{`port "imaps" is not a port number`},
			errLine: 2,
		},
		{
			name:    "a tls word migrate does not know",
			in:      "source,host,tls,user,password_file\na,h,ssl,u,p\n",
			err:     []string{"tls:", "ssl"},
			errLine: 2,
		},
		{
			name:    `RFC 4180 §2.5: a bare " in an unquoted cell`,
			in:      "source,host,user,password_file\n/mail/\"old\",h,u,p\n",
			err:     []string{`bare "`},
			errLine: 2,
		},
		{
			name: "a quoted cell spanning lines: a later error names the right line",
			in: "source,host,user,password_file,target_prefix\n" +
				"a,h,u,p,\"two\nlines\"\n" +
				"b,h,,p,x\n",
			err:     []string{"the user cell is empty"},
			errLine: 4,
		},
		{
			name: "an empty file",
			in:   "",
			err:  []string{"team.csv is empty", "header row"},
		},
		{
			name: "a header and no rows",
			in:   "source,host,user,password_file\n,,,\n",
			err:  []string{"has a header but no rows"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bf, err := parseBatch(strings.NewReader(tc.in), "team.csv", dir)
			if tc.err != nil {
				if err == nil {
					t.Fatalf("parsed, want an error saying %q", tc.err)
				}
				if code := exitCode(err); code != exitUsage {
					t.Errorf("exit code %d for %v, want %d (usage)", code, err, exitUsage)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, "team.csv") {
					t.Errorf("error %q does not name the file first", msg)
				}
				if tc.errLine > 0 && !strings.HasPrefix(msg, fmt.Sprintf("team.csv line %d: ", tc.errLine)) {
					t.Errorf("error %q does not name line %d", msg, tc.errLine)
				}
				for _, w := range tc.err {
					if !strings.Contains(msg, w) {
						t.Errorf("error %q does not say %q", msg, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if bf.bom != tc.bom || bf.crlf != tc.crlf {
				t.Errorf("bom %v crlf %v, want %v %v", bf.bom, bf.crlf, tc.bom, tc.crlf)
			}
			if len(bf.rows) != len(tc.rows) {
				t.Fatalf("%d rows, want %d", len(bf.rows), len(tc.rows))
			}
			for i, w := range tc.rows {
				r := bf.rows[i]
				got := want{r.sources, r.host, r.user, r.port, r.tls, r.passwordFile, r.oauth2TokenFile, r.folderMap, r.targetPrefix}
				if fmt.Sprint(got) != fmt.Sprint(w) {
					t.Errorf("row %d:\n got %+v\nwant %+v", i+1, got, w)
				}
				if r.num != i+1 {
					t.Errorf("row %d is numbered %d", i+1, r.num)
				}
			}
		})
	}
}

// The line numbers and row numbers of rows after skipped empty rows and
// multi-line cells, and the failures file's encoding: the same header and
// cells, byte for byte in the input's format.
func TestBatchFileRowsUnchanged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in string }{
		{"LF, as written by hand", "user , Source,host,password_file\n" +
			"alice,\"/mail/Smith, John;old\",h,p\n" +
			",,,\n" +
			"bob,\"a \"\"quoted\"\" name\",h,\"two\nlines\"\n" +
			"carol,c,h,p\n"},
		{"Excel: byte order mark and CRLF", "\ufeffuser,source,host,password_file\r\n" +
			"alice,\"/mail/Smith, John;old\",h,p\r\n" +
			",,,\r\n" +
			"bob,\"a \"\"quoted\"\" name\",h,\"two\r\nlines\"\r\n" +
			"carol,c,h,p\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bf, err := parseBatch(strings.NewReader(tc.in), "team.csv", "/d")
			if err != nil {
				t.Fatal(err)
			}
			var nums, lines []int
			for _, r := range bf.rows {
				nums, lines = append(nums, r.num), append(lines, r.line)
			}
			if !slices.Equal(nums, []int{1, 2, 3}) || !slices.Equal(lines, []int{2, 4, 6}) {
				t.Errorf("rows numbered %v on lines %v, want [1 2 3] on [2 4 6]", nums, lines)
			}
			// All the rows: the input again, less the empty row.
			all, err := bf.encode(bf.rows)
			if err != nil {
				t.Fatal(err)
			}
			nl := "\n"
			if bf.crlf {
				nl = "\r\n"
			}
			wantAll := strings.Replace(tc.in, ",,,"+nl, "", 1)
			if string(all) != wantAll {
				t.Errorf("rewritten:\n%q\nwant\n%q", all, wantAll)
			}
			// Some rows: the header and those rows' lines.
			some, err := bf.encode([]*batchRow{bf.rows[1]})
			if err != nil {
				t.Fatal(err)
			}
			ls := strings.SplitAfter(tc.in, nl)
			if want := ls[0] + ls[3] + ls[4]; string(some) != want {
				t.Errorf("row 2 alone:\n%q\nwant\n%q", some, want)
			}
		})
	}
}

func TestFailuresPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"team.csv":                      "team.failures.csv",
		"/srv/a2i/Team 2024.CSV":        "/srv/a2i/Team 2024.failures.csv",
		"team.txt":                      "team.txt.failures.csv",
		"team.failures.csv":             "team.failures.csv", // rewritten in place
		"/x/team.failures.CSV":          "/x/team.failures.CSV",
		"dir.csv/mailboxes":             "dir.csv/mailboxes.failures.csv",
		"../helpdesk/2024-06-batch.csv": "../helpdesk/2024-06-batch.failures.csv",
	} {
		if got := failuresPath(in); got != want {
			t.Errorf("failuresPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseBatch: any input either fails with a usage error that names the
// file, or gives rows that are complete (source, host, user, exactly one
// secret, a port, a known TLS mode) and that the failures file writes
// back so that parsing it again gives the same rows.
func FuzzParseBatch(f *testing.F) {
	f.Add("source,host,port,tls,user,password_file,oauth2_token_file,folder_map,target_prefix\n/m,h,,,u,p,,,\n")
	f.Add("\ufeffuser,source,host,password_file\r\nalice,\"/a, b;c\",h,p\r\n,,,\r\nbob,\"x\r\ny\",h,p\r\n")
	f.Add("source;host;user;password_file\na;h;u;p\n")
	f.Add("source,host,user,oauth2_token_file,port,tls\na,h,u,t,143,\nb,h,u,t,,none\n")
	f.Fuzz(func(t *testing.T, in string) {
		bf, err := parseBatch(strings.NewReader(in), "fuzz.csv", "/base")
		if err != nil {
			if exitCode(err) != exitUsage || !strings.HasPrefix(err.Error(), "fuzz.csv") && !strings.HasPrefix(err.Error(), "batch file fuzz.csv") {
				t.Fatalf("error %q (exit %d): want a usage error naming the file", err, exitCode(err))
			}
			return
		}
		for _, r := range bf.rows {
			if len(r.sources) == 0 || r.host == "" || r.user == "" || (r.passwordFile == "") == (r.oauth2TokenFile == "") ||
				r.port < 1 || r.port > 65535 || (r.tls != uploader.TLSImplicit && r.tls != uploader.TLSStartTLS && r.tls != uploader.TLSNone) {
				t.Fatalf("incomplete row %+v", r)
			}
			for _, s := range r.sources {
				if !filepath.IsAbs(s) {
					t.Fatalf("source %q not resolved", s)
				}
			}
			if len(r.record) != len(bf.header) {
				t.Fatalf("row %d keeps %d cells, header %d", r.num, len(r.record), len(bf.header))
			}
		}
		out, err := bf.encode(bf.rows)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseBatch(bytes.NewReader(out), "fuzz.csv", "/base")
		if err != nil {
			t.Fatalf("the rewritten file does not parse: %v\n%q", err, out)
		}
		if len(again.rows) != len(bf.rows) {
			t.Fatalf("%d rows rewritten, %d read back", len(bf.rows), len(again.rows))
		}
		for i := range bf.rows {
			a, b := bf.rows[i], again.rows[i]
			if !slices.Equal(a.record, b.record) || !slices.Equal(a.sources, b.sources) || a.host != b.host || a.port != b.port || a.tls != b.tls {
				t.Fatalf("row %d changed by the rewrite:\n%+v\n%+v", i+1, a, b)
			}
		}
	})
}

// --- Helpers for batch runs.

// batchMbox is an mbox of n messages whose Message-IDs are
// <prefix-1@batch.test>...; it returns the text and the IDs.
func batchMbox(prefix string, n int) (string, []string) {
	var b strings.Builder
	var ids []string
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("%s-%d@batch.test", prefix, i)
		ids = append(ids, id)
		fmt.Fprintf(&b, "From sender@example.org Mon Jan  %d 10:00:00 2024\n", i)
		fmt.Fprintf(&b, "From: Sender <sender@example.org>\nTo: someone@example.org\nSubject: %s message %d\n", prefix, i)
		fmt.Fprintf(&b, "Date: Mon, %d Jan 2024 10:00:00 +0000\nMessage-ID: <%s>\n\nBody of %s message %d.\n\n", i, id, prefix, i)
	}
	return b.String(), ids
}

// batchTree writes a small Thunderbird tree (Inbox 3, Sent 2, Projects 1,
// Projects/2024 1 messages) into dir, and returns where each Message-ID
// must land on a Dovecot server (its folder names).
func batchTree(t testing.TB, dir, prefix string) map[string]string {
	t.Helper()
	want := make(map[string]string)
	for _, f := range []struct {
		file, box string
		n         int
	}{{"Inbox", "INBOX", 3}, {"Sent", "Sent", 2}, {"Projects", "Projects", 1}, {"Projects.sbd/2024", "Projects/2024", 1}} {
		text, ids := batchMbox(prefix+"-"+strings.ReplaceAll(f.box, "/", "-"), f.n)
		p := filepath.Join(dir, filepath.FromSlash(f.file))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, text)
		for _, id := range ids {
			want[id] = f.box
		}
	}
	return want
}

var messageIDRe = regexp.MustCompile(`(?im)^Message-ID:[ \t]*<([^>]+)>`)

// checkAccount checks that every message of want (Message-ID -> mailbox)
// is on the account exactly once, in its mailbox, and that nothing else
// is; it returns the account's snapshot.
func checkAccount(t testing.TB, addr, user, password string, want map[string]string) map[string]*serverBox {
	t.Helper()
	c := imapLogin(t, addr, user, password)
	snap := snapshot(t, c)
	c.Logout().Wait()
	got := make(map[string][]string)
	for name, b := range snap {
		for _, m := range b.Msgs {
			id := ""
			if sm := messageIDRe.FindSubmatch(m.Data); sm != nil {
				id = string(sm[1])
			}
			got[id] = append(got[id], name)
		}
	}
	for id, box := range want {
		if boxes := got[id]; len(boxes) != 1 || boxes[0] != box {
			t.Errorf("%s: message <%s> is in %q, want once in %q", user, id, boxes, box)
		}
	}
	for id, boxes := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("%s: unexpected message <%s> in %q", user, id, boxes)
		}
	}
	return snap
}

// csvCells reads a CSV file into its records.
func csvCells(t testing.TB, path string) [][]string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// writeCSV writes records as a CSV file.
func writeCSV(t testing.TB, path string, recs [][]string) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(recs); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, path, b.String())
}

func readBatchSummary(t testing.TB, path string) *report.Batch {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the batch summary was not written: %v", err)
	}
	// Decoded strictly: a field the model does not have fails.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s report.Batch
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &s
}

// summaryCSVRows reads batch.csv into maps keyed by column, one per row.
func summaryCSVRows(t testing.TB, path string) []map[string]string {
	t.Helper()
	recs := csvCells(t, path)
	if len(recs) == 0 || !slices.Equal(recs[0], report.BatchCSVHeader) {
		t.Fatalf("%s: header %q, want %q", path, recs[0], report.BatchCSVHeader)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := make(map[string]string)
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// checkSummaryFiles checks that batch.json, batch.csv, batch.html and
// the table on standard output tell the same story: the same rows with
// the same statuses and counters. It returns the JSON summary.
func checkSummaryFiles(t testing.TB, dir, stdout string) *report.Batch {
	t.Helper()
	b := readBatchSummary(t, filepath.Join(dir, "batch.json"))
	rows := summaryCSVRows(t, filepath.Join(dir, "batch.csv"))
	if len(rows) != len(b.Mailboxes) {
		t.Fatalf("batch.csv has %d rows, batch.json %d mailboxes", len(rows), len(b.Mailboxes))
	}
	for i, m := range b.Mailboxes {
		r := rows[i]
		for col, v := range map[string]int{"row": m.Row, "found": m.Found, "to_upload": m.ToUpload, "uploaded": m.Uploaded,
			"already_on_server": m.AlreadyOnServer, "failed": m.Failed, "problems": m.Problems} {
			if r[col] != strconv.Itoa(v) {
				t.Errorf("row %d: batch.csv %s = %q, batch.json %d", m.Row, col, r[col], v)
			}
		}
		if r["status"] != m.Status || r["user"] != m.User || r["reason"] != m.Reason || r["bytes_uploaded"] != strconv.FormatInt(m.BytesUploaded, 10) {
			t.Errorf("row %d: batch.csv %q/%q/%q/%q, batch.json %q/%q/%q/%d", m.Row, r["status"], r["user"], r["reason"], r["bytes_uploaded"], m.Status, m.User, m.Reason, m.BytesUploaded)
		}
	}
	html, err := os.ReadFile(filepath.Join(dir, "batch.html"))
	if err != nil {
		t.Fatal(err)
	}
	trs := regexp.MustCompile(`<tr class="st-[^"]*" data-row="(\d+)" data-status="([^"]*)">`).FindAllStringSubmatch(string(html), -1)
	if len(trs) != len(b.Mailboxes) {
		t.Errorf("batch.html lists %d mailboxes, batch.json %d", len(trs), len(b.Mailboxes))
	}
	for i, tr := range trs {
		if i < len(b.Mailboxes) && (tr[1] != strconv.Itoa(b.Mailboxes[i].Row) || tr[2] != b.Mailboxes[i].Status) {
			t.Errorf("batch.html row %s is %q, batch.json row %d is %q", tr[1], tr[2], b.Mailboxes[i].Row, b.Mailboxes[i].Status)
		}
	}
	tables := parseTables(stdout, "ROW")
	if len(tables) != 1 {
		t.Fatalf("standard output has %d summary tables, want 1:\n%s", len(tables), stdout)
	}
	for _, m := range b.Mailboxes {
		r := tables[0].row(t, strconv.Itoa(m.Row))
		if r["STATUS"] != m.Status || r["USER"] != m.User || atoi(t, r["FOUND"]) != m.Found {
			t.Errorf("the table's row %d: %q %q %s found; batch.json: %q %q %d", m.Row, r["USER"], r["STATUS"], r["FOUND"], m.User, m.Status, m.Found)
		}
	}
	return b
}

// rowLogLines counts the log lines of each row number on standard error:
// its start and its end.
func rowLogLines(stderr string) (starts, ends map[int]int) {
	starts, ends = make(map[int]int), make(map[int]int)
	re := regexp.MustCompile(`^row (\d+) \S+: (started|complete|incomplete|failed|interrupted) `)
	for _, l := range lines(stderr) {
		if m := re.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			if m[2] == "started" {
				starts[n]++
			} else {
				ends[n]++
			}
		}
	}
	return starts, ends
}

// --- Runs against the in-process server.

func TestBatchUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := fmt.Sprint(freeClosedPort(t))
	pw := writeFile(t, filepath.Join(dir, "pw"), "hunter2\n")
	good := writeFile(t, filepath.Join(dir, "good.csv"), "source,host,port,tls,user,password_file\n"+sampleDir(t)+",127.0.0.1,"+port+",none,alice,"+pw+"\n")
	bad := func(name, text string) string { return writeFile(t, filepath.Join(dir, name), text) }
	cases := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"no file", []string{"batch"}, []string{"missing FILE.csv"}},
		{"two files", []string{"batch", good, good}, []string{"one batch file at a time"}},
		{"--parallel 9", []string{"batch", good, "--parallel", "9"}, []string{"--parallel: want 1 to 8"}},
		{"--parallel 0", []string{"batch", good, "--parallel", "0"}, []string{"--parallel: want 1 to 8"}},
		{"--connections 0", []string{"batch", good, "--connections", "0"}, []string{"--connections"}},
		{"--dedupe bogus", []string{"batch", good, "--dedupe", "bogus"}, []string{"--dedupe"}},
		{"--mbox-timezone bogus", []string{"batch", good, "--mbox-timezone", "Mars/Olympus"}, []string{"--mbox-timezone"}},
		{"--password", []string{"batch", good, "--password", "hunter2"}, []string{"there is no --password flag"}},
		{"missing batch file", []string{"batch", filepath.Join(dir, "gone.csv")}, []string{"batch file", "gone.csv", "no such file"}},
		{"unknown column", []string{"batch", bad("unknown.csv", "source,host,user,password_file,pasword\na,h,u,p,x\n")}, []string{"unknown.csv line 1", `unknown column "pasword"`}},
		{"wrong cell count on line 3", []string{"batch", bad("cells.csv", "source,host,port,tls,user,password_file\n"+sampleDir(t)+",127.0.0.1,"+port+",none,alice,"+pw+"\nb,h,u\n")}, []string{"cells.csv line 3", "3 cells"}},
		{"both secrets", []string{"batch", bad("both.csv", "source,host,user,password_file,oauth2_token_file\na,h,u,p,t\n")}, []string{"both.csv line 2", "both password_file and oauth2_token_file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := runInProcess(t, nil, tc.args...)
			checkErrorLine(t, o, exitUsage, tc.wants...)
			if o.stdout != "" {
				t.Errorf("something ran (standard output):\n%s", o)
			}
			if strings.Contains(o.stderr, "hunter2") {
				t.Errorf("the error repeats the password:\n%s", o)
			}
		})
	}
	// Nothing ran, so no failures file was written for any of them.
	if m, _ := filepath.Glob(filepath.Join(dir, "*.failures.csv")); len(m) > 0 {
		t.Errorf("a refused batch wrote %q", m)
	}
}

func TestBatchHelp(t *testing.T) {
	t.Parallel()
	o := runInProcess(t, nil, "batch", "--help")
	if o.code != 0 {
		t.Fatalf("want exit 0:\n%s", o)
	}
	for _, w := range append(slices.Clone(batchColumns), "FILE.failures.csv", "--parallel", "--report-dir", "--dry-run", "never asks", "relative to the CSV file's directory") {
		if !strings.Contains(o.stdout, w) {
			t.Errorf("batch --help does not mention %q", w)
		}
	}
}

// Two rows of one account with --parallel 2 run one after the other (the
// per-mailbox reports' times do not overlap, and neither was refused by
// the account lock), while a row of another account runs beside the
// first: the scheduler skips a busy account instead of waiting.
func TestBatchSameAccountSerialized(t *testing.T) {
	t.Parallel()
	slow := func(string, int64) error { time.Sleep(25 * time.Millisecond); return nil }
	a := startMemIMAP(t, memimap.Options{User: "alice", Password: "pw-alice", Refuse: slow})
	b := startMemIMAP(t, memimap.Options{User: "bob", Password: "pw-bob", Refuse: slow})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "alice.pw"), "pw-alice\n")
	writeFile(t, filepath.Join(dir, "bob.pw"), "pw-bob\n")
	text, _ := batchMbox("second", 8)
	writeFile(t, filepath.Join(dir, "Second"), text)
	csvPath := writeCSV(t, filepath.Join(dir, "team.csv"), [][]string{
		{"source", "host", "port", "tls", "user", "password_file"},
		{sampleDir(t), "127.0.0.1", fmt.Sprint(a.Port()), "none", "alice", "alice.pw"},
		{"Second", "127.0.0.1", fmt.Sprint(a.Port()), "none", "alice", "alice.pw"},
		{sampleDir(t), "127.0.0.1", fmt.Sprint(b.Port()), "none", "bob", "bob.pw"},
	})
	reports := filepath.Join(dir, "reports")
	o := runInProcess(t, nil, "batch", csvPath, "--parallel", "2", "--report-dir", reports)
	if o.code != exitOK {
		t.Fatalf("want exit 0:\n%s", o)
	}
	checkNoTrace(t, o)
	type span struct{ start, end time.Time }
	spans := make(map[int]span)
	for _, n := range []int{1, 2, 3} {
		user := "alice"
		if n == 3 {
			user = "bob"
		}
		rep := readReport(t, filepath.Join(reports, fmt.Sprintf("%03d-%s@127.0.0.1.json", n, user)))
		if rep.Status != "complete" || rep.Totals.Uploaded == 0 {
			t.Errorf("row %d: status %q (%s), %d uploaded; want complete with uploads", n, rep.Status, rep.StatusText, rep.Totals.Uploaded)
		}
		var raw struct{ Started, Finished time.Time }
		b, _ := os.ReadFile(filepath.Join(reports, fmt.Sprintf("%03d-%s@127.0.0.1.json", n, user)))
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		spans[n] = span{raw.Started, raw.Finished}
	}
	s1, s2, s3 := spans[1], spans[2], spans[3]
	if s2.start.Before(s1.end) {
		t.Errorf("rows 1 and 2 (one account) overlap: row 1 ran %v-%v, row 2 from %v", s1.start.Format(time.StampMicro), s1.end.Format(time.StampMicro), s2.start.Format(time.StampMicro))
	}
	if !s3.start.Before(s1.end) {
		t.Errorf("row 3 (another account) waited for row 1: row 1 ran until %v, row 3 started %v", s1.end.Format(time.StampMicro), s3.start.Format(time.StampMicro))
	}
	summary := checkSummaryFiles(t, reports, o.stdout)
	if summary.Status != "complete" || summary.Totals.ByStatus.Complete != 3 || summary.Parallel != 2 {
		t.Errorf("summary: status %q, %d complete, parallel %d", summary.Status, summary.Totals.ByStatus.Complete, summary.Parallel)
	}
	// The second row's messages are all there once, beside the sample's.
	c := imapLogin(t, a.Addr, "alice", "pw-alice")
	n := 0
	for _, box := range snapshot(t, c) {
		for _, m := range box.Msgs {
			if bytes.Contains(m.Data, []byte("@batch.test>")) {
				n++
			}
		}
	}
	if n != 8 {
		t.Errorf("%d messages of row 2 on the server, want 8", n)
	}
}

// A row that cannot log in (its password file is missing) goes to the
// failures file, the others finish; a dry run writes no failures file; a
// rerun of the failures file once fixed finishes and deletes it; a stale
// failures file is deleted when the whole batch finishes. No secret in
// any output or file.
func TestBatchFailuresFile(t *testing.T) {
	t.Parallel()
	const password = "Pw-batch-0f3c9a-secret"
	srv := startMemIMAP(t, memimap.Options{User: "alice", Password: password})
	other := startMemIMAP(t, memimap.Options{User: "bob", Password: password})
	dir := t.TempDir()
	team := filepath.Join(dir, "team")
	if err := os.MkdirAll(filepath.Join(team, "pw"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(team, "pw", "alice"), password+"\n")
	text, _ := batchMbox("bob", 4)
	writeFile(t, filepath.Join(team, "bob.mbox"), text)
	header := []string{"user", "source", "host", "port", "tls", "password_file", "target_prefix"}
	rows := [][]string{
		{"alice", sampleDir(t), "127.0.0.1", fmt.Sprint(srv.Port()), "none", "pw/alice", ""},
		{"bob", "bob.mbox", "127.0.0.1", fmt.Sprint(other.Port()), "none", "pw/bob", "Old mail"},
	}
	csvPath := writeCSV(t, filepath.Join(team, "team.csv"), append([][]string{header}, rows...))
	failures := filepath.Join(team, "team.failures.csv")
	var outs []outcome
	var files []string
	run := func(args ...string) outcome {
		t.Helper()
		o := runInProcess(t, nil, args...)
		checkNoTrace(t, o)
		outs = append(outs, o)
		return o
	}

	// --quiet: standard error is the one closing line.
	o := run("batch", csvPath, "--quiet", "--report-dir", filepath.Join(dir, "r1"))
	checkErrorLine(t, o, exitFailures, "1 of 2 mailboxes did not finish", "archive2imap batch "+failures)
	s := checkSummaryFiles(t, filepath.Join(dir, "r1"), o.stdout)
	if s.Mailboxes[0].Status != "complete" || s.Mailboxes[1].Status != "failed" || !strings.Contains(s.Mailboxes[1].Reason, "password_file") || !strings.Contains(s.Mailboxes[1].Reason, filepath.Join(team, "pw", "bob")) {
		t.Errorf("statuses %q %q, reason %q; want complete, failed saying which password_file", s.Mailboxes[0].Status, s.Mailboxes[1].Status, s.Mailboxes[1].Reason)
	}
	if s.FailuresFile != failures {
		t.Errorf("summary names the failures file %q, want %q", s.FailuresFile, failures)
	}
	if got := csvCells(t, failures); !slices.EqualFunc(got, [][]string{header, rows[1]}, slices.Equal) {
		t.Errorf("failures file:\n%q\nwant the header and row 2:\n%q", got, [][]string{header, rows[1]})
	}
	// (a copy: the failures file goes away below)
	fb, _ := os.ReadFile(failures)
	files = append(files, writeFile(t, filepath.Join(dir, "failures-copy.csv"), string(fb)))
	r1, _ := filepath.Glob(filepath.Join(dir, "r1", "*"))
	files = append(files, r1...)

	// A dry run finds the same row failing, and leaves the failures file
	// alone.
	before, _ := os.ReadFile(failures)
	st, _ := os.Stat(failures)
	o = run("batch", csvPath, "--dry-run", "--quiet", "--report-dir", filepath.Join(dir, "dry"))
	checkErrorLine(t, o, exitFailures, "1 of 2 mailboxes could not be planned")
	after, _ := os.ReadFile(failures)
	st2, _ := os.Stat(failures)
	if !bytes.Equal(before, after) || !st.ModTime().Equal(st2.ModTime()) {
		t.Errorf("the dry run changed the failures file")
	}
	if d := checkSummaryFiles(t, filepath.Join(dir, "dry"), o.stdout); !d.DryRun || d.FailuresFile != "" || d.Mailboxes[0].Status != "complete" || d.Mailboxes[0].Uploaded != 0 || d.Mailboxes[0].AlreadyOnServer == 0 {
		t.Errorf("dry run summary: dry_run %v, failures file %q, row 1 %q uploaded %d already %d", d.DryRun, d.FailuresFile, d.Mailboxes[0].Status, d.Mailboxes[0].Uploaded, d.Mailboxes[0].AlreadyOnServer)
	}
	dryFiles, _ := filepath.Glob(filepath.Join(dir, "dry", "*"))
	files = append(files, dryFiles...)

	// Fixed, the failures file is rerun: it finishes and is deleted.
	writeFile(t, filepath.Join(team, "pw", "bob"), password+"\n")
	o = run("batch", failures, "--report-dir", filepath.Join(dir, "r2"))
	if o.code != exitOK {
		t.Fatalf("rerun of the failures: want exit 0:\n%s", o)
	}
	if s := checkSummaryFiles(t, filepath.Join(dir, "r2"), o.stdout); len(s.Mailboxes) != 1 || s.Mailboxes[0].User != "bob" || s.Mailboxes[0].Status != "complete" || s.Mailboxes[0].Uploaded != 4 {
		t.Errorf("rerun summary: %+v", s.Mailboxes)
	}
	if _, err := os.Stat(failures); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failures file is still there after every row of it finished (%v)", err)
	}
	r2, _ := filepath.Glob(filepath.Join(dir, "r2", "*"))
	files = append(files, r2...)
	c := imapLogin(t, other.Addr, "bob", password)
	for name, box := range snapshot(t, c) {
		if len(box.Msgs) > 0 && name != "Old mail/bob" {
			t.Errorf("bob's messages went to %q, want under the target_prefix %q", name, "Old mail")
		}
	}

	// A stale failures file goes when the whole batch finishes.
	writeFile(t, failures, strings.Join(header, ",")+"\n"+strings.Join(rows[0], ",")+"\n")
	o = run("batch", csvPath)
	if o.code != exitOK {
		t.Fatalf("want exit 0:\n%s", o)
	}
	if _, err := os.Stat(failures); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a stale failures file survived a batch where every row finished (%v)", err)
	}
	if !strings.Contains(o.stderr, "removed "+failures) {
		t.Errorf("the removal is not said:\n%s", o)
	}
	if tt := parseTables(o.stdout, "ROW"); len(tt) != 1 || tt[0].row(t, "TOTAL")["UPLOADED"] != "0" {
		t.Errorf("the run after everything was there uploaded something:\n%s", o.stdout)
	}
	checkNoSecret(t, "alice", password, outs, files)
	checkNoSecret(t, "bob", password, outs, nil)
}

// SIGINT stops starting rows, lets the running one stop as migrate does,
// and writes its report, the summary and the failures file: the running
// row interrupted, the others not run, all three to rerun; exit 130.
func TestBinaryBatchInterrupted(t *testing.T) {
	t.Parallel()
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := startMemIMAP(t, memimap.Options{User: "alice", Password: "pw-int", Refuse: func(string, int64) error {
		select {
		case held <- struct{}{}:
		default:
		}
		<-release
		return nil
	}})
	t.Cleanup(func() { close(release) })
	other := startMemIMAP(t, memimap.Options{User: "bob", Password: "pw-int"})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pw"), "pw-int\n")
	recs := [][]string{
		{"source", "host", "port", "tls", "user", "password_file"},
		{sampleDir(t), "127.0.0.1", fmt.Sprint(srv.Port()), "none", "alice", "pw"},
		{sampleDir(t), "127.0.0.1", fmt.Sprint(other.Port()), "none", "bob", "pw"},
		{sampleDir(t), "127.0.0.1", fmt.Sprint(other.Port()), "none", "bob", "pw"},
	}
	csvPath := writeCSV(t, filepath.Join(dir, "team.csv"), recs)
	reports := filepath.Join(dir, "reports")
	cmd := exec.Command(binPath, "batch", csvPath, "--parallel", "1", "--report-dir", reports)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatalf("no APPEND reached the server in 30s:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after SIGINT:\n%s", stderr.String())
	}
	o := outcome{args: cmd.Args[1:], code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	if o.code != exitInterrupted {
		t.Fatalf("exit code %d after SIGINT, want %d:\n%s", o.code, exitInterrupted, o)
	}
	checkNoTrace(t, o)
	if l := lines(o.stderr); len(l) == 0 || l[len(l)-1] != "archive2imap: interrupted" {
		t.Errorf("the last line on standard error is not \"archive2imap: interrupted\":\n%s", o)
	}
	s := checkSummaryFiles(t, reports, o.stdout)
	got := []string{s.Status}
	for _, m := range s.Mailboxes {
		got = append(got, m.Status)
	}
	if want := []string{"interrupted", "interrupted", "not run", "not run"}; !slices.Equal(got, want) {
		t.Errorf("batch and row statuses %q, want %q", got, want)
	}
	if m := s.Mailboxes[0]; m.Uploaded >= m.ToUpload || !strings.Contains(m.Reason, "before the stop") {
		t.Errorf("row 1: %d of %d uploaded, reason %q", m.Uploaded, m.ToUpload, m.Reason)
	}
	rep := readReport(t, filepath.Join(reports, "001-alice@127.0.0.1.json"))
	if rep.Status != "interrupted" {
		t.Errorf("row 1's report: status %q, want interrupted", rep.Status)
	}
	for _, n := range []string{"002", "003"} {
		if m, _ := filepath.Glob(filepath.Join(reports, n+"-*")); len(m) > 0 {
			t.Errorf("a row that did not run has report files %q", m)
		}
	}
	if got := csvCells(t, filepath.Join(dir, "team.failures.csv")); !slices.EqualFunc(got, recs, slices.Equal) {
		t.Errorf("failures file:\n%q\nwant every row:\n%q", got, recs)
	}
}

// --- The acceptance test, against a real Dovecot.

// Ten mailboxes, one real Dovecot with ten accounts, --parallel 3: one row
// with a wrong password, one whose source is partly unreadable (a
// Thunderbird folder that is a dangling symbolic link). The eight others
// complete, each message on its account once; the summary files list all
// ten with their statuses and reasons; the failures file holds exactly
// the two rows. Fixed, the failures file is rerun: both complete, and the
// eight other accounts are untouched.
func TestDovecotBatch(t *testing.T) {
	t.Parallel()
	skipShort(t)
	var users []dovecottest.User
	for i := 1; i <= 10; i++ {
		users = append(users, dovecottest.User{Name: fmt.Sprintf("user%02d", i), Password: fmt.Sprintf("Pw%02d-%s", i, randomHex(8))})
	}
	srv := dovecottest.Start(t, dovecottest.Options{Users: users})
	work := t.TempDir()
	team := filepath.Join(work, "team")
	for _, d := range []string{"pw", "mail"} {
		if err := os.MkdirAll(filepath.Join(team, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const badRow, brokenRow, twoSourceRow = 4, 7, 9
	const wrongPassword = "Wrong-password-4f1d"
	want := make(map[int]map[string]string) // row -> Message-ID -> mailbox
	header := []string{"user", "source", "host", "port", "tls", "password_file", "target_prefix", "folder_map", "oauth2_token_file"}
	recs := [][]string{header}
	for i, u := range users {
		row := i + 1
		want[row] = batchTree(t, filepath.Join(team, "mail", u.Name), u.Name)
		pw := u.Password
		if row == badRow {
			pw = wrongPassword
		}
		writeFile(t, filepath.Join(team, "pw", u.Name+".txt"), pw+"\n")
		source := "mail/" + u.Name
		switch row {
		case brokenRow:
			// Lost is a Thunderbird folder whose file is elsewhere, and
			// not there: the rest of the tree is readable.
			if err := os.Symlink(filepath.Join("..", u.Name+"-lost", "Lost"), filepath.Join(team, "mail", u.Name, "Lost")); err != nil {
				t.Fatal(err)
			}
		case twoSourceRow:
			text, ids := batchMbox(u.Name+"-old", 2)
			writeFile(t, filepath.Join(team, "mail", "old "+u.Name+".mbox"), text)
			for _, id := range ids {
				want[row][id] = "old " + u.Name
			}
			source += "; mail/old " + u.Name + ".mbox"
		}
		recs = append(recs, []string{u.Name, source, srv.Host, fmt.Sprint(srv.Port), "none", "pw/" + u.Name + ".txt", "", "", ""})
	}
	csvPath := writeCSV(t, filepath.Join(team, "team.csv"), recs)
	csvBytes, _ := os.ReadFile(csvPath)
	failures := filepath.Join(team, "team.failures.csv")
	reports1, reports2 := filepath.Join(work, "reports-1"), filepath.Join(work, "reports-2")
	var outs []outcome

	// 1. The batch, from another working directory (runBin's): relative
	// paths are the CSV file's.
	o := runBin(t, binRun{}, "batch", csvPath, "--parallel", "3", "--report-dir", reports1)
	outs = append(outs, o)
	checkNoTrace(t, o)
	if o.code != exitFailures {
		t.Fatalf("want exit 1:\n%s", o)
	}
	if l := lines(o.stderr); !strings.HasPrefix(l[len(l)-1], "archive2imap: 2 of 10 mailboxes did not finish") || !strings.HasSuffix(l[len(l)-1], "archive2imap batch "+failures) {
		t.Errorf("the last line does not say 2 of 10 did not finish and how to rerun them:\n%s", o)
	}
	starts, ends := rowLogLines(o.stderr)
	for row := 1; row <= 10; row++ {
		if starts[row] != 1 || ends[row] != 1 {
			t.Errorf("row %d: %d start and %d end log lines, want one each:\n%s", row, starts[row], ends[row], o.stderr)
		}
	}
	s := checkSummaryFiles(t, reports1, o.stdout)
	if len(s.Mailboxes) != 10 || s.Status != "incomplete" || s.Parallel != 3 || s.FailuresFile != failures {
		t.Fatalf("summary: %d mailboxes, status %q, parallel %d, failures file %q", len(s.Mailboxes), s.Status, s.Parallel, s.FailuresFile)
	}
	for _, m := range s.Mailboxes {
		n := len(want[m.Row])
		switch m.Row {
		case badRow:
			if m.Status != "failed" || !strings.Contains(m.Reason, "log in") || !strings.Contains(m.Reason, "AUTHENTICATIONFAILED") || m.Found != 0 {
				t.Errorf("row %d (wrong password): %q, reason %q, found %d; want failed, saying the login was refused", m.Row, m.Status, m.Reason, m.Found)
			}
		case brokenRow:
			lost := filepath.Join(team, "mail", m.User, "Lost")
			if m.Status != "incomplete" || m.Problems != 1 || m.Uploaded != n || m.Failed != 0 ||
				!strings.Contains(m.Reason, "1 part of the source could not be read") || !strings.Contains(m.Reason, lost) {
				t.Errorf("row %d (dangling link): %q, %d problems, %d of %d uploaded, reason %q; want incomplete, the readable %d uploaded, the reason naming %s",
					m.Row, m.Status, m.Problems, m.Uploaded, n, m.Reason, n, lost)
			}
		default:
			if m.Status != "complete" || m.Reason != "" || m.Found != n || m.Uploaded != n || m.Failed != 0 || m.BytesUploaded == 0 {
				t.Errorf("row %d: %q (%s), found %d, uploaded %d; want complete, %d of %d", m.Row, m.Status, m.Reason, m.Found, m.Uploaded, n, n)
			}
		}
		if m.User != users[m.Row-1].Name || m.Line != m.Row+1 {
			t.Errorf("row %d is %s on line %d", m.Row, m.User, m.Line)
		}
		if wantSources := 1 + map[bool]int{true: 1}[m.Row == twoSourceRow]; len(m.Sources) != wantSources || !filepath.IsAbs(m.Sources[0]) {
			t.Errorf("row %d sources %q", m.Row, m.Sources)
		}
		// Its own reports, in JSON and HTML, say the same.
		base := fmt.Sprintf("%03d-%s@%s", m.Row, m.User, srv.Host)
		if !slices.Equal(m.Reports, []string{base + ".json", base + ".html"}) {
			t.Errorf("row %d reports %q", m.Row, m.Reports)
		}
		rep := readReport(t, filepath.Join(reports1, base+".json"))
		if rep.Status != m.Status || rep.Totals.Uploaded != m.Uploaded || rep.Server == nil || rep.Server.User != m.User {
			t.Errorf("row %d: its report says %q, %d uploaded, server %+v", m.Row, rep.Status, rep.Totals.Uploaded, rep.Server)
		}
		if _, err := os.Stat(filepath.Join(reports1, base+".html")); err != nil {
			t.Errorf("row %d: %v", m.Row, err)
		}
	}
	if got := csvCells(t, failures); !slices.EqualFunc(got, [][]string{header, recs[badRow], recs[brokenRow]}, slices.Equal) {
		t.Errorf("failures file:\n%q\nwant the header and rows %d and %d:\n%q", got, badRow, brokenRow, [][]string{header, recs[badRow], recs[brokenRow]})
	}
	// Every account: each readable message once, in its folder.
	snaps := make(map[int]map[string]*serverBox)
	for i, u := range users {
		row := i + 1
		w := want[row] // for the broken row: what was readable
		if row == badRow {
			w = nil
		}
		snaps[row] = checkAccount(t, srv.Addr(), u.Name, u.Password, w)
	}

	// 2. Fixed: the right password, and the missing folder's file.
	writeFile(t, filepath.Join(team, "pw", users[badRow-1].Name+".txt"), users[badRow-1].Password+"\n")
	lostText, lostIDs := batchMbox(users[brokenRow-1].Name+"-lost", 2)
	if err := os.MkdirAll(filepath.Join(team, "mail", users[brokenRow-1].Name+"-lost"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(team, "mail", users[brokenRow-1].Name+"-lost", "Lost"), lostText)
	for _, id := range lostIDs {
		want[brokenRow][id] = "Lost"
	}
	o = runBin(t, binRun{}, "batch", failures, "--parallel", "3", "--report-dir", reports2)
	outs = append(outs, o)
	if o.code != exitOK {
		t.Fatalf("the rerun of the failures file: want exit 0:\n%s", o)
	}
	checkNoTrace(t, o)
	s2 := checkSummaryFiles(t, reports2, o.stdout)
	if s2.Status != "complete" || len(s2.Mailboxes) != 2 || s2.FailuresFile != "" {
		t.Fatalf("rerun summary: status %q, %d mailboxes, failures file %q", s2.Status, len(s2.Mailboxes), s2.FailuresFile)
	}
	for i, row := range []int{badRow, brokenRow} {
		m := s2.Mailboxes[i]
		wantUp := len(want[row])
		if row == brokenRow {
			wantUp = len(lostIDs)
		}
		if m.Row != i+1 || m.User != users[row-1].Name || m.Status != "complete" || m.Uploaded != wantUp || m.Found != len(want[row]) {
			t.Errorf("rerun row %d (%s): %q, found %d, uploaded %d; want complete, %d found, %d uploaded", m.Row, m.User, m.Status, m.Found, m.Uploaded, len(want[row]), wantUp)
		}
	}
	if _, err := os.Stat(failures); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failures file is still there, though every row of it finished (%v)", err)
	}
	if b, _ := os.ReadFile(csvPath); !bytes.Equal(b, csvBytes) {
		t.Errorf("the batch file changed")
	}
	for i, u := range users {
		row := i + 1
		after := checkAccount(t, srv.Addr(), u.Name, u.Password, want[row])
		if row != badRow && row != brokenRow {
			checkUnchanged(t, fmt.Sprintf("the rerun of the failures (account %s)", u.Name), snaps[row], after)
		}
	}

	// 3. No password, right or wrong, in any output or file.
	var files []string
	for _, d := range []string{reports1, reports2} {
		m, _ := filepath.Glob(filepath.Join(d, "*"))
		files = append(files, m...)
	}
	if len(files) < 2*10+2*2 {
		t.Errorf("only %d report files", len(files))
	}
	for _, u := range users {
		checkNoSecret(t, u.Name, u.Password, outs, files)
	}
	checkNoSecret(t, users[badRow-1].Name, wrongPassword, outs, files)
}

// A row stopped at its daily budget says so, with when to run it again,
// not just how many messages went before "the stop".
func TestRowReasonBudget(t *testing.T) {
	rep := &report.Report{Status: report.StatusInterrupted, Folders: []report.Folder{{Source: "INBOX"}}}
	rep.Totals.Uploaded, rep.Totals.ToUpload = 3, 10
	resume := time.Date(2026, 12, 3, 14, 5, 0, 0, time.Local)
	err := fmt.Errorf("upload: %w", &uploader.BudgetError{PerDay: 500_000_000, Used: 499_000_000, ResumeAt: resume})
	got := rowReason(rep, err, nil)
	for _, want := range []string{"daily upload budget", "3 of 10 messages uploaded", "run the same command again after 2026-12-03 14:05"} {
		if !strings.Contains(got, want) {
			t.Errorf("reason %q does not say %q", got, want)
		}
	}
	if got := rowReason(rep, context.Canceled, nil); strings.Contains(got, "budget") {
		t.Errorf("an interrupted row's reason speaks of a budget: %q", got)
	}
}
