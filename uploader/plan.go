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
	// Profile is the provider's profile (DetectProvider); nil: a generic
	// server. It sets Folders.Profile, the size limit when the server
	// advertises none, and Gmail's labels.
	Profile *Profile
	// MDNSent uploads the read messages that asked for a read receipt
	// with the $MDNSent keyword (RFC 3503).
	MDNSent bool
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
	if opts.Profile != nil {
		opts.Folders.Profile = opts.Profile
	}
	maps := ResolveFolders(names, boxes, info, opts.Folders)
	target := make(map[string]Mapping, len(maps))
	for i, m := range maps {
		f := &rep.Folders[i]
		f.Target, f.Reason, f.Create, f.Fallback = m.Target, m.Reason, m.Create, m.Fallback
		target[m.Source] = m
	}
	limit, tooBig := opts.Profile.sizeLimit(info)
	// Source-side decisions are remade from scratch: a plan may be made
	// again on a report that was planned before.
	for i := range rep.Messages {
		m := &rep.Messages[i]
		m.Target = target[m.Folder].Target
		switch m.Plan {
		case report.DecisionDuplicate, report.DecisionExists, report.DecisionFailed:
			m.Plan, m.Reason = report.DecisionUpload, ""
		}
		m.Outcome, m.UID, m.UIDValidity, m.AddsLabel = "", 0, 0, false
		switch {
		case m.Plan != report.DecisionUpload:
		case limit > 0 && m.Size > limit:
			m.Plan, m.Reason = report.DecisionFailed, tooBig
		}
	}
	scope := dedupScope(opts.Dedupe)
	plan.MarkDuplicates(rep, scope)
	create := func(m *report.Message) bool { return target[m.Folder].Create }
	if err := checkServer(ctx, rep, srv, opts, boxes, create, prog); err != nil {
		return err
	}
	if opts.Profile != nil && opts.Profile.Labels && opts.Dedupe == DedupeFolder {
		markLabels(rep, boxes)
	}
	if opts.MDNSent {
		markMDNSent(rep)
	}
	recordServer(rep, info)
	recordProfile(rep, opts.Profile, info, opts.MDNSent)
	rep.Recount()
	return nil
}

func dedupScope(dedupe string) func(*report.Message) string {
	if dedupe == DedupeAccount {
		return func(*report.Message) string { return "" }
	}
	return func(m *report.Message) string { return m.Target }
}

// checkServer plans as "exists" every message planned for upload whose key
// the server already has in its scope (its target folder, or the account).
// create tells which messages go to a folder that does not exist yet.
func checkServer(ctx context.Context, rep *report.Report, srv Reader, opts PlanOptions, boxes []Mailbox, create func(*report.Message) bool, prog report.Progress) error {
	scope := dedupScope(opts.Dedupe)
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
		if !create(m) {
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
	return nil
}

// recordServer puts what was learned of the server into the report.
func recordServer(rep *report.Report, info ServerInfo) {
	if rep.Server == nil {
		rep.Server = &report.Server{}
	}
	rep.Server.Delimiter, rep.Server.AppendLimit, rep.Server.Auth = string(info.Delim), info.AppendLimit, info.Mechanism
	rep.Server.Capabilities = rep.Server.Capabilities[:0]
	for c := range info.Caps {
		rep.Server.Capabilities = append(rep.Server.Capabilities, string(c))
	}
	sort.Strings(rep.Server.Capabilities)
}

// Recheck checks an approved plan (a dry run's report) against the server
// as it is now, without changing what was approved: the folder mapping
// stays; a message approved for upload that the server meanwhile has is
// not uploaded ("exists"); a message approved as already there that the
// server no longer has fails, saying that the approved plan did not upload
// it. A planned folder that exists now is not created again. Only reads.
func Recheck(ctx context.Context, rep *report.Report, srv Reader, opts PlanOptions) error {
	prog := opts.Progress
	if prog == nil {
		prog = report.NoProgress
	}
	opts.Dedupe = rep.Dedupe
	if opts.Dedupe == "" {
		opts.Dedupe = DedupeFolder
	}
	boxes, err := srv.Mailboxes(ctx)
	if err != nil {
		return err
	}
	exists := make(map[string]bool, len(boxes))
	for _, b := range boxes {
		if !b.HasAttr(`\Noselect`) && !b.HasAttr(`\NonExistent`) {
			exists[b.Name] = true
		}
	}
	for i := range rep.Folders {
		f := &rep.Folders[i]
		f.Create = f.Target != "INBOX" && !exists[f.Target]
		if f.Create && f.Fallback != "" && exists[f.Fallback] {
			f.Target, f.Fallback, f.Create = f.Fallback, "", false
		}
	}
	target := make(map[string]string, len(rep.Folders))
	for _, f := range rep.Folders {
		target[f.Source] = f.Target
	}
	// What the plan said was there: check it still is, as if to upload.
	wasThere := make(map[int]bool)
	for i := range rep.Messages {
		m := &rep.Messages[i]
		m.Target = target[m.Folder]
		m.Outcome, m.UID, m.UIDValidity, m.Verified = "", 0, 0, ""
		if m.Plan == report.DecisionExists {
			wasThere[i] = true
			m.Plan, m.Reason = report.DecisionUpload, ""
		}
	}
	create := func(m *report.Message) bool { return !exists[m.Target] }
	if err := checkServer(ctx, rep, srv, opts, boxes, create, prog); err != nil {
		return err
	}
	for i := range wasThere {
		m := &rep.Messages[i]
		if m.Plan == report.DecisionUpload {
			m.Plan, m.Reason = report.DecisionFailed, "the approved plan found it on the server, but it is not there any more, and the plan did not approve uploading it: make a new plan (a dry run) to upload it"
		}
	}
	recordServer(rep, srv.Info())
	recordProfile(rep, opts.Profile, srv.Info(), opts.MDNSent)
	rep.Recount()
	return nil
}
