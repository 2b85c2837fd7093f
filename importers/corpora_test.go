package importers

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/archive2imap/archive2imap/internal/corpora"
)

// These tests walk the shared real-world corpora (../shared/corpora, see
// its SOURCES.md), by reference. SOURCES.md gives a naive reader's counts
// (Python's mailbox module); where ours differ, a comment says why.

// wkFolderCounts returns the folders as name -> format and message count.
type wkCount struct {
	Format Format
	Count  int
}

func (r *wkResult) counts() map[string]wkCount {
	out := make(map[string]wkCount)
	for _, f := range r.Folders {
		out[f.Name] = wkCount{f.Format, f.Count}
	}
	return out
}

func wkCheckCounts(t *testing.T, r *wkResult, want map[string]wkCount) {
	t.Helper()
	got := r.counts()
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("folder %q: missing", name)
		} else if g != w {
			t.Errorf("folder %q: got %v, want %v", name, g, w)
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("folder %q (%v): not expected", name, g)
		}
	}
}

// TestCorpusNotmuch walks notmuch's test corpora: nested Maildirs, message
// files lying outside cur/ and new/, placeholder dot-files, and folders of
// loose message files.
func TestCorpusNotmuch(t *testing.T) {
	root := corpora.Path(t, "notmuch")
	r, err := wkWalk(t, root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wkCheckCounts(t, r, map[string]wkCount{
		// Python's mailbox.Maildir sees 26 messages in default/, 5 in
		// foo/, 4 in foo/baz/, 4 in bar/ and 4 in bar/baz/ (cur/ and
		// new/ only). 10 more message files lie in the folder directories
		// themselves (01:2, 02:2, in default/, 06:2, in foo/, 11:2, 12:2,
		// in foo/baz/, 17:2, 18:2, in bar/, 05:2, 23:2, 24:2, in
		// bar/baz/): read with a warning, so 28, 6, 6, 6 and 7.
		"default":         {FormatMaildir, 28},
		"default/foo":     {FormatMaildir, 6},
		"default/foo/baz": {FormatMaildir, 6},
		"default/bar":     {FormatMaildir, 6},
		"default/bar/baz": {FormatMaildir, 7},
		// stdlib counts 211: lkml/new/.keep, a placeholder dot-file, is
		// not a message.
		"lkml": {FormatMaildir, 210},
		// A Maildir with cur/ only (new/ and tmp/ hold .keep files).
		"threading/parent-priority": {FormatMaildir, 3},
		// Directories of loose message files (no cur/ or new/): eml folders.
		"attachment":           {FormatEML, 2},
		"broken":               {FormatEML, 2},
		"broken/loop":          {FormatEML, 2},
		"crypto":               {FormatEML, 4},
		"duplicate":            {FormatEML, 9},
		"html":                 {FormatEML, 2},
		"mangling":             {FormatEML, 1},
		"pkcs7":                {FormatEML, 1},
		"protected-headers":    {FormatEML, 19},
		"threading/ghost-root": {FormatEML, 9},
		// indexing/ holds fake-pdf:2,S, a loose message, and a git
		// format-patch mail starting with a From_ line: an mbox of one
		// message, a folder of its own.
		"indexing": {FormatEML, 1},
		"indexing/PATCH-1-2-system_data_types.7-srcfix.txt:2,S": {FormatMbox, 1},
		// A mail starting with a From_ line, carrying a git patch whose own
		// From_ line follows an empty line: in mbox that is a separator
		// (mboxo cannot tell), so the mbox reader finds 2 messages; no
		// byte is lost.
		"insert/mbox-attachment.eml": {FormatMbox, 2},
	})
	wantIgnored := []string{
		"README", // plain text
		"default/tmp/.keep", "default/foo/tmp/.keep", "default/foo/baz/tmp/.keep", "default/bar/tmp/.keep", "default/bar/baz/tmp/.keep",
		"lkml/new/.keep", "lkml/tmp/.keep", "threading/parent-priority/new/.keep", "threading/parent-priority/tmp/.keep",
	}
	if got := r.relIgnored(t, root); !reflect.DeepEqual(got, wkSorted(wantIgnored)) {
		t.Errorf("ignored:\n got %q\nwant %q", got, wkSorted(wantIgnored))
	}
	if len(r.Problems) != 0 {
		t.Errorf("problems: %v", r.Problems)
	}
	// 321 upstream files: README, 319 files of one message each, and
	// mbox-attachment.eml read as 2.
	if len(r.Messages) != 321 {
		t.Errorf("%d messages, want 321", len(r.Messages))
	}
	keys := func(prefix string) (n int, distinct map[string]bool, loose int) {
		distinct = make(map[string]bool)
		for _, m := range r.Messages {
			if m.Folder.Name == prefix || strings.HasPrefix(m.Folder.Name, prefix+"/") {
				n++
				distinct[m.Key] = true
				for _, w := range m.Warnings {
					if strings.Contains(w, "outside cur/ and new/") {
						loose++
					}
				}
			}
		}
		return n, distinct, loose
	}
	// lkml has 34 byte-identical pairs under two names: 176 distinct keys.
	if n, d, _ := keys("lkml"); n != 210 || len(d) != 176 {
		t.Errorf("lkml: %d messages, %d distinct keys; want 210, 176", n, len(d))
	}
	// default/: 53 files, one Message-ID twice; the 10 loose files warned.
	if n, d, loose := keys("default"); n != 53 || len(d) != 52 || loose != 10 {
		t.Errorf("default: %d messages, %d distinct keys, %d outside cur/new; want 53, 52, 10", n, len(d), loose)
	}
	// duplicate/: 9 files, 3 Message-IDs.
	if n, d, _ := keys("duplicate"); n != 9 || len(d) != 3 {
		t.Errorf("duplicate: %d messages, %d distinct keys; want 9, 3", n, len(d))
	}
}

// TestCorpusNeomutt walks NeoMutt's format-detection test mailboxes.
func TestCorpusNeomutt(t *testing.T) {
	root := corpora.Path(t, "neomutt")
	r, err := wkWalk(t, root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wkCheckCounts(t, r, map[string]wkCount{
		// Empty Maildirs (placeholder .gitignore files only) are folders
		// with 0 messages: apple/ and its child, banana/ (cur/ only),
		// damson/, and empty/child/ under a directory that is no Maildir.
		"maildir/apple":       {FormatMaildir, 0},
		"maildir/apple/child": {FormatMaildir, 0},
		"maildir/banana":      {FormatMaildir, 0},
		"maildir/damson":      {FormatMaildir, 0},
		"maildir/empty/child": {FormatMaildir, 0},
		// apple.mbox is an empty file named .mbox: an empty folder.
		"mbox/apple": {FormatMbox, 0},
		// banana.mbox: 1 message, as stdlib reads it.
		"mbox/banana": {FormatMbox, 1},
		// fig.mbox is a bare MMDF delimiter: an MMDF folder with 0 messages.
		"mbox/fig": {FormatMbox, 0},
	})
	wantIgnored := []string{
		// 0-byte "compressed mailboxes", and a directory named .gz.
		"compress/apple.gz", "compress/cherry.xz", "compress/banana.gz/.gitignore",
		// Placeholders in the empty Maildirs.
		"maildir/apple/cur/.gitignore", "maildir/apple/new/.gitignore", "maildir/apple/tmp/.gitignore",
		"maildir/apple/child/cur/.gitignore", "maildir/apple/child/new/.gitignore", "maildir/apple/child/tmp/.gitignore",
		"maildir/banana/cur/.gitignore",
		"maildir/damson/cur/.gitignore", "maildir/damson/new/.gitignore", "maildir/damson/tmp/.gitignore",
		"maildir/empty/child/cur/.gitignore", "maildir/empty/child/new/.gitignore", "maildir/empty/child/tmp/.gitignore",
		// cherry/ has no cur/, new/ or tmp/: not a Maildir, nothing in it.
		"maildir/cherry/.gitignore",
		// endive and mh8 are empty files where folders are expected, with
		// no mbox file next to them: nothing to read.
		"maildir/endive", "maildir/mh8",
		// MH folders are not Maildirs: their marker files (here
		// directories, for git's sake) are hidden, and they hold no
		// message files (an MH folder with messages would be a folder of
		// message files, read as eml).
		"maildir/mh1/.mh_sequences", "maildir/mh2/.xmhcache", "maildir/mh2/child/.mh_sequences",
		"maildir/mh3/.mew_cache", "maildir/mh4/.mew-cache", "maildir/mh5/.sylpheed_cache", "maildir/mh6/.overview",
		"maildir/mh7/.gitignore",
		// cherry.mbox and endive.mbox are plain text: not mail, even named
		// .mbox; damson.mbox is a directory named .mbox.
		"mbox/cherry.mbox", "mbox/endive.mbox", "mbox/damson.mbox/.gitignore",
	}
	if got := r.relIgnored(t, root); !reflect.DeepEqual(got, wkSorted(wantIgnored)) {
		t.Errorf("ignored:\n got %q\nwant %q", got, wkSorted(wantIgnored))
	}
	for _, p := range []string{"mbox/cherry.mbox", "mbox/endive.mbox"} {
		if reason := r.Ignored[filepath.Join(root, p)]; !strings.HasPrefix(reason, "not mail") {
			t.Errorf("%s: reason %q", p, reason)
		}
	}
	if len(r.Problems) != 0 {
		t.Errorf("problems: %v", r.Problems)
	}
	if m := r.messagesIn("mbox/banana"); len(m) != 1 || !strings.HasPrefix(m[0].Key, "fp:") {
		t.Errorf("banana.mbox: %+v, want 1 message keyed by fingerprint (it has no Message-ID)", m)
	}

	// Single paths given as sources.
	if _, err := wkWalk(t, filepath.Join(root, "mbox", "damson.mbox"), Options{}); !errorsIsNotMail(err) {
		t.Errorf("damson.mbox (a directory holding only .gitignore): got %v, want ErrNotMail", err)
	}
	if _, err := wkWalk(t, filepath.Join(root, "mbox", "cherry.mbox"), Options{}); !errorsIsNotMail(err) {
		t.Errorf("cherry.mbox (plain text): got %v, want ErrNotMail", err)
	}
	if r, err := wkWalk(t, filepath.Join(root, "mbox", "apple.mbox"), Options{}); err != nil || !reflect.DeepEqual(r.counts(), map[string]wkCount{"apple": {FormatMbox, 0}}) {
		t.Errorf("apple.mbox (empty, given explicitly): got %v, %v; want an empty mbox folder", r.counts(), err)
	}
	if r, err := wkWalk(t, filepath.Join(root, "maildir", "damson"), Options{}); err != nil || !reflect.DeepEqual(r.counts(), map[string]wkCount{InboxName: {FormatMaildir, 0}}) {
		t.Errorf("maildir/damson (empty Maildir given as source): got %v, %v; want an empty INBOX", r.counts(), err)
	}
}

func errorsIsNotMail(err error) bool { return errors.Is(err, ErrNotMail) }

// TestCorpusThunderbird walks the Thunderbird test data directory as a tree.
func TestCorpusThunderbird(t *testing.T) {
	root := corpora.Path(t, "thunderbird")
	r, err := wkWalk(t, root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wkCheckCounts(t, r, map[string]wkCount{
		// mbox files: the counts of SOURCES.md's table, except
		// mbox_unquoted: stdlib splits at the unquoted body "From " line
		// (3, one header-less); upstream says 2, and so does our reader.
		"mailnews/test/data/mbox_mboxrd":              {FormatMbox, 2},
		"mailnews/test/data/mbox_modern":              {FormatMbox, 2},
		"mailnews/test/data/mbox_unquoted":            {FormatMbox, 2},
		"mailnews/test/data/bugmail-1":                {FormatMbox, 1},
		"mailnews/test/data/SenderHeader":             {FormatMbox, 1},
		"mailnews/test/data/mail-without-from":        {FormatMbox, 1},
		"mailnews/test/data/template-latin1":          {FormatMbox, 1},
		"mailnews/test/data/external-attach-test":     {FormatMbox, 1},
		"mailnews/test/data/image-attach-test":        {FormatMbox, 1},
		"mailnews/local/test/unit/data/movemailspool": {FormatMbox, 3},
		// Starts with a From_ line, .eml or not: an mbox of one message.
		"mailnews/local/test/unit/data/mailformed_subject.eml": {FormatMbox, 1},
		"mailnews/db/panorama/test/xpcshell/data/migration":    {FormatMbox, 3},
		// The single messages (not in SOURCES.md's table), one eml folder
		// per directory: bug92111, mime-torture and bad-charset.eml ...
		"mailnews/test/data": {FormatEML, 3},
		// ... invalid_mozilla_keys.eml and message_with_from_line.eml ...
		"mailnews/local/test/unit/data": {FormatEML, 2},
		// ... and the charset test messages.
		"mail/test/browser/composition/data":    {FormatEML, 3},
		"mail/test/browser/message-reader/data": {FormatEML, 4},
	})
	if got, want := r.relIgnored(t, root), []string{"mailnews/test/data/readme.txt"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ignored: got %q, want %q", got, want)
	}
	if len(r.Problems) != 0 {
		t.Errorf("problems: %v", r.Problems)
	}
	if len(r.Messages) != 31 {
		t.Errorf("%d messages, want 31", len(r.Messages))
	}
}

// TestCorpusAppleMail walks the Mail.app store of partial-emlx-converter.
func TestCorpusAppleMail(t *testing.T) {
	root := corpora.Path(t, "apple-mail-emlx", "test", "__testdata")
	r, err := wkWalk(t, root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wkCheckCounts(t, r, map[string]wkCount{
		// input/ holds Messages/ and Attachments/: one emlx folder of the
		// 10 messages SOURCES.md counts.
		"input": {FormatEmlx, 10},
		// The reassembled copies the converter is expected to produce.
		"expected_results": {FormatEML, 2},
		// A lone .emlx file with no byte count: the folder is reported, the
		// file is a problem.
		"skip-emlx": {FormatEmlx, 0},
	})
	if got, want := r.relProblems(t, root), []string{"skip-emlx/invalid.emlx"}; !reflect.DeepEqual(got, want) {
		t.Errorf("problems: got %q, want %q", got, want)
	}
	if f := r.relFolders(t, root); len(f) != 3 || f[1].Path != "input" {
		t.Errorf("folders %v: want input/ as the emlx folder's path (the directory holding Messages/)", f)
	}
}

// TestCorpusAll walks the whole corpora directory as one source. It must
// not fail; every file must be accounted for: an mbox folder, a message, an
// attachment of a partial .emlx message, ignored with a reason, or a
// problem, never silently dropped.
func TestCorpusAll(t *testing.T) {
	root := corpora.Dir(t)
	r, err := wkWalk(t, root, Options{})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	perCollection := make(map[string]int)
	for _, m := range r.Messages {
		perCollection[strings.SplitN(m.Folder.Name, "/", 2)[0]]++
	}
	want := map[string]int{
		// 10 messages in input/ plus the 2 reassembled .eml copies.
		"apple-mail-emlx": 12,
		// As SOURCES.md's table: 164 + 59 + 50.
		"bigbang": 273,
		// As SOURCES.md's table (header-less messages included).
		"dovecot-imaptest": 46,
		// SOURCES.md's mbox table has 45 and mailbox_mmdf 5 more (MMDF).
		// Of the 39 single message files, 7 *.mail files start with a
		// From_ line and are mbox files (10 messages: thread.mail holds 4
		// From_-separated messages), 31 are one message each, and
		// mail_bad.1 (no header) is ignored. Of the 8 legacy archives
		// without From_ lines, 5 are problems (they look like mail but
		// start with an empty line or a year) and 3 (mailbox_date,
		// mailbox_to, mailbox_from) start with a header and are read as
		// one message each: 45 + 5 + 10 + 31 + 3.
		"ietf-mailarchive": 94,
		// content-length 29, issue1189 4, simple 3, unmunged 2 (stdlib 3:
		// the unescaped "From Russia" line); the two *-summary.txt outlines
		// are shaped like mbox files (From - lines, header fields) and read
		// as such (29 + 4); messages/ 31 + multipart-digest.txt 1 (it
		// starts with a From_ line); partial/ 7.
		"mimekit": 110,
		// banana.mbox.
		"neomutt": 1,
		// See TestCorpusNotmuch.
		"notmuch": 321,
		// SOURCES.md's table (26) plus the two utils/*.txt messages.
		"perceval": 28,
		// See TestCorpusThunderbird.
		"thunderbird": 31,
	}
	if !reflect.DeepEqual(perCollection, want) {
		t.Errorf("messages per collection:\n got %v\nwant %v", perCollection, want)
	}
	if len(r.Messages) != 916 {
		t.Errorf("%d messages, want 916", len(r.Messages))
	}

	accounted := make(map[string]string)
	for _, f := range r.Folders {
		if f.Format == FormatMbox {
			accounted[f.Path] = "mbox folder " + f.Name
		}
	}
	messageFiles := make(map[string]bool)
	for _, m := range r.Messages {
		messageFiles[m.Loc.Path] = true
		accounted[m.Loc.Path] = "message"
	}
	for p := range r.Ignored {
		if messageFiles[p] {
			t.Errorf("%s: both a message and ignored", p)
		}
		accounted[p] = "ignored"
	}
	for _, p := range r.Problems {
		accounted[p.Path] = "problem"
	}
	isAccounted := func(p string) bool {
		for q := p; q != root && q != filepath.Dir(q); q = filepath.Dir(q) {
			if accounted[q] != "" && (q == p || accounted[q] == "ignored") {
				return true
			}
		}
		for _, f := range r.Folders {
			if f.Format == FormatEmlx && strings.HasPrefix(p, filepath.Join(f.Path, "Attachments")+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}
	files := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files++
			if !isAccounted(p) {
				t.Errorf("%s: silently dropped (not a folder, message, attachment, ignored file or problem)", wkRel(t, root, p))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// SOURCES.md: 543 files including itself.
	if files != 543 {
		t.Errorf("%d files in the corpora, SOURCES.md says 543", files)
	}
}

// corporaDirB is corpora.Dir for benchmarks.
func corporaDirB(b *testing.B) string { return corpora.Dir(b) }
