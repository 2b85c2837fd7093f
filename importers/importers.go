// Package importers reads local mail archives written by POP3-era mail
// clients (mbox files and their variants, Maildir and Maildir++ trees,
// Thunderbird and mutt directory trees, Apple Mail bundles and .emlx stores,
// folders of .eml files) as one streaming model: folders, and per folder the
// messages with the bytes to upload, IMAP flags, delivery time and dedup key.
//
// importers never writes to the source: every file is opened read-only, and
// nothing is renamed, moved, created or touched (go-maildir's Dir.Unseen,
// which moves files from new/ to cur/, is never called). It knows nothing of
// IMAP servers.
//
// Memory does not grow with the size of an archive: one message is held at a
// time, and the bytes handed to a Handler are only valid until it returns.
package importers

import (
	"errors"
	"fmt"
	"time"
)

// Format names an archive layout.
type Format string

// The layouts. FormatAuto detects the layout of every file and directory.
const (
	FormatAuto    Format = "auto"
	FormatMbox    Format = "mbox"    // mbox files (mboxo, mboxrd, mboxcl, mboxcl2), and trees of them
	FormatMaildir Format = "maildir" // Maildir and Maildir++ trees
	FormatEmlx    Format = "emlx"    // Apple Mail Messages/*.emlx stores
	FormatEML     Format = "eml"     // folders of .eml files, one message per file
)

// Formats lists the values accepted for Options.Format.
var Formats = []Format{FormatAuto, FormatMbox, FormatMaildir, FormatEmlx, FormatEML}

// ParseFormat parses the name of a layout; "" means FormatAuto.
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return FormatAuto, nil
	}
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown format %q (want one of auto, mbox, maildir, emlx, eml)", s)
}

// InboxName is the logical name of an inbox folder, whatever the source
// calls it (an "inbox" mbox file, a Maildir root).
const InboxName = "INBOX"

// A Folder is one mail folder of a source.
type Folder struct {
	// Name is the logical folder path as the mail client showed it,
	// segments joined by "/" ("Archives/2019"); InboxName for an inbox.
	// It is not yet a server name: the uploader maps it.
	Name string `json:"name"`
	// Format is the layout the folder is stored in.
	Format Format `json:"format"`
	// Path is the mbox file, or the directory, the folder is read from.
	Path string `json:"path"`
}

// Location says where a message came from, precisely enough to read it
// again with ReadMessage.
type Location struct {
	// Path is the file holding the message.
	Path string `json:"path"`
	// Offset is the byte offset of the message in Path (for mbox, of its
	// From_ line); 0 for formats with one message per file.
	Offset int64 `json:"offset"`
	// Length is the number of bytes the message spans in Path (for mbox,
	// From_ line included); 0 means the whole file.
	Length int64 `json:"length,omitempty"`
	// Index is the 1-based position of the message in its folder.
	Index int `json:"index"`
}

// String formats the location for humans: the file, and for mbox the
// message number and byte offset.
func (l Location) String() string {
	if l.Length == 0 && l.Offset == 0 {
		return l.Path
	}
	return fmt.Sprintf("%s: message %d at byte %d", l.Path, l.Index, l.Offset)
}

// DateSource says where a message's delivery time was taken from.
type DateSource string

// The sources of a delivery time, in the order they are preferred.
const (
	DateFromLine    DateSource = "from_line"    // the mbox From_ line
	DateMaildirName DateSource = "maildir_name" // the timestamp in a Maildir file name
	DateEmlxPlist   DateSource = "emlx_plist"   // date-received in an .emlx plist
	DateMtime       DateSource = "mtime"        // the file's modification time
	DateReceived    DateSource = "received"     // the newest Received: header
	DateHeader      DateSource = "date"         // the Date: header
	DateNone        DateSource = "none"         // nothing usable; the server picks
)

// A Message is one message read from a folder.
type Message struct {
	Folder *Folder
	Loc    Location
	// Data holds the bytes to upload: CRLF line endings, mbox quoting
	// undone, nothing else changed. It is set only when Options.WantData is
	// true, and is only valid until the Handler returns.
	Data []byte
	// Size is the length of the bytes to upload, set whether or not Data is.
	Size int64
	// Flags are the IMAP flags the client had set (`\Seen`, `\Answered`,
	// `\Flagged`, `\Draft`, and keywords such as `$Forwarded`), sorted.
	Flags []string
	// Deleted reports that the client had marked the message deleted,
	// trashed or expunged without compacting it away.
	Deleted bool
	// Date is the delivery time (IMAP INTERNALDATE); zero when DateSource
	// is DateNone.
	Date       time.Time
	DateSource DateSource
	// MessageID is the normalized Message-ID (no angle brackets, no
	// whitespace), "" when the message has none.
	MessageID string
	// Key identifies the message for deduplication; see KeyOf.
	Key string
	// HeaderPrint is importers.HeaderPrint of the header, set only for
	// messages without a Message-ID: the uploader matches it against the
	// server's messages before fetching their bodies to compare
	// fingerprints.
	HeaderPrint string
	// Subject is the decoded Subject header, for reports.
	Subject string
	// AsksReceipt reports that the message asks for a read receipt
	// (Disposition-Notification-To or Return-Receipt-To): a migration may
	// mark a read one as answered ($MDNSent) so that the new mail client
	// does not send a receipt for an old message.
	AsksReceipt bool
	// Warnings describe problems that did not stop the message from being
	// read (cut short at the end of the file, a wrong Content-Length).
	Warnings []string
}

// A Problem is something in a source that could not be read: a damaged
// message, an unreadable file or directory. Reading goes on after it.
type Problem struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"` // -1 when it is not about a position in the file
	Index  int    `json:"index,omitempty"`
	Err    string `json:"error"`
}

func (p Problem) String() string {
	if p.Offset < 0 {
		return fmt.Sprintf("%s: %s", p.Path, p.Err)
	}
	if p.Index > 0 {
		return fmt.Sprintf("%s: message %d at byte %d: %s", p.Path, p.Index, p.Offset, p.Err)
	}
	return fmt.Sprintf("%s: at byte %d: %s", p.Path, p.Offset, p.Err)
}

// Handler receives what Walk reads. Nil callbacks are skipped.
type Handler struct {
	// Folder is called once per folder, before its messages; an empty
	// folder is still reported.
	Folder func(f *Folder) error
	// Message is called once per message, in the order of the source.
	// m and m.Data are only valid until it returns.
	Message func(m *Message) error
	// Problem is called for each part of the source that could not be read.
	Problem func(p Problem)
	// Ignored is called for files that are not mail (index files,
	// .DS_Store, notes.txt), with the reason.
	Ignored func(path, reason string)
}

// Options tune how sources are read.
type Options struct {
	// Format forces a layout; "" or FormatAuto detects it.
	Format Format
	// WantData makes Message.Data available. Without it, readers compute
	// Size and Key without building the upload bytes when they can, which is
	// what makes a scan fast.
	WantData bool
	// MboxLocation is the time zone of mbox From_ line dates, which carry
	// none; nil means time.Local.
	MboxLocation *time.Location

	// mboxBufs holds the mbox readers' buffers, which Walk keeps from one
	// file to the next (see mboxBufPool); nil: none kept.
	mboxBufs *mboxBufPool
}

func (o *Options) mboxLocation() *time.Location {
	if o.MboxLocation != nil {
		return o.MboxLocation
	}
	return time.Local
}

// ErrNotFound is returned (wrapped) by Walk when a source path does not exist.
var ErrNotFound = errors.New("no such file or directory")

// ErrNotMail is returned (wrapped) by Walk when a source path holds no mail
// in any known layout.
var ErrNotMail = errors.New("not a mail archive")
