package report

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// mdMaxList caps the problem and ignored-file lists of the Markdown report:
// a ticket wants the first few, the CSV and JSON reports hold them all.
const mdMaxList = 50

// WriteMarkdown writes a summary of rep for a ticket: a title naming the
// command and whether it was a dry run, the run facts, the status and the
// headline sentence, the totals, the folder mapping, and the problems
// (capped at 50). Names and subjects are escaped so that no Markdown
// renderer reads them as markup.
func WriteMarkdown(w io.Writer, rep *Report) error {
	ew := &errWriter{w: w}
	p := func(format string, args ...any) { fmt.Fprintf(ew, format, args...) }

	p("# %s\n\n", mdEscape(docTitle(rep)))
	for _, f := range runFacts(rep) {
		switch len(f.Values) {
		case 0:
		case 1:
			p("- **%s:** %s\n", f.Label, mdEscape(f.Values[0]))
		default:
			p("- **%s:**\n", f.Label)
			for _, v := range f.Values {
				p("  - %s\n", mdEscape(v))
			}
		}
	}
	p("\n**Status: %s.** %s\n", statusWord(rep.Status), mdEscape(headline(rep)))
	if rep.StatusText != "" && rep.Status != StatusFailed { // a failure's text is the headline
		p("\n%s\n", mdEscape(rep.StatusText))
	}

	p("\n## Totals\n\n")
	p("| | Messages | Size |\n|---|--:|--:|\n")
	for _, r := range totalRows(rep) {
		size := ""
		if r.Bytes >= 0 {
			size = HumanBytes(r.Bytes)
		}
		p("| %s | %s | %s |\n", r.Label, num(r.N), size)
	}
	if rep.Command == CommandScan && rep.Totals.Oldest != nil {
		p("\nDates range from %s to %s.\n", day(rep.Totals.Oldest), day(rep.Totals.Newest))
	}

	p("\n## Folders\n\n")
	writeMarkdownFolders(ew, rep)

	items := problemItems(rep)
	p("\n## Problems (%s)\n\n", num(len(items)))
	if len(items) == 0 {
		p("None.\n")
	}
	for i, it := range items {
		if i == mdMaxList {
			p("\n… and %s more: the CSV report lists every message with its decision, the JSON report every problem.\n", num(len(items)-mdMaxList))
			break
		}
		where := ""
		if it.Where != "" {
			where = mdEscape(it.Where) + ": "
		}
		p("- **%s:** %s%s\n", it.Title(), where, mdEscape(it.Detail()))
	}

	if len(rep.Ignored) > 0 {
		p("\n## Ignored files (%s)\n\nNot mail, so not migrated:\n\n", num(len(rep.Ignored)))
		for i, ig := range rep.Ignored {
			if i == mdMaxList {
				p("\n… and %s more: see the JSON report.\n", num(len(rep.Ignored)-mdMaxList))
				break
			}
			p("- %s: %s\n", mdEscape(ig.Path), mdEscape(ig.Reason))
		}
	}
	return ew.err
}

func writeMarkdownFolders(w io.Writer, rep *Report) {
	if len(rep.Folders) == 0 {
		fmt.Fprintf(w, "No folders.\n")
		return
	}
	rows := folderRows(rep)
	row := func(cells ...string) { fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | ")) }
	switch {
	case rep.Command == CommandScan:
		row("Folder", "Format", "Messages", "Size", "Duplicates", "Would be skipped", "No Message-ID", "Marked deleted", "Oldest", "Newest", "Problems")
		row("---", "---", "--:", "--:", "--:", "--:", "--:", "--:", "---", "---", "--:")
		for _, f := range rows {
			c, s := f.Counters, f.Stats
			row(mdEscape(f.Source), mdEscape(f.Format), num(c.Found), HumanBytes(c.Bytes), num(c.DuplicatesInSource), num(c.Skipped),
				num(s.MissingMessageID), num(s.Deleted), day(s.Oldest), day(s.Newest), num(s.Problems))
		}
	case rep.Command == CommandVerify:
		row("Source folder", "Target", "Found", "Checked", "On the server", "Missing", "Flags differ", "Not checked")
		row("---", "---", "--:", "--:", "--:", "--:", "--:", "--:")
		for _, f := range rows {
			v := f.Verify
			row(mdEscape(f.Source), mdEscape(f.Target), num(f.Found), num(v.Checked), num(v.Present), num(v.Missing), num(v.FlagsDiffer), num(v.NotExpected))
		}
	default:
		moved := "To upload"
		if !rep.DryRun {
			moved = "Uploaded"
		}
		row("Source folder", "Target", "Why", "New?", "Found", moved, "On server", "Duplicates", "Skipped", "Failed")
		row("---", "---", "---", "---", "--:", "--:", "--:", "--:", "--:", "--:")
		for _, f := range rows {
			c := f.Counters
			n := num(c.ToUpload)
			if !rep.DryRun {
				n = num(c.Uploaded) + " of " + num(c.ToUpload)
			}
			isNew := "no"
			if f.Create {
				isNew = "yes"
			}
			row(mdEscape(f.Source), mdEscape(f.Target), mdEscape(f.Why), isNew, num(c.Found), n,
				num(c.AlreadyOnServer), num(c.DuplicatesInSource), num(c.Skipped), num(c.Failed))
		}
	}
}

// mdSpecial matches what a Markdown (CommonMark, GFM) renderer could read
// as markup inside a line: emphasis, code, links, raw HTML, table cells,
// strikethrough, and an ampersand that starts an entity.
var mdSpecial = regexp.MustCompile("[\\\\`*_\\[\\]<>|~]|&(#?[A-Za-z0-9]+;)")

// mdEscape makes s plain text on one Markdown line: line breaks become
// spaces and markup characters are escaped with a backslash.
func mdEscape(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	return mdSpecial.ReplaceAllStringFunc(s, func(m string) string { return `\` + m })
}

// Wording shared by the Markdown and HTML documents.

// docTitle names the document: the tool, the command, and whether the run
// was a dry run.
func docTitle(rep *Report) string {
	tool := rep.Tool
	if tool == "" {
		tool = "archive2imap"
	}
	cmd := rep.Command
	if cmd == "" {
		cmd = "report"
	}
	if rep.DryRun {
		cmd += " (dry run)"
	}
	return tool + " " + cmd
}

// statusWord says a status for people.
func statusWord(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// headline sums up the run in one sentence for a reader who reads nothing
// else.
func headline(rep *Report) string {
	t := rep.Totals
	acct := account(rep)
	var b strings.Builder
	parts := func(ps []string) {
		for _, p := range ps {
			b.WriteString("; ")
			b.WriteString(p)
		}
	}
	if rep.Status == StatusFailed {
		what := map[string]string{CommandScan: "Scan", CommandVerify: "Verification"}[rep.Command]
		switch {
		case what != "":
		case rep.DryRun:
			what = "Dry run"
		default:
			what = "Migration"
		}
		why := rep.StatusText
		if why == "" {
			why = "stopped before any work"
		}
		return what + " failed: " + strings.TrimSuffix(why, ".") + "."
	}
	switch {
	case rep.Command == CommandScan:
		if t.Found == 0 {
			b.WriteString("Scan: no messages found")
		} else {
			fmt.Fprintf(&b, "Scan: %s (%s) in %s", plural(t.Found, "message", "messages"), HumanBytes(t.Bytes), plural(len(rep.Folders), "folder", "folders"))
		}
		var ps []string
		if n := t.DuplicatesInSource; n > 0 {
			ps = append(ps, plural(n, "duplicate", "duplicates")+" within a folder")
		}
		if n := t.Skipped; n > 0 {
			ps = append(ps, num(n)+" would be skipped")
		}
		if n := len(rep.Problems); n > 0 {
			ps = append(ps, plural(n, "part", "parts")+" could not be read")
		}
		parts(ps)
		b.WriteString(". No server was contacted.")

	case rep.Command == CommandVerify:
		v := verifyTotals(rep)
		switch {
		case v.Checked == 0:
			fmt.Fprintf(&b, "Verification: no messages to check on the server (%s)", acct)
		case v.Missing == 0 && v.Checked == 1:
			fmt.Fprintf(&b, "Verification: the one message checked is on the server (%s)", acct)
		case v.Missing == 0:
			fmt.Fprintf(&b, "Verification: all %s are on the server (%s)", plural(v.Checked, "message", "messages"), acct)
		default:
			fmt.Fprintf(&b, "Verification: %s of %s %s missing from the server (%s)", num(v.Missing), plural(v.Checked, "message", "messages"), isAre(v.Missing), acct)
		}
		var ps []string
		if n := v.FlagsDiffer; n > 0 {
			ps = append(ps, num(n)+" "+map[bool]string{true: "has", false: "have"}[n == 1]+" different flags")
		}
		if n := v.MissingFolds; n > 0 {
			ps = append(ps, plural(n, "target folder", "target folders")+" "+isAre(n)+" missing")
		}
		if n := v.NotExpected; n > 0 {
			ps = append(ps, num(n)+" "+wasWere(n)+" not checked (duplicates or skipped)")
		}
		parts(ps)
		b.WriteString(".")

	case rep.DryRun:
		folders, created := targetFolders(rep, func(f *Folder) bool { return f.ToUpload > 0 })
		switch {
		case t.Found == 0:
			b.WriteString("Dry run: no messages found in the source")
		case t.ToUpload == 0:
			fmt.Fprintf(&b, "Dry run: nothing would be uploaded to %s", acct)
		default:
			fmt.Fprintf(&b, "Dry run: %s (%s) would be uploaded to %s into %s", plural(t.ToUpload, "message", "messages"), HumanBytes(t.BytesToUpload), acct, plural(folders, "folder", "folders"))
			if created > 0 {
				fmt.Fprintf(&b, " (%s new)", num(created))
			}
		}
		var ps []string
		if n := t.Labels; n > 0 {
			ps = append(ps, labelWords(n, false))
		}
		if n := t.AlreadyOnServer; n > 0 {
			ps = append(ps, num(n)+" "+isAre(n)+" already there")
		}
		if n := t.Failed; n > 0 {
			ps = append(ps, num(n)+" cannot be uploaded (see the problems)")
		}
		ps = append(ps, "nothing was written")
		parts(ps)
		b.WriteString(".")
		if s := budgetSentence(rep); s != "" {
			b.WriteString(" " + s)
		}

	default:
		folders, created := targetFolders(rep, func(f *Folder) bool { return f.Uploaded > 0 })
		switch rep.Status {
		case StatusIncomplete:
			b.WriteString("Migration incomplete: ")
		case StatusInterrupted:
			b.WriteString("Migration interrupted: ")
		default:
			b.WriteString("Migration complete: ")
		}
		switch {
		case t.Found == 0:
			b.WriteString("no messages found in the source")
		case t.ToUpload == 0:
			fmt.Fprintf(&b, "nothing to upload to %s", acct)
		case t.Uploaded == t.ToUpload:
			fmt.Fprintf(&b, "%s (%s) uploaded to %s into %s", plural(t.Uploaded, "message", "messages"), HumanBytes(t.BytesUploaded), acct, plural(folders, "folder", "folders"))
			if created > 0 {
				fmt.Fprintf(&b, " (%s new)", num(created))
			}
		default:
			fmt.Fprintf(&b, "%s of %s (%s) uploaded to %s", num(t.Uploaded), plural(t.ToUpload, "message", "messages"), HumanBytes(t.BytesUploaded), acct)
		}
		var ps []string
		if n := t.Labels; n > 0 && t.Uploaded > 0 {
			ps = append(ps, labelWords(n, true))
		}
		if n := t.Failed; n > 0 {
			ps = append(ps, num(n)+" failed (see the problems)")
		}
		if n := countDecision(rep, DecisionPending); n > 0 {
			ps = append(ps, num(n)+" not done yet")
		}
		if n := t.AlreadyOnServer; n > 0 {
			ps = append(ps, num(n)+" "+wasWere(n)+" already there")
		}
		if rep.Status == StatusInterrupted {
			ps = append(ps, "run the same command again to continue")
		}
		parts(ps)
		b.WriteString(".")
	}
	return b.String()
}

// labelWords says that n of the messages to upload go to a folder of a
// message the account stores once (Gmail's labels): they add a label, not
// another copy.
func labelWords(n int, done bool) string {
	verb := map[bool]string{true: "adds", false: "add"}[n == 1]
	if done {
		verb = "added"
	}
	return fmt.Sprintf("%s of them %s a label to a message in another folder, not another copy (Gmail stores it once)", num(n), verb)
}

// budgetSentence states a dry run's upload budget: "2.1 GB to upload; at
// Gmail's ~500 MB/day this takes 5 days."; "" without a budget.
func budgetSentence(rep *Report) string {
	bg := rep.Budget
	if bg == nil || rep.Command != CommandMigrate || (bg.BytesPerDay <= 0 && bg.BytesPerSecond <= 0) {
		return ""
	}
	var ps []string
	if bg.BytesPerDay > 0 {
		at := bg.Label
		if at == "" {
			at = "the budget of " + HumanBytes(bg.BytesPerDay) + "/day"
		}
		s := fmt.Sprintf("%s to upload; at %s this takes %s", HumanBytes(bg.BytesToUpload), at, plural(max(bg.Days, 1), "day", "days"))
		if bg.UsedLast24h > 0 {
			s += fmt.Sprintf(" (counting the %s uploaded in the last 24 hours)", HumanBytes(bg.UsedLast24h))
		}
		if bg.Days > 1 {
			if bg.Wait {
				s += ", waiting for the budget between days"
			} else {
				s += ": each run stops at the budget, run the same command again the next day"
			}
		}
		ps = append(ps, s)
	}
	if bg.BytesPerSecond > 0 {
		d := time.Duration(float64(bg.BytesToUpload) / float64(bg.BytesPerSecond) * float64(time.Second))
		ps = append(ps, fmt.Sprintf("at most %s/s, sending takes at least %s", HumanBytes(bg.BytesPerSecond), roughDuration(d)))
	}
	s := strings.Join(ps, "; ")
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// roughDuration says d for people: "40 s", "12 min", "3 h 20 min".
func roughDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Round(time.Minute)/time.Minute))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%d h %d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// account names the target account: the user on the host.
func account(rep *Report) string {
	s := rep.Server
	switch {
	case s == nil || (s.Host == "" && s.User == ""):
		return "the server"
	case s.User == "":
		return s.Host
	case s.Host == "":
		return s.User
	}
	return s.User + " on " + s.Host
}

// targetFolders counts the distinct targets of the folders pick selects,
// and how many of them are created by the run.
func targetFolders(rep *Report, pick func(*Folder) bool) (n, created int) {
	seen := make(map[string]bool)
	for i := range rep.Folders {
		f := &rep.Folders[i]
		if !pick(f) || seen[f.Target] {
			continue
		}
		seen[f.Target] = true
		n++
		if f.Create {
			created++
		}
	}
	return n, created
}

func countDecision(rep *Report, d string) int {
	n := 0
	for i := range rep.Messages {
		if rep.Messages[i].Decision() == d {
			n++
		}
	}
	return n
}

// verifyTotals is rep.Verify, or what the messages say when verify left
// no summary.
func verifyTotals(rep *Report) Verify {
	if rep.Verify != nil {
		return *rep.Verify
	}
	var v Verify
	for i := range rep.Messages {
		tallyVerified(&v, rep.Messages[i].Verified)
	}
	return v
}

// tallyVerified counts one message's verify result in v: present, missing
// or flags differ; anything else was not checked.
func tallyVerified(v *Verify, verified string) {
	switch verified {
	case "present":
		v.Checked++
		v.Present++
	case "missing":
		v.Checked++
		v.Missing++
	case "flags differ":
		v.Checked++
		v.FlagsDiffer++
	default:
		v.NotExpected++
	}
}

// A folderRow is one line of the folder tables: the folder, why it goes
// to its target in plain words, and what verify found in it.
type folderRow struct {
	Folder
	Why    string
	Verify Verify
}

func folderRows(rep *Report) []folderRow {
	rows := make([]folderRow, len(rep.Folders))
	idx := make(map[string]int, len(rep.Folders))
	for i := range rep.Folders {
		f := &rep.Folders[i]
		rows[i] = folderRow{Folder: *f, Why: reasonWords(f.Reason)}
		idx[f.Source] = i
	}
	if rep.Command == CommandVerify {
		for i := range rep.Messages {
			m := &rep.Messages[i]
			if j, ok := idx[m.Folder]; ok {
				tallyVerified(&rows[j].Verify, m.Verified)
			}
		}
	}
	return rows
}

// verifySum adds up the verify results of the folder rows.
func verifySum(rows []folderRow) Verify {
	var v Verify
	for _, f := range rows {
		v.Checked += f.Verify.Checked
		v.Present += f.Verify.Present
		v.Missing += f.Verify.Missing
		v.FlagsDiffer += f.Verify.FlagsDiffer
		v.NotExpected += f.Verify.NotExpected
	}
	return v
}

// specialUse names the special-use attributes (RFC 6154) for people: what
// the folder holds, and what a mail client calls the server's folder.
var specialUse = map[string][2]string{
	`\sent`:    {"Sent items", "Sent"},
	`\drafts`:  {"Drafts", "Drafts"},
	`\trash`:   {"Deleted items", "Trash"},
	`\junk`:    {"Junk mail", "Junk"},
	`\archive`: {"Archive", "Archive"},
	`\all`:     {"All mail", "All Mail"},
	`\flagged`: {"Flagged mail", "Flagged"},
}

// reasonWords says a Folder.Reason in plain words.
func reasonWords(reason string) string {
	r := strings.TrimSpace(reason)
	rest := func(prefix string) string {
		return strings.TrimLeft(strings.TrimSpace(r[len(prefix):]), ":=- ")
	}
	switch {
	case r == "":
		return ""
	case strings.HasPrefix(r, MapInbox):
		return "Inbox: goes to the server's INBOX"
	case strings.HasPrefix(r, MapSpecialUse):
		attr := rest(MapSpecialUse)
		if w, ok := specialUse[strings.ToLower(attr)]; ok {
			return fmt.Sprintf("%s: matched the server's %s folder", w[0], w[1])
		}
		if attr != "" {
			return "matched the server's " + attr + " folder"
		}
		return "matched a special folder of the server"
	case strings.HasPrefix(r, MapFolderMap):
		if d := rest(MapFolderMap); d != "" {
			return "set by --folder-map (" + d + ")"
		}
		return "set by --folder-map"
	case strings.HasPrefix(r, MapName):
		return "same name as in the archive"
	}
	return r
}

// dedupeWords says the dedup scope in plain words.
func dedupeWords(scope string) string {
	switch scope {
	case "folder":
		return "within each target folder (folder)"
	case "account":
		return "across the whole account (account)"
	}
	return scope
}

// A totalRow is one line of the totals table; Bytes is -1 when a size
// means nothing for the line.
type totalRow struct {
	Label string
	N     int
	Bytes int64
}

func totalRows(rep *Report) []totalRow {
	t := rep.Totals
	if rep.Command == CommandScan {
		return []totalRow{
			{"Messages found", t.Found, t.Bytes},
			{"Duplicates within a folder", t.DuplicatesInSource, -1},
			{"Would be skipped", t.Skipped, -1},
			{"Without a Message-ID", t.MissingMessageID, -1},
			{"Marked deleted", t.Deleted, -1},
			{"Parts that could not be read", len(rep.Problems), -1},
		}
	}
	if rep.Command == CommandVerify {
		v := verifyTotals(rep)
		return []totalRow{
			{"Found in the archive", t.Found, t.Bytes},
			{"Checked on the server", v.Checked, -1},
			{"Found on the server", v.Present, -1},
			{"Missing from the server", v.Missing, -1},
			{"Flags differ", v.FlagsDiffer, -1},
			{"Not checked (duplicates, skipped)", v.NotExpected, -1},
		}
	}
	rows := []totalRow{
		{"Found in the archive", t.Found, t.Bytes},
		{"Duplicates in the archive", t.DuplicatesInSource, -1},
		{"Already on the server", t.AlreadyOnServer, -1},
		{"Skipped", t.Skipped, -1},
		{"To upload", t.ToUpload, t.BytesToUpload},
	}
	if t.Labels > 0 {
		rows = append(rows, totalRow{"Of which labels (a message stored once, in several folders)", t.Labels, -1})
	}
	if !rep.DryRun {
		rows = append(rows, totalRow{"Uploaded", t.Uploaded, t.BytesUploaded})
		if n := countDecision(rep, DecisionPending); n > 0 {
			rows = append(rows, totalRow{"Not done yet", n, -1})
		}
	}
	return append(rows, totalRow{"Failed", t.Failed, -1})
}

// A fact is one line of the run facts.
type fact struct {
	Label  string
	Values []string
}

func runFacts(rep *Report) []fact {
	var fs []fact
	add := func(label string, vs ...string) {
		var keep []string
		for _, v := range vs {
			if v != "" {
				keep = append(keep, v)
			}
		}
		if len(keep) > 0 {
			fs = append(fs, fact{label, keep})
		}
	}
	add("Tool", strings.TrimSpace(rep.Tool+" "+rep.Version))
	cmd := rep.Command
	if rep.DryRun {
		cmd += " --dry-run (nothing written)"
	}
	add("Command", cmd)
	if !rep.Started.IsZero() {
		add("Started", stamp(rep.Started))
	}
	if !rep.Finished.IsZero() {
		f := stamp(rep.Finished)
		if !rep.Started.IsZero() {
			f += " (took " + rep.Finished.Sub(rep.Started).Round(time.Second).String() + ")"
		}
		add("Finished", f)
	}
	var srcs []string
	for _, s := range rep.Sources {
		v := s.Path
		var d []string
		if s.Format != "" {
			d = append(d, s.Format)
		}
		if n := len(s.Files); n > 0 {
			var size int64
			for _, f := range s.Files {
				size += f.Size
			}
			d = append(d, plural(n, "file", "files")+", "+HumanBytes(size))
		}
		if len(d) > 0 {
			v += " (" + strings.Join(d, ", ") + ")"
		}
		srcs = append(srcs, v)
	}
	add("Sources", srcs...)
	if s := rep.Server; s != nil {
		host := s.Host
		if s.Port != 0 {
			host += ":" + strconv.Itoa(s.Port)
		}
		if s.TLS != "" {
			host += " (" + s.TLS + ")"
		}
		if s.Provider != "" {
			host += ", " + s.Provider
		}
		add("Server", host)
		user := s.User
		if s.Auth != "" && user != "" {
			user += " (sign-in: " + s.Auth + ")"
		}
		add("User", user)
		if len(s.Capabilities) > 0 {
			add("Server capabilities", strings.Join(s.Capabilities, " "))
		}
		add("Provider profile", s.ProviderNotes...)
	} else if rep.Command == CommandScan {
		add("Server", "none: a scan reads the archive only")
	}
	add("Duplicates looked for", dedupeWords(rep.Dedupe))
	return fs
}

// stamp formats a time of the run, in its own zone.
func stamp(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") }

// num formats n with thousands separators: 1,234,567.
func num[T ~int | ~int64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// plural formats a count with its noun: "1 message", "1,204 messages".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return num(n) + " " + many
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}
