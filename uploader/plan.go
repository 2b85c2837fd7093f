package uploader

import (
	"context"
	"fmt"
	"sort"

	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
)

// Dedup scopes.
const (
	DedupeFolder  = "folder"  // skip a message already in its target folder
	DedupeAccount = "account" // skip a message already anywhere in the account
)

// PlanOptions tune Plan.
type PlanOptions struct {
	Dedupe string // DedupeFolder (default) or DedupeAccount
	// Ledger, when set, tells what earlier runs uploaded, so that less is
	// fetched from the server (the server still decides).
	Ledger   *Ledger
	Folders  FolderOptions
	Progress report.Progress
}

// Plan adds the server side to a source inventory: where each folder goes
// (and whether it must be created), which messages the server already has,
// which are duplicates within their target, and which the server cannot
// take (over its APPENDLIMIT). It only reads from the server.
func Plan(ctx context.Context, rep *report.Report, srv Reader, opts PlanOptions) error {
	prog := opts.Progress
	if prog == nil {
		prog = report.NoProgress
	}
	if opts.Dedupe == "" {
		opts.Dedupe = DedupeFolder
	}
	rep.Dedupe = opts.Dedupe
	info := srv.Info()
	boxes, err := srv.Mailboxes(ctx)
	if err != nil {
		return err
	}
	names := make([]string, len(rep.Folders))
	for i, f := range rep.Folders {
		names[i] = f.Source
	}
	maps := ResolveFolders(names, boxes, info, opts.Folders)
	target := make(map[string]Mapping, len(maps))
	for i, m := range maps {
		f := &rep.Folders[i]
		f.Target, f.Reason, f.Create, f.Fallback = m.Target, m.Reason, m.Create, m.Fallback
		target[m.Source] = m
	}
	// Source-side decisions are remade from scratch: a plan may be made
	// again on a report that was planned before.
	for i := range rep.Messages {
		m := &rep.Messages[i]
		m.Target = target[m.Folder].Target
		switch m.Plan {
		case report.DecisionDuplicate, report.DecisionExists, report.DecisionFailed:
			m.Plan, m.Reason = report.DecisionUpload, ""
		}
		m.Outcome, m.UID, m.UIDValidity = "", 0, 0
		switch {
		case m.Plan != report.DecisionUpload:
		case info.AppendLimit > 0 && m.Size > info.AppendLimit:
			m.Plan, m.Reason = report.DecisionFailed, fmt.Sprintf("too large for server (APPENDLIMIT %d)", info.AppendLimit)
		}
	}
	scope := func(m *report.Message) string { return m.Target }
	if opts.Dedupe == DedupeAccount {
		scope = func(*report.Message) string { return "" }
	}
	plan.MarkDuplicates(rep, scope)

	// What the server has: per target folder, or everywhere.
	prints := make(map[string]map[string]bool) // scope -> header prints of source messages without Message-ID
	need := make(map[string]bool)              // existing mailboxes to look into
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Plan != report.DecisionUpload {
			continue
		}
		s := scope(m)
		if m.HeaderPrint != "" {
			if prints[s] == nil {
				prints[s] = make(map[string]bool)
			}
			prints[s][m.HeaderPrint] = true
		}
		if !target[m.Folder].Create {
			need[m.Target] = true
		}
	}
	if opts.Dedupe == DedupeAccount {
		need = make(map[string]bool)
		for _, b := range boxes {
			if !b.HasAttr(`\Noselect`) && !b.HasAttr(`\NonExistent`) {
				need[b.Name] = true
			}
		}
	}
	mailboxes := make([]string, 0, len(need))
	for b := range need {
		mailboxes = append(mailboxes, b)
	}
	sort.Strings(mailboxes)
	onServer := make(map[string]map[string]string) // scope -> key -> mailbox
	prog.Start("checking what the server has", len(mailboxes), 0)
	for _, b := range mailboxes {
		s := b
		if opts.Dedupe == DedupeAccount {
			s = ""
		}
		msgs, err := srv.KnownMessages(ctx, b, prints[s], opts.Ledger.Known(b))
		if err != nil {
			prog.Finish()
			return fmt.Errorf("reading what %q holds: %w", b, err)
		}
		if onServer[s] == nil {
			onServer[s] = make(map[string]string, len(msgs))
		}
		for _, sm := range msgs {
			if sm.Key != "" {
				if _, ok := onServer[s][sm.Key]; !ok {
					onServer[s][sm.Key] = b
				}
			}
		}
		prog.Add(1, 0)
	}
	prog.Finish()
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Plan != report.DecisionUpload {
			continue
		}
		if b, ok := onServer[scope(m)][m.Key]; ok {
			m.Plan, m.Reason = report.DecisionExists, "already on server"
			if b != m.Target {
				m.Reason = fmt.Sprintf("already on server (in %s)", b)
			}
		}
	}
	if rep.Server == nil {
		rep.Server = &report.Server{}
	}
	rep.Server.Delimiter, rep.Server.AppendLimit, rep.Server.Auth = string(info.Delim), info.AppendLimit, info.Mechanism
	rep.Server.Capabilities = rep.Server.Capabilities[:0]
	for c := range info.Caps {
		rep.Server.Capabilities = append(rep.Server.Capabilities, string(c))
	}
	sort.Strings(rep.Server.Capabilities)
	rep.Recount()
	return nil
}
