package importers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// This file reads folders of loose message files, one RFC 5322 message per
// file: Outlook Express and Windows Live Mail exports (.eml), messages saved
// or dragged out of a client, notmuch's loose files.
//
// Such a file carries no delivery time: its modification time is when it
// was exported or copied, not when the message arrived, so it is not used.
// The time comes from the Received: or Date: header, else there is none
// (DateNone) and the server picks one. Flags come from the client-state
// headers some exporters leave (Status, X-Status, X-Mozilla-Status: see
// mboxFlags) and from Outlook's "X-Unsent: 1", which marks a draft.

// messageFieldNames are the header fields of which a file must have at
// least one for sniffMessageFile to take it for a message.
var messageFieldNames = []string{"From", "Date", "Message-ID", "Subject", "Received", "Return-Path", "To", "MIME-Version"}

// emlBOM is the byte order mark Windows editors put before text.
var emlBOM = []byte{0xEF, 0xBB, 0xBF}

// sniffHeadSize is how much of a file sniffMessageFile looks at.
const sniffHeadSize = 4096

// sniffMessageFile reports whether a file called name starting with head
// (up to 4 KiB) holds one RFC 5322 message. The rule:
//
//   - Names starting with "." (.DS_Store, Maildir placeholders) are never
//     messages, nor are Apple Mail's .emlx and .emlxpart files (read by the
//     emlx reader) and .mht/.mhtml files (saved web pages, which share the
//     MIME format).
//   - A file starting with an mbox From_ line (or an MMDF delimiter) is an
//     mbox, not a message file; so is, for the same reason, an .emlx (its
//     first line, a byte count, is not a header field).
//   - A UTF-8 byte order mark at the start is skipped.
//   - The file must start with a header block (as SplitHeader reads it, the
//     first line being a "Name: value" field). A .eml file needs one field;
//     any other name (no extension, .txt, .msg, .mail, "1.") needs at least
//     two fields, one of them From, Date, Message-ID, Subject, Received,
//     Return-Path, To or MIME-Version.
//
// So plain text (README, notes.txt, SOURCES.md), Outlook's binary .msg files
// and a text without any header (ietf-mailarchive's mail_bad.1, "Hello,")
// are not messages: nothing in them says they are mail, and the caller
// reports them as ignored files, with a reason, rather than uploading them.
func sniffMessageFile(name string, head []byte) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") {
		return false
	}
	ext := strings.ToLower(filepath.Ext(base))
	switch ext {
	case ".emlx", ".emlxpart", ".mht", ".mhtml":
		return false
	}
	head = bytes.TrimPrefix(head, emlBOM)
	if bytes.HasPrefix(head, []byte("From ")) || bytes.HasPrefix(head, []byte("\x01\x01\x01\x01")) {
		return false
	}
	header, _ := SplitHeader(head)
	fields, known := 0, 0
	forEachField(header, func(name, _ []byte) bool {
		fields++
		for _, k := range messageFieldNames {
			if equalFold(name, k) {
				known++
				break
			}
		}
		return true
	})
	if ext == ".eml" {
		return fields >= 1
	}
	return fields >= 2 && known >= 1
}

// readEML reads the message files (those sniffMessageFile accepts) directly
// inside the directory f.Path, in name order. Subdirectories, symbolic links
// and the files sniffMessageFile rejects are left to the caller (Walk
// recurses into the directories and reports the rest as ignored); a file
// that cannot be opened or read is a Problem.
func readEML(ctx context.Context, f *Folder, opts *Options, h *Handler) error {
	des, err := os.ReadDir(f.Path)
	if err != nil {
		h.problem(f.Path, -1, 0, "cannot read directory: %v", ioCause(err))
	}
	index := 0
	for _, de := range des {
		if err := canceled(ctx); err != nil {
			return err
		}
		if !de.Type().IsRegular() {
			continue
		}
		p := filepath.Join(f.Path, de.Name())
		raw, ok, err := readMessageFile(p)
		if err != nil {
			h.problem(p, -1, 0, "cannot read file: %v", ioCause(err))
			continue
		}
		if !ok {
			continue
		}
		index++
		m := emlMessage(raw, opts.WantData)
		m.Folder = f
		m.Loc = Location{Path: p, Index: index}
		if err := h.message(m); err != nil {
			return err
		}
	}
	return nil
}

// readEMLMessage reads again the message file at loc, with Data.
func readEMLMessage(loc Location, opts *Options) (*Message, error) {
	raw, err := os.ReadFile(loc.Path)
	if err != nil {
		return nil, fmt.Errorf("eml %s: cannot read file: %w", loc.Path, ioCause(err))
	}
	m := emlMessage(raw, true)
	m.Loc = loc
	return m, nil
}

// readMessageFile reads the file at p if sniffMessageFile accepts it; only
// its first 4 KiB are read otherwise.
func readMessageFile(p string) (raw []byte, ok bool, err error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, false, err
	}
	defer fh.Close()
	head := make([]byte, sniffHeadSize)
	n, err := io.ReadFull(fh, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, false, err
	}
	head = head[:n]
	if !sniffMessageFile(p, head) {
		return nil, false, nil
	}
	if n < sniffHeadSize {
		return head, true, nil
	}
	var buf bytes.Buffer
	if fi, err := fh.Stat(); err == nil && fi.Size() > int64(n) {
		buf.Grow(int(fi.Size()))
	}
	buf.Write(head)
	if _, err := buf.ReadFrom(fh); err != nil {
		return nil, false, err
	}
	return buf.Bytes(), true, nil
}

// emlMessage builds the Message of a message file's bytes. A UTF-8 byte
// order mark before the header (Windows editors add one) is removed, with a
// warning: left in, it would make the server see a message without header.
func emlMessage(raw []byte, wantData bool) *Message {
	m := &Message{}
	if bytes.HasPrefix(raw, emlBOM) {
		raw = raw[len(emlBOM):]
		m.Warnings = append(m.Warnings, "a UTF-8 byte order mark before the header was removed")
	}
	header, body := SplitHeader(raw)
	m.Size = crlfSize(raw)
	if wantData {
		m.Data = appendCRLF(make([]byte, 0, m.Size), raw)
	}
	m.Flags, m.Deleted = emlFlags(header)
	setHeaderFields(m, header, body)
	return m
}

// emlFlags derives IMAP flags from a message file's header: the mbox
// client-state fields (mboxFlags), and \Draft for Outlook's "X-Unsent: 1".
func emlFlags(header []byte) (flags []string, deleted bool) {
	flags, deleted = mboxFlags(header)
	if v, ok := headerValue(header, "X-Unsent"); ok && strings.TrimSpace(string(v)) == "1" {
		s := flagSet{flags: flags}
		s.add(FlagDraft)
		flags = s.sorted()
	}
	return flags, deleted
}
