package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
	"github.com/archive2imap/archive2imap/uploader"
)

// migrateJob is one mailbox's migration, as migrate runs it and as batch
// runs each of its rows.
type migrateJob struct {
	paths    []string
	sources  plan.Options
	target   uploader.PlanOptions
	cfg      *uploader.Config
	dryRun   bool
	exec     uploader.ExecOptions
	settings report.Settings
	// provider is what the command line asks of the provider profile and
	// the upload budget (--provider, --max-bytes-per-day, ...).
	provider providerChoice
	// ledger is the ledger file; "" keeps none.
	ledger string
	// runLedger, when set, also gets this run's entries: a ledger of the
	// run alone, kept next to its report.
	runLedger string
	// approved, when set, is the approved plan to carry out (migrate
	// --plan): its sources must be unchanged, its folder mapping and
	// decisions stand, only the server is checked again.
	approved *report.Report
	// recordFiles makes the report record the source files' sizes and
	// hashes (migrate --plan-out).
	recordFiles bool
	// warn receives warnings that do not stop the run.
	warn func(format string, args ...any)
}

// run carries out the job. Before the plan is made, errors are returned
// without a report; after it, the report comes with the error that stopped
// the run, if any.
func (j *migrateJob) run(ctx context.Context, prog report.Progress) (*report.Report, error) {
	if j.warn == nil {
		j.warn = func(string, ...any) {}
	}
	if err := checkSources(j.paths); err != nil {
		return nil, err
	}
	// Log in before the archives are read, which can take minutes: a
	// wrong password or an unreachable server is reported at once.
	cl, err := uploader.Connect(ctx, j.cfg)
	if err != nil {
		// Microsoft 365 refusing a password says to use a token; Gmail
		// refusing an account over its bandwidth is the budget.
		return nil, uploader.ExplainLogin(err, j.cfg, j.provider.forced)
	}
	defer func() { cl.Close() }()
	prof := j.provider.profile(j.cfg.Host, cl.Info())
	j.target.Profile = &prof
	j.target.MDNSent = j.provider.markMDNSent(prof)
	budget := j.provider.budget(prof)
	if !j.dryRun {
		unlock, err := lockAccount(j.cfg)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	j.sources.Progress = prog
	var rep *report.Report
	if j.approved != nil {
		if err := plan.CheckFiles(j.approved); err != nil {
			return nil, usagef(err)
		}
		now, err := plan.Inventory(ctx, j.paths, j.sources)
		if err != nil {
			return nil, err
		}
		if err := plan.SameMessages(j.approved, now); err != nil {
			return nil, usagef(err)
		}
		rep = j.approved
		rep.Problems, rep.Ignored = now.Problems, now.Ignored
		rep.Messages = slicesClone(rep.Messages)
	} else {
		rep, err = plan.Inventory(ctx, j.paths, j.sources)
		if err != nil {
			return nil, err
		}
	}
	rep.DryRun = j.dryRun
	rep.Server = serverInfo(j.cfg)
	settings := j.settings
	j.provider.settings(&settings)
	rep.Settings = &settings
	if cl, err = reconnectIfIdle(ctx, cl, j.cfg); err != nil {
		return nil, err
	}
	ledger, err := openLedger(j.ledger, j.dryRun)
	if err != nil {
		return nil, err
	}
	// Earlier runs' uploads of the last 24 hours count against the
	// budget: the account's ledger has them.
	if err := budget.LoadLedger(j.ledger); err != nil {
		j.warn("warning: the upload budget does not count earlier runs: %v", err)
	}
	if ledger != nil {
		rep.Ledger = ledger.Path()
		if j.runLedger != "" && !j.dryRun {
			if err := ledger.AlsoRecordTo(j.runLedger); err != nil {
				ledger.Close()
				return nil, err
			}
			rep.Ledger = j.runLedger
		}
	}
	j.target.Progress = prog
	j.target.Ledger = ledger
	if j.approved != nil {
		err = uploader.Recheck(ctx, rep, cl, j.target)
	} else {
		err = uploader.Plan(ctx, rep, cl, j.target)
	}
	if err != nil {
		ledger.Close()
		return nil, err
	}
	if j.recordFiles {
		if err := plan.RecordFiles(rep); err != nil {
			ledger.Close()
			return nil, fmt.Errorf("recording the source files for the plan: %w", err)
		}
	}
	rep.Budget = budget.Describe(rep.Totals.BytesToUpload)
	var runErr error
	if !j.dryRun {
		eo := j.exec
		eo.Import = j.sources.Import
		eo.Progress = prog
		eo.Ledger = ledger
		eo.Budget = budget
		runErr = stopAtBudget(rep, budget, uploader.Execute(ctx, rep, j.cfg, cl, eo))
	}
	if err := ledger.Close(); err != nil {
		// The upload itself is fine; say so and go on.
		j.warn("warning: %v", err)
	}
	return rep, runErr
}

func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

// stateDir is where archive2imap keeps its state: ledgers and locks.
func stateDir() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "archive2imap"), nil
}

// accountName is a file name for the account of cfg.
func accountName(cfg *uploader.Config) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, fmt.Sprintf("%s@%s_%d", cfg.User, cfg.Host, cfg.Port))
}

// defaultLedger is the account's ledger in the state directory, or "" when
// there is no home to keep it in.
func defaultLedger(cfg *uploader.Config) string {
	dir, err := stateDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "ledgers", accountName(cfg)+".ledger.jsonl")
}

// openLedger opens the ledger at path (none when path is ""): read-only
// for a dry run, which writes nothing and takes no lock.
func openLedger(path string, dryRun bool) (*uploader.Ledger, error) {
	if path == "" {
		return nil, nil
	}
	if dryRun {
		return uploader.ReadLedger(path)
	}
	l, err := uploader.OpenLedger(path)
	if errors.Is(err, uploader.ErrLedgerLocked) {
		return nil, usagef(fmt.Errorf("%w: two runs writing one ledger at once", err))
	}
	return l, err
}

// errAccountBusy is returned when another run is migrating into the same
// account.
var errAccountBusy = errors.New("another archive2imap run is migrating into this account")

// lockAccount takes the account's lock, so that two runs into one account
// at once are refused (they could upload the same messages twice).
func lockAccount(cfg *uploader.Config) (unlock func(), err error) {
	dir, err := stateDir()
	if err != nil {
		return func() {}, nil // nowhere to keep a lock
	}
	path := filepath.Join(dir, "locks", accountName(cfg)+".lock")
	f, err := uploader.LockFile(path)
	if errors.Is(err, uploader.ErrLocked) {
		return nil, usagef(fmt.Errorf("%w (%s@%s); wait for it to finish", errAccountBusy, cfg.User, cfg.Host))
	}
	if err != nil {
		return nil, fmt.Errorf("account lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
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
