package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/archive2imap/archive2imap/report"
)

// ErrSourceChanged is wrapped by the error of CheckFiles and SameMessages
// when a source is no longer what an approved plan read.
var ErrSourceChanged = errors.New("the source changed since the plan was made")

// RecordFiles fills each rep.Sources[i].Files with the files the plan's
// messages and mbox folders come from, with their size, modification time
// and SHA-256, so that an approved plan can refuse to run on a source that
// changed since.
func RecordFiles(rep *report.Report) error {
	files := make(map[string]bool)
	for _, m := range rep.Messages {
		files[m.Path] = true
	}
	for _, f := range rep.Folders {
		if f.Format == "mbox" && !strings.Contains(f.SourcePath, "; ") {
			files[f.SourcePath] = true
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		if p != "" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for i := range rep.Sources {
		rep.Sources[i].Files = nil
	}
	for _, p := range paths {
		sf, err := fileState(p)
		if err != nil {
			return err
		}
		i := sourceOf(rep, p)
		rep.Sources[i].Files = append(rep.Sources[i].Files, sf)
	}
	return nil
}

// sourceOf returns the index of the source a file belongs to.
func sourceOf(rep *report.Report, path string) int {
	best, bestLen := 0, -1
	for i, s := range rep.Sources {
		sp := filepath.Clean(s.Path)
		if path == sp || strings.HasPrefix(path, sp+string(filepath.Separator)) {
			if len(sp) > bestLen {
				best, bestLen = i, len(sp)
			}
		}
	}
	return best
}

func fileState(path string) (report.SourceFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return report.SourceFile{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return report.SourceFile{}, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return report.SourceFile{}, fmt.Errorf("%s: %w", path, err)
	}
	return report.SourceFile{Path: path, Size: st.Size(), ModTime: st.ModTime().UTC(), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// CheckFiles checks that every file RecordFiles recorded still has the
// same size and SHA-256. The error names the files that changed (the
// first few) and wraps ErrSourceChanged.
func CheckFiles(rep *report.Report) error {
	var changed []string
	n := 0
	for _, s := range rep.Sources {
		for _, want := range s.Files {
			n++
			got, err := fileState(want.Path)
			switch {
			case errors.Is(err, os.ErrNotExist):
				changed = append(changed, want.Path+" (gone)")
			case err != nil:
				changed = append(changed, fmt.Sprintf("%s (%v)", want.Path, err))
			case got.Size != want.Size || got.SHA256 != want.SHA256:
				changed = append(changed, want.Path)
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("the plan records no source files (it was not written by migrate --dry-run --plan-out)")
	}
	return changedError(changed)
}

func changedError(changed []string) error {
	if len(changed) == 0 {
		return nil
	}
	more := ""
	if len(changed) > 5 {
		more = fmt.Sprintf(" and %d more", len(changed)-5)
		changed = changed[:5]
	}
	return fmt.Errorf("%w: %s%s; make a new plan (migrate --dry-run --plan-out) and have it approved again", ErrSourceChanged, strings.Join(changed, ", "), more)
}

// SameMessages checks that a fresh inventory of the plan's sources finds
// exactly the messages of the approved plan (no message added, removed or
// moved), so that files added to a Maildir since are noticed too.
func SameMessages(approved, now *report.Report) error {
	type loc struct {
		path   string
		offset int64
		length int64
		key    string
	}
	have := make(map[loc]int, len(now.Messages))
	for _, m := range now.Messages {
		have[loc{m.Path, m.Offset, m.Length, m.Key}]++
	}
	var changed []string
	for _, m := range approved.Messages {
		l := loc{m.Path, m.Offset, m.Length, m.Key}
		if have[l] == 0 {
			changed = append(changed, m.Location()+" (gone or changed)")
			continue
		}
		have[l]--
	}
	for l, n := range have {
		if n > 0 {
			changed = append(changed, l.path+" (a message not in the plan)")
		}
	}
	sort.Strings(changed)
	return changedError(changed)
}
