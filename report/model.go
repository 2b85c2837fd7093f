// Package report holds the one model of what archive2imap found, planned
// and did (a Report), and renders it: JSON, CSV, Markdown, HTML and a
// terminal summary. scan, migrate --dry-run, migrate and verify all fill the
// same model, so every document shows the same numbers.
//
// report knows nothing of IMAP or the network, and never holds a secret: a
// Report names the server host and user, never a password or token.
package report

import (
	"fmt"
	"time"
)

// Commands that produce a Report.
const (
	CommandScan    = "scan"
	CommandMigrate = "migrate"
	CommandVerify  = "verify"
)

// Status of a run.
const (
	StatusComplete    = "complete"    // everything planned was done
	StatusIncomplete  = "incomplete"  // some messages failed or could not be read
	StatusInterrupted = "interrupted" // stopped (Ctrl-C, a budget, a fatal server condition) before the end; a rerun continues
	StatusFailed      = "failed"      // stopped by an error before any work (no connection, bad source)
)

// A Report is the whole story of one run.
type Report struct {
	Tool     string    `json:"tool"`
	Version  string    `json:"version"`
	Command  string    `json:"command"`
	DryRun   bool      `json:"dry_run"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Status   string    `json:"status"`
	// StatusText explains a status other than complete, for people
	// ("interrupted by signal; 1,204 of 5,000 messages uploaded; rerun the
	// same command to continue").
	StatusText string `json:"status_text,omitempty"`

	Sources []Source `json:"sources"`
	Server  *Server  `json:"server,omitempty"`
	// Dedupe is the dedup scope: "folder" or "account".
	Dedupe string `json:"dedupe,omitempty"`
	// Ledger is the file where the run recorded every message it
	// uploaded, one JSON object per line.
	Ledger string `json:"ledger,omitempty"`

	// Settings are the options that shaped the plan, so that an approved
	// plan (migrate --plan) is carried out with them.
	Settings *Settings `json:"settings,omitempty"`
	// Budget is the run's upload budget, when it has one (a provider's
	// daily limit, --max-bytes-per-day, --max-bytes-per-second).
	Budget *Budget `json:"budget,omitempty"`

	Folders  []Folder  `json:"folders"`
	Totals   Totals    `json:"totals"`
	Problems []Problem `json:"problems,omitempty"`
	Ignored  []Ignored `json:"ignored,omitempty"`
	// Messages is the per-message decision list, in source order.
	Messages []Message `json:"messages,omitempty"`
	// Verify holds what verify found, when it ran.
	Verify *Verify `json:"verify,omitempty"`
}

// A Source is one archive path given on the command line.
type Source struct {
	Path   string `json:"path"`
	Format string `json:"format"`
	// Files, Bytes and the fingerprints below describe what was read, so a
	// plan can refuse to run when the source changed since.
	Files []SourceFile `json:"files,omitempty"`
}

// Settings are the options of a migration other than the sources and the
// server: how the sources were read and where folders go. Never a secret.
type Settings struct {
	Format         string            `json:"format,omitempty"`
	MboxTimezone   string            `json:"mbox_timezone,omitempty"`
	IncludeDeleted bool              `json:"include_deleted,omitempty"`
	MaxSize        int64             `json:"max_size,omitempty"`
	FolderMap      map[string]string `json:"folder_map,omitempty"`
	TargetPrefix   string            `json:"target_prefix,omitempty"`
	CAFile         string            `json:"ca_file,omitempty"`
	// Provider is the provider profile asked for with --provider (gmail,
	// m365, generic); "" when detected.
	Provider string `json:"provider,omitempty"`
	// MDNSent is --mdn-sent when given: whether read messages that ask
	// for a read receipt are uploaded with $MDNSent (RFC 3503); nil: the
	// provider's default.
	MDNSent *bool `json:"mdn_sent,omitempty"`
}

// A SourceFile is one file of a source, as it was when read.
type SourceFile struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	SHA256  string    `json:"sha256,omitempty"`
}

// Server describes the target account, without secrets.
type Server struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	TLS  string `json:"tls"`
	User string `json:"user"`
	Auth string `json:"auth,omitempty"` // mechanism: LOGIN, PLAIN, XOAUTH2, OAUTHBEARER
	// Provider is the provider profile the run used: gmail, m365 or
	// generic; ProviderNotes say how it was recognised and what it
	// changes.
	Provider      string   `json:"provider,omitempty"`
	ProviderNotes []string `json:"provider_notes,omitempty"`
	// Delimiter is the server's hierarchy delimiter.
	Delimiter string `json:"delimiter,omitempty"`
	// Capabilities that shaped the run (LITERAL+, UIDPLUS, APPENDLIMIT=...).
	Capabilities []string `json:"capabilities,omitempty"`
	AppendLimit  int64    `json:"append_limit,omitempty"`
}

// Why a source folder goes to its target.
const (
	MapInbox      = "inbox"       // an inbox, or a Maildir root
	MapSpecialUse = "special-use" // matched a special-use folder (RFC 6154) by name
	MapName       = "name"        // the source name, with the server's delimiter and prefix
	MapFolderMap  = "folder map"  // a line of --folder-map
)

// A Folder is one source folder, its target and its counters.
type Folder struct {
	Source     string `json:"source"`
	SourcePath string `json:"source_path,omitempty"`
	Format     string `json:"format,omitempty"`
	Target     string `json:"target,omitempty"`
	// Reason says why Target was chosen (Map* constants), with detail
	// ("special-use \Sent").
	Reason string `json:"reason,omitempty"`
	// Create is set when the target did not exist on the server: the run
	// creates it (a dry run only says it would).
	Create bool `json:"create,omitempty"`
	// Fallback is the name the run uses instead of Target if the server
	// refuses to create Target (characters it does not allow in names).
	Fallback string `json:"fallback,omitempty"`
	Counters
	Stats
}

// Counters are the numbers every document shows, per folder and in total.
// In a plan: Found = DuplicatesInSource + AlreadyOnServer + ToUpload +
// Skipped + Failed (the failures known in advance, such as a message over
// the server's APPENDLIMIT). After a run: ToUpload = Uploaded + the
// failures met while uploading + what an interruption left undone.
type Counters struct {
	Found              int   `json:"found"`
	DuplicatesInSource int   `json:"duplicates_in_source"`
	AlreadyOnServer    int   `json:"already_on_server"`
	ToUpload           int   `json:"to_upload"`
	Uploaded           int   `json:"uploaded"`
	Skipped            int   `json:"skipped"`
	Failed             int   `json:"failed"`
	Bytes              int64 `json:"bytes"`
	BytesToUpload      int64 `json:"bytes_to_upload"`
	BytesUploaded      int64 `json:"bytes_uploaded"`
	// Labels counts the messages to upload that are another folder's copy
	// of a message the account stores once (Gmail: a label on it, not
	// another copy); they are in ToUpload too.
	Labels int `json:"labels,omitempty"`
}

// Add adds o to c.
func (c *Counters) Add(o Counters) {
	c.Found += o.Found
	c.DuplicatesInSource += o.DuplicatesInSource
	c.AlreadyOnServer += o.AlreadyOnServer
	c.ToUpload += o.ToUpload
	c.Uploaded += o.Uploaded
	c.Skipped += o.Skipped
	c.Failed += o.Failed
	c.Bytes += o.Bytes
	c.BytesToUpload += o.BytesToUpload
	c.BytesUploaded += o.BytesUploaded
	c.Labels += o.Labels
}

// Totals are the sums over all folders.
type Totals struct {
	Counters
	Stats
}

// Stats describe a folder's content, for scan.
type Stats struct {
	MissingMessageID    int        `json:"missing_message_id"`
	DuplicateMessageIDs int        `json:"duplicate_message_ids"`
	Deleted             int        `json:"deleted_marked"`
	Warnings            int        `json:"warnings"`
	Problems            int        `json:"problems"`
	Oldest              *time.Time `json:"oldest,omitempty"`
	Newest              *time.Time `json:"newest,omitempty"`
}

func (s *Stats) add(o Stats) {
	s.MissingMessageID += o.MissingMessageID
	s.DuplicateMessageIDs += o.DuplicateMessageIDs
	s.Deleted += o.Deleted
	s.Warnings += o.Warnings
	s.Problems += o.Problems
	if o.Oldest != nil && (s.Oldest == nil || o.Oldest.Before(*s.Oldest)) {
		s.Oldest = o.Oldest
	}
	if o.Newest != nil && (s.Newest == nil || o.Newest.After(*s.Newest)) {
		s.Newest = o.Newest
	}
}

// Decisions about a message. Plan holds what the plan decided: Upload,
// Duplicate, Exists, Skipped, or Failed for what cannot be uploaded at all
// (over the server's APPENDLIMIT). Outcome holds what a run did with a
// message planned for upload: Uploaded, Failed, or Pending when the run
// stopped before it; it is empty in a plan.
const (
	DecisionUpload    = "upload"
	DecisionDuplicate = "duplicate"
	DecisionExists    = "exists"
	DecisionSkipped   = "skipped"
	DecisionFailed    = "failed"
	DecisionUploaded  = "uploaded"
	DecisionPending   = "pending"
)

// A Message is one source message and what was decided and done with it.
type Message struct {
	Folder string `json:"folder"` // source folder
	Target string `json:"target,omitempty"`
	// Location of the message in the source.
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length,omitempty"`
	Index  int    `json:"index"`

	Key       string `json:"key"`
	MessageID string `json:"message_id,omitempty"`
	// HeaderPrint is set for messages without a Message-ID (see
	// importers.Message.HeaderPrint).
	HeaderPrint string    `json:"header_print,omitempty"`
	Date        time.Time `json:"date,omitzero"`
	DateSource  string    `json:"date_source,omitempty"`
	Size        int64     `json:"size"`
	Subject     string    `json:"subject,omitempty"`
	Flags       []string  `json:"flags,omitempty"`
	Deleted     bool      `json:"deleted,omitempty"`
	// AsksReceipt is set when the message asks for a read receipt
	// (Disposition-Notification-To, Return-Receipt-To).
	AsksReceipt bool `json:"asks_receipt,omitempty"`
	// AddsLabel is set when uploading the message gives a message the
	// account already stores (or gets from another folder of the same
	// run) one more folder: Gmail keeps one copy with several labels.
	AddsLabel bool `json:"adds_label,omitempty"`

	Plan    string `json:"plan"`
	Outcome string `json:"outcome,omitempty"`
	// Reason explains the decision: "already on server", "duplicate of
	// <location>", "marked deleted", "too large for server (APPENDLIMIT
	// 35882577)", or the server's refusal text.
	Reason   string   `json:"reason,omitempty"`
	Warnings []string `json:"warnings,omitempty"`

	// UIDValidity and UID of the uploaded copy, from APPENDUID (UIDPLUS).
	UIDValidity uint32 `json:"uid_validity,omitempty"`
	UID         uint32 `json:"uid,omitempty"`
	// Verified is what verify found: "present", "missing", "flags differ".
	Verified string `json:"verified,omitempty"`
}

// Decision is the message's final word: the outcome of a run where there
// is one, else the plan's decision.
func (m *Message) Decision() string {
	if m.Outcome != "" {
		return m.Outcome
	}
	return m.Plan
}

// Location formats where the message came from, for people.
func (m *Message) Location() string {
	if m.Offset == 0 && m.Length == 0 {
		return m.Path
	}
	return fmt.Sprintf("%s: message %d at byte %d", m.Path, m.Index, m.Offset)
}

// A Problem is something that could not be read or done.
type Problem struct {
	Path   string `json:"path,omitempty"`
	Offset int64  `json:"offset"` // -1: not about a position in a file
	Index  int    `json:"index,omitempty"`
	Folder string `json:"folder,omitempty"`
	Error  string `json:"error"`
}

// An Ignored file is one that is not mail.
type Ignored struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Verify is what verify found.
type Verify struct {
	Checked      int `json:"checked"`
	Present      int `json:"present"`
	Missing      int `json:"missing"`
	FlagsDiffer  int `json:"flags_differ"`
	NotExpected  int `json:"not_expected"` // deleted-marked or skipped by policy: not checked
	FoldersSeen  int `json:"folders_seen"`
	MissingFolds int `json:"missing_folders"`
}

// Recount recomputes every folder's Counters and Stats and the Totals
// from the message list and the problems, so that no document can disagree
// with the decisions. Folders without messages are kept (with zeros).
func (r *Report) Recount() {
	idx := make(map[string]int, len(r.Folders))
	for i := range r.Folders {
		idx[r.Folders[i].Source] = i
		r.Folders[i].Counters = Counters{}
		r.Folders[i].Stats = Stats{}
	}
	folder := func(name string) *Folder {
		fi, ok := idx[name]
		if !ok {
			r.Folders = append(r.Folders, Folder{Source: name})
			fi = len(r.Folders) - 1
			idx[name] = fi
		}
		return &r.Folders[fi]
	}
	seenIDs := make(map[string]map[string]bool)
	for i := range r.Messages {
		m := &r.Messages[i]
		f := folder(m.Folder)
		c, st := &f.Counters, &f.Stats
		c.Found++
		c.Bytes += m.Size
		switch m.Plan {
		case DecisionUpload:
			c.ToUpload++
			c.BytesToUpload += m.Size
			if m.AddsLabel {
				c.Labels++
			}
			switch m.Outcome {
			case DecisionUploaded:
				c.Uploaded++
				c.BytesUploaded += m.Size
			case DecisionFailed:
				c.Failed++
			}
		case DecisionDuplicate:
			c.DuplicatesInSource++
		case DecisionExists:
			c.AlreadyOnServer++
		case DecisionSkipped:
			c.Skipped++
		case DecisionFailed:
			c.Failed++
		}
		if m.MessageID == "" {
			st.MissingMessageID++
		} else {
			ids := seenIDs[m.Folder]
			if ids == nil {
				ids = make(map[string]bool)
				seenIDs[m.Folder] = ids
			}
			if ids[m.MessageID] {
				st.DuplicateMessageIDs++
			}
			ids[m.MessageID] = true
		}
		if m.Deleted {
			st.Deleted++
		}
		if len(m.Warnings) > 0 {
			st.Warnings++
		}
		if !m.Date.IsZero() {
			d := m.Date
			if st.Oldest == nil || d.Before(*st.Oldest) {
				st.Oldest = &d
			}
			if st.Newest == nil || d.After(*st.Newest) {
				d2 := d
				st.Newest = &d2
			}
		}
	}
	for _, p := range r.Problems {
		if p.Folder != "" {
			folder(p.Folder).Stats.Problems++
		}
	}
	r.Totals = Totals{}
	for i := range r.Folders {
		r.Totals.Counters.Add(r.Folders[i].Counters)
		r.Totals.Stats.add(r.Folders[i].Stats)
	}
	r.Totals.Problems = len(r.Problems)
}

// Budget is a run's upload budget: a daily allowance counted over the last
// 24 hours (Gmail's limit on what IMAP uploads, or --max-bytes-per-day)
// and a rate (--max-bytes-per-second).
type Budget struct {
	// BytesPerDay is the daily allowance; 0: none.
	BytesPerDay int64 `json:"bytes_per_day,omitempty"`
	// Label names the allowance for people ("Gmail's ~500 MB/day"); ""
	// for one set with --max-bytes-per-day.
	Label string `json:"label,omitempty"`
	// UsedLast24h is what earlier runs uploaded in the 24 hours before
	// this one (from the ledger).
	UsedLast24h int64 `json:"used_last_24h,omitempty"`
	// BytesToUpload is what the plan uploads, and Days how many days of
	// the allowance that takes (1: it fits in what is left today).
	BytesToUpload int64 `json:"bytes_to_upload"`
	Days          int   `json:"days,omitempty"`
	// BytesPerSecond is the rate limit; 0: none.
	BytesPerSecond int64 `json:"bytes_per_second,omitempty"`
	// Wait is set when the run waits for the allowance to free up
	// (--budget-wait) instead of stopping.
	Wait bool `json:"wait,omitempty"`
	// Reached is set when the run stopped at the allowance; ResumeAfter
	// is when enough of it is free again (zero when only the server
	// knows).
	Reached     bool      `json:"reached,omitempty"`
	ResumeAfter time.Time `json:"resume_after,omitzero"`
}
