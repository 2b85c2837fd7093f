package report

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The page template and its style sheet are embedded: the HTML report is
// one self-contained file.
//
//go:embed templates/report.html.tmpl templates/report.css templates/print.js
var templateFS embed.FS

var (
	pageCSS    = mustRead("templates/report.css")
	pageScript = mustRead("templates/print.js")
	// pageCSP allows the page its own inline style sheet and script (by
	// hash) and nothing else: no request can leave the page, whatever a
	// subject or a folder name holds.
	pageCSP = fmt.Sprintf("default-src 'none'; style-src '%s'; script-src '%s'; img-src data:; base-uri 'none'; form-action 'none'",
		cspHash(pageCSS), cspHash(pageScript))
	pageTmpl = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
		"num":      num[int],
		"num64":    num[int64],
		"bytes":    HumanBytes,
		"day":      day,
		"msgDate":  msgDate,
		"decision": decisionWord,
		"add1":     func(i int) int { return i + 1 },
	}).ParseFS(templateFS, "templates/report.html.tmpl"))
)

func mustRead(name string) string {
	b, err := templateFS.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// htmlMaxProblems is how many problems the HTML page shows before folding
// the rest into a collapsed list.
const htmlMaxProblems = 100

// WriteHTML writes rep as one self-contained HTML page for people who are
// not mail administrators: a headline sentence, the problems first when
// there are any, the summary figures, the folder mapping in plain words,
// charts of messages per folder and per year (inline SVG), every message
// in a collapsed list, and the run facts. It has inline CSS and no external
// asset; a Content-Security-Policy forbids any request; the one small
// script (opening the collapsed lists for printing) is optional. All text
// from the archive is escaped by html/template.
func WriteHTML(w io.Writer, rep *Report) error {
	ew := &errWriter{w: w}
	if err := pageTmpl.Execute(ew, newHTMLPage(rep)); err != nil {
		return err
	}
	return ew.err
}

// htmlPage is what the template renders.
type htmlPage struct {
	R          *Report
	Title      string
	Kicker     string
	Headline   string
	Status     string
	Tone       string // of the page: good, warn, bad
	StatusTone string // of the status alone
	StatusText string
	Tool       string // name and version
	CSP        string
	CSS        template.CSS
	Script     template.JS

	Problems     []problemItem
	MoreProblems []problemItem
	ProblemCount int
	Figures      []figure
	Folders      []folderRow
	Total        folderRow
	FolderChart  *barChart
	YearChart    *columnChart
	Facts        []fact

	Scan, Verify bool // which folder table; else migrate's
	ShowTarget   bool // message list columns
	ShowUID      bool
	MovedLabel   string
}

func newHTMLPage(rep *Report) *htmlPage {
	p := &htmlPage{
		R:        rep,
		Headline: headline(rep),
		Status:   statusWord(rep.Status),
		CSP:      pageCSP,
		CSS:      template.CSS(pageCSS),
		Script:   template.JS(pageScript),
		Facts:    runFacts(rep),
		Folders:  folderRows(rep),
		Scan:     rep.Command == CommandScan,
		Verify:   rep.Command == CommandVerify,
	}
	p.Tool = strings.TrimSpace(rep.Tool + " " + rep.Version)
	if rep.Tool == "" {
		p.Tool = strings.TrimSpace("archive2imap " + rep.Version)
	}
	if rep.Status != StatusFailed { // a failure's text is the headline
		p.StatusText = rep.StatusText
	}
	p.ShowTarget = !p.Scan
	p.MovedLabel = "To upload"
	if !p.Scan && !p.Verify && !rep.DryRun {
		p.MovedLabel = "Uploaded"
	}
	switch {
	case p.Scan:
		p.Title = "Mail archive inventory"
		p.Kicker = "Scan of the archive (no server contacted)"
	case p.Verify:
		p.Title = "Mail migration check"
		p.Kicker = "Verification against the server"
	case rep.DryRun:
		p.Title = "Mail migration plan"
		p.Kicker = "Dry run: nothing was written to the server"
	default:
		p.Title = "Mail migration report"
		p.Kicker = "Migration to the server"
	}
	items := problemItems(rep)
	p.ProblemCount = len(items)
	if len(items) > htmlMaxProblems {
		p.Problems, p.MoreProblems = items[:htmlMaxProblems], items[htmlMaxProblems:]
	} else {
		p.Problems = items
	}
	switch rep.Status {
	case StatusComplete:
		p.StatusTone = "good"
	case StatusIncomplete, StatusInterrupted:
		p.StatusTone = "warn"
	case StatusFailed:
		p.StatusTone = "bad"
	}
	p.Tone = p.StatusTone
	if len(items) > 0 && p.Tone == "good" {
		p.Tone = "warn"
	}
	p.Total = folderRow{Folder: Folder{Source: "Total", Counters: rep.Totals.Counters, Stats: rep.Totals.Stats}, Verify: verifySum(p.Folders)}
	p.Figures = figures(rep)
	for i := range rep.Messages {
		if rep.Messages[i].UID != 0 {
			p.ShowUID = true
			break
		}
	}
	p.FolderChart = folderChart(rep)
	p.YearChart = yearChart(rep)
	return p
}

// A figure is one of the big numbers of the summary. ID is stable (the
// data-figure attribute) for tools and tests; Raw is the exact number.
type figure struct {
	ID    string
	Label string
	Value string
	Unit  string // of a size: "MB"
	Raw   int64
	Sub   string
	Tone  string // good, warn, bad, or empty
}

func figures(rep *Report) []figure {
	t := rep.Totals
	n := func(id, label string, v int, sub, tone string) figure {
		return figure{ID: id, Label: label, Value: num(v), Raw: int64(v), Sub: sub, Tone: tone}
	}
	bad := func(v int) string {
		if v > 0 {
			return "bad"
		}
		return ""
	}
	size := func(id, label string, b int64, sub string) figure {
		v, unit, _ := strings.Cut(HumanBytes(b), " ")
		return figure{ID: id, Label: label, Value: v, Unit: unit, Raw: b, Sub: sub}
	}
	pending := countDecision(rep, DecisionPending)
	switch {
	case rep.Command == CommandScan:
		return []figure{
			n("found", "messages found", t.Found, "in "+plural(len(rep.Folders), "folder", "folders"), ""),
			size("bytes", "of mail", t.Bytes, "total size of the messages"),
			n("duplicates", "duplicates", t.DuplicatesInSource, "same message twice in a folder", ""),
			n("skipped", "would be skipped", t.Skipped, "marked deleted or too large", ""),
			n("no_message_id", "without Message-ID", t.MissingMessageID, "recognised by content instead", ""),
			n("problems", "could not be read", len(rep.Problems), "parts of the archive", bad(len(rep.Problems))),
		}
	case rep.Command == CommandVerify:
		v := verifyTotals(rep)
		present := "good"
		if v.Missing > 0 {
			present = ""
		}
		flags := ""
		if v.FlagsDiffer > 0 {
			flags = "warn"
		}
		return []figure{
			n("found", "messages in the archive", t.Found, "", ""),
			n("checked", "checked", v.Checked, "looked for on the server", ""),
			n("present", "on the server", v.Present, "found as expected", present),
			n("missing", "missing", v.Missing, "not found on the server", bad(v.Missing)),
			n("flags_differ", "flags differ", v.FlagsDiffer, "read, flagged… not as in the archive", flags),
			n("not_checked", "not checked", v.NotExpected, "duplicates and skipped", ""),
		}
	case rep.DryRun:
		return []figure{
			n("found", "messages found", t.Found, "in the archive", ""),
			n("to_upload", "to upload", t.ToUpload, "into "+plural(func() int { n, _ := targetFolders(rep, func(f *Folder) bool { return f.ToUpload > 0 }); return n }(), "folder", "folders"), ""),
			n("already_on_server", "already on the server", t.AlreadyOnServer, "will not be uploaded again", ""),
			n("duplicates", "duplicates", t.DuplicatesInSource, "uploaded once", ""),
			n("skipped", "skipped", t.Skipped, "marked deleted or too large", ""),
			n("failed", "cannot be uploaded", t.Failed, "see the problems", bad(t.Failed)),
			size("bytes", "to upload", t.BytesToUpload, "of "+HumanBytes(t.Bytes)+" in the archive"),
		}
	}
	up := ""
	if t.Uploaded > 0 && t.Uploaded == t.ToUpload {
		up = "good"
	}
	fs := []figure{
		n("found", "messages found", t.Found, "in the archive", ""),
		n("uploaded", "uploaded", t.Uploaded, "of "+num(t.ToUpload)+" to upload", up),
		n("already_on_server", "already on the server", t.AlreadyOnServer, "not uploaded again", ""),
		n("duplicates", "duplicates", t.DuplicatesInSource, "uploaded once", ""),
		n("skipped", "skipped", t.Skipped, "marked deleted or too large", ""),
		n("failed", "failed", t.Failed, "see the problems", bad(t.Failed)),
	}
	if pending > 0 || rep.Status == StatusInterrupted {
		fs = append(fs, n("pending", "not done yet", pending, "run the command again", "warn"))
	}
	return append(fs, size("bytes", "uploaded", t.BytesUploaded, "of "+HumanBytes(t.BytesToUpload)+" to upload"))
}

// segment kinds of the per-folder chart, in the order they are stacked.
var segmentOrder = []string{
	DecisionUploaded, DecisionUpload, "present", DecisionExists, DecisionDuplicate,
	DecisionSkipped, DecisionPending, "flags differ", DecisionFailed, "missing", "unchecked",
}

// segmentLabel names a segment kind in the chart's legend.
func segmentLabel(rep *Report, kind string) string {
	switch kind {
	case DecisionUpload:
		switch {
		case rep.Command == CommandScan:
			return "to migrate"
		case rep.DryRun:
			return "to upload"
		}
		return "not uploaded"
	case DecisionUploaded:
		return "uploaded"
	case DecisionExists:
		return "already on the server"
	case DecisionDuplicate:
		return "duplicate"
	case DecisionSkipped:
		if rep.Command == CommandScan {
			return "would be skipped"
		}
		return "skipped"
	case DecisionFailed:
		return "failed"
	case DecisionPending:
		return "not done yet"
	case "present":
		return "on the server"
	case "flags differ":
		return "flags differ"
	case "missing":
		return "missing"
	case "unchecked":
		return "not checked"
	}
	return kind
}

// segmentOf is the kind of segment a message counts in.
func segmentOf(rep *Report, m *Message) string {
	if rep.Command == CommandVerify {
		switch m.Verified {
		case "present", "missing", "flags differ":
			return m.Verified
		}
		return "unchecked"
	}
	return m.Decision()
}

// barChart is a horizontal stacked bar chart: messages per folder.
type barChart struct {
	Title, Desc, Note string
	Width, Height     int
	LabelW            int
	Legend            []legendItem
	Bars              []bar
}

type legendItem struct {
	X     int
	Class string
	Label string
}

type bar struct {
	Y, TextY int
	Label    string
	Full     string
	Total    string
	TotalX   float64
	Segs     []barSeg
}

type barSeg struct {
	X, W  float64
	Class string
	Title string
}

// chartMaxBars caps the per-folder chart; the folder table has them all.
const chartMaxBars = 40

func folderChart(rep *Report) *barChart {
	if len(rep.Folders) == 0 || len(rep.Messages) == 0 {
		return nil
	}
	type tally struct {
		name  string
		total int
		by    map[string]int
	}
	idx := make(map[string]int, len(rep.Folders))
	ts := make([]tally, len(rep.Folders))
	for i, f := range rep.Folders {
		idx[f.Source] = i
		ts[i] = tally{name: f.Source, by: make(map[string]int)}
	}
	used := make(map[string]bool)
	for i := range rep.Messages {
		m := &rep.Messages[i]
		j, ok := idx[m.Folder]
		if !ok {
			continue
		}
		k := segmentOf(rep, m)
		ts[j].by[k]++
		ts[j].total++
		used[k] = true
	}
	c := &barChart{Title: "Messages per folder", Width: 1000, LabelW: 280}
	if len(ts) > chartMaxBars {
		sort.SliceStable(ts, func(a, b int) bool { return ts[a].total > ts[b].total })
		c.Note = fmt.Sprintf("The %d largest of %s folders; the table above lists them all.", chartMaxBars, num(len(ts)))
		ts = ts[:chartMaxBars]
	}
	max := 1
	for _, t := range ts {
		if t.total > max {
			max = t.total
		}
	}
	x := c.LabelW
	for _, k := range segmentOrder {
		if !used[k] {
			continue
		}
		l := segmentLabel(rep, k)
		c.Legend = append(c.Legend, legendItem{X: x, Class: "seg-" + segClass(k), Label: l})
		x += 30 + 7*len([]rune(l))
	}
	const top, rowH, barH = 36, 28, 18
	plotW := float64(c.Width - c.LabelW - 70)
	var desc []string
	for i, t := range ts {
		b := bar{Y: top + i*rowH, Label: shorten(t.name, 30), Full: t.name, Total: num(t.total)}
		b.TextY = b.Y + barH - 4
		pos := float64(c.LabelW)
		var parts []string
		for _, k := range segmentOrder {
			n := t.by[k]
			if n == 0 {
				continue
			}
			w := plotW * float64(n) / float64(max)
			b.Segs = append(b.Segs, barSeg{X: round1(pos), W: round1(math.Max(w, 1)), Class: "seg-" + segClass(k),
				Title: fmt.Sprintf("%s: %s %s", t.name, num(n), segmentLabel(rep, k))})
			parts = append(parts, num(n)+" "+segmentLabel(rep, k))
			pos += w
		}
		b.TotalX = round1(pos + 6)
		c.Bars = append(c.Bars, b)
		desc = append(desc, fmt.Sprintf("%s: %s (%s)", t.name, plural(t.total, "message", "messages"), strings.Join(parts, ", ")))
	}
	c.Height = top + len(ts)*rowH + 4
	c.Desc = strings.Join(desc, "; ") + "."
	return c
}

func segClass(kind string) string { return strings.ReplaceAll(kind, " ", "-") }

// columnChart is a vertical bar chart: messages per year.
type columnChart struct {
	Title, Desc   string
	Width, Height int
	Base          int
	Unknown       bool // a "no date" column is shown
	Grid          []gridLine
	Cols          []column
}

type gridLine struct {
	Y     float64
	Label string
}

type column struct {
	X, W, Y, H float64
	Mid        float64
	Label      string
	Count      string
	Title      string
	Unknown    bool
	ShowLabel  bool
	ShowCount  bool
}

func yearChart(rep *Report) *columnChart {
	if len(rep.Messages) == 0 {
		return nil
	}
	years := make(map[int]int)
	unknown := 0
	lo, hi := math.MaxInt, math.MinInt
	for i := range rep.Messages {
		d := rep.Messages[i].Date
		if d.IsZero() {
			unknown++
			continue
		}
		y := d.Year()
		years[y]++
		lo, hi = min(lo, y), max(hi, y)
	}
	var keys []int
	if len(years) > 0 {
		if hi-lo < 60 { // a continuous axis, with the empty years
			for y := lo; y <= hi; y++ {
				keys = append(keys, y)
			}
		} else { // bogus dates far apart: only the years that have mail
			for y := range years {
				keys = append(keys, y)
			}
			sort.Ints(keys)
		}
	}
	type entry struct {
		label   string
		n       int
		unknown bool
	}
	var es []entry
	for _, y := range keys {
		es = append(es, entry{label: strconv.Itoa(y), n: years[y]})
	}
	if unknown > 0 {
		es = append(es, entry{label: "no date", n: unknown, unknown: true})
	}
	peak := 1
	for _, e := range es {
		peak = max(peak, e.n)
	}
	step := niceStep(peak)
	top := step * int(math.Ceil(float64(peak)/float64(step)))
	c := &columnChart{Title: "Messages per year", Width: 1000, Height: 240, Base: 200}
	const left, right, plotTop = 56, 34, 16
	plotH := float64(c.Base - plotTop)
	for v := 0; v <= top; v += step {
		c.Grid = append(c.Grid, gridLine{Y: round1(float64(c.Base) - plotH*float64(v)/float64(top)), Label: num(v)})
	}
	slot := float64(c.Width-left-right) / float64(len(es))
	labelEvery := 1
	for slot*float64(labelEvery) < 40 {
		labelEvery++
	}
	var desc []string
	for i, e := range es {
		h := plotH * float64(e.n) / float64(top)
		w := math.Max(slot*0.7, 1)
		col := column{
			X: round1(float64(left) + slot*float64(i) + (slot-w)/2), W: round1(w),
			Y: round1(float64(c.Base) - h), H: round1(h),
			Mid:   round1(float64(left) + slot*(float64(i)+0.5)),
			Label: e.label, Count: num(e.n), Unknown: e.unknown,
			Title:     fmt.Sprintf("%s: %s", e.label, plural(e.n, "message", "messages")),
			ShowLabel: i%labelEvery == 0 || e.unknown,
			ShowCount: e.n > 0 && slot >= 34,
		}
		c.Cols = append(c.Cols, col)
		if e.n > 0 {
			desc = append(desc, fmt.Sprintf("%s: %s", e.label, num(e.n)))
		}
	}
	c.Unknown = unknown > 0
	c.Desc = "Messages by the year of their date. " + strings.Join(desc, "; ") + "."
	return c
}

// niceStep is a round grid step giving about four lines up to peak.
func niceStep(peak int) int {
	raw := float64(peak) / 4
	if raw <= 1 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if s := m * mag; s >= raw && s == math.Trunc(s) {
			return int(s)
		}
	}
	return int(10 * mag)
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// shorten fits s into cells display cells (a chart label), cutting out
// its middle: the start names the source, the end the folder.
func shorten(s string, cells int) string {
	if displayWidth(s) <= cells {
		return s
	}
	r := []rune(s)
	budget := cells - 1 // the ellipsis
	headW, tailW := budget/3, budget-budget/3
	head := 0
	for w := 0; head < len(r); head++ {
		if w += displayWidth(string(r[head])); w > headW {
			break
		}
	}
	tail := len(r)
	for w := 0; tail > head; tail-- {
		if w += displayWidth(string(r[tail-1])); w > tailW {
			break
		}
	}
	return string(r[:head]) + "…" + string(r[tail:])
}

// msgDate formats a message date for the list, in the message's own zone.
func msgDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("2006-01-02 15:04")
}

// decisionWord says a message's decision in plain words.
func decisionWord(rep *Report, m Message) string {
	switch d := m.Decision(); d {
	case DecisionUpload:
		switch {
		case rep.Command == CommandScan:
			return "to migrate"
		case rep.DryRun || rep.Command == CommandVerify:
			return "to upload"
		}
		return "not uploaded"
	case DecisionExists:
		return "already on server"
	case DecisionPending:
		return "not done yet"
	default:
		return d
	}
}
