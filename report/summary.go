package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteSummary writes the short terminal summary of rep: a table per
// folder, the totals, and the problems.
func WriteSummary(w io.Writer, rep *Report) error {
	ew := &errWriter{w: w}
	if rep.Command == CommandScan {
		writeScanTable(ew, rep)
	} else {
		writeMigrateTable(ew, rep)
	}
	writeProblems(ew, rep, 20)
	if rep.StatusText != "" {
		fmt.Fprintf(ew, "\n%s\n", rep.StatusText)
	}
	return ew.err
}

func writeScanTable(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "FOLDER\tFORMAT\tMESSAGES\tSIZE\tNO MSG-ID\tDUP MSG-IDS\tDELETED\tOLDEST\tNEWEST\tPROBLEMS\t")
	row := func(name, format string, c Counters, s Stats) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%d\t\n", name, format, c.Found, HumanBytes(c.Bytes),
			s.MissingMessageID, s.DuplicateMessageIDs, s.Deleted, day(s.Oldest), day(s.Newest), s.Problems)
	}
	for _, f := range rep.Folders {
		row(f.Source, f.Format, f.Counters, f.Stats)
	}
	row("TOTAL", "", rep.Totals.Counters, rep.Totals.Stats)
	tw.Flush()
	fmt.Fprintf(w, "\n%d folders, %d messages (%s)", len(rep.Folders), rep.Totals.Found, HumanBytes(rep.Totals.Bytes))
	if n := rep.Totals.DuplicatesInSource; n > 0 {
		fmt.Fprintf(w, ", %d duplicates within a folder", n)
	}
	if n := rep.Totals.Skipped; n > 0 {
		fmt.Fprintf(w, ", %d would be skipped", n)
	}
	if n := len(rep.Ignored); n > 0 {
		fmt.Fprintf(w, "; %d files ignored (not mail)", n)
	}
	fmt.Fprintln(w, ".")
}

func writeMigrateTable(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SOURCE FOLDER\tTARGET\tFOUND\tDUP IN SOURCE\tON SERVER\tTO UPLOAD\tUPLOADED\tSKIPPED\tFAILED\tSIZE TO UPLOAD\t")
	row := func(src, target string, c Counters) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", src, target, c.Found, c.DuplicatesInSource,
			c.AlreadyOnServer, c.ToUpload, c.Uploaded, c.Skipped, c.Failed, HumanBytes(c.BytesToUpload))
	}
	for _, f := range rep.Folders {
		t := f.Target
		if f.Create {
			t += " (new)"
		}
		row(f.Source, t, f.Counters)
	}
	row("TOTAL", "", rep.Totals.Counters)
	tw.Flush()
	t := rep.Totals
	switch {
	case rep.Command == CommandVerify && rep.Verify != nil:
		v := rep.Verify
		fmt.Fprintf(w, "\nverify: %d checked, %d present, %d missing, %d with different flags.\n", v.Checked, v.Present, v.Missing, v.FlagsDiffer)
	case rep.DryRun:
		fmt.Fprintf(w, "\ndry run: nothing was written. A run would upload %d messages (%s)", t.ToUpload, HumanBytes(t.BytesToUpload))
		if n := countCreate(rep); n > 0 {
			fmt.Fprintf(w, " and create %d folders", n)
		}
		fmt.Fprintln(w, ".")
	default:
		fmt.Fprintf(w, "\nuploaded %d of %d messages (%s)", t.Uploaded, t.ToUpload, HumanBytes(t.BytesUploaded))
		if t.Failed > 0 {
			fmt.Fprintf(w, "; %d failed", t.Failed)
		}
		fmt.Fprintln(w, ".")
	}
}

func countCreate(rep *Report) int {
	n := 0
	seen := map[string]bool{}
	for _, f := range rep.Folders {
		if f.Create && !seen[f.Target] {
			seen[f.Target] = true
			n++
		}
	}
	return n
}

func writeProblems(w io.Writer, rep *Report, max int) {
	var lines []string
	for _, p := range rep.Problems {
		lines = append(lines, problemLine(p))
	}
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Decision() == DecisionFailed {
			lines = append(lines, fmt.Sprintf("%s: not uploaded: %s", m.Location(), m.Reason))
		}
		if m.Verified == "missing" || m.Verified == "flags differ" {
			lines = append(lines, fmt.Sprintf("%s: %s on the server (%s)", m.Location(), m.Verified, m.Target))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "\nProblems (%d):\n", len(lines))
	for i, l := range lines {
		if i == max {
			fmt.Fprintf(w, "  ... and %d more (see the report)\n", len(lines)-max)
			break
		}
		fmt.Fprintf(w, "  %s\n", l)
	}
}

func problemLine(p Problem) string {
	switch {
	case p.Offset < 0 || p.Path == "":
		return strings.TrimPrefix(fmt.Sprintf("%s: %s", p.Path, p.Error), ": ")
	case p.Index > 0:
		return fmt.Sprintf("%s: message %d at byte %d: %s", p.Path, p.Index, p.Offset, p.Error)
	default:
		return fmt.Sprintf("%s: at byte %d: %s", p.Path, p.Offset, p.Error)
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
