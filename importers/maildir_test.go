package importers

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// mdRead reads the Maildir folder dir with readMaildir directly.
func mdRead(t *testing.T, dir string, opts Options) (msgs []Message, problems []Problem, ignored map[string]string) {
	t.Helper()
	ignored = make(map[string]string)
	f := &Folder{Name: "test", Format: FormatMaildir, Path: dir}
	err := readMaildir(context.Background(), f, &opts, &Handler{
		Message: func(m *Message) error {
			if m.Folder != f {
				t.Errorf("%s: Folder not set", m.Loc)
			}
			c := *m
			if m.Data != nil {
				c.Data = append([]byte(nil), m.Data...)
			}
			msgs = append(msgs, c)
			return nil
		},
		Problem: func(p Problem) { problems = append(problems, p) },
		Ignored: func(p, r string) { ignored[p] = r },
	})
	if err != nil {
		t.Fatalf("readMaildir: %v", err)
	}
	return msgs, problems, ignored
}

// TestReadMaildir checks every message of the Dovecot Maildir fixture: the
// order (delivery time in the name, then name), flags from the info part
// (after ':', '!' or ';'), keywords from dovecot-keywords, no flags in new/,
// dates, keys and the upload bytes.
func TestReadMaildir(t *testing.T) {
	dir := wkTrees("maildir")
	type want struct {
		file       string
		flags      []string
		deleted    bool
		dateSource DateSource
		date       int64 // Unix seconds; 0: the file's mtime
	}
	wants := []want{
		{"cur/no-time-in-name:2,R", []string{FlagAnswered}, false, DateMtime, 0}, // no time in the name: first
		{"cur/1300000001.M1P1.host:2,S", []string{FlagSeen}, false, DateMaildirName, 1300000001},
		{"cur/1300000002.M2P2.host:2,FRSab", []string{"$Label1", "Work", FlagAnswered, FlagFlagged, FlagSeen}, false, DateMaildirName, 1300000002},
		{"cur/1300000003.M3P3.host:2,ST", []string{FlagSeen}, true, DateMaildirName, 1300000003}, // T: trashed
		{"cur/1300000004.M4P4.host:2,DP", []string{FlagForwarded, FlagDraft}, false, DateMaildirName, 1300000004},
		{"new/1300000005.M5P5.host", nil, false, DateMaildirName, 1300000005},
		{"new/1300000006.M6P6.host:2,S", nil, false, DateMaildirName, 1300000006}, // info in new/ is discarded
		{"cur/1300000009.M9P9.host!2,F", []string{FlagFlagged}, false, DateMaildirName, 1300000009},
		{"cur/1300000010.M10P10.host;2,S", []string{FlagSeen}, false, DateMaildirName, 1300000010},
	}
	msgs, problems, ignored := mdRead(t, dir, Options{WantData: true})
	if len(msgs) != len(wants) {
		t.Fatalf("%d messages, want %d", len(msgs), len(wants))
	}
	for i, w := range wants {
		m := msgs[i]
		path := filepath.Join(dir, w.file)
		if m.Loc != (Location{Path: path, Index: i + 1}) {
			t.Errorf("message %d: Loc %+v, want %s index %d", i+1, m.Loc, path, i+1)
			continue
		}
		sort.Strings(w.flags)
		if !reflect.DeepEqual(m.Flags, w.flags) || m.Deleted != w.deleted {
			t.Errorf("%s: flags %q deleted %v, want %q %v", w.file, m.Flags, m.Deleted, w.flags, w.deleted)
		}
		wantDate := time.Unix(w.date, 0)
		if w.date == 0 {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			wantDate = fi.ModTime()
		}
		if m.DateSource != w.dateSource || !m.Date.Equal(wantDate) {
			t.Errorf("%s: date %v (%s), want %v (%s)", w.file, m.Date, m.DateSource, wantDate, w.dateSource)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := appendCRLF(nil, raw); string(m.Data) != string(want) || m.Size != int64(len(want)) {
			t.Errorf("%s: Data/Size differ from the file with CRLF line ends (size %d, want %d)", w.file, m.Size, len(want))
		}
		if key, id := KeyOf(raw); m.Key != key || m.MessageID != id {
			t.Errorf("%s: key %q id %q, want %q %q", w.file, m.Key, m.MessageID, key, id)
		}
		if len(m.Warnings) != 0 {
			t.Errorf("%s: warnings %q", w.file, m.Warnings)
		}
	}
	if !strings.HasPrefix(msgs[3].Key, "fp:") {
		t.Errorf("message without Message-ID: key %q, want a fingerprint", msgs[3].Key)
	}
	if len(problems) != 1 || problems[0].Path != filepath.Join(dir, "cur/1300000007.M7P7.host:2,") || problems[0].Offset != -1 ||
		!strings.Contains(problems[0].Err, "empty file") {
		t.Errorf("problems: %v, want one for the empty file", problems)
	}
	for _, p := range []string{"cur/.keep", "new/.keep", "tmp/1300000008.M8P8.host", "dovecot-keywords", "dovecot-uidlist"} {
		if ignored[filepath.Join(dir, p)] == "" {
			t.Errorf("%s: not reported as ignored (%v)", p, ignored)
		}
	}
	if len(ignored) != 5 {
		t.Errorf("ignored: %v, want 5 files", ignored)
	}
}

// TestReadMaildirWithoutData checks that a scan (no WantData) reports the
// same Size, Key and flags as a read with Data, and no Data.
func TestReadMaildirWithoutData(t *testing.T) {
	with, _, _ := mdRead(t, wkTrees("maildir"), Options{WantData: true})
	without, _, _ := mdRead(t, wkTrees("maildir"), Options{})
	if len(with) != len(without) || len(with) == 0 {
		t.Fatalf("%d messages with Data, %d without", len(with), len(without))
	}
	for i := range with {
		if without[i].Data != nil {
			t.Errorf("%s: Data without WantData", without[i].Loc)
		}
		with[i].Data = nil
		if !reflect.DeepEqual(with[i], without[i]) {
			t.Errorf("%s: differs:\n%+v\n%+v", with[i].Loc, with[i], without[i])
		}
	}
}

// TestReadMaildirMessage reads single messages again: from cur/ (flags and
// keywords), from new/ (no flags), and from the folder directory (warning).
func TestReadMaildirMessage(t *testing.T) {
	for _, dir := range []string{wkTrees("maildir"), wkTrees("nested"), wkTrees("nested", "foo"), filepath.Join("testdata", "maildir", "thunderbird-store")} {
		msgs, _, _ := mdRead(t, dir, Options{WantData: true})
		if len(msgs) == 0 {
			t.Fatalf("%s: no messages", dir)
		}
		for _, m := range msgs {
			again, err := readMaildirMessage(m.Loc, &Options{})
			if err != nil {
				t.Errorf("%s: %v", m.Loc, err)
				continue
			}
			m.Folder = nil
			wkSameMessage(t, m.Loc.String(), &m, again)
		}
	}
	loose, _, _ := mdRead(t, wkTrees("nested"), Options{})
	if len(loose) != 2 || loose[0].Loc.Path != wkTrees("nested", "01:2,") || len(loose[0].Warnings) != 1 ||
		!strings.Contains(loose[0].Warnings[0], "outside cur/ and new/") || len(loose[1].Warnings) != 0 {
		t.Errorf("nested root folder: got %+v, want the loose 01:2, first with a warning, then cur/", loose)
	}
	if _, err := readMaildirMessage(Location{Path: wkTrees("maildir", "cur", "1300000007.M7P7.host:2,")}, &Options{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty message file: got %v, want an error", err)
	}
	if _, err := readMaildirMessage(Location{Path: wkTrees("maildir", "cur", "no-such-file:2,S")}, &Options{}); err == nil {
		t.Error("missing message file: no error")
	}
}

// TestReadMaildirThunderbirdStore checks Thunderbird's maildir store,
// whose file names carry no flags: X-Mozilla-Status gives them, in cur/.
func TestReadMaildirThunderbirdStore(t *testing.T) {
	msgs, problems, _ := mdRead(t, filepath.Join("testdata", "maildir", "thunderbird-store"), Options{})
	got := map[string][]string{}
	for _, m := range msgs {
		got[filepath.Base(filepath.Dir(m.Loc.Path))+"/"+filepath.Base(m.Loc.Path)] = m.Flags
		if m.DateSource != DateMtime {
			t.Errorf("%s: date source %s, want mtime (no time in the name)", m.Loc, m.DateSource)
		}
	}
	want := map[string][]string{
		"cur/1": {FlagFlagged, FlagSeen}, // X-Mozilla-Status: 0005
		"cur/2": nil,
		"new/3": nil, // new/: no flags
	}
	if !reflect.DeepEqual(got, want) || len(problems) != 0 {
		t.Errorf("flags: got %q, want %q (problems %v)", got, want, problems)
	}
}

// TestReadMaildirEmpty checks Maildirs without messages (neomutt's empty
// test Maildirs, which git can only keep with placeholder files, are made
// here with truly empty directories): a folder of 0 messages, no problem.
func TestReadMaildirEmpty(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"full/cur", "full/new", "full/tmp", "only-cur/cur", "only-new/new"} {
		wkMust(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
	}
	r, err := wkWalk(t, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []wkFolder{
		{"full", FormatMaildir, "full", 0},
		{"only-cur", FormatMaildir, "only-cur", 0},
		{"only-new", FormatMaildir, "only-new", 0},
	}
	if got := r.relFolders(t, dir); !reflect.DeepEqual(got, want) || len(r.Problems) != 0 || len(r.Ignored) != 0 {
		t.Errorf("got %v, problems %v, ignored %v; want %v", got, r.Problems, r.Ignored, want)
	}
}

// TestReadMaildirOddEntries puts what does not belong into a Maildir: each
// is reported, nothing blocks, and the messages are read.
func TestReadMaildirOddEntries(t *testing.T) {
	dir := t.TempDir()
	msg := "From: a@example.org\nSubject: x\nMessage-ID: <%s@odd>\n\nx\n"
	wkWriteFile(t, filepath.Join(dir, "cur", "1300000001.M1P1.host:2,S"), strings.Replace(msg, "%s", "one", 1))
	wkWriteFile(t, filepath.Join(dir, "elsewhere", "two"), strings.Replace(msg, "%s", "two", 1))
	wkMust(t, os.MkdirAll(filepath.Join(dir, "new"), 0o755))
	wkMust(t, os.Symlink(filepath.Join(dir, "elsewhere", "two"), filepath.Join(dir, "new", "1300000002.M2P2.host")))
	wkMust(t, os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "new", "1300000003.M3P3.host")))
	wkMkfifo(t, filepath.Join(dir, "cur", "1300000004.M4P4.host:2,"))
	wkMust(t, os.MkdirAll(filepath.Join(dir, "cur", "subdir"), 0o755))
	wkWriteFile(t, filepath.Join(dir, "dovecot.index.log"), "\x01\x02")
	wkWriteFile(t, filepath.Join(dir, "loose-empty"), "")
	wkWriteFile(t, filepath.Join(dir, "1.emlx"), "12\nSubject: x\n\nx\n")
	wkWriteFile(t, filepath.Join(dir, "saved.mbox"), "From a@example.org Sun Mar 13 07:06:41 2011\nSubject: x\nMessage-ID: <three@odd>\n\nx\n")

	done := make(chan struct{})
	var r *wkResult
	var err error
	go func() {
		defer close(done)
		r, err = wkWalk(t, filepath.Join(dir), Options{})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Walk blocked on the named pipe in cur/")
	}
	if err != nil {
		t.Fatal(err)
	}
	want := []wkFolder{
		{InboxName, FormatMaildir, ".", 2},       // cur/ one, new/ the link to two
		{"elsewhere", FormatEML, "elsewhere", 1}, // the link's target, a loose message
		{"saved", FormatMbox, "saved.mbox", 1},   // an mbox next to cur/: a folder of its own
	}
	if got := r.relFolders(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("folders:\n got %v\nwant %v", got, want)
	}
	wantProblems := []string{"1.emlx", "cur/1300000004.M4P4.host:2,", "loose-empty", "new/1300000003.M3P3.host"}
	if _, err := os.Lstat(filepath.Join(dir, "cur", "1300000004.M4P4.host:2,")); err != nil {
		wantProblems = append(wantProblems[:1], wantProblems[2:]...) // no mkfifo here
	}
	if got := r.relProblems(t, dir); !reflect.DeepEqual(got, wantProblems) {
		t.Errorf("problems:\n got %q\nwant %q\n%v", got, wantProblems, r.Problems)
	}
	wantIgnored := []string{"cur/subdir", "dovecot.index.log"}
	if got := r.relIgnored(t, dir); !reflect.DeepEqual(got, wantIgnored) {
		t.Errorf("ignored: got %q, want %q", got, wantIgnored)
	}
}

func TestMaildirKeywords(t *testing.T) {
	dir := t.TempDir()
	wkWriteFile(t, filepath.Join(dir, "dovecot-keywords"), "0 $Label1\nbroken line\n27 TooFar\n2 \n3 Ok\n-1 Neg\n4  Spaced \n")
	got := maildirKeywords(dir, &Handler{})
	want := map[byte]string{'a': "$Label1", 'd': "Ok", 'e': "Spaced"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keywords: got %q, want %q", got, want)
	}
	if got := maildirKeywords(t.TempDir(), &Handler{}); got != nil {
		t.Errorf("no keywords file: got %q", got)
	}
}

func TestMaildirInfo(t *testing.T) {
	tests := []struct {
		name, info string
		ok         bool
	}{
		{"1382298587.M123P45.host:2,FRS", "2,FRS", true}, // qmail, Dovecot
		{"1382298587.M123P45.host!2,S", "2,S", true},     // Dovecot with maildir_broken_filename_sizes on Windows shares
		{"1382298587.M123P45.host;2,S", "2,S", true},     // mbsync's Windows InfoDelimiter
		{"1382298587.M123P45.host", "", false},           // new/: no info
		{"1382298587.M1P2.a:b:2,T", "2,T", true},         // the last separator counts
		{"1382298587.M1P2.host:1,experimental", "1,experimental", true},
	}
	for _, tt := range tests {
		info, ok := maildirInfo(tt.name)
		if info != tt.info || ok != tt.ok {
			t.Errorf("maildirInfo(%q) = %q, %v; want %q, %v", tt.name, info, ok, tt.info, tt.ok)
		}
	}
}

// FuzzMaildirName checks that any file name gives well-formed flags and a
// time: no panic, flags sorted without duplicates, each a system flag or a
// known keyword.
func FuzzMaildirName(f *testing.F) {
	for _, s := range []string{
		"1300000002.M2P2.host:2,FRSab", "no-time-in-name:2,R", "1300000009.M9P9.host!2,F",
		"1382298587.000260:2,", "30:2,", "1.", ":2,", "9999999999.x:2,ZZZzz", "",
	} {
		f.Add(s)
	}
	kw := map[byte]string{'a': "$Label1", 'b': "Work", 'c': "bad keyword"}
	f.Fuzz(func(t *testing.T, name string) {
		info, _ := maildirInfo(name)
		flags, _ := maildirFlags(info, kw)
		if !sort.StringsAreSorted(flags) {
			t.Errorf("flags not sorted: %q", flags)
		}
		seen := map[string]bool{}
		for _, fl := range flags {
			if seen[fl] {
				t.Errorf("duplicate flag %q", fl)
			}
			seen[fl] = true
			switch fl {
			case FlagSeen, FlagAnswered, FlagFlagged, FlagDraft, FlagForwarded, "$Label1", "Work":
			default:
				t.Errorf("unexpected flag %q from %q", fl, name)
			}
		}
		if tm, ok := maildirNameTime(name); ok && (tm.Unix() < 1e8 || !strings.Contains(name, wkItoa(int(tm.Unix()))+".")) {
			t.Errorf("time %v from %q", tm, name)
		}
	})
}

// FuzzDecodeMUTF7 checks that folder name decoding never panics, keeps
// names that are not modified UTF-7, and decodes to valid UTF-8.
func FuzzDecodeMUTF7(f *testing.F) {
	for _, s := range []string{"Entw&APw-rfe", "&ZeVnLIqe-", "R&-D", "&2D3eAQ-", "&2D0-", "broken&", "&U,BTFw-", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := decodeMUTF7(s)
		if got != s && !utf8.ValidString(got) {
			t.Errorf("decodeMUTF7(%q) = %q: not UTF-8", s, got)
		}
		if (!strings.Contains(s, "&") || strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 })) && got != s {
			t.Errorf("decodeMUTF7(%q) = %q: changed a name that is not modified UTF-7", s, got)
		}
	})
}

// BenchmarkWalkMaildirLKML scans notmuch's lkml Maildir (210 messages,
// 1.1 MB) as a scan does (no Data), and with Data.
func BenchmarkWalkMaildirLKML(b *testing.B) {
	dir := filepath.Join(corporaDirB(b), "notmuch", "lkml")
	for _, wantData := range []bool{false, true} {
		name := "scan"
		if wantData {
			name = "data"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for i := 0; i < b.N; i++ {
				err := Walk(context.Background(), dir, Options{WantData: wantData}, Handler{
					Message: func(m *Message) error { n++; return nil },
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
