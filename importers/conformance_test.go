package importers

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// The importer conformance suite, in the spirit of restic's backend tests:
// one set of messages is written at test time into every layout, and every
// layout must give back the same messages: identical upload bytes and
// keys, the same flags where the layout stores them, the same delivery
// time where the layout stores one, in the order they were written; and
// ReadMessage must give back what the walk streamed, for every message.

// confMsg is one message of the suite.
type confMsg struct {
	raw     string // the message as stored, LF line ends
	flags   []string
	deleted bool
	date    time.Time // the delivery time, in the layouts that store one
	info    string    // its Maildir info
	emlx    int       // its .emlx flags
}

// The messages carry the client-state headers (Status, X-Status,
// X-Mozilla-Status) their flags come from in the mbox layouts; the other
// layouts store the same flags their own way (file names, plists). The
// bytes are the same everywhere.
var confMsgs = func() []confMsg {
	base := time.Date(2011, 3, 13, 7, 6, 41, 0, time.UTC)
	msgs := []confMsg{
		{
			raw: "From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\nSubject: plain, read\n" +
				"Date: Sun, 13 Mar 2011 07:06:41 +0000\nMessage-ID: <c1@conformance.test>\nStatus: RO\n\nHello Bob.\n",
			flags: []string{FlagSeen}, info: "2,S", emlx: emlxRead,
		},
		{
			raw: "From: Bob <bob@example.org>\nTo: Alice <alice@example.org>\nSubject: =?UTF-8?Q?R=C3=A9ponse?=\n =?UTF-8?Q?_pli=C3=A9e?=\n" +
				"Date: Sun, 13 Mar 2011 08:06:41 +0000\nMessage-ID: <c2@conformance.test>\nStatus: RO\nX-Status: AF\n\nAnswered and flagged.\n",
			flags: []string{FlagAnswered, FlagFlagged, FlagSeen}, info: "2,FRS", emlx: emlxRead | emlxAnswered | emlxFlagged,
		},
		{
			raw: "From: Carol <carol@example.org>\nTo: Bob <bob@example.org>\nSubject: no Message-ID, unread\n" +
				"Date: Sun, 13 Mar 2011 09:06:41 +0000\nStatus: O\n\nKeyed by its fingerprint.\n",
			info: "2,",
		},
		{
			raw: "From: Bob <bob@example.org>\nTo: Dave <dave@example.org>\nSubject: a draft with From lines in the body\n" +
				"Date: Sun, 13 Mar 2011 10:06:41 +0000\nMessage-ID: <c4@conformance.test>\nX-Status: T\n\n" +
				"From the start, mbox writers quote this line.\n\nFrom here too.\n  From indented is left alone.\n",
			flags: []string{FlagDraft}, info: "2,D", emlx: emlxDraft,
		},
		{
			raw: "From: Eve <eve@example.org>\nTo: Bob <bob@example.org>\nSubject: forwarded, then deleted\n" +
				"Date: Sun, 13 Mar 2011 11:06:41 +0000\nMessage-ID: <c5@conformance.test>\nX-Mozilla-Status: 1009\n\nGone, not compacted.\n",
			flags: []string{FlagForwarded, FlagSeen}, deleted: true, info: "2,PST", emlx: emlxRead | emlxDeleted | emlxForwarded,
		},
		{
			raw: "From: Fran\xe7ois <francois@example.org>\nTo: Bob <bob@example.org>\nSubject: 8-bit Latin-1, no state\n" +
				"Date: Sun, 13 Mar 2011 12:06:41 +0000\nMessage-ID: <c6@conformance.test>\n\nGar\xe7on, un caf\xe9.\n",
			info: "2,",
		},
	}
	for i := range msgs {
		msgs[i].date = base.Add(time.Duration(i) * time.Hour)
	}
	return msgs
}()

// confLayout writes the suite's messages into dir in one layout and
// returns the source path to walk.
type confLayout struct {
	name  string
	write func(t *testing.T, dir string) string
	flags bool // the layout stores flags
	date  bool // the layout stores a delivery time
}

// mboxQuote quotes the body lines that would be taken for separators:
// mboxrd quotes ">*From ", mboxo "From " only; the suite has no ">From "
// lines, so both write the same bytes.
func mboxQuote(raw string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(raw, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, ">"), "From ") {
			b.WriteByte('>')
		}
		b.WriteString(line)
	}
	return b.String()
}

// writeMbox writes the messages as an mbox file: a From_ line made by
// sep(date) before each, a blank line after each.
func writeMbox(t *testing.T, path string, crlf bool, sep func(time.Time) string) {
	var b strings.Builder
	for _, m := range confMsgs {
		b.WriteString(sep(m.date) + "\n")
		b.WriteString(mboxQuote(m.raw))
		b.WriteString("\n")
	}
	s := b.String()
	if crlf {
		s = strings.ReplaceAll(s, "\n", "\r\n")
	}
	wkWriteFile(t, path, s)
}

func ctime(t time.Time) string { return t.UTC().Format("Mon Jan _2 15:04:05 2006") }

func writeMaildir(t *testing.T, dir string) {
	for i, m := range confMsgs {
		name := fmt.Sprintf("%d.M%dP1.conformance:%s", m.date.Unix(), i, m.info)
		wkWriteFile(t, filepath.Join(dir, "cur", name), m.raw)
	}
	wkMust(t, os.MkdirAll(filepath.Join(dir, "new"), 0o755))
	wkMust(t, os.MkdirAll(filepath.Join(dir, "tmp"), 0o755))
}

func emlxFile(m confMsg) string {
	return fmt.Sprintf("%d      \n%s<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"+
		"<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"+
		"<plist version=\"1.0\">\n<dict>\n\t<key>date-received</key>\n\t<integer>%d</integer>\n"+
		"\t<key>flags</key>\n\t<integer>%d</integer>\n</dict>\n</plist>\n", len(m.raw), m.raw, m.date.Unix(), m.emlx)
}

var confLayouts = []confLayout{
	{"mboxo as mutt writes it", func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "saved")
		writeMbox(t, p, false, func(d time.Time) string { return "From alice@example.org " + ctime(d) })
		return p
	}, true, true},
	{"mboxrd with CRLF line ends, as Windows tools write it", func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "export.mbox")
		writeMbox(t, p, true, func(d time.Time) string { return "From MAILER-DAEMON " + ctime(d) })
		return p
	}, true, true},
	{"Dovecot Maildir", func(t *testing.T, dir string) string {
		writeMaildir(t, dir)
		return dir
	}, true, true},
	{"Courier Maildir++ subfolder", func(t *testing.T, dir string) string {
		wkMust(t, os.MkdirAll(filepath.Join(dir, "cur"), 0o755))
		writeMaildir(t, filepath.Join(dir, ".Archive"))
		wkWriteFile(t, filepath.Join(dir, ".Archive", "maildirfolder"), "")
		return dir
	}, true, true},
	{"Thunderbird Local Folders", func(t *testing.T, dir string) string {
		writeMbox(t, filepath.Join(dir, "Inbox"), false, func(d time.Time) string { return "From - " + ctime(d) })
		wkWriteFile(t, filepath.Join(dir, "Inbox.msf"), "// <!-- <mdb:mork:z v=\"1.4\"/> -->\n")
		wkWriteFile(t, filepath.Join(dir, "Trash"), "")
		wkWriteFile(t, filepath.Join(dir, "Trash.msf"), "// <!-- <mdb:mork:z v=\"1.4\"/> -->\n")
		return dir
	}, true, true},
	{"Apple Mail Export Mailbox bundle", func(t *testing.T, dir string) string {
		writeMbox(t, filepath.Join(dir, "Conformance.mbox", "mbox"), false, func(d time.Time) string { return "From alice@example.org " + ctime(d) })
		wkWriteFile(t, filepath.Join(dir, "Conformance.mbox", "table_of_contents"), "\x00\x00\x00\x06")
		wkWriteFile(t, filepath.Join(dir, "Conformance.mbox", "Info.plist"), "<plist version=\"1.0\"><dict/></plist>\n")
		return dir
	}, true, true},
	{"Apple Mail.app store (.emlx)", func(t *testing.T, dir string) string {
		store := filepath.Join(dir, "Conformance.mbox")
		for i, m := range confMsgs {
			wkWriteFile(t, filepath.Join(store, "Messages", fmt.Sprintf("%d.emlx", i+1)), emlxFile(m))
		}
		return dir
	}, true, true},
	{"Windows Live Mail .eml export", func(t *testing.T, dir string) string {
		for i, m := range confMsgs {
			wkWriteFile(t, filepath.Join(dir, fmt.Sprintf("%02d.eml", i+1)), m.raw)
		}
		wkWriteFile(t, filepath.Join(dir, "desktop.ini"), "[.ShellClassInfo]\n")
		return dir
	}, true, false}, // flags from the headers the messages carry; no delivery time
}

func TestConformance(t *testing.T) {
	for _, layout := range confLayouts {
		t.Run(layout.name, func(t *testing.T) {
			src := layout.write(t, t.TempDir())
			opts := Options{WantData: true, MboxLocation: time.UTC}
			r, err := wkWalk(t, src, opts)
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			if len(r.Problems) != 0 {
				t.Errorf("problems: %v", r.Problems)
			}
			if len(r.Messages) != len(confMsgs) {
				t.Fatalf("%d messages, want %d (folders %v)", len(r.Messages), len(confMsgs), r.Folders)
			}
			for i, want := range confMsgs {
				m := &r.Messages[i]
				what := fmt.Sprintf("message %d (%s)", i+1, m.Loc)
				if wantData := appendCRLF(nil, []byte(want.raw)); string(m.Data) != string(wantData) {
					t.Errorf("%s: Data\n got %q\nwant %q", what, m.Data, wantData)
				}
				if m.Size != int64(len(m.Data)) {
					t.Errorf("%s: Size %d, len(Data) %d", what, m.Size, len(m.Data))
				}
				if key, id := KeyOf([]byte(want.raw)); m.Key != key || m.MessageID != id {
					t.Errorf("%s: key %q id %q, want %q %q", what, m.Key, m.MessageID, key, id)
				}
				if layout.flags {
					wantFlags := append([]string(nil), want.flags...)
					sort.Strings(wantFlags)
					if !reflect.DeepEqual(wkNil(m.Flags), wkNil(wantFlags)) || m.Deleted != want.deleted {
						t.Errorf("%s: flags %q deleted %v, want %q %v", what, m.Flags, m.Deleted, wantFlags, want.deleted)
					}
				}
				if layout.date && !m.Date.Equal(want.date) {
					t.Errorf("%s: date %v (%s), want %v", what, m.Date, m.DateSource, want.date)
				}
				if m.Loc.Index != i+1 {
					t.Errorf("%s: Index %d, want %d", what, m.Loc.Index, i+1)
				}
				again, err := ReadMessage(m.Folder.Format, m.Loc, opts)
				if err != nil {
					t.Errorf("%s: ReadMessage: %v", what, err)
					continue
				}
				streamed := *m
				streamed.Folder = nil
				again.Folder = nil
				wkSameMessage(t, what, &streamed, again)
			}
			// Without WantData, the same messages, without their bytes.
			r2, err := wkWalk(t, src, Options{MboxLocation: time.UTC})
			if err != nil {
				t.Fatal(err)
			}
			for i := range r2.Messages {
				a, b := r.Messages[i], r2.Messages[i]
				if b.Data != nil || a.Size != b.Size || a.Key != b.Key || !reflect.DeepEqual(wkNil(a.Flags), wkNil(b.Flags)) || !a.Date.Equal(b.Date) {
					t.Errorf("message %d: a scan without Data differs: %+v / %+v", i+1, wkSummary(&a), wkSummary(&b))
				}
			}
		})
	}
}
