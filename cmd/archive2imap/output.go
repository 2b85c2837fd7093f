package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/archive2imap/archive2imap/report"
)

// outputFlags say where results go: report files, JSON on stdout, and how
// much to show on the terminal.
type outputFlags struct {
	reports []string
	json    bool
	quiet   bool
}

func (f *outputFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.reports, "report", nil, "write the report to `FILE`; the extension picks the format: .json, .csv, .md or .html (repeatable)")
	fs.BoolVar(&f.json, "json", false, "print the JSON report on standard output instead of the summary table (for scripts)")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bars or log lines; only the summary and errors")
}

// output is an opened outputFlags: the progress display and what finish
// writes.
type output struct {
	flags    outputFlags
	s        *streams
	started  time.Time
	progress report.Progress
}

func (f *outputFlags) open(s *streams) (*output, error) {
	for _, p := range f.reports {
		if _, err := report.FormatOf(p); err != nil {
			return nil, usagef(fmt.Errorf("--report %s: %w", p, err))
		}
	}
	o := &output{flags: *f, s: s, started: time.Now()}
	switch {
	case f.quiet:
		o.progress = report.NoProgress
	case isTerminal(s.errOut):
		o.progress = newBarProgress(s.errOut)
	default:
		o.progress = newLogProgress(s.errOut)
	}
	return o, nil
}

func (o *output) close() { o.progress.Finish() }

// stamp fills the run fields of rep.
func (o *output) stamp(rep *report.Report, command string) {
	rep.Tool = "archive2imap"
	rep.Version = toolVersion()
	rep.Command = command
	rep.Started = o.started
	rep.Finished = time.Now()
}

// finish prints the summary (or the JSON report) and writes report files.
func (o *output) finish(rep *report.Report) error {
	o.progress.Finish()
	var err error
	if o.flags.json {
		err = report.WriteJSON(o.s.out, rep)
	} else {
		err = report.WriteSummary(o.s.out, rep)
	}
	if err != nil {
		return fmt.Errorf("writing to standard output: %w", err)
	}
	for _, p := range o.flags.reports {
		if err := report.WriteFile(p, rep); err != nil {
			return err
		}
		if !o.flags.json && !o.flags.quiet {
			fmt.Fprintf(o.s.errOut, "report written to %s\n", p)
		}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
