package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
	"github.com/archive2imap/archive2imap/uploader"
)

type verifyOptions struct {
	sources sourceFlags
	server  serverFlags
	target  targetFlags
	output  outputFlags
}

func newVerifyCmd(s *streams) *cobra.Command {
	var opts verifyOptions
	cmd := &cobra.Command{
		Use:   "verify SOURCE... --host HOST --user USER",
		Short: "Check that every message of the archives is on the server, with its flags",
		Long: `verify reads the archives and the IMAP account (reading only) and checks
that every message a migration would have put there is in its target folder
(found by Message-ID or fingerprint) with at least the flags it had in the
source. Give it the same sources and folder options as migrate.

Exit codes: 0 everything is there; 1 messages are missing or lack flags
(they are listed); 2 usage or source error; 3 cannot connect or log in.`,
		Args: minArgs(1, "SOURCE (an mbox file or an archive directory)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd.Context(), opts, cmd.Flags(), args, s)
		},
	}
	fs := cmd.Flags()
	opts.sources.register(fs)
	fs.Int64Var(&opts.sources.maxSize, "max-size", 0, "as for migrate: messages larger than this were skipped and are not expected")
	opts.server.register(fs)
	opts.target.register(fs)
	opts.output.register(fs)
	return cmd
}

func runVerify(ctx context.Context, opts verifyOptions, fs *pflag.FlagSet, paths []string, s *streams) error {
	popts, err := opts.sources.planOptions()
	if err != nil {
		return err
	}
	topts, err := opts.target.planOptions()
	if err != nil {
		return err
	}
	cfg, err := opts.server.config(fs, s)
	if err != nil {
		return err
	}
	cfg.DryRun = true // verify never writes
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
	rep.Server = serverInfo(cfg)
	if cl, err = reconnectIfIdle(ctx, cl, cfg); err != nil {
		return err
	}
	topts.Progress = out.progress
	if err := uploader.Plan(ctx, rep, cl, topts); err != nil {
		return err
	}
	if err := uploader.Verify(ctx, rep, cl, topts.Dedupe, out.progress); err != nil {
		return err
	}
	out.stamp(rep, report.CommandVerify)
	v := rep.Verify
	if v.Missing+v.FlagsDiffer > 0 {
		rep.Status = report.StatusIncomplete
		rep.StatusText = fmt.Sprintf("%d messages missing and %d lacking flags on the server. Run migrate again with the same options to upload what is missing. Flags are not changed on copies that are already on the server (archive2imap never alters existing messages): set those in a mail client if they matter.", v.Missing, v.FlagsDiffer)
	} else {
		rep.Status = report.StatusComplete // the headline says it
	}
	if err := out.finish(rep); err != nil {
		return err
	}
	if v.Missing+v.FlagsDiffer > 0 {
		return fmt.Errorf("%d messages missing, %d with flags missing: %w", v.Missing, v.FlagsDiffer, errFailures)
	}
	return nil
}
