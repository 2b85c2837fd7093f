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
	provider    providerFlags
	dryRun      bool
	connections int
	retries     int
	ledger      string
	noLedger    bool
	planOut     string
	planIn      string
	failedOut   string
}

func newMigrateCmd(s *streams) *cobra.Command {
	var opts migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate SOURCE... --host HOST --user USER [--dry-run [--plan-out FILE]] | migrate --plan FILE",
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
duplicates and reports exactly what a run would do. With --plan-out FILE it
also writes the plan, which "migrate --plan FILE" carries out once approved
(refusing if a source changed since).

Gmail and Microsoft 365 are recognised (by the host name, or the
capabilities after login; --provider forces it) and get what they need:
Gmail's daily upload budget of about 500 MB (--max-bytes-per-day changes
it; a dry run says how many days the upload takes), its labels counted as
labels, its [Gmail] folder left alone; Microsoft 365's reserved Files
folder avoided and its OAuth2-only login explained; the size limits of
both; and $MDNSent on read messages that asked for a read receipt
(--mdn-sent=false turns it off).

Exit codes: 0 all done; 1 some messages failed or were refused; 2 usage,
configuration or source error; 3 cannot connect or log in; 4 the server
stopped the run (account full); 5 the daily upload budget is reached (run
the same command again after the time it gives, or use --budget-wait);
130 interrupted (rerun to continue).`,
		// Sources may come from an approved plan (--plan) instead.
		Args: minArgs(0, ""),
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
	opts.provider.register(fs)
	fs.BoolVarP(&opts.dryRun, "dry-run", "n", false, "write nothing: report what a run would do")
	fs.IntVar(&opts.connections, "connections", uploader.DefaultConnections, fmt.Sprintf("parallel upload connections (1-%d)", uploader.MaxConnections))
	fs.IntVar(&opts.retries, "retries", 5, "reconnect this many times when a connection breaks before giving a folder up")
	fs.StringVar(&opts.ledger, "ledger", "", "the account's ledger `FILE`: every uploaded message recorded (JSON lines), which reruns read to fetch less from the server (default: one per account under $XDG_STATE_HOME/archive2imap, or ~/.local/state/archive2imap); with --report R.ext, the run's own uploads also go to R.ledger.jsonl next to the report")
	fs.BoolVar(&opts.noLedger, "no-ledger", false, "keep no ledger")
	fs.StringVar(&opts.planOut, "plan-out", "", "with --dry-run: write the plan to this `FILE.json` (sources with their sizes and hashes, server, folder mapping, every message's decision) for approval")
	fs.StringVar(&opts.failedOut, "failed-out", "", "write every message that could not be uploaded to this mbox `FILE`, to fix and migrate again")
	fs.StringVar(&opts.planIn, "plan", "", "carry out the approved plan in this `FILE.json` (no SOURCE): refused if a source changed since; the server is checked again, so nothing already there is uploaded")
	return cmd
}

func runMigrate(ctx context.Context, opts migrateOptions, fs *pflag.FlagSet, paths []string, s *streams) error {
	job, err := opts.job(fs, s, paths)
	if err != nil {
		return err
	}
	out, err := opts.output.open(s)
	if err != nil {
		return err
	}
	defer out.close()
	rep, runErr := job.run(ctx, out.progress)
	if rep == nil {
		return runErr
	}
	if opts.planOut != "" {
		out.stamp(rep, report.CommandMigrate)
		rep.Status = report.StatusComplete
		if err := report.WriteFile(opts.planOut, rep); err != nil {
			return err
		}
		fmt.Fprintf(s.errOut, "plan written to %s: have it approved, then run: archive2imap migrate --plan %s (and the password as usual)\n", opts.planOut, opts.planOut)
	}
	if opts.failedOut != "" && !opts.dryRun {
		n, err := plan.WriteFailed(opts.failedOut, rep, job.sources.Import)
		if err != nil {
			fmt.Fprintf(s.errOut, "archive2imap: %v\n", err)
		} else if n > 0 {
			fmt.Fprintf(s.errOut, "%d messages that could not be uploaded written to %s\n", n, opts.failedOut)
		}
	}
	return finishRun(ctx, out, rep, report.CommandMigrate, runErr)
}

// job turns the command line into a migration job: from the flags, or
// from an approved plan (--plan).
func (opts *migrateOptions) job(fs *pflag.FlagSet, s *streams, paths []string) (*migrateJob, error) {
	if opts.connections < 1 || opts.connections > uploader.MaxConnections {
		return nil, usagef(fmt.Errorf("--connections: want 1 to %d", uploader.MaxConnections))
	}
	if opts.planOut != "" && !opts.dryRun {
		return nil, usagef(errors.New("--plan-out writes the plan of a dry run: add --dry-run"))
	}
	if opts.planOut != "" {
		if f, err := report.FormatOf(opts.planOut); err != nil || f != report.FormatJSON {
			return nil, usagef(errors.New("--plan-out: the plan is a .json file"))
		}
	}
	if opts.planIn != "" {
		return opts.approvedJob(fs, s, paths)
	}
	if len(paths) == 0 {
		return nil, usagef(errors.New("missing SOURCE (an mbox file or an archive directory), or --plan FILE (see archive2imap migrate --help)"))
	}
	popts, err := opts.sources.planOptions()
	if err != nil {
		return nil, err
	}
	topts, err := opts.target.planOptions()
	if err != nil {
		return nil, err
	}
	choice, err := opts.provider.choice(fs)
	if err != nil {
		return nil, err
	}
	cfg, err := opts.server.config(fs, s)
	if err != nil {
		return nil, err
	}
	cfg.DryRun = opts.dryRun
	j := &migrateJob{
		paths: paths, sources: popts, target: topts, cfg: cfg, dryRun: opts.dryRun, provider: choice,
		exec:        uploader.ExecOptions{Connections: opts.connections, Retries: opts.retries},
		recordFiles: opts.planOut != "",
		warn:        func(f string, a ...any) { fmt.Fprintf(s.errOut, f+"\n", a...) },
		settings: report.Settings{
			Format: opts.sources.format, MboxTimezone: opts.sources.mboxTimezone,
			IncludeDeleted: opts.sources.includeDeleted, MaxSize: opts.sources.maxSize,
			FolderMap: topts.Folders.Map, TargetPrefix: topts.Folders.Prefix, CAFile: cfg.CAFile,
		},
	}
	if err := opts.setLedger(j); err != nil {
		return nil, err
	}
	return j, nil
}

func (opts *migrateOptions) setLedger(j *migrateJob) error {
	if len(opts.output.reports) > 0 && !opts.noLedger {
		r := opts.output.reports[0]
		j.runLedger = strings.TrimSuffix(r, filepath.Ext(r)) + ".ledger.jsonl"
	}
	switch {
	case opts.noLedger && opts.ledger != "":
		return usagef(errors.New("--ledger and --no-ledger contradict each other"))
	case opts.noLedger:
	case opts.ledger != "":
		j.ledger = opts.ledger
	default:
		j.ledger = defaultLedger(j.cfg)
	}
	return nil
}

// approvedJob makes the job of an approved plan: its sources, server and
// settings; only the secret comes from the command line, as always.
func (opts *migrateOptions) approvedJob(fs *pflag.FlagSet, s *streams, paths []string) (*migrateJob, error) {
	if opts.dryRun {
		return nil, usagef(errors.New("--plan carries out an approved plan; to make a new one, use --dry-run --plan-out"))
	}
	if len(paths) > 0 {
		return nil, usagef(errors.New("with --plan, the sources are the plan's: give no SOURCE"))
	}
	for _, name := range []string{"host", "port", "tls", "user", "ca-file", "format", "mbox-timezone", "include-deleted", "max-size", "folder-map", "target-prefix", "dedupe", "provider", "mdn-sent"} {
		if fs.Changed(name) {
			return nil, usagef(fmt.Errorf("--%s: with --plan, this comes from the approved plan", name))
		}
	}
	fh, err := os.Open(opts.planIn)
	if err != nil {
		return nil, usagef(fmt.Errorf("--plan: %w", err))
	}
	approved, err := report.ReadJSON(fh)
	fh.Close()
	if err != nil {
		return nil, usagef(fmt.Errorf("--plan %s: not a plan: %w", opts.planIn, err))
	}
	if approved.Command != report.CommandMigrate || !approved.DryRun || approved.Server == nil || approved.Settings == nil || len(approved.Sources) == 0 {
		return nil, usagef(fmt.Errorf("--plan %s: not a plan written by migrate --dry-run --plan-out", opts.planIn))
	}
	st := approved.Settings
	opts.sources.format, opts.sources.mboxTimezone = st.Format, st.MboxTimezone
	opts.sources.includeDeleted, opts.sources.maxSize = st.IncludeDeleted, st.MaxSize
	popts, err := opts.sources.planOptions()
	if err != nil {
		return nil, usagef(fmt.Errorf("--plan %s: %w", opts.planIn, err))
	}
	// The budget flags apply to this run; the profile and $MDNSent are
	// the plan's (the flags of its messages were approved with it).
	choice, err := opts.provider.choice(fs)
	if err != nil {
		return nil, err
	}
	choice.mdnSent = st.MDNSent
	if p := approved.Server.Provider; p != "" {
		choice.forced, choice.detectedBy = p, "the approved plan"
	}
	srv := approved.Server
	opts.server.host, opts.server.port, opts.server.tls, opts.server.user = srv.Host, srv.Port, srv.TLS, srv.User
	opts.server.caFile = st.CAFile
	cfg, err := opts.server.config(fs, s)
	if err != nil {
		return nil, err
	}
	for _, src := range approved.Sources {
		paths = append(paths, src.Path)
	}
	j := &migrateJob{
		paths: paths, sources: popts, cfg: cfg, approved: approved,
		target:   uploader.PlanOptions{Dedupe: approved.Dedupe, Folders: uploader.FolderOptions{Map: st.FolderMap, Prefix: st.TargetPrefix}},
		exec:     uploader.ExecOptions{Connections: opts.connections, Retries: opts.retries},
		settings: *st,
		provider: choice,
		warn:     func(f string, a ...any) { fmt.Fprintf(s.errOut, f+"\n", a...) },
	}
	if err := opts.setLedger(j); err != nil {
		return nil, err
	}
	return j, nil
}

// finishRun sets the report's status from how the run ended, writes the
// report (also when interrupted: it says what was done), and returns the
// error that decides the exit code.
func finishRun(ctx context.Context, out *output, rep *report.Report, command string, runErr error) error {
	out.stamp(rep, command)
	t := rep.Totals
	var stop *budgetStop
	switch {
	case ctx.Err() != nil || errors.Is(runErr, context.Canceled):
		rep.Status = report.StatusInterrupted
		rep.StatusText = fmt.Sprintf("Interrupted: %d of %d messages uploaded before the stop. Run the same command again to continue; nothing will be uploaded twice.", t.Uploaded, t.ToUpload)
	case errors.As(runErr, &stop):
		rep.Status = report.StatusInterrupted
		rep.StatusText = stop.statusText(t)
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
