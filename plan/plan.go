// Package plan turns what the importers read into the source side of a
// migration plan: the folders, every message with its key, and the
// decisions that need no server (marked deleted, over --max-size,
// duplicate inside the source). The uploader adds the server side.
//
// plan reads sources only through importers, which never write to them.
package plan

import (
	"context"
	"fmt"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/report"
)

// Options tune Inventory.
type Options struct {
	// Import is passed to importers.Walk (Format, MboxLocation).
	Import importers.Options
	// IncludeDeleted keeps messages the client marked deleted.
	IncludeDeleted bool
	// MaxSize skips messages larger than this many bytes; 0: no limit.
	MaxSize int64
	// Progress receives scanning progress; nil: none.
	Progress report.Progress
}

// Inventory reads every source path and returns a report holding its
// folders and messages, with the source-side decisions made: deleted-marked
// and oversized messages are skipped; the others are planned for upload
// (MarkDuplicates then finds the duplicates, once targets are known).
// It fails only when a path is missing or holds no mail (errors wrapping
// importers.ErrNotFound / ErrNotMail), or ctx ends; everything unreadable
// inside a source is a report Problem.
func Inventory(ctx context.Context, paths []string, opts Options) (*report.Report, error) {
	rep := &report.Report{Status: report.StatusComplete}
	prog := opts.Progress
	if prog == nil {
		prog = report.NoProgress
	}
	prog.Start("scanning", 0, 0)
	defer prog.Finish()
	// Folders of the same name from several sources (an inbox mbox and a
	// Maildir root are both INBOX) are one folder: they go to the same
	// target, and dedup sees them together.
	folders := make(map[string]int)
	for _, path := range paths {
		src := report.Source{Path: path, Format: string(opts.Import.Format)}
		if src.Format == "" {
			src.Format = string(importers.FormatAuto)
		}
		var cur string // current folder name, maybe renamed to stay unique
		h := importers.Handler{
			Folder: func(f *importers.Folder) error {
				cur = f.Name
				if i, ok := folders[cur]; ok {
					rep.Folders[i].SourcePath += "; " + f.Path
					return nil
				}
				folders[cur] = len(rep.Folders)
				rep.Folders = append(rep.Folders, report.Folder{
					Source: cur, SourcePath: f.Path, Format: string(f.Format),
				})
				return nil
			},
			Message: func(m *importers.Message) error {
				rm := report.Message{
					Folder: cur, Path: m.Loc.Path, Offset: m.Loc.Offset, Length: m.Loc.Length, Index: m.Loc.Index,
					Key: m.Key, MessageID: m.MessageID, HeaderPrint: m.HeaderPrint, Date: m.Date, DateSource: string(m.DateSource),
					Size: m.Size, Subject: m.Subject, Flags: m.Flags, Deleted: m.Deleted, AsksReceipt: m.AsksReceipt,
					Warnings: m.Warnings, Plan: report.DecisionUpload,
				}
				switch {
				case m.Deleted && !opts.IncludeDeleted:
					rm.Plan, rm.Reason = report.DecisionSkipped, "marked deleted in the source (--include-deleted keeps it)"
				case opts.MaxSize > 0 && m.Size > opts.MaxSize:
					rm.Plan, rm.Reason = report.DecisionSkipped, fmt.Sprintf("larger than --max-size (%d bytes)", opts.MaxSize)
				}
				rep.Messages = append(rep.Messages, rm)
				prog.Add(1, m.Size)
				return ctx.Err()
			},
			Problem: func(p importers.Problem) {
				rep.Problems = append(rep.Problems, report.Problem{
					Path: p.Path, Offset: p.Offset, Index: p.Index, Folder: cur, Error: p.Err,
				})
			},
			Ignored: func(p, reason string) {
				rep.Ignored = append(rep.Ignored, report.Ignored{Path: p, Reason: reason})
			},
		}
		if err := importers.Walk(ctx, path, opts.Import, h); err != nil {
			return nil, err
		}
		rep.Sources = append(rep.Sources, src)
	}
	rep.Recount()
	return rep, nil
}

// MarkDuplicates plans every message whose key was already seen in the
// same scope as a duplicate of the first one ("duplicate of <location>"),
// so that duplicates inside the source are uploaded once. scope returns
// the dedup scope of a message: its target folder, its source folder for a
// scan, or "" for the whole account. Only messages planned for upload
// take part; the first copy planned for upload is the one kept.
func MarkDuplicates(rep *report.Report, scope func(*report.Message) string) {
	type sk struct{ scope, key string }
	first := make(map[sk]int, len(rep.Messages))
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Plan != report.DecisionUpload && m.Plan != report.DecisionDuplicate {
			continue
		}
		k := sk{scope(m), m.Key}
		if j, ok := first[k]; ok {
			m.Plan, m.Reason = report.DecisionDuplicate, "duplicate of "+rep.Messages[j].Location()
			continue
		}
		first[k] = i
		if m.Plan == report.DecisionDuplicate { // planned again with another scope
			m.Plan, m.Reason = report.DecisionUpload, ""
		}
	}
	rep.Recount()
}
