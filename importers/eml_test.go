package importers

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/internal/corpora"
)

const emlExport = "testdata/eml/Export"

func TestSniffMessageFile(t *testing.T) {
	long := "Received: from a.example by b.example; Tue, 14 Nov 2023 22:13:20 +0000\n"
	tests := []struct {
		name, file, head string
		want             bool
	}{
		{"Outlook Express .eml export (CRLF)", "msg.eml", "From: \"A\" <a@example.org>\r\nTo: <b@example.net>\r\nSubject: hi\r\n\r\nbody\r\n", true},
		{"Windows Live Mail .eml, X- fields first", "Re- hi.eml", "X-Priority: 3\r\nX-MimeOLE: Produced By Microsoft MimeOLE\r\nFrom: a@example.org\r\n\r\n", true},
		{".eml with a single header field", "note.eml", "Subject: hi\n\nbody\n", true},
		{"notmuch loose RFC 5322 file without extension", "05:2,", "From: a@example.org\nMessage-ID: <x@y>\n\nbody\n", true},
		{"IETF archive file mail_normal.1", "mail_normal.1", "From: User <user@example.com>\nTo: list@example.com\nSubject: x\n\n", true},
		{"MimeKit .txt message starting with Received", "bounce.txt", "Received: from x by y; Tue, 14 Nov 2023 22:13:20 +0000\nDate: Tue, 14 Nov 2023 22:13:20 +0000\n\n", true},
		{"Usenet article (Path: first)", "epilogue.txt", "Path: a!b!c\nFrom: a@example.org\nNewsgroups: comp.mail\n\n", true},
		{"UTF-8 byte order mark (Notepad), MimeKit feedback-report.txt", "feedback-report.txt", "\xef\xbb\xbfFrom: <abuse@example.com>\nDate: Thu, 8 Mar 2005 14:00:00 EST\n\n", true},
		{"RFC 5322 text in a .msg file", "export.msg", "From: a@example.org\nSubject: x\n\nbody\n", true},
		{"header longer than the 4 KiB sniffed", "big.eml", "From: a@example.org\n" + strings.Repeat(long, 60), true},
		{"mbox From_ line: an mbox, not a message file", "single.mail", "From a@example.org Tue Nov 14 22:13:20 2023\nFrom: a@example.org\nSubject: x\n\n", false},
		{"Thunderbird 'From - ' line in an .eml", "saved.eml", "From - Wed Nov 09 20:53:04 2011\r\nX-Mozilla-Status: 0001\r\nFrom: a@example.org\r\n\r\n", false},
		{"MMDF delimiter", "mailbox_mmdf", "\x01\x01\x01\x01\nFrom: a@example.org\nSubject: x\n\n", false},
		{"Apple Mail .emlx (byte count first)", "123.emlx", "2945      \nFrom: a@example.org\nSubject: x\n\n", false},
		{"byte count first, whatever the name", "123.eml", "2945      \nFrom: a@example.org\nSubject: x\n\n", false},
		{"Apple Mail .emlxpart sidecar", "123.2.emlxpart", "From: a@example.org\nSubject: x\n\n", false},
		{"Outlook .msg (compound file binary)", "mail.msg", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", false},
		{"MHTML web page saved by a browser", "page.mht", "From: <Saved by Blink>\nSnapshot-Content-Location: https://example.com/\nSubject: Example\nMIME-Version: 1.0\n\n", false},
		{"README", "README", "README\n======\n\nThese are exported messages.\n", false},
		{"notes.txt", "notes.txt", "Notes about this export\n\nTo: do later\n", false},
		{"SOURCES.md", "SOURCES.md", "# Mail-archive test corpora (third-party data)\n\nReal and real-ish mailbox data files\n", false},
		{"one header-like line is not enough without .eml", "todo.txt", "Subject: party ideas\n- cake\n", false},
		{"two fields, none of them mail fields (a config file)", "settings", "Name: x\nVersion: 1\n\n", false},
		{"IETF mail_bad.1: a message without any header", "mail_bad.1", "Hello,\n\nThis is a test email. It has no headers.\n", false},
		{".eml without any header", "bad.eml", "Hello,\n\nno header\n", false},
		{"empty .eml", "empty.eml", "", false},
		{"a continuation line first", "x.eml", " folded: x\nFrom: a@example.org\n\n", false},
		{"header after a leading empty line (IETF mailbox_received)", "mailbox_received", "\nReceived: from a by b; Sun, 01 Oct 2006 13:27:15 -0400\nFrom: a@example.org\n\n", false},
		{"macOS .DS_Store", ".DS_Store", "\x00\x00\x00\x01Bud1\x00\x00", false},
		{"hidden file with mail content", ".draft.eml", "From: a@example.org\nSubject: x\n\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := []byte(tt.head)
			if len(head) > sniffHeadSize {
				head = head[:sniffHeadSize]
			}
			if got := sniffMessageFile(filepath.Join("some", "dir", tt.file), head); got != tt.want {
				t.Errorf("sniffMessageFile(%q) = %v, want %v", tt.file, got, tt.want)
			}
		})
	}
}

func TestReadEMLFixture(t *testing.T) {
	r := appleRead(t, readEML, emlExport, FormatEML, true)
	// readEML reads only what sniffMessageFile accepts and leaves the rest
	// (.DS_Store, notes.txt, todo.txt, README, empty.eml, outlook.msg, the
	// mbox file Sent, the directory sub/) to Walk, which reports them.
	if len(r.problems) != 0 || len(r.ignored) != 0 {
		t.Errorf("problems %v, ignored %v; want none", r.problems, r.ignored)
	}
	date := func(s string) time.Time {
		tm, err := time.Parse(time.RFC1123Z, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		file       string
		key        string // "" for a fingerprint
		flags      []string
		date       time.Time
		dateSource DateSource
		bom        bool
	}{
		{file: "01-lf.eml", key: "mid:eml-1@example.org", date: date("Tue, 14 Nov 2023 22:13:20 +0000"), dateSource: DateReceived},
		{file: "02-crlf.eml", date: date("Wed, 15 Nov 2023 08:00:00 +0100"), dateSource: DateHeader},
		// Outlook's unsent draft: \Draft; no Received or Date: no delivery time.
		{file: "03-draft.eml", flags: []string{FlagDraft}, dateSource: DateNone},
		// X-Mozilla-Status 0005 (read, marked) and X-Mozilla-Keys.
		{file: "04-status.eml", key: "mid:eml-4@example.org", flags: []string{"$label1", FlagFlagged, FlagSeen}, date: date("Thu, 16 Nov 2023 10:00:00 +0000"), dateSource: DateHeader},
		{file: "05-bom.eml", key: "mid:eml-5@example.org", date: date("Fri, 17 Nov 2023 09:00:00 +0000"), dateSource: DateHeader, bom: true},
		{file: "message", key: "mid:eml-6@example.org", dateSource: DateNone},
	}
	if len(r.msgs) != len(tests) {
		var got []string
		for _, m := range r.msgs {
			got = append(got, filepath.Base(m.Loc.Path))
		}
		t.Fatalf("read %q, want %d messages", got, len(tests))
	}
	for i, tt := range tests {
		m := r.msgs[i]
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(emlExport, tt.file)
			if m.Loc != (Location{Path: path, Index: i + 1}) {
				t.Errorf("Loc = %+v, want %s as message %d (name order)", m.Loc, path, i+1)
			}
			checkMessageConsistent(t, m)
			raw := mustRead(t, path)
			var warnings []string
			if tt.bom {
				raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
				warnings = []string{"a UTF-8 byte order mark before the header was removed"}
			}
			if want := appleCRLF(raw); !bytes.Equal(m.Data, want) {
				t.Errorf("Data = %q, want the file with CRLF %q", m.Data, want)
			}
			if tt.key != "" && m.Key != tt.key || tt.key == "" && !strings.HasPrefix(m.Key, "fp:") {
				t.Errorf("Key = %q, want %q (or a fingerprint)", m.Key, tt.key)
			}
			if !slices.Equal(m.Flags, tt.flags) || m.Deleted {
				t.Errorf("Flags, Deleted = %v, %v; want %v, false", m.Flags, m.Deleted, tt.flags)
			}
			if !m.Date.Equal(tt.date) || m.DateSource != tt.dateSource {
				t.Errorf("Date = %v (%s), want %v (%s)", m.Date, m.DateSource, tt.date, tt.dateSource)
			}
			if !slices.Equal(m.Warnings, warnings) {
				t.Errorf("Warnings = %q, want %q", m.Warnings, warnings)
			}
		})
	}
	checkScanMatchesData(t, readEML, emlExport, FormatEML)
	checkRereadEqual(t, r, readEMLMessage)
}

func TestReadEMLIgnoresMtime(t *testing.T) {
	// An exported file's modification time is the export time: a message
	// without Received: or Date: gets no delivery time, not the mtime.
	dir := t.TempDir()
	p := filepath.Join(dir, "draft.eml")
	if err := os.WriteFile(p, []byte("X-Unsent: 1\r\nSubject: x\r\nTo: a@example.org\r\n\r\nbody\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2004, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	r := appleRead(t, readEML, dir, FormatEML, false)
	if len(r.msgs) != 1 || r.msgs[0].DateSource != DateNone || !r.msgs[0].Date.IsZero() {
		t.Fatalf("messages %+v, want one with DateNone", r.msgs)
	}
}

func TestReadEMLMissingDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone")
	r := appleRead(t, readEML, missing, FormatEML, false)
	want := []Problem{{Path: missing, Offset: -1, Err: "cannot read directory: no such file or directory"}}
	if !reflect.DeepEqual(r.problems, want) || len(r.msgs) != 0 {
		t.Errorf("problems %v, messages %d; want %v", r.problems, len(r.msgs), want)
	}
	if _, err := readEMLMessage(Location{Path: missing}, &Options{}); err == nil || err.Error() != "eml "+missing+": cannot read file: no such file or directory" {
		t.Errorf("readEMLMessage: err = %v", err)
	}
}

func TestReadEMLUnreadableFile(t *testing.T) {
	// An unreadable message file is a Problem, and the next file is read.
	if os.Geteuid() == 0 {
		t.Skip("running as root: a mode 000 file is still readable")
	}
	dir := t.TempDir()
	for _, name := range []string{"a.eml", "b.eml"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("From: a@example.org\nSubject: "+name+"\n\nx\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "a.eml"), 0); err != nil {
		t.Fatal(err)
	}
	r := appleRead(t, readEML, dir, FormatEML, false)
	want := []Problem{{Path: filepath.Join(dir, "a.eml"), Offset: -1, Err: "cannot read file: permission denied"}}
	if !reflect.DeepEqual(r.problems, want) || len(r.msgs) != 1 || r.msgs[0].Subject != "b.eml" {
		t.Errorf("problems %v, %d messages; want %v and b.eml", r.problems, len(r.msgs), want)
	}
}

func TestReadEMLStopsOnHandlerErrorAndCancel(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	f := &Folder{Path: emlExport, Format: FormatEML}
	err := readEML(context.Background(), f, &Options{}, &Handler{Message: func(*Message) error { n++; return stop }})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("handler error: err = %v after %d messages, want stop after 1", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n = 0
	err = readEML(ctx, f, &Options{}, &Handler{Message: func(*Message) error { n++; return nil }})
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("cancelled: err = %v after %d messages, want context.Canceled before any", err, n)
	}
}

func TestSniffMessageFileCorpus(t *testing.T) {
	dir := corpora.Dir(t)
	ietf := filepath.Join("ietf-mailarchive", "backend", "mlarchive", "tests", "data")
	// Every file of a directory whose verdict differs from "accepted",
	// with the reason. The rest of each directory is accepted.
	rejected := map[string][]string{
		// SOURCES.md lists 17 *.mail and 23 mail*.N single messages here;
		// of these, 6 .mail files start with an mbox From_ line (single-
		// message mbox files, for the mbox reader) and mail_bad.1 has no
		// header at all (nothing says it is mail). The mailbox_* legacy
		// archives start with an empty line, a year or an MMDF delimiter,
		// except mailbox_date, _from and _to, which start like one message
		// and are accepted: their later messages, separated by an empty
		// line only, are read as body (nothing is lost, but they are one
		// message on the server).
		ietf: {
			"attachment.mail", "attachment_folded_name.mail", "attachment_message_rfc822.mail", "attachment_windows1252.mail",
			"query_acme.mail", "query_star.mail", "thread.mail", // From_ line
			"mail_bad.1", // no header
			"duplicate_tests.mbox", "export.mbox", "latin1.mbox", "private.mbox", "search_api.mbox", "search_api_ford.mbox",
			"urlize.mbox", "windows1252.mbox", // From_ line
			"mbox.1", "mailbox_mbox", "mailbox-x-envelope-from", "mailbox_envelope-to", "mailbox_received", "mailbox_return-path", // empty first line
			"mailbox_mmdf", "mailbox_year",
		},
		// multipart-digest.txt starts with a From_ line; the other 31
		// (including feedback-report.txt, after its byte order mark) are
		// messages.
		filepath.Join("mimekit", "UnitTests", "TestData", "messages"): {"multipart-digest.txt"},
		filepath.Join("mimekit", "UnitTests", "TestData", "partial"):  nil,
		// Thunderbird's single messages mostly start with "From - " lines
		// (mbox style); readme.txt is documentation.
		filepath.Join("thunderbird", "mailnews", "test", "data"): {
			"SenderHeader", "bugmail-1", "external-attach-test", "image-attach-test", "mail-without-from",
			"mbox_mboxrd", "mbox_modern", "mbox_unquoted", "readme.txt", "template-latin1",
		},
		filepath.Join("thunderbird", "mail", "test", "browser", "message-reader", "data"): nil,
		"notmuch": {"README"},
		".":       {"SOURCES.md"},
	}
	for sub, rej := range rejected {
		d := filepath.Join(dir, sub)
		des, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, de := range des {
			if !de.Type().IsRegular() {
				continue
			}
			head := make([]byte, sniffHeadSize)
			f, err := os.Open(filepath.Join(d, de.Name()))
			if err != nil {
				t.Fatal(err)
			}
			n, _ := f.Read(head)
			f.Close()
			if !sniffMessageFile(de.Name(), head[:n]) {
				got = append(got, de.Name())
			}
		}
		want := slices.Clone(rej)
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: rejected %q\nwant %q", sub, got, want)
		}
	}
}

func TestReadEMLCorpus(t *testing.T) {
	// readEML over every directory of the corpora that holds files
	// sniffMessageFile accepts (loose message files, and the message files
	// of Maildirs, read here as loose files to try the reader on real mail):
	// no problem, every message consistent, the scan equal to the read with
	// Data, and readEMLMessage equal to the streamed message.
	root := corpora.Dir(t)
	perDir := map[string]int{}
	total := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		r := appleRead(t, readEML, p, FormatEML, true)
		if len(r.problems) != 0 {
			t.Errorf("%s: problems %v", p, r.problems)
		}
		for _, m := range r.msgs {
			checkMessageConsistent(t, m)
			if len(m.Data) == 0 {
				t.Errorf("%s: empty message", m.Loc.Path)
			}
		}
		if len(r.msgs) > 0 {
			rel, _ := filepath.Rel(root, p)
			perDir[rel] = len(r.msgs)
			total += len(r.msgs)
			checkScanMatchesData(t, readEML, p, FormatEML)
			checkRereadEqual(t, r, readEMLMessage)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The loose-message directories. ietf: the 40 single messages SOURCES.md
	// lists, less 6 mbox-style .mail files and mail_bad.1, plus the three
	// legacy archives that start like a message (see
	// TestSniffMessageFileCorpus). mimekit messages: 32 files less the
	// From_-line digest.
	for sub, n := range map[string]int{
		filepath.Join("ietf-mailarchive", "backend", "mlarchive", "tests", "data"):        34,
		filepath.Join("mimekit", "UnitTests", "TestData", "messages"):                     31,
		filepath.Join("mimekit", "UnitTests", "TestData", "partial"):                      7,
		filepath.Join("thunderbird", "mail", "test", "browser", "message-reader", "data"): 4,
		filepath.Join("thunderbird", "mail", "test", "browser", "composition", "data"):    3,
		filepath.Join("thunderbird", "mailnews", "local", "test", "unit", "data"):         2,
		filepath.Join("thunderbird", "mailnews", "test", "data"):                          3,
		filepath.Join("apple-mail-emlx", "test", "__testdata", "expected_results"):        2,
	} {
		if perDir[sub] != n {
			t.Errorf("%s: %d messages, want %d", sub, perDir[sub], n)
		}
	}
	// All: the 86 above, and 318 of the 320 files of notmuch's tree (its
	// Maildir files and loose files; insert/mbox-attachment.eml and
	// indexing/PATCH-1-2-...txt:2,S start with a From_ line). No file
	// of the other corpora (mbox files, emlx files, attachments, README,
	// SOURCES.md) is taken for a message.
	if total != 404 {
		t.Errorf("%d messages in all, want 404; per directory: %v", total, perDir)
	}
}
