package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=..."; when it
// is not, the module version from the build info is used.
var version = ""

func toolVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// streams are the command's standard streams, kept for tests.
type streams struct {
	in          io.Reader
	out, errOut io.Writer
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	s := &streams{in: stdin, out: stdout, errOut: stderr}
	root := &cobra.Command{
		Use:   "archive2imap",
		Short: "Migrate local mail archives (mbox, Maildir, Thunderbird, Apple Mail, .eml) to an IMAP account",
		Long: `archive2imap moves mail kept in local archives by POP3-era clients onto an
IMAP server: into the right folders, with read/flag state and original
dates, without duplicates, never changing the source or anything already
on the server.

Start with "archive2imap demo" to see a whole migration against a built-in
practice server, or "archive2imap scan ARCHIVE" to inventory an archive.`,
		Version:       toolVersion(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("archive2imap {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// --password is refused on every command, not only unknown.
		if err.Error() == "unknown flag: --password" {
			return errNoPasswordFlag
		}
		return usagef(fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	root.AddCommand(newScanCmd(s), newMigrateCmd(s), newVerifyCmd(s), newDemoCmd(s), newReportCmd(s))
	root.AddCommand(newBatchCmd(s))
	return root
}
