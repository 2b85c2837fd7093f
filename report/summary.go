package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
)

// WriteSummary writes the short terminal summary of rep: a table per
// folder with the totals, the headline sentence every document shows, and
// the problems. Columns are aligned by display width (CJK names take two
// cells a character) and control characters from names are shown as "?",
// so an archive cannot move the cursor or recolour the terminal.
func WriteSummary(w io.Writer, rep *Report) error {
	ew := &errWriter{w: w}
	switch {
	case len(rep.Folders) == 0: // nothing to tabulate
	case rep.Command == CommandScan:
		writeScanTable(ew, rep)
	case rep.Command == CommandVerify:
		writeVerifyTable(ew, rep)
	default:
		writeMigrateTable(ew, rep)
	}
	if len(rep.Folders) > 0 {
		fmt.Fprintln(ew)
	}
	fmt.Fprintf(ew, "%s\n", termSafe(headline(rep)))
	if n := len(rep.Ignored); n > 0 {
		fmt.Fprintf(ew, "%s ignored (not mail).\n", plural(n, "file", "files"))
	}
	writeProblems(ew, rep, 20)
	if rep.StatusText != "" && rep.Status != StatusFailed { // a failure's text is the headline
		fmt.Fprintf(ew, "\n%s\n", termSafe(rep.StatusText))
	}
	return ew.err
}

func writeScanTable(w io.Writer, rep *Report) {
	t := newTextTable("FOLDER", "FORMAT", "MESSAGES>", "SIZE>", "NO MSG-ID>", "DUP MSG-IDS>", "DELETED>", "OLDEST", "NEWEST", "PROBLEMS>")
	row := func(name, format string, c Counters, s Stats) {
		t.add(name, format, num(c.Found), HumanBytes(c.Bytes), num(s.MissingMessageID), num(s.DuplicateMessageIDs),
			num(s.Deleted), day(s.Oldest), day(s.Newest), num(s.Problems))
	}
	for _, f := range rep.Folders {
		row(f.Source, f.Format, f.Counters, f.Stats)
	}
	row("TOTAL", "", rep.Totals.Counters, rep.Totals.Stats)
	t.write(w)
}

func writeMigrateTable(w io.Writer, rep *Report) {
	head := []string{"SOURCE FOLDER", "TARGET", "FOUND>", "DUP IN SOURCE>", "ON SERVER>", "TO UPLOAD>", "UPLOADED>", "SKIPPED>", "FAILED>", "SIZE TO UPLOAD>"}
	if rep.DryRun {
		head = slices.Delete(head, 6, 7)
	}
	t := newTextTable(head...)
	row := func(src, target string, c Counters) {
		cells := []string{src, target, num(c.Found), num(c.DuplicatesInSource), num(c.AlreadyOnServer), num(c.ToUpload),
			num(c.Uploaded), num(c.Skipped), num(c.Failed), HumanBytes(c.BytesToUpload)}
		if rep.DryRun {
			cells = slices.Delete(cells, 6, 7)
		}
		t.add(cells...)
	}
	for _, f := range rep.Folders {
		tg := f.Target
		if f.Create {
			tg += " (new)"
		}
		row(f.Source, tg, f.Counters)
	}
	row("TOTAL", "", rep.Totals.Counters)
	t.write(w)
}

func writeVerifyTable(w io.Writer, rep *Report) {
	t := newTextTable("SOURCE FOLDER", "TARGET", "FOUND>", "CHECKED>", "PRESENT>", "MISSING>", "FLAGS DIFFER>", "NOT CHECKED>")
	rows := folderRows(rep)
	for _, f := range rows {
		v := f.Verify
		t.add(f.Source, f.Target, num(f.Found), num(v.Checked), num(v.Present), num(v.Missing), num(v.FlagsDiffer), num(v.NotExpected))
	}
	v := verifySum(rows)
	t.add("TOTAL", "", num(rep.Totals.Found), num(v.Checked), num(v.Present), num(v.Missing), num(v.FlagsDiffer), num(v.NotExpected))
	t.write(w)
}

// textTable lays out a table for a terminal: columns two spaces apart,
// aligned by display width; a heading ending in ">" marks a right-aligned
// (number) column.
type textTable struct {
	rows  [][]string
	right []bool
}

func newTextTable(headings ...string) *textTable {
	t := &textTable{right: make([]bool, len(headings))}
	head := make([]string, len(headings))
	for i, h := range headings {
		head[i] = strings.TrimSuffix(h, ">")
		t.right[i] = head[i] != h
	}
	t.rows = append(t.rows, head)
	return t
}

func (t *textTable) add(cells ...string) {
	for i := range cells {
		cells[i] = termSafe(cells[i])
	}
	t.rows = append(t.rows, cells)
}

func (t *textTable) write(w io.Writer) {
	widths := make([]int, len(t.right))
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		b.Reset()
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-displayWidth(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if t.right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// termSafe replaces control characters (C0, DEL, C1: escape sequences,
// line breaks) with "?".
func termSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// displayWidth is how many terminal cells s takes: East Asian wide and
// fullwidth characters take two, combining marks none (after Markus
// Kuhn's wcwidth).
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		case r >= 0x1100 && (r <= 0x115f || r == 0x2329 || r == 0x232a ||
			(r >= 0x2e80 && r <= 0xa4cf && r != 0x303f) || (r >= 0xac00 && r <= 0xd7a3) ||
			(r >= 0xf900 && r <= 0xfaff) || (r >= 0xfe30 && r <= 0xfe6f) ||
			(r >= 0xff00 && r <= 0xff60) || (r >= 0xffe0 && r <= 0xffe6) ||
			(r >= 0x1f300 && r <= 0x1f64f) || (r >= 0x1f900 && r <= 0x1f9ff) ||
			(r >= 0x20000 && r <= 0x3fffd)):
			n += 2
		default:
			n++
		}
	}
	return n
}

func writeProblems(w io.Writer, rep *Report, max int) {
	items := problemItems(rep)
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(w, "\nProblems (%d):\n", len(items))
	for i, p := range items {
		if i == max {
			fmt.Fprintf(w, "  ... and %d more (see the report)\n", len(items)-max)
			break
		}
		fmt.Fprintf(w, "  %s\n", termSafe(p.String()))
	}
}

// Kinds of problemItem.
const (
	problemUnreadable  = "could not be read"
	problemNotUploaded = "not uploaded"
	problemMissing     = "missing"
	problemFlags       = "flags differ"
)

// A problemItem is one entry of the problem list that the summary, the
// Markdown and the HTML report show: a part of the source that could not
// be read, a message that failed, or one that verify did not find as
// expected on the server.
type problemItem struct {
	Kind   string // problemUnreadable, problemNotUploaded, problemMissing, problemFlags
	Where  string // file and position, or the message's location
	What   string // the error, the server's refusal, what differs
	Target string // the server folder, for missing and flags differ
}

// String is the problem on one line, as the terminal summary shows it.
func (p problemItem) String() string {
	var what string
	switch p.Kind {
	case problemNotUploaded:
		what = "not uploaded: " + p.What
	case problemMissing, problemFlags:
		what = fmt.Sprintf("%s on the server (%s)", p.Kind, p.Target)
		if p.What != "" {
			what += ": " + p.What
		}
	default:
		what = p.What
	}
	if p.Where == "" {
		return what
	}
	return p.Where + ": " + what
}

// Title is the kind of problem, for the documents' problem lists.
func (p problemItem) Title() string {
	switch p.Kind {
	case problemUnreadable:
		return "Could not be read"
	case problemNotUploaded:
		return "Not uploaded"
	case problemMissing:
		return "Missing on the server"
	case problemFlags:
		return "Flags differ"
	}
	return p.Kind
}

// Detail is what happened, for the documents' problem lists, which show
// the kind and the place apart.
func (p problemItem) Detail() string {
	switch p.Kind {
	case problemMissing:
		return "not found in the server folder " + p.Target
	case problemFlags:
		d := "in the server folder " + p.Target
		if p.What != "" {
			d += ": " + p.What
		}
		return d
	}
	return p.What
}

// problemItems lists the problems of rep: the file problems first, then
// the failed and the missing messages in source order.
func problemItems(rep *Report) []problemItem {
	var items []problemItem
	for _, p := range rep.Problems {
		items = append(items, problemItem{Kind: problemUnreadable, Where: problemWhere(p), What: p.Error})
	}
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Decision() == DecisionFailed {
			items = append(items, problemItem{Kind: problemNotUploaded, Where: m.Location(), What: m.Reason, Target: m.Target})
		}
		switch m.Verified {
		case "missing":
			items = append(items, problemItem{Kind: problemMissing, Where: m.Location(), Target: m.Target})
		case "flags differ":
			items = append(items, problemItem{Kind: problemFlags, Where: m.Location(), What: m.Reason, Target: m.Target})
		}
	}
	return items
}

func problemWhere(p Problem) string {
	switch {
	case p.Offset < 0 || p.Path == "":
		return p.Path
	case p.Index > 0:
		return fmt.Sprintf("%s: message %d at byte %d", p.Path, p.Index, p.Offset)
	default:
		return fmt.Sprintf("%s: at byte %d", p.Path, p.Offset)
	}
}

func day(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format("2006-01-02")
}

// errWriter remembers the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
