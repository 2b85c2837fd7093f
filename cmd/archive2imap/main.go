// Command archive2imap migrates local mail archives (mbox, Maildir,
// Thunderbird, Apple Mail, .eml folders) to an IMAP account.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in the README. Commands return errors; exitCode
// maps them, in this one place, to these codes.
const (
	exitOK          = 0   // everything done
	exitFailures    = 1   // some messages failed, were refused, could not be read or are missing (verify)
	exitUsage       = 2   // usage, configuration or source error
	exitConnect     = 3   // cannot connect to or authenticate with the server
	exitStopped     = 4   // the server stopped the run (account full); a rerun continues
	exitBudget      = 5   // the daily upload budget is reached; a rerun after the time the report gives continues
	exitInterrupted = 130 // interrupted (Ctrl-C, SIGTERM); a rerun continues
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first SIGINT/SIGTERM stops the run: it stops sending, waits
	// briefly for the answers to what is in flight and writes its report.
	// The handler is then removed, so a second signal kills at once.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
			signal.Stop(sigs)
			fmt.Fprintln(stderr, "archive2imap: interrupted: finishing what is in flight and writing the report (Ctrl-C again quits at once)")
			cancel()
		case <-done:
		}
	}()
	var err error
	if len(args) == 0 {
		// Nothing to do: a usage error (cobra would print the help and
		// succeed), so that a script calling it wrongly does not pass.
		err = usagef(errors.New("missing command: scan, migrate, verify or demo (see archive2imap --help)"))
	} else {
		root := newRootCmd(stdin, stdout, stderr)
		root.SetArgs(args)
		err = root.ExecuteContext(ctx)
	}
	code := exitCode(err)
	if err != nil && !errors.Is(err, errSilent) {
		fmt.Fprintf(stderr, "archive2imap: %s\n", userMessage(err))
	}
	return code
}
