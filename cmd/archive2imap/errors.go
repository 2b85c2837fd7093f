package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/uploader"
)

// usageError is a mistake in the command line or configuration.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(err error) error { return usageError{err} }

// errFailures is returned by a command that ran to the end but could not do
// everything (messages failed, parts of a source were unreadable, verify
// found messages missing). What went wrong was already printed.
var errFailures = errors.New("they are listed above and in the report")

// errSilent wraps an error whose message was already printed.
var errSilent = errors.New("")

// exitCode maps an error returned by a command to the documented exit code.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, uploader.ErrBudgetReached):
		return exitBudget
	case errors.As(err, &ue), isCobraUsage(err),
		errors.Is(err, importers.ErrNotFound),
		errors.Is(err, importers.ErrNotMail):
		return exitUsage
	case errors.Is(err, errFailures):
		return exitFailures
	}
	if c, ok := connectExitCode(err); ok {
		return c
	}
	// Anything else is a failure to do the job, not a usage mistake.
	return exitFailures
}

// userMessage is the one line a user sees for err.
func userMessage(err error) string {
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	return err.Error()
}

// minArgs is cobra.MinimumNArgs returning a usage error.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		// The refused --password flag is explained before anything else.
		if f := cmd.Flags().Lookup("password"); f != nil && f.Changed {
			return errNoPasswordFlag
		}
		if len(args) < n {
			return usagef(fmt.Errorf("missing %s (see %s --help)", what, cmd.CommandPath()))
		}
		return nil
	}
}

// isCobraUsage reports whether err is one of cobra's own command-line
// errors, which it returns as plain errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown shorthand flag") ||
		strings.HasPrefix(msg, "unknown flag") || strings.HasPrefix(msg, "invalid argument") ||
		strings.HasPrefix(msg, "flag needs an argument") || strings.HasPrefix(msg, "required flag")
}

// connectExitCode maps connection and login errors.
func connectExitCode(err error) (int, bool) {
	if errors.Is(err, uploader.ErrConnect) || errors.Is(err, uploader.ErrAuth) {
		return exitConnect, true
	}
	if errors.Is(err, uploader.ErrOverQuota) {
		return exitStopped, true
	}
	if errors.Is(err, uploader.ErrBudgetReached) {
		return exitBudget, true
	}
	return 0, false
}
