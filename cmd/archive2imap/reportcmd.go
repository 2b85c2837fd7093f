package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/archive2imap/archive2imap/report"
	"github.com/archive2imap/archive2imap/uploader"
)

type reportOptions struct {
	output outputFlags
}

func newReportCmd(s *streams) *cobra.Command {
	var opts reportOptions
	cmd := &cobra.Command{
		Use:   "report FILE --report OUT.html|.csv|.md|.json",
		Short: "Render an earlier run again, from its JSON report or its ledger, in any report format",
		Long: `report reads what an earlier run left, its JSON report (--report X.json, or
a plan from --plan-out) or its ledger (the record of every message it
uploaded), and writes it again in the formats --report asks for, or prints
the summary. Nothing is read from the archives or the server.`,
		Args: minArgs(1, "FILE (a JSON report or a ledger)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef(errors.New("one FILE at a time"))
			}
			return runReport(opts, args[0], s)
		},
	}
	opts.output.register(cmd.Flags())
	return cmd
}

func runReport(opts reportOptions, path string, s *streams) error {
	rep, err := readAnyReport(path)
	if err != nil {
		return err
	}
	opts.output.quiet = true
	out, err := opts.output.open(s)
	if err != nil {
		return err
	}
	defer out.close()
	return out.finish(rep)
}

// readAnyReport reads a JSON report or a ledger (JSON lines).
func readAnyReport(path string) (*report.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(4096)
	// A ledger is one JSON object per line; a report is one indented
	// object whose first line is "{".
	if first, _, _ := bytes.Cut(head, []byte("\n")); bytes.HasPrefix(bytes.TrimSpace(first), []byte("{\"")) && bytes.HasSuffix(bytes.TrimSpace(first), []byte("}")) {
		rep, err := uploader.LedgerReport(path)
		if err != nil {
			return nil, usagef(err)
		}
		return rep, nil
	}
	rep, err := report.ReadJSON(br)
	if err != nil || rep.Tool != "archive2imap" {
		return nil, usagef(fmt.Errorf("%s: neither an archive2imap JSON report nor a ledger", path))
	}
	return rep, nil
}
