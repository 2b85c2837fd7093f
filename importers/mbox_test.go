package importers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/internal/corpora"
)

// mboxRun is what reading one mbox file produced.
type mboxRun struct {
	msgs     []*Message // copies, Data included, valid after the read
	problems []Problem
}

// readMboxFile reads path with readMbox, copying every message.
func readMboxFile(t testing.TB, path string, opts Options) mboxRun {
	t.Helper()
	var run mboxRun
	f := &Folder{Name: "test", Format: FormatMbox, Path: path}
	h := Handler{
		Message: func(m *Message) error {
			c := *m
			c.Data = bytes.Clone(m.Data)
			run.msgs = append(run.msgs, &c)
			return nil
		},
		Problem: func(p Problem) { run.problems = append(run.problems, p) },
	}
	if err := readMbox(context.Background(), f, &opts, &h); err != nil {
		t.Fatalf("readMbox(%s): %v", path, err)
	}
	return run
}

// scanMboxBytes reads data as an mbox file, chunk bytes at a time, from a
// source that returns at most short bytes per Read (0: no limit).
func scanMboxBytes(t testing.TB, path string, data []byte, chunk, short int, opts Options) mboxRun {
	t.Helper()
	var run mboxRun
	f := &Folder{Name: "test", Format: FormatMbox, Path: path}
	h := Handler{
		Message: func(m *Message) error {
			c := *m
			c.Data = bytes.Clone(m.Data)
			run.msgs = append(run.msgs, &c)
			return nil
		},
		Problem: func(p Problem) { run.problems = append(run.problems, p) },
	}
	src := &shortReader{r: bytes.NewReader(data), max: short}
	if err := scanMboxChunked(context.Background(), f, src, chunk, &opts, &h); err != nil {
		t.Fatalf("scanMbox(%s): %v", path, err)
	}
	return run
}

// shortReader returns at most max bytes per Read, as pipes and network file
// systems do, and fails with err after failAt bytes when err is set.
type shortReader struct {
	r      *bytes.Reader
	max    int
	n      int64
	failAt int64
	err    error
}

func (s *shortReader) Read(p []byte) (int, error) {
	if s.max > 0 && len(p) > s.max {
		p = p[:s.max]
	}
	if s.err != nil {
		if s.n >= s.failAt {
			return 0, s.err
		}
		if rest := s.failAt - s.n; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	return n, err
}

func (s *shortReader) ReadAt(p []byte, off int64) (int, error) { return s.r.ReadAt(p, off) }

// sameMessage reports how a and b differ, ignoring Folder (readMboxMessage
// has none) and, unless withData, Data.
func sameMessage(a, b *Message, withData bool) string {
	var d []string
	if a.Loc != b.Loc {
		d = append(d, fmt.Sprintf("Loc %+v != %+v", a.Loc, b.Loc))
	}
	if withData && !bytes.Equal(a.Data, b.Data) {
		d = append(d, fmt.Sprintf("Data %q != %q", clip(a.Data), clip(b.Data)))
	}
	if a.Size != b.Size {
		d = append(d, fmt.Sprintf("Size %d != %d", a.Size, b.Size))
	}
	if !slices.Equal(a.Flags, b.Flags) || a.Deleted != b.Deleted {
		d = append(d, fmt.Sprintf("Flags %v/%v != %v/%v", a.Flags, a.Deleted, b.Flags, b.Deleted))
	}
	if !a.Date.Equal(b.Date) || a.DateSource != b.DateSource {
		d = append(d, fmt.Sprintf("Date %v (%s) != %v (%s)", a.Date, a.DateSource, b.Date, b.DateSource))
	}
	if a.MessageID != b.MessageID || a.Key != b.Key {
		d = append(d, fmt.Sprintf("Key %s/%s != %s/%s", a.MessageID, a.Key, b.MessageID, b.Key))
	}
	if a.Subject != b.Subject {
		d = append(d, fmt.Sprintf("Subject %q != %q", a.Subject, b.Subject))
	}
	if !slices.Equal(a.Warnings, b.Warnings) {
		d = append(d, fmt.Sprintf("Warnings %q != %q", a.Warnings, b.Warnings))
	}
	return strings.Join(d, "; ")
}

func clip(b []byte) []byte {
	if len(b) > 200 {
		return append(bytes.Clone(b[:200]), "..."...)
	}
	return b
}

// checkMboxInvariants checks what must hold for every mbox file, and
// returns the full read:
//   - Size == len(Data); Data has CRLF line endings only; Key is the key of
//     Data (KeyOf);
//   - the fast scan (WantData false) gives the same messages (Size, Key...),
//     and so does the parallel scan, cut in segments of every size;
//   - readMboxMessage(Loc) gives the same message again;
//   - Offsets strictly increase and the Lengths tile the file from the
//     first message to the end;
//   - reading in tiny chunks from a source with short reads gives the same
//     messages (the chunk boundaries fall everywhere).
func checkMboxInvariants(t *testing.T, path string, opts Options) mboxRun {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts.WantData = true
	full := readMboxFile(t, path, opts)
	for _, m := range full.msgs {
		if m.Size != int64(len(m.Data)) {
			t.Errorf("%v: Size %d, len(Data) %d", m.Loc, m.Size, len(m.Data))
		}
		if bytes.Count(m.Data, []byte("\n")) != bytes.Count(m.Data, []byte("\r\n")) {
			t.Errorf("%v: Data has a bare LF", m.Loc)
		}
		if key, _ := KeyOf(m.Data); key != m.Key {
			t.Errorf("%v: Key %s, but KeyOf(Data) = %s", m.Loc, m.Key, key)
		}
		if m.Folder == nil || m.Folder.Path != path || m.Loc.Path != path {
			t.Errorf("%v: Folder %+v", m.Loc, m.Folder)
		}
	}

	fastOpts := opts
	fastOpts.WantData = false
	fast := readMboxFile(t, path, fastOpts)
	if len(fast.msgs) != len(full.msgs) || !reflect.DeepEqual(fast.problems, full.problems) {
		t.Fatalf("fast scan: %d messages %v, full read: %d messages %v", len(fast.msgs), fast.problems, len(full.msgs), full.problems)
	}
	for i, m := range fast.msgs {
		if m.Data != nil {
			t.Errorf("%v: fast scan built Data", m.Loc)
		}
		if d := sameMessage(m, full.msgs[i], false); d != "" {
			t.Errorf("fast scan differs from full read: %s", d)
		}
	}
	checkMboxParallel(t, path, data, fast, fastOpts)

	for _, m := range full.msgs {
		again, err := readMboxMessage(m.Loc, &opts)
		if err != nil {
			t.Errorf("readMboxMessage(%v): %v", m.Loc, err)
			continue
		}
		if d := sameMessage(again, m, true); d != "" {
			t.Errorf("readMboxMessage(%v) differs from the scan: %s", m.Loc, d)
		}
	}

	if len(full.msgs) > 0 && len(full.problems) == 0 {
		for i, m := range full.msgs {
			if m.Loc.Index != i+1 || m.Loc.Length <= 0 {
				t.Errorf("message %d: Loc %+v", i+1, m.Loc)
			}
			if i > 0 {
				prev := full.msgs[i-1].Loc
				if m.Loc.Offset != prev.Offset+prev.Length {
					t.Errorf("message %d at %d does not follow message %d (%d+%d)", i+1, m.Loc.Offset, i, prev.Offset, prev.Length)
				}
			}
		}
		last := full.msgs[len(full.msgs)-1].Loc
		if last.Offset+last.Length != int64(len(data)) {
			t.Errorf("the last message ends at %d, the file at %d", last.Offset+last.Length, len(data))
		}
	}

	for _, c := range []struct{ chunk, short int }{{1, 1}, {7, 3}, {64, 0}, {4096, 1000}} {
		small := scanMboxBytes(t, path, data, c.chunk, c.short, opts)
		if len(small.msgs) != len(full.msgs) || !reflect.DeepEqual(small.problems, full.problems) {
			t.Fatalf("chunk %d: %d messages %v, want %d %v", c.chunk, len(small.msgs), small.problems, len(full.msgs), full.problems)
		}
		for i, m := range small.msgs {
			if d := sameMessage(m, full.msgs[i], true); d != "" {
				t.Errorf("chunk %d, short reads %d: %s", c.chunk, c.short, d)
			}
		}
	}
	return full
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

var est = time.FixedZone("EST", -5*3600)

// wantMbox describes one expected message.
type wantMbox struct {
	offset, length int64
	data           string // upload bytes with LF endings (CRLF is checked)
	flags          []string
	deleted        bool
	date           time.Time // zero: DateNone
	source         DateSource
	key            string // "" means KeyOf(data), an fp: key
	warning        string // a substring of the one warning; "" for none
}

func TestMboxFixtures(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		msgs     []wantMbox
		problems int
	}{
		{
			name: "mboxo written by mutt: one level of >From unquoted, Status/X-Status flags",
			file: "mboxo.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 292,
				data: "Return-Path: <alice@example.com>\nFrom: Alice <alice@example.com>\nTo: bob@example.com\n" +
					"Subject: mboxo one\nDate: Mon, 1 Jan 2001 09:59:00 +0000\nMessage-ID: <mboxo-1@example.com>\nStatus: RO\n\n" +
					"Hello Bob,\nFrom the desk of Alice: a quoted From line.\n",
				flags: []string{FlagSeen},
				date:  time.Date(2001, 1, 1, 10, 0, 0, 0, est), source: DateFromLine,
				key: "mid:mboxo-1@example.com",
			}, {
				offset: 292, length: 185,
				data: "From: Bob <bob@example.com>\nTo: alice@example.com\nSubject: Re: mboxo one\n" +
					"Message-ID: <mboxo-2@example.com>\nStatus: O\nX-Status: A\n\nThanks.\n",
				flags: []string{FlagAnswered},
				date:  time.Date(2001, 1, 2, 11, 30, 0, 0, est), source: DateFromLine,
				key: "mid:mboxo-2@example.com",
			}},
		},
		{
			name: "mboxrd: >>From loses one > at every depth, > From and >Fromage stay",
			file: "mboxrd.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 288,
				data: "From: Author <author@example.com>\nTo: Recipient <recipient@example.com>\nSubject: mboxrd quoting\n\n" +
					"From here on, quoted once.\n>From here on, quoted twice.\n>>From three times.\n" +
					"> From is not quoting (space after the >).\n>Fromage is not either.\n",
				date: time.Date(2011, 7, 8, 12, 8, 34, 0, est), source: DateFromLine,
			}},
		},
		{
			name: "mboxcl (Netscape): a right Content-Length vouches for a dateless From_ line with no empty line before it",
			file: "mboxcl.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 217,
				data: "From: Carol <carol@example.com>\nSubject: mboxcl one\nMessage-ID: <cl-1@example.com>\nContent-Length: 82\n\n" +
					"This body is quoted by the writer:\nFrom the minutes of the meeting.\n--boundary--\n",
				date: time.Date(2004, 3, 3, 8, 0, 0, 0, est), source: DateFromLine,
				key: "mid:cl-1@example.com",
			}, {
				offset: 217, length: 107,
				data:   "X-Netscape-Note: only a Content-Length vouches for this separator\nContent-Length: 13\n\nSecond body.\n",
				source: DateNone,
			}},
		},
		{
			name: "mboxcl2: Content-Length keeps a bare dated From line in the body; nothing is unquoted",
			file: "mboxcl2.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 303,
				data: "From: Dave <dave@example.com>\nSubject: mboxcl2 one\nMessage-ID: <cl2-1@example.com>\nContent-Length: 151\n\n" +
					"Forwarded below, unquoted:\n\nFrom eve@example.com Thu Apr  1 00:00:00 2004\nFrom: Eve <eve@example.com>\n" +
					"Subject: inner\n\n>From stays as it is in mboxcl2.\n",
				date: time.Date(2004, 3, 31, 9, 0, 0, 0, est), source: DateFromLine,
				key: "mid:cl2-1@example.com",
			}, {
				offset: 303, length: 153,
				data: "From: Dave <dave@example.com>\nSubject: mboxcl2 two\nMessage-ID: <cl2-2@example.com>\nContent-Length: 4\n\nBye\n",
				date: time.Date(2004, 3, 31, 9, 5, 0, 0, est), source: DateFromLine,
				key: "mid:cl2-2@example.com",
			}},
		},
		{
			name: "Thunderbird on Windows: CRLF file kept as is, >From unquoted, X-Mozilla-Status read bit",
			file: "crlf.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 180,
				data: "X-Mozilla-Status: 0001\nFrom: Frank <frank@example.com>\nSubject: crlf one\nMessage-ID: <crlf-1@example.com>\n\n" +
					"Line one.\nFrom a quoted line.\n",
				flags: []string{FlagSeen},
				date:  time.Date(2007, 10, 2, 0, 26, 47, 0, est), source: DateFromLine,
				key: "mid:crlf-1@example.com",
			}, {
				offset: 180, length: 158,
				data: "X-Mozilla-Status: 0000\nFrom: Frank <frank@example.com>\nSubject: crlf two\nMessage-ID: <crlf-2@example.com>\n\n" +
					"Line two.\n",
				date: time.Date(2007, 10, 3, 10, 0, 0, 0, est), source: DateFromLine,
				key: "mid:crlf-2@example.com",
			}},
		},
		{
			name: "Eudora: From ???@??? separators with zero-padded days",
			file: "eudora.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 140,
				data: "From: Grace <grace@example.com>\nSubject: eudora one\nMessage-ID: <eudora-1@example.com>\n\nEudora body.\n",
				date: time.Date(2001, 1, 1, 12, 34, 56, 0, est), source: DateFromLine,
				key: "mid:eudora-1@example.com",
			}, {
				offset: 140, length: 147,
				data: "From: Grace <grace@example.com>\nSubject: eudora two\nMessage-ID: <eudora-2@example.com>\n\nSecond Eudora body.\n",
				date: time.Date(2001, 1, 2, 1, 2, 3, 0, est), source: DateFromLine,
				key: "mid:eudora-2@example.com",
			}},
		},
		{
			name: "Windows editor: UTF-8 BOM before a dateless From_ line",
			file: "bom.mbox",
			msgs: []wantMbox{{
				offset: 3, length: 99,
				data:   "From: Heidi <heidi@example.com>\nSubject: bom\nMessage-ID: <bom-1@example.com>\n\nAfter a BOM.\n",
				source: DateNone,
				key:    "mid:bom-1@example.com",
			}},
		},
		{
			name: "IETF mail archive: empty lines before the first From_ line",
			file: "leading-blank.mbox",
			msgs: []wantMbox{{
				offset: 2, length: 140,
				data: "From: Ivan <ivan@example.com>\nSubject: leading blank\nMessage-ID: <lead-1@example.com>\n\nBody.\n",
				date: time.Date(2007, 2, 2, 2, 2, 2, 0, est), source: DateFromLine,
				key: "mid:lead-1@example.com",
			}},
		},
		{
			name: "MMDF: ^A^A^A^A delimiters, a From_ line after one, no quoting, trailing empty line kept",
			file: "mmdf.mmdf",
			msgs: []wantMbox{{
				offset: 0, length: 140,
				data: "Return-Path: <judy@example.com>\nFrom: Judy <judy@example.com>\nSubject: mmdf one\n" +
					"Message-ID: <mmdf-1@example.com>\n\nMMDF body one.\n\n",
				source: DateNone,
				key:    "mid:mmdf-1@example.com",
			}, {
				offset: 140, length: 172,
				data: "From: Judy <judy@example.com>\nSubject: mmdf two\nMessage-ID: <mmdf-2@example.com>\n\nFrom the body: MMDF does not quote.\n",
				date: time.Date(1994, 9, 9, 15, 37, 0, 0, est), source: DateFromLine,
				key: "mid:mmdf-2@example.com",
			}},
		},
		{
			name: "empty file: no messages, no problem",
			file: "empty.mbox",
		},
		{
			name: "copy interrupted mid-write: the last message is kept, with a warning",
			file: "truncated.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 140,
				data: "From: Kim <kim@example.com>\nSubject: whole\nMessage-ID: <trunc-1@example.com>\n\nWhole message.\n",
				date: time.Date(2007, 3, 3, 3, 3, 3, 0, est), source: DateFromLine,
				key: "mid:trunc-1@example.com",
			}, {
				offset: 140, length: 145,
				data: "From: Kim <kim@example.com>\nSubject: cut\nMessage-ID: <trunc-2@example.com>\n\nThis message was cut he",
				date: time.Date(2007, 3, 3, 3, 4, 0, 0, est), source: DateFromLine,
				key: "mid:trunc-2@example.com", warning: "cut short at the end of the file",
			}},
		},
		{
			name: "wrong Content-Length (too long, too short, not a number): ignored with a warning",
			file: "wrong-cl.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 159,
				data: "From: Lou <lou@example.com>\nSubject: too long\nMessage-ID: <wcl-1@example.com>\nContent-Length: 5000\n\n" +
					"Short body.\n",
				date: time.Date(2010, 4, 4, 4, 4, 4, 0, est), source: DateFromLine,
				key: "mid:wcl-1@example.com", warning: "Content-Length 5000 does not match",
			}, {
				offset: 159, length: 174,
				data: "From: Lou <lou@example.com>\nSubject: too short\nMessage-ID: <wcl-2@example.com>\nContent-Length: 3\n\n" +
					"A longer body than declared.\n",
				date: time.Date(2010, 4, 4, 4, 5, 0, 0, est), source: DateFromLine,
				key: "mid:wcl-2@example.com", warning: "Content-Length 3 does not match",
			}, {
				offset: 333, length: 158,
				data: "From: Lou <lou@example.com>\nSubject: not a number\nMessage-ID: <wcl-3@example.com>\nContent-Length: twelve\n\n" +
					"Body.\n",
				date: time.Date(2010, 4, 4, 4, 6, 0, 0, est), source: DateFromLine,
				key: "mid:wcl-3@example.com", warning: `Content-Length "twelve" is not a number`,
			}},
		},
		{
			name: "Content-Length past the end of the file: cut short, kept",
			file: "cl-past-eof.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 172,
				data: "From: Mia <mia@example.com>\nSubject: cut by length\nMessage-ID: <cleof-1@example.com>\nContent-Length: 100\n\n" +
					"Only twenty bytes..\n",
				date: time.Date(2008, 5, 5, 5, 5, 5, 0, est), source: DateFromLine,
				key: "mid:cleof-1@example.com", warning: "cut short at the end of the file: Content-Length is 100 but the body has 20 bytes",
			}},
		},
		{
			name: "Thunderbird 2005 / MimeKit unmunged: unquoted body From lines do not split",
			file: "unquoted-from.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 222,
				data: "From: Nina <nina@example.com>\nSubject: unquoted one\n\nMy favourite film:\n\nFrom Russia with love\nYear: 1963\n\n" +
					"Older Thunderbird did not quote this:\nFrom \nnor this, after an empty line:\n\nFrom - \n\nFrom here on, prose.\n",
				source: DateNone,
			}, {
				offset: 222, length: 74,
				data:   "From: Nina <nina@example.com>\nSubject: unquoted two\n\nSecond body.\n",
				source: DateNone,
			}},
		},
		{
			name: "Dovecot imaptest: header-less messages, From_ line zones",
			file: "headerless.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 60,
				data: "\nbody one\n",
				date: time.Date(2007, 3, 24, 23, 0, 0, 0, time.FixedZone("", 2*3600)), source: DateFromLine,
				warning: "no header fields",
			}, {
				offset: 60, length: 60,
				data: "\nbody two\n",
				date: time.Date(2007, 3, 25, 4, 0, 0, 0, time.FixedZone("", 3*3600)), source: DateFromLine,
				warning: "no header fields",
			}},
		},
		{
			name: "Thunderbird: X-Mozilla-Status expunged bit, X-Mozilla-Keys tags",
			file: "mozilla.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 192,
				data: "X-Mozilla-Status: 0009\nX-Mozilla-Status2: 00000000\nFrom: Olga <olga@example.com>\nSubject: expunged\n" +
					"Message-ID: <moz-1@example.com>\n\nDeleted but not compacted.\n",
				flags: []string{FlagSeen}, deleted: true,
				date: time.Date(2013, 6, 6, 6, 6, 6, 0, est), source: DateFromLine,
				key: "mid:moz-1@example.com",
			}, {
				offset: 192, length: 205,
				data: "X-Mozilla-Status: 1007\nX-Mozilla-Keys: $label1 work\nFrom: Olga <olga@example.com>\nSubject: kept\n" +
					"Message-ID: <moz-2@example.com>\n\nRead, replied, starred, forwarded, tagged.\n",
				flags: []string{FlagForwarded, "$label1", FlagAnswered, FlagFlagged, FlagSeen, "work"},
				date:  time.Date(2013, 6, 6, 7, 7, 7, 0, est), source: DateFromLine,
				key: "mid:moz-2@example.com",
			}},
		},
		{
			name: "mutt and pine: Status and X-Status letters",
			file: "status.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 166,
				data: "From: Pat <pat@example.com>\nSubject: answered and flagged\nMessage-ID: <st-1@example.com>\n" +
					"Status: RO\nX-Status: AF\n\nOne.\n",
				flags: []string{FlagAnswered, FlagFlagged, FlagSeen},
				date:  time.Date(2006, 7, 7, 7, 7, 7, 0, est), source: DateFromLine,
				key: "mid:st-1@example.com",
			}, {
				offset: 166, length: 149,
				data:  "From: Pat <pat@example.com>\nSubject: draft\nMessage-ID: <st-2@example.com>\nStatus: O\nX-Status: T\n\nTwo.\n",
				flags: []string{FlagDraft},
				date:  time.Date(2006, 7, 7, 8, 8, 8, 0, est), source: DateFromLine,
				key: "mid:st-2@example.com",
			}, {
				offset: 315, length: 154,
				data:  "From: Pat <pat@example.com>\nSubject: deleted\nMessage-ID: <st-3@example.com>\nStatus: RO\nX-Status: D\n\nThree.\n",
				flags: []string{FlagSeen}, deleted: true,
				date: time.Date(2006, 7, 7, 9, 9, 9, 0, est), source: DateFromLine,
				key: "mid:st-3@example.com",
			}},
		},
		{
			name: "no Message-ID: the fingerprint covers the unquoted body",
			file: "no-message-id.mbox",
			msgs: []wantMbox{{
				offset: 0, length: 168,
				data: "From: Quinn <quinn@example.com>\nTo: r@example.com\nSubject: no id\nDate: Sat, 8 Aug 2009 08:00:00 +0000\n\n" +
					"From the body.\n",
				date: time.Date(2009, 8, 8, 8, 8, 8, 0, est), source: DateFromLine,
			}},
		},
		{
			name:     "plain text whose first line is not a From_ line: not an mbox",
			file:     "not-mbox.txt",
			problems: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("testdata", "mbox", tt.file)
			run := checkMboxInvariants(t, path, Options{MboxLocation: est})
			if len(run.problems) != tt.problems {
				t.Errorf("problems %v, want %d", run.problems, tt.problems)
			}
			if len(run.msgs) != len(tt.msgs) {
				t.Fatalf("%d messages, want %d", len(run.msgs), len(tt.msgs))
			}
			for i, w := range tt.msgs {
				m := run.msgs[i]
				want := Location{Path: path, Offset: w.offset, Length: w.length, Index: i + 1}
				if m.Loc != want {
					t.Errorf("message %d: Loc %+v, want %+v", i+1, m.Loc, want)
				}
				if got := string(m.Data); got != crlf(w.data) {
					t.Errorf("message %d: Data\n%q\nwant\n%q", i+1, got, crlf(w.data))
				}
				if m.Size != int64(len(crlf(w.data))) {
					t.Errorf("message %d: Size %d, want %d", i+1, m.Size, len(crlf(w.data)))
				}
				if !slices.Equal(m.Flags, w.flags) || m.Deleted != w.deleted {
					t.Errorf("message %d: Flags %q Deleted %v, want %q %v", i+1, m.Flags, m.Deleted, w.flags, w.deleted)
				}
				source := w.source
				if source == "" {
					source = DateNone
				}
				if !m.Date.Equal(w.date) || m.DateSource != source {
					t.Errorf("message %d: Date %v (%s), want %v (%s)", i+1, m.Date, m.DateSource, w.date, source)
				}
				if !w.date.IsZero() {
					_, got := m.Date.Zone()
					_, want := w.date.Zone()
					if got != want {
						t.Errorf("message %d: Date zone offset %d, want %d", i+1, got, want)
					}
				}
				key := w.key
				if key == "" {
					key, _ = KeyOf([]byte(w.data))
					if !strings.HasPrefix(key, "fp:") {
						t.Fatalf("bad test: message %d has a Message-ID", i+1)
					}
				}
				if m.Key != key {
					t.Errorf("message %d: Key %s, want %s", i+1, m.Key, key)
				}
				switch {
				case w.warning == "" && len(m.Warnings) > 0:
					t.Errorf("message %d: Warnings %q, want none", i+1, m.Warnings)
				case w.warning != "" && (len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], w.warning)):
					t.Errorf("message %d: Warnings %q, want one with %q", i+1, m.Warnings, w.warning)
				}
				if m.Loc.Offset >= 0 {
					raw, _ := os.ReadFile(path)
					if start := raw[m.Loc.Offset:]; !bytes.HasPrefix(start, []byte("From ")) && !bytes.HasPrefix(start, []byte(mmdfDelim)) {
						t.Errorf("message %d: Offset %d is not at a From_ line or MMDF delimiter", i+1, m.Loc.Offset)
					}
				}
			}
		})
	}
}

// TestMboxNoMessageIDQuoted checks that the fingerprint of a message without
// a Message-ID is taken over the unquoted body, in the fast scan too.
func TestMboxNoMessageIDQuoted(t *testing.T) {
	path := filepath.Join("testdata", "mbox", "no-message-id.mbox")
	for _, want := range []bool{true, false} {
		run := readMboxFile(t, path, Options{WantData: want})
		if len(run.msgs) != 1 {
			t.Fatalf("%d messages", len(run.msgs))
		}
		header := "From: Quinn <quinn@example.com>\nTo: r@example.com\nSubject: no id\nDate: Sat, 8 Aug 2009 08:00:00 +0000\n"
		unquoted := Fingerprint([]byte(header), []byte("From the body.\n"))
		quoted := Fingerprint([]byte(header), []byte(">From the body.\n"))
		if run.msgs[0].Key != unquoted || unquoted == quoted {
			t.Errorf("WantData %v: Key %s, want %s (quoted body gives %s)", want, run.msgs[0].Key, unquoted, quoted)
		}
	}
}

// TestMboxCorpus reads the real-world mbox files of the shared corpora.
// SOURCES.md's counts come from Python's mailbox.mbox, which splits at every
// line starting with "From "; where this reader counts differently, the
// comment says why.
func TestMboxCorpus(t *testing.T) {
	dir := corpora.Dir(t)
	tests := []struct {
		file  string
		count int
		why   string
	}{
		// Thunderbird (comm-central).
		{"thunderbird/mailnews/test/data/mbox_mboxrd", 2, ""},
		{"thunderbird/mailnews/test/data/mbox_modern", 2, "body From lines are escaped with a leading space, which is content"},
		{"thunderbird/mailnews/test/data/mbox_unquoted", 2, "SOURCES.md: 3. The bare body \"From \" line follows a text line and precedes prose: not a separator; upstream says 2"},
		{"thunderbird/mailnews/test/data/bugmail-1", 1, ""},
		{"thunderbird/mailnews/test/data/SenderHeader", 1, ""},
		{"thunderbird/mailnews/test/data/mail-without-from", 1, ""},
		{"thunderbird/mailnews/test/data/template-latin1", 1, "From_ date in the day-first form \"Sun 24 Jan 2016 21:57:32\""},
		{"thunderbird/mailnews/test/data/external-attach-test", 1, ""},
		{"thunderbird/mailnews/test/data/image-attach-test", 1, ""},
		{"thunderbird/mailnews/local/test/unit/data/movemailspool", 3, ""},
		{"thunderbird/mailnews/db/panorama/test/xpcshell/data/migration", 3, "CRLF, bare \"From \" separators after empty lines"},
		// Perceval.
		{"perceval/tests/data/hyperkitty/hyperkitty_2016_april.mbox", 3, ""},
		{"perceval/tests/data/hyperkitty/hyperkitty_2016_march.mbox", 1, ""},
		{"perceval/tests/data/mbox/mbox_complex.mbox", 2, ""},
		{"perceval/tests/data/mbox/mbox_iso8859_encoding.mbox", 1, "Latin-1 byte in the From_ line (Python's mailbox fails on it)"},
		{"perceval/tests/data/mbox/mbox_multipart.mbox", 2, ""},
		{"perceval/tests/data/mbox/mbox_no_fields.mbox", 6, ""},
		{"perceval/tests/data/mbox/mbox_single.mbox", 1, ""},
		{"perceval/tests/data/mbox/mbox_unixfrom_encoding.mbox", 1, "UTF-8 quotes in the From_ line (Python's mailbox fails on it)"},
		{"perceval/tests/data/mbox/mbox_unknown_encoding.mbox", 1, ""},
		{"perceval/tests/data/pipermail/pipermail_2015_november.mbox", 4, ""},
		{"perceval/tests/data/pipermail/pipermail_2016_april.mbox", 3, ""},
		{"perceval/tests/data/pipermail/pipermail_2016_march.mbox", 1, ""},
		// IETF mail archive.
		{"ietf-mailarchive/backend/mlarchive/tests/data/duplicate_tests.mbox", 10, ""},
		{"ietf-mailarchive/backend/mlarchive/tests/data/export.mbox", 21, ""},
		{"ietf-mailarchive/backend/mlarchive/tests/data/latin1.mbox", 1, ""},
		{"ietf-mailarchive/backend/mlarchive/tests/data/private.mbox", 1, ""},
		{"ietf-mailarchive/backend/mlarchive/tests/data/search_api.mbox", 4, ""},
		{"ietf-mailarchive/backend/mlarchive/tests/data/search_api_ford.mbox", 4, ""},
		{"ietf-mailarchive/backend/mlarchive/tests/data/urlize.mbox", 1, ""},
		{"ietf-mailarchive/backend/mlarchive/tests/data/windows1252.mbox", 1, ""},
		{"ietf-mailarchive/backend/mlarchive/tests/data/mbox.1", 1, "an empty line before the first From_ line is leading junk"},
		{"ietf-mailarchive/backend/mlarchive/tests/data/mailbox_mbox", 1, "as mbox.1"},
		{"ietf-mailarchive/backend/mlarchive/tests/data/mailbox_mmdf", 5, "MMDF; SOURCES.md counts it with mailbox.MMDF"},
		// BigBang.
		{"bigbang/tests/data/3GPP_mbox/3GPP_TSG_RAN_WG4_NR-MIMO-OTA.mbox", 59, ""},
		{"bigbang/tests/data/3GPP_mbox/3GPP_TSG_SA_WG4_EVS.mbox", 50, ""},
		{"bigbang/tests/data/2001-November.txt", 164, "pipermail From_ lines: \"From jjl at pobox.com  Thu Nov  1 11:19:12 2001\""},
		// MimeKit.
		{"mimekit/UnitTests/TestData/mbox/content-length.mbox.txt", 29, "the first three Content-Lengths are wrong (1213, 3748, 3748 for bodies of 1232, 5758, 5793 bytes) " +
			"and messages 2 and 3 start with a bare \"From - \" right after a MIME closing boundary: a whole header block " +
			"follows, so they are separators; most later Content-Lengths omit the final newline and still land on the next From_ line"},
		{"mimekit/UnitTests/TestData/mbox/issue1189.mbox.txt", 4, "dateless From_ lines \"From 1844347792267117879@xxx\" after empty lines"},
		{"mimekit/UnitTests/TestData/mbox/simple.mbox.txt", 3, ""},
		{"mimekit/UnitTests/TestData/mbox/unmunged.mbox.txt", 2, "SOURCES.md: 3. \"From Russia with love\" is prose, not a From_ line (BOM before the first From_ line); upstream intends 2"},
		// Dovecot imaptest.
		{"dovecot-imaptest/src/tests/default.mbox", 2, "header-less messages"},
		{"dovecot-imaptest/src/tests/fetch-bodystructure.mbox", 1, ""},
		{"dovecot-imaptest/src/tests/fetch-envelope.mbox", 6, ""},
		{"dovecot-imaptest/src/tests/search-addresses.mbox", 6, ""},
		{"dovecot-imaptest/src/tests/search-header.mbox", 2, ""},
		{"dovecot-imaptest/src/tests/search-intdate.mbox", 16, "header-less messages, From_ lines with a zone"},
		{"dovecot-imaptest/src/tests/sort-subject.mbox", 9, ""},
		{"dovecot-imaptest/src/tests/thread.mbox", 3, ""},
		{"dovecot-imaptest/src/tests/urlauth-binary.mbox", 1, ""},
		// NeoMutt type detection.
		{"neomutt/mbox/apple.mbox", 0, "empty file"},
		{"neomutt/mbox/banana.mbox", 1, ""},
		{"neomutt/mbox/fig.mbox", 0, "a bare MMDF delimiter"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			run := checkMboxInvariants(t, path, Options{MboxLocation: time.UTC})
			if len(run.msgs) != tt.count || len(run.problems) != 0 {
				t.Errorf("%d messages, problems %v; want %d (%s)", len(run.msgs), run.problems, tt.count, tt.why)
			}
		})
	}
}

// TestMboxCorpusDetails pins what the tricky corpus files must give beyond
// their count.
func TestMboxCorpusDetails(t *testing.T) {
	dir := corpora.Dir(t)
	read := func(file string) []*Message {
		return readMboxFile(t, filepath.Join(dir, file), Options{WantData: true, MboxLocation: time.UTC}).msgs
	}

	// Current Thunderbird escapes body From lines with a space: content.
	msgs := read("thunderbird/mailnews/test/data/mbox_modern")
	if !bytes.Contains(msgs[0].Data, []byte("\r\n From \r\n From - Fri Aug 24 11:55:47 2018\r\n")) {
		t.Errorf("mbox_modern: space-escaped From lines changed: %q", msgs[0].Data)
	}
	// Old Thunderbird left the body From line bare: it stays in message 1.
	msgs = read("thunderbird/mailnews/test/data/mbox_unquoted")
	if !bytes.Contains(msgs[0].Data, []byte("like this:\r\nFrom \r\nThis could cause problems")) {
		t.Errorf("mbox_unquoted: body From line lost: %q", msgs[0].Data)
	}
	// mboxrd: the quoted line is unquoted.
	msgs = read("thunderbird/mailnews/test/data/mbox_mboxrd")
	if !bytes.Contains(msgs[0].Data, []byte("\r\nFrom (should be escaped).\r\n")) || bytes.Contains(msgs[0].Data, []byte(">From")) {
		t.Errorf("mbox_mboxrd: not unquoted: %q", msgs[0].Data)
	}
	// MimeKit unmunged: BOM skipped, both Bond lines kept in their messages.
	msgs = read("mimekit/UnitTests/TestData/mbox/unmunged.mbox.txt")
	if msgs[0].Loc.Offset != 3 || !bytes.Contains(msgs[1].Data, []byte("\r\nFrom Russia with love\r\nYear: 1963\r\n")) {
		t.Errorf("unmunged: Offset %d, message 2 %q", msgs[0].Loc.Offset, msgs[1].Data)
	}
	// search-intdate: the zone of the From_ line wins over MboxLocation.
	msgs = read("dovecot-imaptest/src/tests/search-intdate.mbox")
	if want := time.Date(2007, 3, 24, 21, 0, 0, 0, time.UTC); !msgs[0].Date.Equal(want) || msgs[0].DateSource != DateFromLine {
		t.Errorf("search-intdate: Date %v (%s), want %v", msgs[0].Date, msgs[0].DateSource, want)
	}
	// content-length.mbox.txt: message 5 holds a 730 KB attachment.
	msgs = read("mimekit/UnitTests/TestData/mbox/content-length.mbox.txt")
	if msgs[4].Loc.Offset != 22486 || msgs[4].Loc.Length != 748552 {
		t.Errorf("content-length message 5: Loc %+v", msgs[4].Loc)
	}
	// pipermail: the sender with spaces does not hide the date.
	msgs = read("bigbang/tests/data/2001-November.txt")
	if want := time.Date(2001, 11, 1, 11, 19, 12, 0, time.UTC); !msgs[0].Date.Equal(want) {
		t.Errorf("2001-November: Date %v, want %v", msgs[0].Date, want)
	}
	// perceval: an 8-bit byte in the From_ line does not stop the date.
	msgs = read("perceval/tests/data/mbox/mbox_iso8859_encoding.mbox")
	if want := time.Date(2016, 11, 7, 18, 44, 27, 0, time.UTC); !msgs[0].Date.Equal(want) {
		t.Errorf("iso8859: Date %v, want %v", msgs[0].Date, want)
	}
	// migration is CRLF: Data is the file's bytes, no doubled CR.
	msgs = read("thunderbird/mailnews/db/panorama/test/xpcshell/data/migration")
	if bytes.Contains(msgs[0].Data, []byte("\r\r")) || msgs[0].Key != "mid:162378@invalid" {
		t.Errorf("migration: %q, key %s", clip(msgs[0].Data), msgs[0].Key)
	}
}

func TestMboxNotFound(t *testing.T) {
	var problems []Problem
	h := Handler{Problem: func(p Problem) { problems = append(problems, p) }}
	path := filepath.Join(t.TempDir(), "missing.mbox")
	if err := readMbox(context.Background(), &Folder{Path: path}, &Options{}, &h); err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0].Path != path || problems[0].Offset != -1 || !strings.Contains(problems[0].Err, "no such file") {
		t.Errorf("problems %+v", problems)
	}
}

// TestMboxReadError: a read error mid-file is a Problem with the offset;
// the messages before it were delivered, and reading stops.
func TestMboxReadError(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "mbox", "status.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	var problems []Problem
	h := Handler{
		Message: func(m *Message) error { got = append(got, m.Loc.Offset); return nil },
		Problem: func(p Problem) { problems = append(problems, p) },
	}
	src := &shortReader{r: bytes.NewReader(data), failAt: 250, err: errors.New("input/output error")}
	if err := scanMboxChunked(context.Background(), &Folder{Path: "status.mbox"}, src, 64, &Options{}, &h); err != nil {
		t.Fatal(err)
	}
	// Message 1 (0-166) and the From_ line after it were read before byte
	// 250; message 2 (166-315) was not.
	if !slices.Equal(got, []int64{0}) {
		t.Errorf("delivered messages at %v, want [0]", got)
	}
	if len(problems) != 1 || problems[0].Offset != 166 || problems[0].Index != 2 ||
		!strings.Contains(problems[0].Err, "read error at byte 250: input/output error") {
		t.Errorf("problems %+v", problems)
	}
	if s := problems[0].String(); !strings.Contains(s, "status.mbox: message 2 at byte 166: read error") {
		t.Errorf("problem reads %q", s)
	}
}

func TestMboxHandlerErrorAndCancel(t *testing.T) {
	path := filepath.Join("testdata", "mbox", "status.mbox")
	stop := errors.New("stop")
	n := 0
	h := Handler{Message: func(*Message) error { n++; return stop }}
	if err := readMbox(context.Background(), &Folder{Path: path}, &Options{}, &h); !errors.Is(err, stop) || n != 1 {
		t.Errorf("handler error: got %v after %d messages", err, n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	h = Handler{Message: func(*Message) error { n++; cancel(); return nil }}
	if err := readMbox(ctx, &Folder{Path: path}, &Options{}, &h); !errors.Is(err, context.Canceled) || n != 1 {
		t.Errorf("cancel: got %v after %d messages", err, n)
	}
}

// TestReadMboxMessageChanged: when the file changed since the scan, the
// re-read says so instead of returning other bytes.
func TestReadMboxMessageChanged(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "mbox", "mboxo.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "copy.mbox")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	run := readMboxFile(t, path, Options{})
	if len(run.msgs) != 2 {
		t.Fatalf("%d messages", len(run.msgs))
	}
	// New mail appended: the old locations still read.
	appended := append(bytes.Clone(src), "From x@example.com Mon Jan  1 00:00:00 2024\nSubject: new\n\nnew\n"...)
	if err := os.WriteFile(path, appended, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, m := range run.msgs {
		if _, err := readMboxMessage(m.Loc, &Options{}); err != nil {
			t.Errorf("after an append: %v", err)
		}
	}

	for name, changed := range map[string][]byte{
		"truncated":        src[:300],
		"prepended":        append([]byte("From y@example.com Mon Jan  1 00:00:00 2024\n\nx\n\n"), src...),
		"shifted by bytes": append([]byte("\n\n"), src...),
	} {
		if err := os.WriteFile(path, changed, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := readMboxMessage(run.msgs[1].Loc, &Options{})
		if !errors.Is(err, errMboxChanged) {
			t.Errorf("%s: err %v, want errMboxChanged", name, err)
			continue
		}
		if want := fmt.Sprintf("mbox %s: message 2 at byte 292: ", path); !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %q does not start with %q", name, err, want)
		}
	}
	os.Remove(path)
	if _, err := readMboxMessage(run.msgs[0].Loc, &Options{}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("removed file: %v", err)
	}
}

// TestReadMboxMessageReadOnly: reading never changes the source file.
func TestMboxReadOnly(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "mbox", "mboxcl2.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ro.mbox")
	if err := os.WriteFile(path, src, 0o400); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	run := readMboxFile(t, path, Options{WantData: true})
	for _, m := range run.msgs {
		if _, err := readMboxMessage(m.Loc, &Options{}); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := os.Stat(path)
	now, _ := os.ReadFile(path)
	if !bytes.Equal(now, src) || !after.ModTime().Equal(before.ModTime()) || after.Mode() != before.Mode() {
		t.Errorf("the source changed: mode %v -> %v, mtime %v -> %v", before.Mode(), after.Mode(), before.ModTime(), after.ModTime())
	}
}

func TestSniffMbox(t *testing.T) {
	tests := []struct {
		name string
		head string
		want bool
	}{
		{"mutt mboxo", "From alice@example.com Mon Jan  1 10:00:00 2001\nFrom: a\n", true},
		{"Thunderbird", "From - Tue Oct 02 00:26:47 2007\r\nX-Mozilla-Status: 0001\r\n", true},
		{"Netscape bare From - with a header next", "From - \nReturn-Path: <>\n", true},
		{"Eudora", "From ???@??? Mon Jan 01 12:34:56 2001\n", true},
		{"BOM then From_", "\xef\xbb\xbfFrom -\nFrom: j\n", true},
		{"IETF: empty line first", "\nFrom x@y Wed Aug 21 16:20:36 2013\n", true},
		{"MMDF (neomutt fig.mbox)", "\x01\x01\x01\x01\n", true},
		{"dateless separator with no header after it", "From - \n\nbody\n", false},
		{"prose", "From here on, nothing is mail.\nSubject: no\n", false},
		{"RFC 5322 message (.eml)", "From: a@b\nSubject: x\n\nbody\n", false},
		{"empty", "", false},
		{"empty lines only", "\n\n\n", false},
		{"From_ cut at the end of head", "From alice@example.com Mon Jan  1 10:00:00 2001", true},
		{"notes", "Meeting notes\nFrom here on\n", false},
	}
	for _, tt := range tests {
		if got := sniffMbox([]byte(tt.head)); got != tt.want {
			t.Errorf("%s: sniffMbox(%q) = %v, want %v", tt.name, tt.head, got, tt.want)
		}
	}
}

// TestMboxMMDFEdges covers MMDF layouts the fixture does not: stray and
// doubled delimiters, text with no opening delimiter, a missing closing one.
func TestMboxMMDFEdges(t *testing.T) {
	const d = mmdfDelim + "\n"
	tests := []struct {
		name  string
		file  string
		data  []string // Data of each message, LF endings
		warns []string // substring of each message's warning, "" for none
	}{
		{"bare delimiter (neomutt fig.mbox)", d, nil, nil},
		{"delimiters enclosing only empty lines", d + "\n\n" + d + d + "\n", nil, nil},
		{"doubled opening delimiter", d + d + "Subject: a\n\nA\n" + d, []string{"Subject: a\n\nA\n"}, []string{""}},
		{"text after a closing delimiter", d + "Subject: a\n\nA\n" + d + "\nSubject: b\n\nB\n" + d,
			[]string{"Subject: a\n\nA\n", "Subject: b\n\nB\n"}, []string{"", "no MMDF delimiter before"}},
		{"no closing delimiter", d + "Subject: a\n\nA\n", []string{"Subject: a\n\nA\n"}, []string{"no closing MMDF delimiter"}},
		{"mbox after MMDF", d + "Subject: a\n\nA\n" + d + "From x Mon Jan  1 00:00:00 2001\nSubject: b\n\nB\n",
			[]string{"Subject: a\n\nA\n", "Subject: b\n\nB\n"}, []string{"", ""}},
		{"delimiter-like line inside a message", d + "Subject: a\n\n" + mmdfDelim + "x\nA\n" + d,
			[]string{"Subject: a\n\n" + mmdfDelim + "x\nA\n"}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.mmdf")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			run := checkMboxInvariants(t, path, Options{})
			if len(run.msgs) != len(tt.data) || len(run.problems) != 0 {
				t.Fatalf("%d messages, problems %v; want %d", len(run.msgs), run.problems, len(tt.data))
			}
			for i, m := range run.msgs {
				if string(m.Data) != crlf(tt.data[i]) {
					t.Errorf("message %d: %q, want %q", i+1, m.Data, crlf(tt.data[i]))
				}
				if w := tt.warns[i]; w == "" && len(m.Warnings) > 0 || w != "" && (len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], w)) {
					t.Errorf("message %d: warnings %q, want %q", i+1, m.Warnings, w)
				}
			}
		})
	}
}

// TestMboxSeparators pins which "From " lines separate messages, on inputs
// built around each rule.
func TestMboxSeparators(t *testing.T) {
	const hdr = "Subject: s\n\n"
	tests := []struct {
		name  string
		file  string
		count int
	}{
		{"dated From_ line (RFC 4155) with no empty line before it", "From a Mon Jan  1 00:00:00 2001\n" + hdr + "x\nFrom b Mon Jan  1 00:00:00 2001\n" + hdr + "y\n", 2},
		{"dateless From_ after an empty line, header next (Thunderbird 2005)", "From \n" + hdr + "x\n\nFrom \n" + hdr + "y\n", 2},
		{"dateless From_ after an empty line, prose next", "From \n" + hdr + "x\n\nFrom \nprose here\n", 1},
		{"dateless From_ after text, lone header field next", "From \n" + hdr + "x\nFrom \nX-Note: 1\n\ny\n", 1},
		{"dateless From_ after text, whole header block next (Netscape 3)", "From - \n" + hdr + "--b--\nFrom - \nMessage-ID: <1@x>\nDate: Thu, 13 Jun 1996 23:25:49 -0700\n\ny\n", 2},
		{"prose with three words after an empty line", "From \n" + hdr + "x\n\nFrom Russia with love\nYear: 1963\n", 1},
		{"quoted >From is never a separator", "From a Mon Jan  1 00:00:00 2001\n" + hdr + ">From b Mon Jan  1 00:00:00 2001\n" + hdr, 1},
		{"space-escaped From (Thunderbird 2018)", "From - Mon Jan  1 00:00:00 2001\n" + hdr + " From - Mon Jan  1 00:00:00 2001\n", 1},
		{"From_ line with zone after the year (Dovecot)", "From u  Sat Mar 24 23:00:00 2007 +0200\n\nx\n\nFrom u  Sat Mar 24 23:00:00 2007 +0200\n\ny\n", 2},
		{"UUCP remote from", "From a Mon Jan  1 00:00:00 2001 remote from uunet\n" + hdr + "x\n\nFrom b Tue Jan  2 00:00:00 2001 remote from uunet\n" + hdr + "y\n", 2},
		{"zone name before the year", "From a Fri Feb 22 17:06:23 PST 2008\n" + hdr + "x\n\nFrom a Fri Feb 22 17:06:23 PST 2008\n" + hdr + "y\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.mbox")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			run := checkMboxInvariants(t, path, Options{})
			if len(run.msgs) != tt.count || len(run.problems) != 0 {
				t.Errorf("%d messages, problems %v; want %d", len(run.msgs), run.problems, tt.count)
			}
		})
	}
}

// TestMboxLargeMessage: a message larger than the read chunk, a
// Content-Length whose landing point is beyond what is buffered.
func TestMboxLargeMessage(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"), 40000) // 2.5 MB
	inner := "From inner@example.com Mon Jan  1 00:00:00 2001\nSubject: inner\n\n"
	msg1 := fmt.Sprintf("Subject: big\nContent-Length: %d\n\n", len(body)+len(inner)+len(body)) + string(body) + inner + string(body)
	file := "From a@example.com Mon Jan  1 00:00:00 2001\n" + msg1 + // inner is bare: mboxcl2, kept inside
		"\nFrom b@example.com Mon Jan  1 00:00:00 2001\nSubject: small\n\nsmall\n"
	path := filepath.Join(t.TempDir(), "big.mbox")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	run := readMboxFile(t, path, Options{WantData: true})
	if len(run.msgs) != 2 {
		t.Fatalf("%d messages", len(run.msgs))
	}
	if string(run.msgs[0].Data) != crlf(msg1) || len(run.msgs[0].Warnings) != 0 {
		t.Errorf("message 1: %d bytes, want %d; warnings %q", len(run.msgs[0].Data), len(crlf(msg1)), run.msgs[0].Warnings)
	}
	for _, m := range run.msgs {
		again, err := readMboxMessage(m.Loc, &Options{})
		if err != nil || sameMessage(again, m, true) != "" {
			t.Errorf("re-read %v: %v %s", m.Loc, err, sameMessage(again, m, true))
		}
	}
	fast := readMboxFile(t, path, Options{})
	if len(fast.msgs) != 2 || fast.msgs[0].Size != run.msgs[0].Size || fast.msgs[0].Key != run.msgs[0].Key {
		t.Errorf("fast scan differs")
	}
}

// TestMboxShortReadsIO: io.Reader semantics: Read may return 0, nil.
func TestMboxZeroReads(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "mbox", "mboxo.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	h := Handler{Message: func(*Message) error { n++; return nil }}
	src := &zeroReader{r: bytes.NewReader(data)}
	if err := scanMboxChunked(context.Background(), &Folder{Path: "x"}, src, 16, &Options{}, &h); err != nil || n != 2 {
		t.Errorf("%d messages, %v", n, err)
	}
}

type zeroReader struct {
	r    *bytes.Reader
	flip bool
}

func (z *zeroReader) Read(p []byte) (int, error) {
	z.flip = !z.flip
	if z.flip {
		return 0, nil
	}
	return z.r.Read(p[:min(len(p), 5)])
}

func (z *zeroReader) ReadAt(p []byte, off int64) (int, error) { return z.r.ReadAt(p, off) }

var _ io.ReaderAt = (*zeroReader)(nil)

// TestFromSearch: fromSearch finds what bytes.Index finds, in both modes and
// across mode switches, on inputs dense in F, in spaces, or in both.
func TestFromSearch(t *testing.T) {
	b64 := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpGRkZGRkZGRkZGRkY=\n", 200)
	prose := strings.Repeat("a b c d e f g h i j k l m n o p q r s t u v w x y z\n", 200)
	inputs := []string{
		"", "F", "From", "From ", " From ", "FFrom ", "From From ", "xFrom", "rom ", " rom From",
		b64 + "From a\n" + prose + "\n>From b\n" + b64 + "From ",
		prose + b64 + "From ",
		strings.Repeat("F", 5000) + "From " + strings.Repeat(" ", 5000) + "From ",
		strings.Repeat("From", 3000) + " ",
	}
	for _, in := range inputs {
		s := []byte(in)
		var want []int
		for i := 0; ; {
			k := bytes.Index(s[i:], []byte("From "))
			if k < 0 {
				break
			}
			want = append(want, i+k)
			i += k + 1
		}
		for _, space := range []bool{false, true} {
			st := fromSearch{space: space}
			var got []int
			for i := 0; ; {
				k := st.index(s[i:])
				if k < 0 {
					break
				}
				got = append(got, i+k)
				i += k + 1
			}
			if !slices.Equal(got, want) {
				t.Errorf("input %.40q (start in space mode %v): %v, want %v", in, space, got, want)
			}
		}
	}
	// Dense F (base64) flips to the space; dense spaces (prose) flip back.
	st := fromSearch{}
	st.index([]byte(b64))
	if !st.space {
		t.Error("base64 did not switch the search to the space")
	}
	st.index([]byte(prose))
	if st.space {
		t.Error("prose did not switch the search back to F")
	}
}

// TestMboxDamagedEnds: files that end where a message has barely begun.
func TestMboxDamagedEnds(t *testing.T) {
	const from = "From a@example.com Mon Jan  1 00:00:00 2001"
	tests := []struct {
		name  string
		file  string
		data  string
		warns []string
	}{
		{"From_ line only, no newline", from, "", []string{"nothing after the From_ line", "the message is empty"}},
		{"From_ line only", from + "\n", "", []string{"the message is empty"}},
		{"From_ line and the separator empty line", from + "\n\n", "", []string{"the message is empty"}},
		{"header only, no empty line", from + "\nSubject: x\n", "Subject: x\n", nil},
		{"header cut mid-line", from + "\nSubject: x", "Subject: x", []string{"the last line has no newline"}},
		{"two From_ lines in a row: the first message is empty", from + "\n" + from + "\nSubject: x\n", "", []string{"the message is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.mbox")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			run := checkMboxInvariants(t, path, Options{})
			if len(run.msgs) == 0 || len(run.problems) != 0 {
				t.Fatalf("%d messages, problems %v", len(run.msgs), run.problems)
			}
			m := run.msgs[0]
			if string(m.Data) != crlf(tt.data) || len(m.Warnings) != len(tt.warns) {
				t.Fatalf("Data %q, warnings %q; want %q, %q", m.Data, m.Warnings, crlf(tt.data), tt.warns)
			}
			for i, w := range tt.warns {
				if !strings.Contains(m.Warnings[i], w) {
					t.Errorf("warning %d: %q, want %q", i, m.Warnings[i], w)
				}
			}
			if !m.Date.Equal(time.Date(2001, 1, 1, 0, 0, 0, 0, time.Local)) || m.DateSource != DateFromLine {
				t.Errorf("Date %v (%s)", m.Date, m.DateSource)
			}
		})
	}
}
