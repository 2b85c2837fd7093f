package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CommandBatch is the command of a batch summary.
const CommandBatch = "batch"

// StatusNotRun is the status of a batch row that was never started (the
// batch was interrupted first). The other statuses of a row are those of
// its migration: complete, incomplete, interrupted, failed.
const StatusNotRun = "not run"

// A Batch is the summary of one batch run: every mailbox (row of the
// batch's CSV file), how its migration ended, and its counters. Each
// mailbox's own Report holds the details. Like a Report, it never holds a
// secret: rows name the password file's owner account, never the password.
type Batch struct {
	Tool     string    `json:"tool"`
	Version  string    `json:"version"`
	Command  string    `json:"command"`
	DryRun   bool      `json:"dry_run"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Status is complete (every row complete), incomplete (some row did
	// not finish) or interrupted (the batch was stopped; rows may not
	// have run).
	Status string `json:"status"`
	// File is the batch's CSV file.
	File string `json:"file"`
	// Parallel is how many mailboxes ran at once.
	Parallel int `json:"parallel"`
	// FailuresFile is the CSV of the rows that did not finish, in the
	// input's format, to rerun with batch; empty when every row finished
	// and in a dry run.
	FailuresFile string `json:"failures_file,omitempty"`

	Mailboxes []BatchMailbox `json:"mailboxes"`
	Totals    BatchTotals    `json:"totals"`
}

// A BatchMailbox is one row of a batch: the account, its sources, how its
// migration ended and what it did.
type BatchMailbox struct {
	// Row is the row's number in the CSV file (1: the first row after
	// the header); Line is the line it starts on.
	Row  int    `json:"row"`
	Line int    `json:"line"`
	User string `json:"user"`
	Host string `json:"host"`
	Port int    `json:"port"`
	TLS  string `json:"tls"`
	// Sources are the archive paths, relative ones resolved against the
	// CSV file's directory.
	Sources []string `json:"sources"`
	// Status is complete, incomplete, interrupted, failed or not run.
	Status string `json:"status"`
	// Reason says, in one line, why a row did not finish.
	Reason string `json:"reason,omitempty"`
	Counters
	// Pending counts messages planned for upload that an interruption
	// left undone.
	Pending int `json:"pending"`
	// Problems counts the parts of the sources that could not be read.
	Problems int       `json:"problems"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Seconds is how long the row ran, to the millisecond.
	Seconds float64 `json:"duration_seconds"`
	// Reports are the row's report files, named relative to the summary
	// (the same directory).
	Reports []string `json:"reports,omitempty"`
}

// Account is the row's account for file names and logs: user@host.
func (m *BatchMailbox) Account() string { return m.User + "@" + m.Host }

// Complete reports whether the row's migration is complete.
func (m *BatchMailbox) Complete() bool { return m.Status == StatusComplete }

// BatchTotals sum the rows of a batch.
type BatchTotals struct {
	Mailboxes int           `json:"mailboxes"`
	ByStatus  BatchStatuses `json:"by_status"`
	Counters
	Pending  int `json:"pending"`
	Problems int `json:"problems"`
}

// BatchStatuses count the rows of a batch by status.
type BatchStatuses struct {
	Complete    int `json:"complete"`
	Incomplete  int `json:"incomplete"`
	Interrupted int `json:"interrupted"`
	Failed      int `json:"failed"`
	NotRun      int `json:"not_run"`
}

// Unfinished counts the rows that are not complete.
func (s BatchStatuses) Unfinished() int {
	return s.Incomplete + s.Interrupted + s.Failed + s.NotRun
}

// Recount recomputes the totals from the rows.
func (b *Batch) Recount() {
	t := BatchTotals{Mailboxes: len(b.Mailboxes)}
	for i := range b.Mailboxes {
		m := &b.Mailboxes[i]
		t.Counters.Add(m.Counters)
		t.Pending += m.Pending
		t.Problems += m.Problems
		switch m.Status {
		case StatusComplete:
			t.ByStatus.Complete++
		case StatusIncomplete:
			t.ByStatus.Incomplete++
		case StatusInterrupted:
			t.ByStatus.Interrupted++
		case StatusFailed:
			t.ByStatus.Failed++
		default:
			t.ByStatus.NotRun++
		}
	}
	b.Totals = t
}

// Seconds rounds a duration to the millisecond, in seconds.
func Seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

// WriteBatchFile writes b to path in the format its extension names
// (.json, .csv or .html), whole or not at all, like WriteFile.
func WriteBatchFile(path string, b *Batch) error {
	f, err := FormatOf(path)
	if err != nil {
		return err
	}
	var write func(io.Writer, *Batch) error
	switch f {
	case FormatJSON:
		write = WriteBatchJSON
	case FormatCSV:
		write = WriteBatchCSV
	case FormatHTML:
		write = WriteBatchHTML
	default:
		return fmt.Errorf("batch summary %s: want .json, .csv or .html", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing batch summary: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = write(tmp, b)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing batch summary %s: %w", path, err)
	}
	return nil
}

// WriteBatchJSON writes b as indented JSON (the schema documented in the
// README).
func WriteBatchJSON(w io.Writer, b *Batch) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}

// ReadBatchJSON reads a summary written by WriteBatchJSON.
func ReadBatchJSON(r io.Reader) (*Batch, error) {
	var b Batch
	if err := json.NewDecoder(r).Decode(&b); err != nil {
		return nil, err
	}
	return &b, nil
}

// BatchCSVHeader names the columns of the CSV summary, in order.
var BatchCSVHeader = []string{
	"row", "line", "user", "host", "port", "tls", "sources", "status", "reason",
	"found", "duplicates_in_source", "already_on_server", "to_upload", "uploaded",
	"skipped", "failed", "pending", "problems",
	"bytes", "bytes_to_upload", "bytes_uploaded",
	"started", "finished", "duration_seconds", "reports",
}

// WriteBatchCSV writes one row per mailbox, in the order of the batch's
// CSV file, after a header row (BatchCSVHeader): the row and line, the
// account, the sources joined with "; ", the status and its reason, the
// counters of the row's report, when it ran (RFC 3339, empty for a row
// that did not run) and for how long, and its report files joined with
// "; ". It has no totals row, so a spreadsheet's sum is the total. The
// encoding is that of WriteCSV: UTF-8, RFC 4180, text cells a spreadsheet
// would run as a formula behind an apostrophe.
func WriteBatchCSV(w io.Writer, b *Batch) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(BatchCSVHeader); err != nil {
		return err
	}
	stampOrEmpty := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	for i := range b.Mailboxes {
		m := &b.Mailboxes[i]
		c := m.Counters
		row := []string{
			strconv.Itoa(m.Row), strconv.Itoa(m.Line),
			csvText(m.User), csvText(m.Host), strconv.Itoa(m.Port), m.TLS,
			csvText(strings.Join(m.Sources, "; ")), m.Status, csvText(m.Reason),
			strconv.Itoa(c.Found), strconv.Itoa(c.DuplicatesInSource), strconv.Itoa(c.AlreadyOnServer),
			strconv.Itoa(c.ToUpload), strconv.Itoa(c.Uploaded), strconv.Itoa(c.Skipped), strconv.Itoa(c.Failed),
			strconv.Itoa(m.Pending), strconv.Itoa(m.Problems),
			strconv.FormatInt(c.Bytes, 10), strconv.FormatInt(c.BytesToUpload, 10), strconv.FormatInt(c.BytesUploaded, 10),
			stampOrEmpty(m.Started), stampOrEmpty(m.Finished), strconv.FormatFloat(m.Seconds, 'f', 3, 64),
			csvText(strings.Join(m.Reports, "; ")),
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteBatchSummary writes the terminal summary of b: a table of the
// mailboxes with the totals, the rows that did not finish with their
// reasons, and the headline sentence. Names are made terminal-safe, as in
// WriteSummary.
func WriteBatchSummary(w io.Writer, b *Batch) error {
	ew := &errWriter{w: w}
	if len(b.Mailboxes) > 0 {
		head := []string{"ROW", "USER", "SERVER", "STATUS", "FOUND>", "ON SERVER>", "TO UPLOAD>", "UPLOADED>", "FAILED>", "SIZE UPLOADED>", "TIME>"}
		if b.DryRun {
			head = []string{"ROW", "USER", "SERVER", "STATUS", "FOUND>", "ON SERVER>", "TO UPLOAD>", "FAILED>", "SIZE TO UPLOAD>", "TIME>"}
		}
		t := newTextTable(head...)
		row := func(first, user, server, status string, c Counters, secs string) {
			if b.DryRun {
				t.add(first, user, server, status, num(c.Found), num(c.AlreadyOnServer), num(c.ToUpload), num(c.Failed), HumanBytes(c.BytesToUpload), secs)
			} else {
				t.add(first, user, server, status, num(c.Found), num(c.AlreadyOnServer), num(c.ToUpload), num(c.Uploaded), num(c.Failed), HumanBytes(c.BytesUploaded), secs)
			}
		}
		for i := range b.Mailboxes {
			m := &b.Mailboxes[i]
			row(strconv.Itoa(m.Row), m.User, hostPort(m.Host, m.Port), m.Status, m.Counters, duration(m.Seconds))
		}
		row("TOTAL", "", "", "", b.Totals.Counters, duration(b.Finished.Sub(b.Started).Seconds()))
		t.write(ew)
		fmt.Fprintln(ew)
	}
	if un := unfinished(b); len(un) > 0 {
		fmt.Fprintf(ew, "Not finished (%d):\n", len(un))
		for _, m := range un {
			fmt.Fprintf(ew, "  row %d, %s: %s", m.Row, termSafe(m.Account()), m.Status)
			if m.Reason != "" {
				fmt.Fprintf(ew, ": %s", termSafe(m.Reason))
			}
			fmt.Fprintln(ew)
		}
		fmt.Fprintln(ew)
	}
	fmt.Fprintln(ew, termSafe(batchHeadline(b)))
	if b.FailuresFile != "" {
		fmt.Fprintf(ew, "Rerun the rows that did not finish, once fixed: archive2imap batch %s\n", termSafe(shellQuote(b.FailuresFile)))
	}
	return ew.err
}

// unfinished lists the rows that are not complete.
func unfinished(b *Batch) []*BatchMailbox {
	var out []*BatchMailbox
	for i := range b.Mailboxes {
		if !b.Mailboxes[i].Complete() {
			out = append(out, &b.Mailboxes[i])
		}
	}
	return out
}

func hostPort(host string, port int) string {
	if port == 0 {
		return host
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// duration formats seconds for the tables: 0.4s, 12s, 3m05s, 1h02m.
func duration(secs float64) string {
	switch {
	case secs <= 0:
		return "-"
	case secs < 10:
		return strconv.FormatFloat(secs, 'f', 1, 64) + "s"
	}
	s := int(math.Round(secs))
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}

// shellQuote quotes a path for a command line when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// batchHeadline sums up the batch in one sentence.
func batchHeadline(b *Batch) string {
	t := b.Totals
	st := t.ByStatus
	var s strings.Builder
	switch {
	case b.DryRun:
		fmt.Fprintf(&s, "Batch dry run: %s of %s planned", num(st.Complete), plural(t.Mailboxes, "mailbox", "mailboxes"))
	case st.Complete == t.Mailboxes && t.Mailboxes == 1:
		s.WriteString("Batch complete: the mailbox was migrated")
	case st.Complete == t.Mailboxes:
		fmt.Fprintf(&s, "Batch complete: all %s migrated", plural(t.Mailboxes, "mailbox", "mailboxes"))
	case b.Status == StatusInterrupted:
		fmt.Fprintf(&s, "Batch interrupted: %s of %s migrated completely", num(st.Complete), plural(t.Mailboxes, "mailbox", "mailboxes"))
	default:
		fmt.Fprintf(&s, "Batch incomplete: %s of %s migrated completely", num(st.Complete), plural(t.Mailboxes, "mailbox", "mailboxes"))
	}
	var ps []string
	for _, p := range []struct {
		n    int
		what string
	}{{st.Incomplete, "incomplete"}, {st.Interrupted, "interrupted"}, {st.Failed, "failed"}, {st.NotRun, "not run"}} {
		if p.n > 0 {
			ps = append(ps, num(p.n)+" "+p.what)
		}
	}
	if len(ps) > 0 {
		s.WriteString(" (" + strings.Join(ps, ", ") + ")")
	}
	if b.DryRun {
		fmt.Fprintf(&s, "; %s (%s) would be uploaded; nothing was written.", plural(t.ToUpload, "message", "messages"), HumanBytes(t.BytesToUpload))
	} else {
		fmt.Fprintf(&s, "; %s (%s) uploaded", plural(t.Uploaded, "message", "messages"), HumanBytes(t.BytesUploaded))
		if n := t.AlreadyOnServer; n > 0 {
			fmt.Fprintf(&s, ", %s already on the server", num(n))
		}
		if n := t.Failed; n > 0 {
			fmt.Fprintf(&s, ", %s failed", num(n))
		}
		s.WriteString(".")
	}
	return s.String()
}

// batchCSS is added to the report's style sheet for the batch page.
const batchCSS = `
table.mailboxes td.src { min-width: 11em; }
table.mailboxes tbody th { min-width: 9em; }
table.mailboxes .pill { white-space: nowrap; }
.problem-list td.acct { overflow-wrap: anywhere; min-width: 12em; }
tr.st-failed th, tr.st-failed td { background: #fef2f2; }
tr.st-incomplete th, tr.st-incomplete td, tr.st-interrupted th, tr.st-interrupted td, tr.st-not-run th, tr.st-not-run td { background: #fffbeb; }
code.cmd { display: inline-block; padding: 2px 8px; border-radius: 4px; background: #f1f5f9; font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: 0.9em; word-break: break-all; }
a { color: var(--accent); }
@media print { a { text-decoration: none; } tr.st-failed th, tr.st-failed td { font-weight: 700; } }
`

var (
	batchPageCSS = pageCSS + batchCSS
	// batchCSP allows the page its inline style sheet and nothing else:
	// no script, no request.
	batchCSP      = fmt.Sprintf("default-src 'none'; style-src '%s'; script-src 'none'; img-src data:; base-uri 'none'; form-action 'none'", cspHash(batchPageCSS))
	batchPageTmpl = template.Must(template.New("batch").Funcs(template.FuncMap{
		"num":      num[int],
		"bytes":    HumanBytes,
		"duration": duration,
		"tone":     statusTone,
		"stclass":  func(s string) string { return strings.ReplaceAll(s, " ", "-") },
		"hostPort": hostPort,
		"stamp":    stamp,
		"quote":    shellQuote,
	}).Parse(batchPageHTML))
)

// statusTone is the colour of a row's status.
func statusTone(status string) string {
	switch status {
	case StatusComplete:
		return "good"
	case StatusFailed:
		return "bad"
	}
	return "warn"
}

// WriteBatchHTML writes b as one self-contained HTML page in the style of
// the HTML report: a headline, the mailboxes that did not finish first
// (with their reasons and the command that reruns them), the summary
// figures, a table of every mailbox with its status, counters and a link
// to its own report, and the facts of the run. It loads nothing and runs
// no script; all text is escaped by html/template.
func WriteBatchHTML(w io.Writer, b *Batch) error {
	ew := &errWriter{w: w}
	if err := batchPageTmpl.Execute(ew, newBatchPage(b)); err != nil {
		return err
	}
	return ew.err
}

type batchPage struct {
	B          *Batch
	Title      string
	Kicker     string
	Headline   string
	Tone       string
	Tool       string
	CSP        string
	CSS        template.CSS
	Unfinished []*BatchMailbox
	Figures    []figure
	Rows       []batchRow
	Elapsed    string
	Facts      []fact
}

type batchRow struct {
	*BatchMailbox
	Server string
	Link   string // the row's HTML report
}

func newBatchPage(b *Batch) *batchPage {
	p := &batchPage{
		B:          b,
		Title:      "Mail migration batch",
		Kicker:     "Batch migration of " + plural(len(b.Mailboxes), "mailbox", "mailboxes"),
		Headline:   batchHeadline(b),
		CSP:        batchCSP,
		CSS:        template.CSS(batchPageCSS),
		Unfinished: unfinished(b),
		Elapsed:    duration(b.Finished.Sub(b.Started).Seconds()),
	}
	if b.DryRun {
		p.Title = "Mail migration batch plan"
		p.Kicker = "Batch dry run of " + plural(len(b.Mailboxes), "mailbox", "mailboxes") + ": nothing was written to the servers"
	}
	p.Tool = strings.TrimSpace(b.Tool + " " + b.Version)
	if b.Tool == "" {
		p.Tool = strings.TrimSpace("archive2imap " + b.Version)
	}
	switch {
	case b.Status == StatusComplete:
		p.Tone = "good"
	case b.Totals.ByStatus.Complete == 0 && len(b.Mailboxes) > 0:
		p.Tone = "bad"
	default:
		p.Tone = "warn"
	}
	for i := range b.Mailboxes {
		m := &b.Mailboxes[i]
		r := batchRow{BatchMailbox: m, Server: hostPort(m.Host, m.Port)}
		for _, f := range m.Reports {
			if ft, err := FormatOf(f); err == nil && ft == FormatHTML {
				r.Link = f
			}
		}
		p.Rows = append(p.Rows, r)
	}
	p.Figures = batchFigures(b)
	p.Facts = batchFacts(b)
	return p
}

func batchFigures(b *Batch) []figure {
	t := b.Totals
	st := t.ByStatus
	n := func(id, label string, v int, sub, tone string) figure {
		return figure{ID: id, Label: label, Value: num(v), Raw: int64(v), Sub: sub, Tone: tone}
	}
	size := func(id, label string, v int64, sub string) figure {
		val, unit, _ := strings.Cut(HumanBytes(v), " ")
		return figure{ID: id, Label: label, Value: val, Unit: unit, Raw: v, Sub: sub}
	}
	done := ""
	if st.Complete == t.Mailboxes && t.Mailboxes > 0 {
		done = "good"
	}
	notDone, failed := "", ""
	if st.Unfinished() > 0 {
		notDone = "warn"
	}
	if st.Failed > 0 {
		failed = "bad"
	}
	msgFailed := ""
	if t.Failed > 0 {
		msgFailed = "bad"
	}
	completeLabel := "complete"
	if b.DryRun {
		completeLabel = "planned"
	}
	fs := []figure{
		n("mailboxes", "mailboxes", t.Mailboxes, "rows of the batch file", ""),
		n("complete", completeLabel, st.Complete, "nothing left to do", done),
		n("not_finished", "not finished", st.Unfinished(), "incomplete, interrupted or not run", notDone),
		n("failed_mailboxes", "failed", st.Failed, "stopped before uploading", failed),
		n("found", "messages found", t.Found, "in the archives", ""),
	}
	if b.DryRun {
		return append(fs,
			n("to_upload", "to upload", t.ToUpload, num(t.AlreadyOnServer)+" already on the servers", ""),
			n("failed", "cannot be uploaded", t.Failed, "see the mailboxes' reports", msgFailed),
			size("bytes", "to upload", t.BytesToUpload, "of "+HumanBytes(t.Bytes)+" in the archives"))
	}
	up := ""
	if t.Uploaded > 0 && t.Uploaded == t.ToUpload {
		up = "good"
	}
	return append(fs,
		n("uploaded", "uploaded", t.Uploaded, "of "+num(t.ToUpload)+" to upload", up),
		n("already_on_server", "already on the servers", t.AlreadyOnServer, "not uploaded again", ""),
		n("failed", "messages failed", t.Failed, "see the mailboxes' reports", msgFailed),
		size("bytes", "uploaded", t.BytesUploaded, "of "+HumanBytes(t.BytesToUpload)+" to upload"))
}

func batchFacts(b *Batch) []fact {
	var fs []fact
	add := func(label, v string) {
		if v != "" {
			fs = append(fs, fact{label, []string{v}})
		}
	}
	add("Tool", strings.TrimSpace(b.Tool+" "+b.Version))
	cmd := "batch"
	if b.DryRun {
		cmd += " --dry-run (nothing written)"
	}
	add("Command", cmd)
	add("Batch file", b.File)
	if !b.Started.IsZero() {
		add("Started", stamp(b.Started))
	}
	if !b.Finished.IsZero() {
		f := stamp(b.Finished)
		if !b.Started.IsZero() {
			f += " (took " + b.Finished.Sub(b.Started).Round(time.Second).String() + ")"
		}
		add("Finished", f)
	}
	if b.Parallel > 0 {
		add("Mailboxes at once", strconv.Itoa(b.Parallel)+" (never two rows of one account at once)")
	}
	switch {
	case b.FailuresFile != "":
		add("Rows to rerun", b.FailuresFile)
	case !b.DryRun && b.Totals.ByStatus.Unfinished() == 0:
		add("Rows to rerun", "none: every row finished")
	}
	return fs
}

const batchPageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="{{.Tool}}">
<title>{{.Title}}{{with .B.File}}: {{.}}{{end}}</title>
<style>{{.CSS}}</style>
</head>
<body>
<header class="top tone-{{.Tone}}">
<p class="kicker">{{.Kicker}}</p>
<h1>{{.Title}}</h1>
<p class="headline" id="headline">{{.Headline}}</p>
<p class="status"><span class="pill tone-{{.Tone}}" id="status" data-status="{{.B.Status}}">Status: {{.B.Status}}</span></p>
</header>
<main>
{{- if .Unfinished}}
<section id="problems" class="problems" aria-labelledby="problems-h">
<h2 id="problems-h">Mailboxes not finished <span class="count">({{num (len .Unfinished)}})</span></h2>
<p>{{if .B.FailuresFile}}Fix what the reason says, then run <code class="cmd">archive2imap batch {{quote .B.FailuresFile}}</code>: it runs exactly these rows again, and nothing already uploaded is uploaded twice.{{else}}These rows did not finish.{{end}}</p>
<table class="problem-list">
<caption class="sr">Mailboxes not finished, one per row</caption>
<thead><tr><th scope="col">Row</th><th scope="col">Account</th><th scope="col">Status</th><th scope="col">Reason</th></tr></thead>
<tbody>
{{- range .Unfinished}}
<tr data-row="{{.Row}}"><td>{{.Row}}</td><td class="acct">{{.User}} on {{hostPort .Host .Port}}</td><td class="kind">{{.Status}}</td><td>{{.Reason}}</td></tr>
{{- end}}
</tbody>
</table>
</section>
{{- end}}

<section id="summary" aria-labelledby="summary-h">
<h2 id="summary-h">Summary</h2>
<div class="figures">
{{- range .Figures}}
<div class="figure{{with .Tone}} tone-{{.}}{{end}}" id="fig-{{.ID}}" data-figure="{{.ID}}">
<span class="value" data-value="{{.Raw}}">{{.Value}}{{with .Unit}}<small> {{.}}</small>{{end}}</span>
<span class="label">{{.Label}}</span>
{{- with .Sub}}
<span class="sub">{{.}}</span>
{{- end}}
</div>
{{- end}}
</div>
</section>

<section id="mailboxes" aria-labelledby="mailboxes-h">
<h2 id="mailboxes-h">Mailboxes <span class="count">({{num (len .Rows)}})</span></h2>
{{- if not .Rows}}
<p class="empty">No mailboxes.</p>
{{- else}}
<div class="scroll">
<table class="folders mailboxes">
<caption>Every row of the batch file: the account, its archives, how its migration ended and what it did{{if .Unfinished}} (the reasons are listed above){{end}}. Each row's own report lists every message.</caption>
<thead><tr><th scope="col" class="n">Row</th><th scope="col">Account</th><th scope="col">Archives</th><th scope="col">Status</th><th scope="col" class="n">Found</th><th scope="col" class="n">{{if .B.DryRun}}To upload{{else}}Uploaded{{end}}</th><th scope="col" class="n">Already on server</th><th scope="col" class="n">Failed</th><th scope="col" class="n">Size</th><th scope="col" class="n">Time</th><th scope="col">Report</th></tr></thead>
<tbody>
{{- $dry := .B.DryRun}}
{{- range .Rows}}
<tr class="st-{{stclass .Status}}" data-row="{{.Row}}" data-status="{{.Status}}"><td class="n">{{.Row}}</td><th scope="row">{{.User}}<span class="path">{{.Server}} ({{.TLS}})</span></th><td class="src">{{range $i, $s := .Sources}}{{if $i}}<br>{{end}}<span class="where">{{$s}}</span>{{end}}</td><td><span class="pill tone-{{tone .Status}}">{{.Status}}</span></td><td class="n">{{num .Found}}</td><td class="n">{{if $dry}}{{num .ToUpload}}{{else}}{{num .Uploaded}}<span class="of"> of {{num .ToUpload}}</span>{{end}}</td><td class="n">{{num .AlreadyOnServer}}</td><td class="n{{if .Failed}} bad{{end}}">{{num .Failed}}</td><td class="n">{{if $dry}}{{bytes .BytesToUpload}}{{else}}{{bytes .BytesUploaded}}{{end}}</td><td class="n">{{duration .Seconds}}</td><td>{{with .Link}}<a href="{{.}}" title="{{.}}">report</a>{{end}}</td></tr>
{{- end}}
</tbody>
{{- with .B.Totals}}
<tfoot><tr><td></td><th scope="row">Total</th><td></td><td>{{num .ByStatus.Complete}} of {{num .Mailboxes}} complete</td><td class="n">{{num .Found}}</td><td class="n">{{if $dry}}{{num .ToUpload}}{{else}}{{num .Uploaded}}<span class="of"> of {{num .ToUpload}}</span>{{end}}</td><td class="n">{{num .AlreadyOnServer}}</td><td class="n">{{num .Failed}}</td><td class="n">{{if $dry}}{{bytes .BytesToUpload}}{{else}}{{bytes .BytesUploaded}}{{end}}</td><td class="n">{{$.Elapsed}}</td><td></td></tr></tfoot>
{{- end}}
</table>
</div>
{{- end}}
</section>

<section id="facts" aria-labelledby="facts-h">
<h2 id="facts-h">About this batch</h2>
<dl class="facts">
{{- range .Facts}}
<div><dt>{{.Label}}</dt>{{range .Values}}<dd>{{.}}</dd>{{end}}</div>
{{- end}}
</dl>
</section>
</main>
<footer>
<p>Written by {{.Tool}}. This page is one self-contained file: it loads nothing from the network. batch.json and batch.csv of the same run list the same mailboxes.</p>
</footer>
</body>
</html>
`
