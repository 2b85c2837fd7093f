package uploader

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/archive2imap/archive2imap/report"
)

// Verify checks, with reads only, that every source message that a
// migration would put on the server (planned for upload, already there, or
// a duplicate of one that is) is in its target folder (anywhere in the
// account with DedupeAccount) with at least the flags it had in the source.
// It records its findings in rep.Verify and each Message.Verified, and
// returns an error only when the server could not be read.
//
// rep must have been planned (targets resolved); its Plan decisions are
// not changed.
func Verify(ctx context.Context, rep *report.Report, srv Reader, dedupe string, prog report.Progress) error {
	if prog == nil {
		prog = report.NoProgress
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
	expected := func(m *report.Message) bool {
		switch m.Plan {
		case report.DecisionUpload, report.DecisionExists, report.DecisionDuplicate:
			return true
		}
		return false
	}
	// Which mailboxes to read, and the header prints to resolve there.
	prints := make(map[string]map[string]bool)
	var mailboxes []string
	seen := make(map[string]bool)
	add := func(b string) {
		if !seen[b] && exists[b] {
			seen[b] = true
			mailboxes = append(mailboxes, b)
		}
	}
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if !expected(m) {
			continue
		}
		s := m.Target
		if dedupe == DedupeAccount {
			s = ""
		}
		if m.HeaderPrint != "" {
			if prints[s] == nil {
				prints[s] = make(map[string]bool)
			}
			prints[s][m.HeaderPrint] = true
		}
		add(m.Target)
	}
	if dedupe == DedupeAccount {
		for _, b := range boxes {
			add(b.Name)
		}
	}
	sort.Strings(mailboxes)
	type found struct {
		flags []string
		box   string
	}
	onServer := make(map[string]map[string]found) // scope -> key -> what
	prog.Start("verifying", len(mailboxes), 0)
	for _, b := range mailboxes {
		s := b
		if dedupe == DedupeAccount {
			s = ""
		}
		msgs, err := srv.Messages(ctx, b, prints[s])
		if err != nil {
			prog.Finish()
			return fmt.Errorf("reading what %q holds: %w", b, err)
		}
		if onServer[s] == nil {
			onServer[s] = make(map[string]found)
		}
		for _, sm := range msgs {
			if sm.Key == "" {
				continue
			}
			// Several copies: the one with the most flags speaks for them.
			if f, ok := onServer[s][sm.Key]; !ok || len(sm.Flags) > len(f.flags) {
				onServer[s][sm.Key] = found{flags: sm.Flags, box: b}
			}
		}
		prog.Add(1, 0)
	}
	prog.Finish()
	v := &report.Verify{FoldersSeen: len(mailboxes)}
	missingFolders := make(map[string]bool)
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if !expected(m) {
			v.NotExpected++
			m.Verified = ""
			continue
		}
		v.Checked++
		s := m.Target
		if dedupe == DedupeAccount {
			s = ""
		}
		f, ok := onServer[s][m.Key]
		switch {
		case !ok:
			v.Missing++
			m.Verified = "missing"
			if !exists[m.Target] {
				missingFolders[m.Target] = true
			}
		case !hasFlags(f.flags, m.Flags):
			v.FlagsDiffer++
			m.Verified = "flags differ"
		default:
			v.Present++
			m.Verified = "present"
		}
	}
	v.MissingFolds = len(missingFolders)
	rep.Verify = v
	return nil
}

// hasFlags reports whether have holds every flag of want (IMAP flags are
// case-insensitive). The server may have more: a message read on the
// server since is still the same message.
func hasFlags(have, want []string) bool {
	for _, w := range want {
		ok := false
		for _, h := range have {
			if strings.EqualFold(h, w) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
