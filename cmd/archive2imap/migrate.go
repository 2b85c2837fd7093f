package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
	"github.com/archive2imap/archive2imap/uploader"
)

// targetFlags say where source folders go and what counts as a
// duplicate; migrate and verify share them so that verify checks what
// migrate did.
type targetFlags struct {
	folderMap    string
	targetPrefix string
	dedupe       string
}

func (f *targetFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.folderMap, "folder-map", "", "`FILE` of \"source folder = target folder\" lines that override where folders go")
	fs.StringVar(&f.targetPrefix, "target-prefix", "", "put every folder under this server folder (e.g. \"Old mail\")")
	fs.StringVar(&f.dedupe, "dedupe", uploader.DedupeFolder, "skip a message already on the server in its target folder (folder), or in any folder (account)")
}

func (f *targetFlags) planOptions() (uploader.PlanOptions, error) {
	opts := uploader.PlanOptions{Dedupe: f.dedupe, Folders: uploader.FolderOptions{Prefix: f.targetPrefix}}
	switch f.dedupe {
	case uploader.DedupeFolder, uploader.DedupeAccount:
	default:
		return opts, usagef(fmt.Errorf("--dedupe: want folder or account, not %q", f.dedupe))
	}
	if f.folderMap != "" {
		fh, err := os.Open(f.folderMap)
		if err != nil {
			return opts, usagef(fmt.Errorf("--folder-map: %w", err))
		}
		defer fh.Close()
		m, err := uploader.ParseFolderMap(fh, f.folderMap)
		if err != nil {
			return opts, usagef(fmt.Errorf("--folder-map: %w", err))
		}
		opts.Folders.Map = m
	}
	return opts, nil
}

type migrateOptions struct {
	sources     sourceFlags
	server      serverFlags
	target      targetFlags
	output      outputFlags
	dryRun      bool
	connections int
	retries     int
	ledger      string
	noLedger    bool
}

func newMigrateCmd(s *streams) *cobra.Command {
	var opts migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate SOURCE... --host HOST --user USER [--dry-run]",
		Short: "Upload local mail archives into an IMAP account (start with --dry-run)",
		Long: `migrate reads the archives, finds out what the IMAP account already has
(by Message-ID, or a fingerprint for messages without one), and APPENDs the
rest into the matching folders with their flags and original dates. Inbox
goes to INBOX, Sent/Drafts/Trash/Junk/Archive to the server's special-use
folders whatever they are called, other folders keep their names and
nesting; missing folders are created.

It never deletes, moves or changes anything on the server, and never writes
to the source. Running it again uploads nothing twice.

--dry-run does everything but write: it connects, maps folders, checks for
duplicates and reports exactly what a run would do.

Exit codes: 0 all done; 1 some messages failed or were refused; 2 usage,
configuration or source error; 3 cannot connect or log in; 4 the server
stopped the run (account full); 130 interrupted (rerun to continue).`,
		Args: minArgs(1, "SOURCE (an mbox file or an archive directory)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMigrate(cmd.Context(), opts, cmd.Flags(), args, s)
		},
	}
	fs := cmd.Flags()
	opts.sources.register(fs)
	fs.Int64Var(&opts.sources.maxSize, "max-size", 0, "skip messages larger than this many bytes (0: no limit besides the server's)")
	opts.server.register(fs)
	opts.target.register(fs)
	opts.output.register(fs)
	fs.BoolVarP(&opts.dryRun, "dry-run", "n", false, "write nothing: report what a run would do")
	fs.IntVar(&opts.connections, "connections", uploader.DefaultConnections, fmt.Sprintf("parallel upload connections (1-%d)", uploader.MaxConnections))
	fs.IntVar(&opts.retries, "retries", 5, "reconnect this many times when a connection breaks before giving a folder up")
	fs.StringVar(&opts.ledger, "ledger", "", "record every uploaded message in this `FILE` (JSON lines); reruns read it to fetch less from the server (default: one per account under $XDG_STATE_HOME/archive2imap, or ~/.local/state/archive2imap)")
	fs.BoolVar(&opts.noLedger, "no-ledger", false, "keep no ledger")
	return cmd
}

func runMigrate(ctx context.Context, opts migrateOptions, fs *pflag.FlagSet, paths []string, s *streams) error {
	popts, err := opts.sources.planOptions()
	if err != nil {
		return err
	}
	topts, err := opts.target.planOptions()
	if err != nil {
		return err
	}
	if opts.connections < 1 || opts.connections > uploader.MaxConnections {
		return usagef(fmt.Errorf("--connections: want 1 to %d", uploader.MaxConnections))
	}
	cfg, err := opts.server.config(fs, s)
	if err != nil {
		return err
	}
	cfg.DryRun = opts.dryRun
	if err := checkSources(paths); err != nil {
		return err
	}
	out, err := opts.output.open(s)
	if err != nil {
		return err
	}
	defer out.close()
	// Log in before the archives are read, which can take minutes: a
	// wrong password or an unreachable server is reported at once.
	cl, err := uploader.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { cl.Close() }()
	popts.Progress = out.progress
	rep, err := plan.Inventory(ctx, paths, popts)
	if err != nil {
		return err
	}
	rep.DryRun = opts.dryRun
	rep.Server = serverInfo(cfg)
	if cl, err = reconnectIfIdle(ctx, cl, cfg); err != nil {
		return err
	}
	ledger, err := openLedger(opts, cfg)
	if err != nil {
		return err
	}
	if ledger != nil {
		rep.Ledger = ledger.Path()
	}
	topts.Progress = out.progress
	topts.Ledger = ledger
	if err := uploader.Plan(ctx, rep, cl, topts); err != nil {
		ledger.Close()
		return err
	}
	var runErr error
	if !opts.dryRun {
		runErr = uploader.Execute(ctx, rep, cfg, cl, uploader.ExecOptions{
			Connections: opts.connections, Retries: opts.retries,
			Import: popts.Import, Progress: out.progress, Ledger: ledger,
		})
	}
	if err := ledger.Close(); err != nil {
		// The upload itself is fine; say so and go on.
		fmt.Fprintf(s.errOut, "warning: %v\n", err)
	}
	return finishRun(ctx, out, rep, report.CommandMigrate, runErr)
}

// openLedger opens the run's ledger: --ledger, or the account's in the
// user's state directory; read-only for a dry run (which writes nothing
// and takes no lock); none with --no-ledger.
func openLedger(opts migrateOptions, cfg *uploader.Config) (*uploader.Ledger, error) {
	if opts.noLedger {
		if opts.ledger != "" {
			return nil, usagef(errors.New("--ledger and --no-ledger contradict each other"))
		}
		return nil, nil
	}
	path := opts.ledger
	if path == "" {
		dir := os.Getenv("XDG_STATE_HOME")
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, nil // nowhere to keep one: run without
			}
			dir = filepath.Join(home, ".local", "state")
		}
		name := fmt.Sprintf("%s@%s_%d.ledger.jsonl", cfg.User, cfg.Host, cfg.Port)
		name = strings.Map(func(r rune) rune {
			if r == '/' || r == '\\' || r == 0 {
				return '_'
			}
			return r
		}, name)
		path = filepath.Join(dir, "archive2imap", "ledgers", name)
	}
	if opts.dryRun {
		return uploader.ReadLedger(path)
	}
	l, err := uploader.OpenLedger(path)
	if errors.Is(err, uploader.ErrLedgerLocked) {
		return nil, usagef(fmt.Errorf("%w: two runs on the same account at once could upload the same messages twice", err))
	}
	return l, err
}

// reconnectIfIdle returns cl if it still works after sitting idle while
// the archives were read (a server may drop an idle connection), or a new
// connection.
func reconnectIfIdle(ctx context.Context, cl *uploader.Client, cfg *uploader.Config) (*uploader.Client, error) {
	if err := cl.Noop(ctx); err == nil || ctx.Err() != nil {
		return cl, ctx.Err()
	}
	cl.Close()
	return uploader.Connect(ctx, cfg)
}

// finishRun sets the report's status from how the run ended, writes the
// report (also when interrupted: it says what was done), and returns the
// error that decides the exit code.
func finishRun(ctx context.Context, out *output, rep *report.Report, command string, runErr error) error {
	out.stamp(rep, command)
	t := rep.Totals
	switch {
	case ctx.Err() != nil || errors.Is(runErr, context.Canceled):
		rep.Status = report.StatusInterrupted
		rep.StatusText = fmt.Sprintf("Interrupted: %d of %d messages uploaded before the stop. Run the same command again to continue; nothing will be uploaded twice.", t.Uploaded, t.ToUpload)
	case errors.Is(runErr, uploader.ErrOverQuota):
		rep.Status = report.StatusInterrupted
		rep.StatusText = fmt.Sprintf("Stopped: the account on the server is full (%d of %d messages uploaded). Free space or raise the quota, then run the same command again.", t.Uploaded, t.ToUpload)
	case runErr != nil:
		rep.Status = report.StatusFailed
		rep.StatusText = "Stopped: " + runErr.Error()
	case t.Failed > 0 || len(rep.Problems) > 0:
		rep.Status = report.StatusIncomplete
	default:
		rep.Status = report.StatusComplete
	}
	if err := out.finish(rep); err != nil {
		return err
	}
	switch {
	case runErr != nil:
		return runErr
	case ctx.Err() != nil:
		return ctx.Err()
	case t.Failed > 0 && len(rep.Problems) > 0:
		return fmt.Errorf("%d messages not migrated and %d part(s) of the source unreadable: %w", t.Failed, len(rep.Problems), errFailures)
	case t.Failed > 0:
		return fmt.Errorf("%d messages not migrated: %w", t.Failed, errFailures)
	case len(rep.Problems) > 0:
		return fmt.Errorf("%d part(s) of the source could not be read: %w", len(rep.Problems), errFailures)
	}
	return nil
}
