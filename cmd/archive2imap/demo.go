package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	archive2imap "github.com/archive2imap/archive2imap"
	"github.com/archive2imap/archive2imap/internal/memimap"
)

type demoOptions struct {
	archive string
	keep    bool
}

func newDemoCmd(s *streams) *cobra.Command {
	var opts demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Practise a whole migration against a built-in IMAP server: scan, dry run, run, verify",
		Long: `demo starts a practice IMAP server inside this program (on 127.0.0.1, in
memory: nothing is kept), and migrates a sample archive into it the way you
would migrate a customer's: scan, dry run, the run, verify, and a second
run that uploads nothing. It prints each command as you would type it
against a real server.

--archive migrates your own archive into the practice server instead of
the built-in sample (your files are only read).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), opts, s)
		},
	}
	cmd.Flags().StringVar(&opts.archive, "archive", "", "migrate this archive instead of the built-in sample")
	cmd.Flags().BoolVar(&opts.keep, "keep-running", false, "keep the practice server running at the end (until Ctrl-C), to look at it with a mail client")
	return cmd
}

func runDemo(ctx context.Context, opts demoOptions, s *streams) error {
	tmp, err := os.MkdirTemp("", "archive2imap-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	archive := opts.archive
	if archive == "" {
		archive = filepath.Join(tmp, "sample")
		if err := extractSample(archive); err != nil {
			return fmt.Errorf("unpacking the sample archive: %w", err)
		}
	}
	password := randomHex(12)
	srv, err := memimap.Start(memimap.Options{
		User: "demo@example.org", Password: password,
		// Named as Outlook-era servers name them, to show special-use mapping.
		SpecialUse: map[string]string{`\Sent`: "Sent Items", `\Drafts`: "Drafts", `\Trash`: "Deleted Items", `\Junk`: "Junk E-mail", `\Archive`: "Archive"},
	})
	if err != nil {
		return fmt.Errorf("starting the practice server: %w", err)
	}
	defer srv.Close()
	pwFile := filepath.Join(tmp, "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	port := strconv.Itoa(srv.Port())
	conn := []string{"--host", srv.Host(), "--port", port, "--tls", "none", "--user", "demo@example.org", "--password-file", pwFile}
	// The practice account's ledger lives and dies with it.
	ledger := []string{"--ledger", filepath.Join(tmp, "ledger.jsonl")}
	shown := []string{"--host", "mail.example.org", "--user", "demo@example.org", "--password-file", "password.txt"}
	fmt.Fprintf(s.out, "Practice IMAP server running on %s (user demo@example.org), with folders %s.\n", srv.Addr, strings.Join(srv.Mailboxes(), ", "))
	fmt.Fprintf(s.out, "Archive: %s\n", archive)

	steps := []struct {
		title string
		args  []string
		show  []string
	}{
		{"1. Inventory the archive (offline)", []string{"scan", archive}, []string{"scan", "ARCHIVE"}},
		{"2. Dry run: what would happen (nothing is written)", append(append([]string{"migrate", archive, "--dry-run", "--report", filepath.Join(tmp, "plan.html")}, ledger...), conn...), append([]string{"migrate", "ARCHIVE", "--dry-run", "--report", "plan.html"}, shown...)},
		{"3. The migration", append(append([]string{"migrate", archive, "--report", filepath.Join(tmp, "result.json")}, ledger...), conn...), append([]string{"migrate", "ARCHIVE", "--report", "result.json"}, shown...)},
		{"4. Verify that everything arrived", append([]string{"verify", archive}, conn...), append([]string{"verify", "ARCHIVE"}, shown...)},
		{"5. Run again: nothing is uploaded twice", append(append([]string{"migrate", archive}, ledger...), conn...), append([]string{"migrate", "ARCHIVE"}, shown...)},
	}
	for _, st := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(s.out, "\n== %s\n$ archive2imap %s\n\n", st.title, strings.Join(st.show, " "))
		root := newRootCmd(s.in, s.out, s.errOut)
		root.SetArgs(append(st.args, "--quiet"))
		if err := root.ExecuteContext(ctx); err != nil {
			if exitCode(err) != exitFailures {
				return err
			}
			fmt.Fprintf(s.out, "(%s)\n", userMessage(err))
		}
	}
	fmt.Fprintf(s.out, `
That was the whole job. To migrate for real, point the same commands at the
customer's server: --host (and --port/--tls if it is not implicit TLS on 993),
--user, and the password in a file (--password-file) or in $%s,
or typed when asked. Always start with --dry-run and keep its report.
`, passwordEnv)
	if opts.keep {
		fmt.Fprintf(s.out, "\nThe practice server keeps running on %s (user demo@example.org, password %s, no TLS). Ctrl-C stops it.\n", srv.Addr, password)
		<-ctx.Done()
	}
	return nil
}

// extractSample writes the embedded sample archive to dir.
func extractSample(dir string) error {
	return fs.WalkDir(archive2imap.SampleArchive, "testdata/sample", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/sample", p)
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := archive2imap.SampleArchive.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
