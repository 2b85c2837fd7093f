package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/plan"
)

// sourceFlags are the flags that say how to read sources, shared by scan,
// migrate and verify.
type sourceFlags struct {
	format         string
	mboxTimezone   string
	includeDeleted bool
	maxSize        int64
}

func (f *sourceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.format, "format", "auto", "archive layout: auto, mbox, maildir, emlx or eml")
	fs.StringVar(&f.mboxTimezone, "mbox-timezone", "", `time zone of mbox "From " line dates, which carry none (IANA name such as Europe/Berlin, or UTC); default: this computer's`)
	fs.BoolVar(&f.includeDeleted, "include-deleted", false, "also migrate messages the mail client had marked deleted but not yet removed")
}

func (f *sourceFlags) planOptions() (plan.Options, error) {
	format, err := importers.ParseFormat(f.format)
	if err != nil {
		return plan.Options{}, usagef(fmt.Errorf("--format: %w", err))
	}
	opts := plan.Options{
		Import:         importers.Options{Format: format},
		IncludeDeleted: f.includeDeleted,
		MaxSize:        f.maxSize,
	}
	if f.mboxTimezone != "" {
		loc, err := time.LoadLocation(f.mboxTimezone)
		if err != nil {
			return plan.Options{}, usagef(fmt.Errorf("--mbox-timezone: unknown time zone %q", f.mboxTimezone))
		}
		opts.Import.MboxLocation = loc
	}
	return opts, nil
}

// checkSources fails at once, before any reading or connecting, when a
// source path does not exist; the walk of the archives finds the rest.
func checkSources(paths []string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", p, importers.ErrNotFound)
		}
	}
	return nil
}
