package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
)

type scanOptions struct {
	sources sourceFlags
	output  outputFlags
}

func newScanCmd(s *streams) *cobra.Command {
	var opts scanOptions
	cmd := &cobra.Command{
		Use:   "scan SOURCE...",
		Short: "Inventory local mail archives, offline: folders, messages, sizes, dates, problems",
		Long: `scan reads mail archives without touching any server and prints, per
folder, how many messages it holds, their size, how many lack a Message-ID
or repeat one, how many the client had marked deleted, the oldest and newest
date, and what could not be read. SOURCE is an mbox file or a directory
(Maildir, Maildir++, a Thunderbird profile or ~/Mail tree, an Apple Mail
.mbox bundle or store, a folder of .eml files); the layout is detected.

Exit codes: 0 all read; 1 some part could not be read; 2 usage error or a
missing path.`,
		Args: minArgs(1, "SOURCE (an mbox file or an archive directory)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd.Context(), opts, args, s)
		},
	}
	opts.sources.register(cmd.Flags())
	opts.output.register(cmd.Flags())
	return cmd
}

func runScan(ctx context.Context, opts scanOptions, paths []string, s *streams) error {
	popts, err := opts.sources.planOptions()
	if err != nil {
		return err
	}
	if err := checkSources(paths); err != nil {
		return err
	}
	out, err := opts.output.open(s)
	if err != nil {
		return err
	}
	defer out.close()
	popts.Progress = out.progress
	rep, err := plan.Inventory(ctx, paths, popts)
	if err != nil {
		return err
	}
	// Without a server, duplicates are looked for within each source folder.
	plan.MarkDuplicates(rep, func(m *report.Message) string { return m.Folder })
	out.stamp(rep, report.CommandScan)
	if err := out.finish(rep); err != nil {
		return err
	}
	if len(rep.Problems) > 0 {
		return fmt.Errorf("%d part(s) of the source could not be read: %w", len(rep.Problems), errFailures)
	}
	return nil
}
