package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/importers"
)

// testCorpusN is enough messages for the rates to show (about 30
// attachments, 20 without Message-ID, 50 "From " lines) and small enough
// for go test -race.
const testCorpusN = 1000

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(7, 50), Generate(7, 50)
	if a.Bytes != b.Bytes || len(a.Messages) != len(b.Messages) {
		t.Fatalf("same seed, different corpora: %d/%d bytes", a.Bytes, b.Bytes)
	}
	for i := range a.Messages {
		if !bytes.Equal(a.Messages[i].Data, b.Messages[i].Data) || !a.Messages[i].Date.Equal(b.Messages[i].Date) ||
			!slices.Equal(a.Messages[i].Flags, b.Messages[i].Flags) {
			t.Fatalf("message %d differs between two runs with seed 7", i)
		}
	}
	c := Generate(8, 50)
	if bytes.Equal(a.Messages[0].Data, c.Messages[0].Data) {
		t.Errorf("seeds 7 and 8 give the same first message")
	}
}

// TestGenerateShape checks the corpus is what the benchmark README says it
// is: sizes, attachment and no-Message-ID rates, quoting, dates, flags.
func TestGenerateShape(t *testing.T) {
	c := Generate(1, testCorpusN)
	if len(c.Messages) != testCorpusN {
		t.Fatalf("got %d messages, want %d", len(c.Messages), testCorpusN)
	}
	var attach, noID, fromLines, seen, small, crlfBad int
	var sum int64
	ids := map[string]bool{}
	prev := time.Time{}
	for i, m := range c.Messages {
		sum += int64(len(m.Data))
		header, body, ok := bytes.Cut(m.Data, []byte("\r\n\r\n"))
		if !ok {
			t.Fatalf("message %d has no header/body separator", i)
		}
		if bytes.Count(m.Data, []byte("\n")) != bytes.Count(m.Data, []byte("\r\n")) {
			crlfBad++
		}
		if !bytes.Contains(header, []byte("\r\nReceived: from ")) || !bytes.Contains(header, []byte("\r\nMIME-Version: 1.0\r\n")) {
			t.Errorf("message %d lacks a Received chain or MIME-Version:\n%s", i, header)
		}
		if bytes.Contains(body, []byte("Content-Transfer-Encoding: base64")) {
			attach++
			if len(m.Data) < minAttach {
				t.Errorf("message %d has an attachment but only %d bytes", i, len(m.Data))
			}
		} else if len(m.Data) >= 2<<10 && len(m.Data) <= 24<<10 {
			small++ // 2-20 KB of text, plus the header
		}
		if len(m.Data) > maxAttach+64<<10 {
			t.Errorf("message %d has %d bytes, more than the largest attachment", i, len(m.Data))
		}
		if m.MessageID == "" {
			noID++
			if bytes.Contains(header, []byte("\r\nMessage-ID:")) {
				t.Errorf("message %d: MessageID empty but the header has one", i)
			}
		} else {
			if ids[m.MessageID] {
				t.Errorf("message %d repeats Message-ID %s", i, m.MessageID)
			}
			ids[m.MessageID] = true
		}
		if bytes.Contains(body, []byte("\r\nFrom ")) {
			fromLines++
		}
		if slices.Contains(m.Flags, `\Seen`) {
			seen++
		}
		if m.Date.Before(prev) || m.Date.Before(corpusStart) || m.Date.After(corpusStart.Add(corpusSpan+365*24*time.Hour)) {
			t.Errorf("message %d delivered %v, after %v or outside 2019-2024", i, m.Date, prev)
		}
		prev = m.Date
	}
	if sum != c.Bytes {
		t.Errorf("Bytes = %d, the messages add up to %d", c.Bytes, sum)
	}
	if crlfBad > 0 {
		t.Errorf("%d messages have bare LF line endings", crlfBad)
	}
	// Expected counts: 30, 20, 50; the bounds are about 4 standard
	// deviations wide.
	check := func(what string, got, lo, hi int) {
		if got < lo || got > hi {
			t.Errorf("%s: %d of %d, want %d to %d", what, got, testCorpusN, lo, hi)
		}
	}
	check("with attachments", attach, 10, 55)
	check("without Message-ID", noID, 5, 40)
	check("with a body line starting \"From \"", fromLines, 20, 85)
	check("read (\\Seen)", seen, 750, 950)
	check("2-20 KB of text", small, 900, testCorpusN)
	years := c.Messages[len(c.Messages)-1].Date.Sub(c.Messages[0].Date).Hours() / 24 / 365
	if years < 4 || years > 6 {
		t.Errorf("the corpus spans %.1f years, want about 5", years)
	}
}

// readBack reads a source with archive2imap's importers, as migrate does.
type readBack struct {
	folder string
	data   []byte
	flags  []string
	date   time.Time
	id     string
}

func walk(t *testing.T, path string) ([]readBack, []importers.Problem) {
	t.Helper()
	var out []readBack
	var problems []importers.Problem
	cur := ""
	opts := importers.Options{WantData: true, MboxLocation: time.UTC}
	err := importers.Walk(context.Background(), path, opts, importers.Handler{
		Folder: func(f *importers.Folder) error { cur = f.Name; return nil },
		Message: func(m *importers.Message) error {
			if len(m.Warnings) > 0 {
				t.Errorf("%s: warnings %q", m.Loc, m.Warnings)
			}
			out = append(out, readBack{folder: cur, data: bytes.Clone(m.Data), flags: m.Flags, date: m.Date, id: m.MessageID})
			return nil
		},
		Problem: func(p importers.Problem) { problems = append(problems, p) },
	})
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return out, problems
}

func sameMessage(t *testing.T, where string, got readBack, want *Message) {
	t.Helper()
	if !bytes.Equal(got.data, want.Data) {
		t.Errorf("%s: the bytes read back differ from the generated ones (%d vs %d bytes)", where, len(got.data), len(want.Data))
	}
	if !slices.Equal(got.flags, want.Flags) {
		t.Errorf("%s: flags %q, want %q", where, got.flags, want.Flags)
	}
	if !got.date.Equal(want.Date) {
		t.Errorf("%s: date %v, want %v", where, got.date, want.Date)
	}
	if got.id != want.MessageID {
		t.Errorf("%s: Message-ID %q, want %q", where, got.id, want.MessageID)
	}
}

// TestCorpusReadsBack checks that archive2imap's importers read the mbox,
// the tree and the Maildir written from a corpus back to exactly the
// generated messages, so that the ceiling client, migrate and mbsync
// upload the same bytes.
func TestCorpusReadsBack(t *testing.T) {
	c := Generate(3, 300)
	dir := t.TempDir()

	t.Run("mbox", func(t *testing.T) {
		path := filepath.Join(dir, "Bench.mbox")
		if err := c.WriteMbox(path); err != nil {
			t.Fatal(err)
		}
		got, problems := walk(t, path)
		if len(problems) > 0 {
			t.Fatalf("problems: %v", problems)
		}
		if len(got) != len(c.Messages) {
			t.Fatalf("read %d messages, wrote %d", len(got), len(c.Messages))
		}
		for i := range got {
			if got[i].folder != "Bench" {
				t.Fatalf("folder %q, want Bench", got[i].folder)
			}
			sameMessage(t, "mbox message "+strconv.Itoa(i+1), got[i], &c.Messages[i])
		}
	})

	t.Run("tree", func(t *testing.T) {
		folders, err := c.WriteTree(filepath.Join(dir, "Mail"))
		if err != nil {
			t.Fatal(err)
		}
		got, problems := walk(t, filepath.Join(dir, "Mail"))
		if len(problems) > 0 {
			t.Fatalf("problems: %v", problems)
		}
		names := map[string]string{"inbox": importers.InboxName, "Sent": "Sent", "Lists": "Lists", "Projects": "Projects"}
		byFolder := map[string][]readBack{}
		for _, r := range got {
			byFolder[r.folder] = append(byFolder[r.folder], r)
		}
		total := 0
		for _, f := range folders {
			rs := byFolder[names[f.Name]]
			if len(rs) != f.Count {
				t.Errorf("folder %s: read %d messages, wrote %d", f.Name, len(rs), f.Count)
				continue
			}
			for k := range rs {
				sameMessage(t, f.Name+" message "+strconv.Itoa(k+1), rs[k], &c.Messages[f.First+k])
			}
			total += f.Count
		}
		if total != len(c.Messages) || len(byFolder) != 4 {
			t.Errorf("the tree holds %d messages in %d folders, want %d in 4", total, len(byFolder), len(c.Messages))
		}
	})

	t.Run("maildir", func(t *testing.T) {
		md := filepath.Join(dir, "Maildir")
		if err := c.WriteMaildir(md); err != nil {
			t.Fatal(err)
		}
		got, problems := walk(t, md)
		if len(problems) > 0 {
			t.Fatalf("problems: %v", problems)
		}
		if len(got) != len(c.Messages) {
			t.Fatalf("read %d messages, wrote %d", len(got), len(c.Messages))
		}
		byData := map[[32]byte]*Message{}
		for i := range c.Messages {
			byData[sha256.Sum256(c.Messages[i].Data)] = &c.Messages[i]
		}
		for i, r := range got {
			m := byData[sha256.Sum256(r.data)]
			if m == nil {
				t.Errorf("Maildir message %d (%d bytes) is none of the generated ones", i+1, len(r.data))
				continue
			}
			sameMessage(t, "Maildir message "+strconv.Itoa(i+1), r, m)
		}
	})
}

func TestWriteLFQuotesFromLines(t *testing.T) {
	for _, tc := range []struct {
		name, in, mbox, maildir string
	}{
		{"mboxrd (qmail mbox(5)): a From line gets one >", "A: b\r\n\r\nFrom here\r\n", "A: b\n\n>From here\n", "A: b\n\nFrom here\n"},
		{"mboxrd: a quoted >From line gets one more", "A: b\r\n\r\n>From here\r\n", "A: b\n\n>>From here\n", "A: b\n\n>From here\n"},
		{"Fromage is no From_ line", "A: b\r\n\r\nFromage\r\n", "A: b\n\nFromage\n", "A: b\n\nFromage\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mb, md bytes.Buffer
			writeLF(&mb, []byte(tc.in), true)
			writeLF(&md, []byte(tc.in), false)
			if mb.String() != tc.mbox || md.String() != tc.maildir {
				t.Errorf("mbox %q, Maildir %q; want %q, %q", mb.String(), md.String(), tc.mbox, tc.maildir)
			}
		})
	}
}

func TestTreeFoldersCoverEveryMessage(t *testing.T) {
	for _, n := range []int{0, 1, 3, 7, 5000, 20001} {
		fs := treeFolders(n)
		next := 0
		for _, f := range fs {
			if f.First != next || f.Count < 0 {
				t.Fatalf("n=%d: folders %+v do not tile the corpus", n, fs)
			}
			next += f.Count
		}
		if next != n {
			t.Errorf("n=%d: folders hold %d messages", n, next)
		}
		if n >= 100 && !strings.EqualFold(fs[0].Name, "inbox") {
			t.Errorf("the first folder is %q, want the inbox", fs[0].Name)
		}
	}
}
