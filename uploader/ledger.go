package uploader

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/archive2imap/archive2imap/report"
)

// A Ledger records every message a run uploaded, one JSON object per line
// (LedgerEntry), appended as the run goes and synced to disk every second
// and at the end. It is an account's memory of earlier runs: the planner
// uses it to fetch less from the server (see Client.KnownMessages), but
// never trusts it over the server, which alone says which messages exist.
//
// The ledger file is locked while a run has it open, so two runs on the
// same account at once are refused (ErrLedgerLocked).
type Ledger struct {
	path string
	f    *os.File
	w    *bufio.Writer

	readOnly bool // ReadLedger: nothing is written

	// run, when set, also gets this run's entries (a ledger of the run
	// alone, next to its report).
	run  *os.File
	runW *bufio.Writer

	mu       sync.Mutex
	index    map[string]map[uint32]map[uint32]string // target -> UIDVALIDITY -> UID -> key
	lastSync time.Time
	err      error // the first write error
}

// LedgerEntry is one line of a ledger: an uploaded message.
type LedgerEntry struct {
	Time        time.Time `json:"time"`
	Folder      string    `json:"folder"` // source folder
	Path        string    `json:"path"`
	Offset      int64     `json:"offset"`
	Index       int       `json:"index"`
	Key         string    `json:"key"`
	Target      string    `json:"target"`
	UIDValidity uint32    `json:"uid_validity,omitempty"`
	UID         uint32    `json:"uid,omitempty"`
	Size        int64     `json:"size"`
}

// ErrLedgerLocked is returned by OpenLedger when another run has the
// ledger open.
var ErrLedgerLocked = errors.New("another archive2imap run is using this account's ledger")

// ledgerSyncEvery is how often appended entries are synced to disk.
const ledgerSyncEvery = time.Second

// OpenLedger opens (creating it and its directory if needed) the ledger
// at path, reads what earlier runs recorded, and locks it. Lines that
// cannot be read (the last one of a run that was killed mid-write) are
// skipped.
func OpenLedger(path string) (*Ledger, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("%w (%s); wait for it to finish", ErrLedgerLocked, path)
		}
		return nil, fmt.Errorf("ledger %s: lock: %w", path, err)
	}
	l := &Ledger{path: path, f: f, index: make(map[string]map[uint32]map[uint32]string), lastSync: time.Now()}
	if err := l.load(); err != nil {
		f.Close()
		return nil, err
	}
	// A torn last line (a killed run) would glue onto the next entry.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			f.Write([]byte("\n"))
		}
	}
	l.w = bufio.NewWriterSize(f, 64<<10)
	return l, nil
}

// ReadLedger reads the ledger at path without locking or changing it (for
// a dry run); Record on it does nothing. A missing file is an empty ledger.
func ReadLedger(path string) (*Ledger, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Ledger{path: path, readOnly: true, index: make(map[string]map[uint32]map[uint32]string)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	l := &Ledger{path: path, f: f, readOnly: true, index: make(map[string]map[uint32]map[uint32]string)}
	if err := l.load(); err != nil {
		return nil, err
	}
	l.f = nil
	return l, nil
}

func (l *Ledger) load() error {
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("ledger %s: %w", l.path, err)
	}
	sc := bufio.NewScanner(l.f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e LedgerEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		l.add(e)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("ledger %s: %w", l.path, err)
	}
	return nil
}

func (l *Ledger) add(e LedgerEntry) {
	if e.Target == "" || e.UIDValidity == 0 || e.UID == 0 || e.Key == "" {
		return
	}
	byV := l.index[e.Target]
	if byV == nil {
		byV = make(map[uint32]map[uint32]string)
		l.index[e.Target] = byV
	}
	byU := byV[e.UIDValidity]
	if byU == nil {
		byU = make(map[uint32]string)
		byV[e.UIDValidity] = byU
	}
	byU[e.UID] = e.Key
}

// AlsoRecordTo makes this run's entries also go to the file at path
// (created, or emptied), a ledger of the run alone to keep with its
// report.
func (l *Ledger) AlsoRecordTo(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	l.mu.Lock()
	l.run, l.runW = f, bufio.NewWriterSize(f, 64<<10)
	l.mu.Unlock()
	return nil
}

// Path is the ledger's file.
func (l *Ledger) Path() string { return l.path }

// Known returns what the ledger knows of the messages of target, for
// Client.KnownMessages, or nil when it knows nothing.
func (l *Ledger) Known(target string) KnownKeys {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	byV := l.index[target]
	l.mu.Unlock()
	if len(byV) == 0 {
		return nil
	}
	return func(uidValidity, uid uint32) (string, bool) {
		l.mu.Lock()
		defer l.mu.Unlock()
		k, ok := l.index[target][uidValidity][uid]
		return k, ok
	}
}

// Record appends an entry. It never fails the run: a write error is kept
// and returned by Close.
func (l *Ledger) Record(e LedgerEntry) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.add(e)
	if l.err != nil || l.readOnly {
		return
	}
	b, err := json.Marshal(e)
	if err == nil {
		b = append(b, '\n')
		_, err = l.w.Write(b)
	}
	if err == nil && l.runW != nil {
		_, err = l.runW.Write(b)
	}
	if err == nil && time.Since(l.lastSync) >= ledgerSyncEvery {
		err = l.syncLocked()
	}
	if err != nil {
		l.err = fmt.Errorf("ledger %s: %w", l.path, err)
	}
}

func (l *Ledger) syncLocked() error {
	l.lastSync = time.Now()
	if err := l.w.Flush(); err != nil {
		return err
	}
	if l.runW != nil {
		if err := l.runW.Flush(); err != nil {
			return err
		}
		if err := l.run.Sync(); err != nil {
			return err
		}
	}
	return l.f.Sync()
}

// Close syncs what was recorded, unlocks and closes the ledger.
func (l *Ledger) Close() error {
	if l == nil || l.readOnly {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		if err := l.syncLocked(); err != nil {
			l.err = fmt.Errorf("ledger %s: %w", l.path, err)
		}
	}
	if l.run != nil {
		l.run.Close()
	}
	l.f.Close() // releases the lock
	return l.err
}

// ErrLocked is returned by LockFile when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// LockFile creates (with its directory) and locks the file at path
// without waiting; closing the file releases the lock, as does the
// process ending in any way.
func LockFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return f, nil
}

// LedgerReport reads a ledger file and makes a report of what it records:
// every uploaded message, by source folder and target, as a run's report
// would list them (the ledger holds no subjects, flags or plan decisions).
func LedgerReport(path string) (*report.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep := &report.Report{Tool: "archive2imap", Command: report.CommandMigrate, Status: report.StatusComplete, Ledger: path}
	folders := make(map[string]int)
	sources := make(map[string]bool)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		var e LedgerEntry
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Key == "" {
			rep.Problems = append(rep.Problems, report.Problem{Path: path, Offset: -1, Error: fmt.Sprintf("line %d is not a ledger entry", line)})
			continue
		}
		if _, ok := folders[e.Folder]; !ok {
			folders[e.Folder] = len(rep.Folders)
			rep.Folders = append(rep.Folders, report.Folder{Source: e.Folder, Target: e.Target})
		}
		if rep.Started.IsZero() || e.Time.Before(rep.Started) {
			rep.Started = e.Time
		}
		if e.Time.After(rep.Finished) {
			rep.Finished = e.Time
		}
		sources[e.Path] = true
		rep.Messages = append(rep.Messages, report.Message{
			Folder: e.Folder, Target: e.Target, Path: e.Path, Offset: e.Offset, Index: e.Index,
			Key: e.Key, Size: e.Size, Plan: report.DecisionUpload, Outcome: report.DecisionUploaded,
			UIDValidity: e.UIDValidity, UID: e.UID,
		})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if line == 0 {
		return nil, fmt.Errorf("%s: the ledger is empty", path)
	}
	if len(rep.Messages) == 0 {
		return nil, fmt.Errorf("%s: not a ledger (no line is a ledger entry)", path)
	}
	rep.StatusText = fmt.Sprintf("From the ledger %s: the messages uploaded between %s and %s.", path,
		rep.Started.Format("2006-01-02 15:04"), rep.Finished.Format("2006-01-02 15:04"))
	rep.Recount()
	return rep, nil
}
