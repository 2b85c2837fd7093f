package importers

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// wkFolder is a folder as a Walk test sees it: Path relative to the source
// directory of the test case, Count the messages reported in it.
type wkFolder struct {
	Name   string
	Format Format
	Path   string
	Count  int
}

// wkResult is everything a Walk reported.
type wkResult struct {
	Folders  []wkFolder
	Messages []Message // copies, Data included
	Problems []Problem
	Ignored  map[string]string // path -> reason
}

// wkWalk walks path and records what Walk reports, checking on the way
// that every message comes after its folder and points to it.
func wkWalk(t *testing.T, path string, opts Options) (*wkResult, error) {
	t.Helper()
	r := &wkResult{Ignored: make(map[string]string)}
	var cur *Folder
	err := Walk(context.Background(), path, opts, Handler{
		Folder: func(f *Folder) error {
			cur = f
			r.Folders = append(r.Folders, wkFolder{Name: f.Name, Format: f.Format, Path: f.Path})
			return nil
		},
		Message: func(m *Message) error {
			if cur == nil || m.Folder != cur {
				t.Errorf("message %s: reported outside its folder (Folder %v, current %v)", m.Loc, m.Folder, cur)
			}
			r.Folders[len(r.Folders)-1].Count++
			c := *m
			if m.Data != nil {
				c.Data = append([]byte(nil), m.Data...)
			}
			c.Flags = append([]string(nil), m.Flags...)
			c.Warnings = append([]string(nil), m.Warnings...)
			r.Messages = append(r.Messages, c)
			return nil
		},
		Problem: func(p Problem) { r.Problems = append(r.Problems, p) },
		Ignored: func(p, reason string) {
			if old, dup := r.Ignored[p]; dup {
				t.Errorf("%s reported as ignored twice (%q, then %q)", p, old, reason)
			}
			r.Ignored[p] = reason
		},
	})
	return r, err
}

// rel returns p relative to root, "." for root itself.
func wkRel(t *testing.T, root, p string) string {
	t.Helper()
	r, err := filepath.Rel(root, p)
	if err != nil {
		t.Fatalf("rel %s %s: %v", root, p, err)
	}
	return r
}

// relFolders returns the folders with their paths relative to root.
func (r *wkResult) relFolders(t *testing.T, root string) []wkFolder {
	out := make([]wkFolder, len(r.Folders))
	for i, f := range r.Folders {
		f.Path = wkRel(t, root, f.Path)
		out[i] = f
	}
	return out
}

func (r *wkResult) relIgnored(t *testing.T, root string) []string {
	var out []string
	for p := range r.Ignored {
		out = append(out, wkRel(t, root, p))
	}
	sort.Strings(out)
	return out
}

func (r *wkResult) relProblems(t *testing.T, root string) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, wkRel(t, root, p.Path))
	}
	sort.Strings(out)
	return out
}

// messagesIn returns the messages of the folder called name.
func (r *wkResult) messagesIn(name string) []Message {
	var out []Message
	for _, m := range r.Messages {
		if m.Folder.Name == name {
			out = append(out, m)
		}
	}
	return out
}

func wkSorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func wkTrees(elem ...string) string {
	return filepath.Join(append([]string{"testdata", "trees"}, elem...)...)
}

// TestWalkTrees walks the handmade trees in testdata/trees, one per client
// layout, and checks the exact folders (names, formats, paths, message
// counts), ignored files and problems.
func TestWalkTrees(t *testing.T) {
	tests := []struct {
		name     string
		src      string // under testdata/trees
		folders  []wkFolder
		ignored  []string
		problems []string
	}{
		{
			name: "Dovecot Maildir with cur, new, tmp, placeholder dot-files and dovecot-keywords",
			src:  "maildir",
			// 11 files in cur/ and new/: 2 are dot-files, 1 is empty (a
			// problem, not a message): 8, plus none outside cur/new. The
			// file in tmp/ is an unfinished delivery.
			folders:  []wkFolder{{InboxName, FormatMaildir, ".", 9}},
			ignored:  []string{"cur/.keep", "dovecot-keywords", "dovecot-uidlist", "new/.keep", "tmp/1300000008.M8P8.host"},
			problems: []string{"cur/1300000007.M7P7.host:2,"},
		},
		{
			name: "Courier and Dovecot Maildir++ root with dotted subfolders and a modified UTF-7 name",
			src:  "maildirpp",
			folders: []wkFolder{
				{"Entwürfe", FormatMaildir, ".Entw&APw-rfe", 1},
				{InboxName, FormatMaildir, ".", 2},
				{"Sent", FormatMaildir, ".Sent", 1},
				{"Work", FormatMaildir, ".Work", 1},
				{"Work/Projects", FormatMaildir, ".Work.Projects", 1},
			},
			ignored: []string{
				".Entw&APw-rfe/maildirfolder", ".Sent/maildirfolder", ".Work.Projects/maildirfolder", ".Work/maildirfolder",
				".notmuch", "courierimapkeywords", "subscriptions",
			},
		},
		{
			name: "mutt and notmuch nested Maildirs with message files outside cur and new",
			src:  "nested",
			folders: []wkFolder{
				{InboxName, FormatMaildir, ".", 2},
				{"bar/baz", FormatMaildir, "bar/baz", 1},
				{"foo", FormatMaildir, "foo", 2},
				{"foo/baz", FormatMaildir, "foo/baz", 1},
			},
			ignored: []string{"notes.txt"},
		},
		{
			name: "mutt ~/Mail tree of mbox files with inbox and an empty postponed",
			src:  "mutt",
			folders: []wkFolder{
				{InboxName, FormatMbox, "inbox", 2},
				{"lists/golang", FormatMbox, "lists/golang", 2},
				{"lists/old", FormatMbox, "lists/old.mbox", 1},
				{"postponed", FormatMbox, "postponed", 0},
				{"sent", FormatMbox, "sent", 1},
			},
			ignored: []string{".mutt_cache", "notes.txt"},
		},
		{
			name: "Thunderbird Local Folders with .msf indexes, an empty Trash and Archives.sbd",
			src:  "thunderbird",
			folders: []wkFolder{
				{"Archives", FormatMbox, "Archives", 1},
				{"Archives/2019", FormatMbox, "Archives.sbd/2019", 1},
				{InboxName, FormatMbox, "Inbox", 3},
				{"Trash", FormatMbox, "Trash", 0},
			},
			ignored: []string{"Archives.msf", "Archives.sbd/2019.msf", "Inbox.msf", "Trash.msf", "folderTree.json", "msgFilterRules.dat"},
		},
		{
			name:    "Apple Mail Export Mailbox bundle, its parent directory given",
			src:     "apple-export",
			folders: []wkFolder{{"Receipts", FormatMbox, "Receipts.mbox/mbox", 2}},
			ignored: []string{"Receipts.mbox/Info.plist", "Receipts.mbox/table_of_contents"},
		},
		{
			name:    "Apple Mail Export Mailbox bundle given itself",
			src:     "apple-export/Receipts.mbox",
			folders: []wkFolder{{"Receipts", FormatMbox, "mbox", 2}},
			ignored: []string{"Info.plist", "table_of_contents"},
		},
		{
			name:    "Windows Live Mail .eml export with .DS_Store, Thumbs.db and notes.txt",
			src:     "eml",
			folders: []wkFolder{{"eml", FormatEML, ".", 3}},
			ignored: []string{".DS_Store", "Thumbs.db", "notes.txt"},
		},
		{
			name: "all the trees as one source: folder names relative to it",
			src:  "",
			folders: []wkFolder{
				{"apple-export/Receipts", FormatMbox, "apple-export/Receipts.mbox/mbox", 2},
				{"eml", FormatEML, "eml", 3},
				{"maildir", FormatMaildir, "maildir", 9},
				{"maildirpp", FormatMaildir, "maildirpp", 2},
				{"maildirpp/Entwürfe", FormatMaildir, "maildirpp/.Entw&APw-rfe", 1},
				{"maildirpp/Sent", FormatMaildir, "maildirpp/.Sent", 1},
				{"maildirpp/Work", FormatMaildir, "maildirpp/.Work", 1},
				{"maildirpp/Work/Projects", FormatMaildir, "maildirpp/.Work.Projects", 1},
				{"mutt/inbox", FormatMbox, "mutt/inbox", 2}, // only a top-level inbox is INBOX
				{"mutt/lists/golang", FormatMbox, "mutt/lists/golang", 2},
				{"mutt/lists/old", FormatMbox, "mutt/lists/old.mbox", 1},
				{"mutt/postponed", FormatMbox, "mutt/postponed", 0},
				{"mutt/sent", FormatMbox, "mutt/sent", 1},
				{"nested", FormatMaildir, "nested", 2},
				{"nested/bar/baz", FormatMaildir, "nested/bar/baz", 1},
				{"nested/foo", FormatMaildir, "nested/foo", 2},
				{"nested/foo/baz", FormatMaildir, "nested/foo/baz", 1},
				{"thunderbird/Archives", FormatMbox, "thunderbird/Archives", 1},
				{"thunderbird/Archives/2019", FormatMbox, "thunderbird/Archives.sbd/2019", 1},
				{"thunderbird/Inbox", FormatMbox, "thunderbird/Inbox", 3},
				{"thunderbird/Trash", FormatMbox, "thunderbird/Trash", 0},
			},
			ignored: []string{
				".gitattributes", // keeps git from converting the fixtures' line ends
				"apple-export/Receipts.mbox/Info.plist", "apple-export/Receipts.mbox/table_of_contents",
				"eml/.DS_Store", "eml/Thumbs.db", "eml/notes.txt",
				"maildir/cur/.keep", "maildir/dovecot-keywords", "maildir/dovecot-uidlist", "maildir/new/.keep", "maildir/tmp/1300000008.M8P8.host",
				"maildirpp/.Entw&APw-rfe/maildirfolder", "maildirpp/.Sent/maildirfolder", "maildirpp/.Work.Projects/maildirfolder", "maildirpp/.Work/maildirfolder",
				"maildirpp/.notmuch", "maildirpp/courierimapkeywords", "maildirpp/subscriptions",
				"mutt/.mutt_cache", "mutt/notes.txt",
				"nested/notes.txt",
				"thunderbird/Archives.msf", "thunderbird/Archives.sbd/2019.msf", "thunderbird/Inbox.msf", "thunderbird/Trash.msf",
				"thunderbird/folderTree.json", "thunderbird/msgFilterRules.dat",
			},
			problems: []string{"maildir/cur/1300000007.M7P7.host:2,"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := wkTrees(tt.src)
			r, err := wkWalk(t, root, Options{})
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			if got := r.relFolders(t, root); !reflect.DeepEqual(got, tt.folders) {
				t.Errorf("folders:\n got %v\nwant %v", got, tt.folders)
			}
			if got, want := r.relIgnored(t, root), wkSorted(tt.ignored); !reflect.DeepEqual(got, want) {
				t.Errorf("ignored:\n got %q\nwant %q", got, want)
			}
			if got, want := r.relProblems(t, root), wkSorted(tt.problems); !reflect.DeepEqual(got, want) {
				t.Errorf("problems:\n got %q\nwant %q (%v)", got, want, r.Problems)
			}
			for _, reason := range r.Ignored {
				if reason == "" {
					t.Errorf("an ignored file has no reason")
				}
			}
		})
	}
}

// TestWalkFolderOrder checks that folders come sorted by name, segment by
// segment, so that a parent comes before its children even when another
// name sorts between them byte-wise ("Work-old" < "Work/Projects").
func TestWalkFolderOrder(t *testing.T) {
	dir := t.TempDir()
	mb := "From a@example.org Sun Mar 13 07:06:41 2011\nSubject: x\nMessage-ID: <x@y>\n\nx\n"
	for _, p := range []string{"Work", "Work.sbd/Projects", "Work-old", "Alpha", "Work.sbd/Projects.sbd/2019"} {
		wkWriteFile(t, filepath.Join(dir, p), mb)
	}
	r, err := wkWalk(t, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range r.Folders {
		names = append(names, f.Name)
	}
	want := []string{"Alpha", "Work", "Work/Projects", "Work/Projects/2019", "Work-old"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("folder order: got %q, want %q", names, want)
	}
}

// TestWalkThunderbirdFlags checks the flags X-Mozilla-Status gives in the
// Thunderbird tree, an expunged (deleted, not compacted) message included.
func TestWalkThunderbirdFlags(t *testing.T) {
	r, err := wkWalk(t, wkTrees("thunderbird"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	type fl struct {
		Flags   []string
		Deleted bool
	}
	got := make(map[string]fl)
	for _, m := range r.Messages {
		got[m.MessageID] = fl{m.Flags, m.Deleted}
	}
	want := map[string]fl{
		"tb1@tb.test": {[]string{FlagSeen}, false},                                               // 0001
		"tb2@tb.test": {nil, false},                                                              // 0000
		"tb3@tb.test": {[]string{FlagSeen}, true},                                                // 0009: read, expunged
		"tb4@tb.test": {[]string{"$label1", FlagAnswered, FlagFlagged, FlagSeen, "todo"}, false}, // 0007 + X-Mozilla-Keys
		"tb5@tb.test": {[]string{FlagForwarded, FlagSeen}, false},                                // 1001
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("%s: not read", id)
			continue
		}
		if len(g.Flags) == 0 {
			g.Flags = nil
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: got %+v, want %+v", id, g, w)
		}
	}
}

// TestWalkSingleFile gives Walk one file as the source.
func TestWalkSingleFile(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "Drafts")
	wkWriteFile(t, empty, "")
	tests := []struct {
		name   string
		path   string
		folder wkFolder // Path relative to the file's directory
	}{
		{"mutt inbox mbox file is INBOX", wkTrees("mutt", "inbox"), wkFolder{InboxName, FormatMbox, "inbox", 2}},
		{"mbox file with .mbox extension", wkTrees("mutt", "lists", "old.mbox"), wkFolder{"old", FormatMbox, "old.mbox", 1}},
		{"Thunderbird folder file", wkTrees("thunderbird", "Archives.sbd", "2019"), wkFolder{"2019", FormatMbox, "2019", 1}},
		{"empty file given explicitly is an empty mailbox", empty, wkFolder{"Drafts", FormatMbox, "Drafts", 0}},
		{"Outlook Express .eml file: folder named after its directory", wkTrees("eml", "01-welcome.eml"), wkFolder{"eml", FormatEML, ".", 1}},
		{"a Maildir message file: a Maildir message of the folder named after the Maildir", wkTrees("maildir", "cur", "1300000002.M2P2.host:2,FRSab"), wkFolder{"maildir", FormatMaildir, "..", 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := wkWalk(t, tt.path, Options{})
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			got := r.relFolders(t, filepath.Dir(tt.path))
			if !reflect.DeepEqual(got, []wkFolder{tt.folder}) {
				t.Errorf("folders: got %v, want %v", got, []wkFolder{tt.folder})
			}
			for i, m := range r.Messages {
				if m.Loc.Index != i+1 {
					t.Errorf("message %d has Index %d", i+1, m.Loc.Index)
				}
				if m.Data != nil {
					t.Errorf("message %d has Data without WantData", i+1)
				}
			}
		})
	}
	// The Maildir message keeps its flags, keywords included.
	r, err := wkWalk(t, wkTrees("maildir", "cur", "1300000002.M2P2.host:2,FRSab"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"$Label1", "Work", FlagAnswered, FlagFlagged, FlagSeen}; len(r.Messages) != 1 || !reflect.DeepEqual(r.Messages[0].Flags, want) {
		t.Errorf("single Maildir message: got %+v, want flags %q", r.Messages, want)
	}
}

func TestWalkErrors(t *testing.T) {
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes")
	wkWriteFile(t, filepath.Join(notes, "notes.txt"), "nothing to see\n")
	wkWriteFile(t, filepath.Join(notes, "Inbox.msf"), "// <!-- <mdb:mork:z v=\"1.4\"/> -->\n")
	wkWriteFile(t, filepath.Join(notes, "sub", "README"), "still nothing\n")
	tests := []struct {
		name string
		path string
		opts Options
		want error
	}{
		{"missing path", filepath.Join(dir, "no-such-archive"), Options{}, ErrNotFound},
		{"directory without mail", notes, Options{}, ErrNotMail},
		{"plain text file", filepath.Join(notes, "notes.txt"), Options{}, ErrNotMail},
		{"Thunderbird index given instead of its folder", filepath.Join(notes, "Inbox.msf"), Options{}, ErrNotMail},
		{"format maildir forced on a tree of mbox files", wkTrees("mutt"), Options{Format: FormatMaildir}, ErrNotMail},
		{"format maildir forced on a single mbox file", wkTrees("mutt", "inbox"), Options{Format: FormatMaildir}, ErrNotMail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := wkWalk(t, tt.path, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Walk: got %v, want an error wrapping %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name the path %s", err, tt.path)
			}
			if len(r.Folders) != 0 {
				t.Errorf("folders reported: %v", r.Folders)
			}
		})
	}
	if _, err := wkWalk(t, wkTrees("mutt"), Options{Format: "pst"}); err == nil {
		t.Error("Walk accepted an unknown format")
	}
}

// TestWalkUnreadable puts things that cannot be read into a tree: each is
// a Problem, and the rest of the tree is read.
func TestWalkUnreadable(t *testing.T) {
	dir := t.TempDir()
	mb := "From a@example.org Sun Mar 13 07:06:41 2011\nSubject: x\nMessage-ID: <x@y>\n\nx\n"
	wkWriteFile(t, filepath.Join(dir, "inbox"), mb)
	wkWriteFile(t, filepath.Join(dir, "sub", "sent"), mb)
	wkMust(t, os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "dangling")))
	wkMkfifo(t, filepath.Join(dir, "fifo"))
	wkMust(t, os.Symlink("..", filepath.Join(dir, "sub", "loop"))) // a symlink loop
	wkMust(t, os.Symlink(filepath.Join(dir, "inbox"), filepath.Join(dir, "sub", "inbox-link")))
	want := []string{"dangling", "fifo"}
	if _, err := os.Lstat(filepath.Join(dir, "fifo")); err != nil {
		want = want[:1] // no mkfifo here
	}
	if os.Geteuid() != 0 { // root reads files whatever their mode
		wkWriteFile(t, filepath.Join(dir, "locked"), mb)
		wkMust(t, os.Chmod(filepath.Join(dir, "locked"), 0))
		wkWriteFile(t, filepath.Join(dir, "closed", "x"), mb)
		wkMust(t, os.Chmod(filepath.Join(dir, "closed"), 0))
		t.Cleanup(func() { os.Chmod(filepath.Join(dir, "closed"), 0o755) })
		want = append(want, "closed", "locked")
	}
	done := make(chan struct{})
	var r *wkResult
	var err error
	go func() {
		defer close(done)
		r, err = wkWalk(t, dir, Options{})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Walk blocked (opened the named pipe, or followed the symlink loop)")
	}
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	if got := r.relProblems(t, dir); !reflect.DeepEqual(got, wkSorted(want)) {
		t.Errorf("problems: got %q, want %q (%v)", got, want, r.Problems)
	}
	for _, p := range r.Problems {
		if p.Offset != -1 {
			t.Errorf("problem %v: offset %d, want -1", p, p.Offset)
		}
	}
	wantFolders := []wkFolder{
		{InboxName, FormatMbox, "inbox", 1},
		{"sub/inbox-link", FormatMbox, "sub/inbox-link", 1}, // a link to a file is read
		{"sub/sent", FormatMbox, "sub/sent", 1},
	}
	if got := r.relFolders(t, dir); !reflect.DeepEqual(got, wantFolders) {
		t.Errorf("folders: got %v, want %v", got, wantFolders)
	}
	if reason, ok := r.Ignored[filepath.Join(dir, "sub", "loop")]; !ok || !strings.Contains(reason, "not followed") {
		t.Errorf("symlink loop: ignored reason %q", reason)
	}
}

// TestWalkNameCollision checks that two folders never share a name.
func TestWalkNameCollision(t *testing.T) {
	dir := t.TempDir()
	mb := "From a@example.org Sun Mar 13 07:06:41 2011\nSubject: x\nMessage-ID: <x@y>\n\nx\n"
	eml := "From: a@example.org\nSubject: y\nMessage-ID: <y@y>\n\ny\n"
	wkWriteFile(t, filepath.Join(dir, "Foo.mbox"), mb)          // mbox folder "Foo"
	wkWriteFile(t, filepath.Join(dir, "Foo", "1.eml"), eml)     // eml folder "Foo"
	wkWriteFile(t, filepath.Join(dir, "Foo (2)", "x.eml"), eml) // a real "Foo (2)": the renamed one must not take it
	wkWriteFile(t, filepath.Join(dir, "Bar"), mb)
	wkWriteFile(t, filepath.Join(dir, "bar.MBOX"), mb) // names differ in case: both kept
	r, err := wkWalk(t, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []wkFolder{
		{"Bar", FormatMbox, "Bar", 1},
		{"Foo", FormatEML, "Foo", 1}, // its path sorts first: it keeps the name
		{"Foo (2)", FormatEML, "Foo (2)", 1},
		{"Foo (3)", FormatMbox, "Foo.mbox", 1},
		{"bar", FormatMbox, "bar.MBOX", 1},
	}
	if got := r.relFolders(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("folders:\n got %v\nwant %v", got, want)
	}
	if len(r.Problems) != 1 || wkRel(t, dir, r.Problems[0].Path) != "Foo.mbox" || !strings.Contains(r.Problems[0].Err, `"Foo (3)"`) {
		t.Errorf("problems: got %v, want one saying Foo.mbox is read as \"Foo (3)\"", r.Problems)
	}
}

// TestWalkForcedFormat checks Options.Format on the trees.
func TestWalkForcedFormat(t *testing.T) {
	t.Run("maildir: only the Maildirs of a mixed tree", func(t *testing.T) {
		root := wkTrees()
		r, err := wkWalk(t, root, Options{Format: FormatMaildir})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range r.Folders {
			if f.Format != FormatMaildir {
				t.Errorf("folder %v is not a Maildir", f)
			}
			names = append(names, f.Name)
		}
		want := []string{"maildir", "maildirpp", "maildirpp/Entwürfe", "maildirpp/Sent", "maildirpp/Work", "maildirpp/Work/Projects", "nested", "nested/bar/baz", "nested/foo", "nested/foo/baz"}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("folders: got %q, want %q", names, want)
		}
		if reason := r.Ignored[wkTrees("mutt", "inbox")]; !strings.Contains(reason, "format maildir") {
			t.Errorf("mutt/inbox: ignored reason %q, want one naming the forced format", reason)
		}
	})
	t.Run("eml: message files only", func(t *testing.T) {
		r, err := wkWalk(t, wkTrees("eml"), Options{Format: FormatEML})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := r.relFolders(t, wkTrees("eml")), []wkFolder{{"eml", FormatEML, ".", 3}}; !reflect.DeepEqual(got, want) {
			t.Errorf("folders: got %v, want %v", got, want)
		}
	})
	t.Run("mbox: every file not known as an index is an mbox", func(t *testing.T) {
		dir := t.TempDir()
		wkWriteFile(t, filepath.Join(dir, "Sent"), "From a@example.org Sun Mar 13 07:06:41 2011\nSubject: x\n\nx\n")
		wkWriteFile(t, filepath.Join(dir, "Saved.txt"), "")
		wkWriteFile(t, filepath.Join(dir, "Sent.msf"), "// mork\n")
		r, err := wkWalk(t, dir, Options{Format: FormatMbox})
		if err != nil {
			t.Fatal(err)
		}
		want := []wkFolder{{"Saved.txt", FormatMbox, "Saved.txt", 0}, {"Sent", FormatMbox, "Sent", 1}}
		if got := r.relFolders(t, dir); !reflect.DeepEqual(got, want) {
			t.Errorf("folders: got %v, want %v", got, want)
		}
		if _, ok := r.Ignored[filepath.Join(dir, "Sent.msf")]; !ok {
			t.Errorf("Sent.msf not ignored: %v", r.Ignored)
		}
	})
}

// TestWalkAppleMailStore builds Mail.app stores at run time: a V1 mailbox
// (Foo.mbox/Messages) and a V2+ one (Bar.mbox/<UUID>/Data/.../Messages)
// with a child mailbox, and loose .emlx files.
func TestWalkAppleMailStore(t *testing.T) {
	dir := t.TempDir()
	emlx := func(id string, flags int) string {
		msg := "From: a@example.org\nSubject: " + id + "\nMessage-ID: <" + id + "@mail.app>\n\nHello.\n"
		return wkItoa(len(msg)) + "\n" + msg + `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>date-received</key>
	<integer>1300000000</integer>
	<key>flags</key>
	<integer>` + wkItoa(flags) + `</integer>
</dict>
</plist>
`
	}
	uuid := "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"
	wkWriteFile(t, filepath.Join(dir, "Mailboxes", "Foo.mbox", "Messages", "1.emlx"), emlx("v1-1", 1))
	wkWriteFile(t, filepath.Join(dir, "Mailboxes", "Foo.mbox", "Messages", "2.emlx"), emlx("v1-2", 0))
	wkWriteFile(t, filepath.Join(dir, "Mailboxes", "Foo.mbox", "Info.plist"), "<plist/>\n")
	wkWriteFile(t, filepath.Join(dir, "Mailboxes", "Bar.mbox", uuid, "Data", "Messages", "3.emlx"), emlx("v2-3", 1))
	wkWriteFile(t, filepath.Join(dir, "Mailboxes", "Bar.mbox", uuid, "Data", "1", "Messages", "10.emlx"), emlx("v2-10", 0))
	wkWriteFile(t, filepath.Join(dir, "Mailboxes", "Bar.mbox", "Child.mbox", uuid, "Data", "Messages", "4.emlx"), emlx("child-4", 0))
	wkWriteFile(t, filepath.Join(dir, "Saved", "7.emlx"), emlx("loose-7", 1))
	r, err := wkWalk(t, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []wkFolder{
		{"Mailboxes/Bar", FormatEmlx, "Mailboxes/Bar.mbox", 2},
		{"Mailboxes/Bar/Child", FormatEmlx, "Mailboxes/Bar.mbox/Child.mbox", 1},
		{"Mailboxes/Foo", FormatEmlx, "Mailboxes/Foo.mbox", 2},
		{"Saved", FormatEmlx, "Saved", 1},
	}
	if got := r.relFolders(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("folders:\n got %v\nwant %v", got, want)
	}
	if len(r.Problems) != 0 {
		t.Errorf("problems: %v", r.Problems)
	}
	// Every message once, numbered within its folder.
	seen := map[string]int{}
	for _, m := range r.Messages {
		seen[m.MessageID]++
	}
	for _, id := range []string{"v1-1@mail.app", "v1-2@mail.app", "v2-3@mail.app", "v2-10@mail.app", "child-4@mail.app", "loose-7@mail.app"} {
		if seen[id] != 1 {
			t.Errorf("%s read %d times", id, seen[id])
		}
	}
	if loose := r.messagesIn("Saved"); len(loose) != 1 || loose[0].Loc.Index != 1 || !reflect.DeepEqual(loose[0].Flags, []string{FlagSeen}) {
		t.Errorf("loose .emlx: got %+v", loose)
	}
}

func wkItoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestWalkStops checks that the handler's error and cancellation stop the
// walk and are returned.
func TestWalkStops(t *testing.T) {
	errStop := errors.New("stop here")
	n := 0
	err := Walk(context.Background(), wkTrees(), Options{}, Handler{
		Message: func(m *Message) error {
			n++
			if n == 3 {
				return errStop
			}
			return nil
		},
	})
	if !errors.Is(err, errStop) || n != 3 {
		t.Errorf("handler error: got %v after %d messages, want %v after 3", err, n, errStop)
	}
	err = Walk(context.Background(), wkTrees(), Options{}, Handler{
		Folder: func(f *Folder) error { return errStop },
	})
	if !errors.Is(err, errStop) {
		t.Errorf("folder handler error: got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err = Walk(ctx, wkTrees(), Options{}, Handler{
		Message: func(m *Message) error {
			n++
			cancel()
			return nil
		},
	})
	if !errors.Is(err, context.Canceled) || n > 1 {
		t.Errorf("cancelled: got %v after %d messages", err, n)
	}
}

// TestReadMessageTrees reads every message of the trees again with
// ReadMessage and compares it with the streamed one.
func TestReadMessageTrees(t *testing.T) {
	r, err := wkWalk(t, wkTrees(), Options{WantData: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Messages) != 37 {
		t.Errorf("%d messages, want 37", len(r.Messages))
	}
	for _, m := range r.Messages {
		if int64(len(m.Data)) != m.Size {
			t.Errorf("%s: Size %d, len(Data) %d", m.Loc, m.Size, len(m.Data))
		}
		again, err := ReadMessage(m.Folder.Format, m.Loc, Options{})
		if err != nil {
			t.Errorf("%s: ReadMessage: %v", m.Loc, err)
			continue
		}
		wkSameMessage(t, m.Loc.String(), &m, again)
	}
	if _, err := ReadMessage(FormatAuto, Location{Path: "x"}, Options{}); err == nil {
		t.Error("ReadMessage accepted format auto")
	}
}

// sameMessage compares what a reader says of one message, twice.
func wkSameMessage(t *testing.T, what string, a, b *Message) {
	t.Helper()
	if string(a.Data) != string(b.Data) {
		t.Errorf("%s: Data differs:\n%q\n%q", what, a.Data, b.Data)
	}
	if a.Loc != b.Loc || a.Size != b.Size || a.Key != b.Key || a.MessageID != b.MessageID || a.Subject != b.Subject ||
		a.Deleted != b.Deleted || a.DateSource != b.DateSource || !a.Date.Equal(b.Date) {
		t.Errorf("%s: differs:\n%+v\n%+v", what, wkSummary(a), wkSummary(b))
	}
	if !reflect.DeepEqual(wkNil(a.Flags), wkNil(b.Flags)) || !reflect.DeepEqual(wkNil(a.Warnings), wkNil(b.Warnings)) {
		t.Errorf("%s: flags or warnings differ: %q %q / %q %q", what, a.Flags, b.Flags, a.Warnings, b.Warnings)
	}
}

func wkSummary(m *Message) Message {
	c := *m
	c.Data, c.Folder = nil, nil
	return c
}

func wkNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestDecodeMUTF7(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Sent", "Sent"},
		{"Entw&APw-rfe", "Entwürfe"}, // Dovecot, German Thunderbird drafts
		{"&ZeVnLIqe-", "日本語"},        // RFC 3501 §5.1.3 style example
		{"R&-D", "R&D"},              // "&-" is a literal ampersand
		{"&Jjo-!", "☺!"},             // RFC 3501 §5.1.3: "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
		{"&U,BTFw-", "台北"},           // "," stands for "/" in modified base64
		{"R&D-Team", "R&D-Team"},     // not modified UTF-7 (plain UTF-8 layout): kept
		{"broken&", "broken&"},       // no terminating "-": kept
		{"&2D3eAQ-", "\U0001F601"},   // a surrogate pair
		{"&2D0-", "&2D0-"},           // a lone surrogate: kept
		{"caf&AOk-s-au-lait", "cafés-au-lait"},
	}
	for _, tt := range tests {
		if got := decodeMUTF7(tt.in); got != tt.want {
			t.Errorf("decodeMUTF7(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaildirppParts(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{".Sent", []string{"Sent"}},
		{".Work.Projects", []string{"Work", "Projects"}},
		{".INBOX.Archive", []string{"INBOX", "Archive"}}, // Courier's INBOX. prefix
		{".Entw&APw-rfe", []string{"Entwürfe"}},
		{".a..b", []string{"a", "b"}},
		{"Sent", nil}, // not a Maildir++ name
		{".", nil},
	}
	for _, tt := range tests {
		if got := maildirppParts(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("maildirppParts(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestClassify checks what Walk takes every kind of file for, by the
// client that leaves it there.
func TestClassify(t *testing.T) {
	dir := t.TempDir()
	mbox := "From MAILER-DAEMON Sun Mar 13 07:06:41 2011\nSubject: x\n\nx\n"
	tests := []struct {
		name, file, content string
		want                fileKind
	}{
		{"Thunderbird folder index", "Inbox.msf", "// <!-- <mdb:mork:z v=\"1.4\"/> -->\n", fileIgnored},
		{"Thunderbird filter rules", "msgFilterRules.dat", "version=\"9\"\n", fileIgnored},
		{"Thunderbird global search database", "global-messages-db.sqlite", "SQLite format 3\x00", fileIgnored},
		{"Dovecot index", "dovecot.index.log", "\x01\x02\x03", fileIgnored},
		{"Dovecot uid list", "dovecot-uidlist", "3 V1 N2\n", fileIgnored},
		{"an mbox named like a Dovecot file is read", "dovecot-lists", mbox, fileMbox},
		{"Apple Mail export index", "table_of_contents", "\x00\x00\x00\x01", fileIgnored},
		{"macOS Finder metadata", ".DS_Store", "\x00\x00\x00\x01Bud1", fileIgnored},
		{"Windows thumbnails", "Thumbs.db", "\xd0\xcf\x11\xe0", fileIgnored},
		{"Eudora table of contents", "In.toc", "\x00\x01", fileIgnored},
		{"Eudora mailbox", "In.mbx", "From ???@??? Sun Mar 13 07:06:41 2011\nSubject: x\n\nx\n", fileMbox},
		{"mutt mbox without extension", "sent", mbox, fileMbox},
		{"mboxrd with a blank line first (ietf-mailarchive mbox.1)", "mbox.1", "\n" + mbox, fileMbox},
		{"Outlook Express .eml", "message.eml", "From: a@example.org\r\nSubject: x\r\n\r\nx\r\n", fileMessage},
		{"notmuch loose message file", "05:2,", "From: a@example.org\nSubject: x\nMessage-ID: <a@b>\n\nx\n", fileMessage},
		{"Apple Mail .emlx", "1.emlx", "12\nSubject: x\n\nx\n", fileEmlx},
		{"empty file", "Trash", "", fileEmpty},
		{"notes", "notes.txt", "Remember the milk.\n", fileIgnored},
		{"plain text named .mbox (neomutt cherry.mbox)", "cherry.mbox", "Suspendisse urna, enim.\nMontes viverra.\n", fileIgnored},
		{"gzip-compressed mbox", "inbox.gz", "\x1f\x8b\x08\x00", fileProblem},
		{"zip archive of a Maildir", "mail.zip", "PK\x03\x04", fileProblem},
		{"Outlook data file", "archive.pst", "!BDN", fileProblem},
		{"Outlook Express store", "Inbox.dbx", "\xcf\xad\x12\xfe", fileProblem},
		{"IETF legacy archive: blank line, then header fields (mailbox_return-path)", "mailbox_return-path", "\nReturn-Path: <a@b>\nX-Original-To: c@d\nDelivered-To: c@d\nDate: Mon, 1 Jan 2001 00:00:00 +0000\n\nx\n", fileProblem},
		{"hidden file", ".muttrc", "set folder=~/Mail\n", fileIgnored},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.file)
			wkWriteFile(t, p, tt.content)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			c := classify(p, tt.file, fi, FormatAuto)
			if c.kind != tt.want {
				t.Errorf("classify(%s) = %v (%q), want %v", tt.file, c.kind, c.reason, tt.want)
			}
			if (c.kind == fileIgnored || c.kind == fileProblem) && c.reason == "" {
				t.Errorf("classify(%s): no reason", tt.file)
			}
		})
	}
}

// TestLooksLikeMail checks the last net under classify: a file neither
// sniffer takes that still looks like mail is a Problem, not ignored.
func TestLooksLikeMail(t *testing.T) {
	tests := []struct {
		name, head string
		want       bool
	}{
		{"a From line in an unknown date format, then header fields", "From - 24.01.2016 21:57\r\nX-Mozilla-Status: 0000\r\n", true},
		{"IETF legacy archive: blank line, then Return-Path and Delivered-To", "\nReturn-Path: <a@b>\nX-Original-To: c@d\nDelivered-To: c@d\n", true},
		{"IETF legacy archive: a year, then Message-Id and Date (mailbox_year)", "\n2005\nMessage-Id: <x>\nDate: Mon, 28 Feb 2005 17:54:11 -0500\n", true},
		{"a letter starting with From", "From the desk of the director:\nplease migrate.\n", false},
		{"a README", "This directory contains email corpora for testing.\n", false},
		{"one header-like line only", "Note: nothing here\n\nSubject: x\n", false},
	}
	for _, tt := range tests {
		if got := looksLikeMail([]byte(tt.head)); got != tt.want {
			t.Errorf("%s: looksLikeMail = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func wkWriteFile(t *testing.T, p, content string) {
	t.Helper()
	wkMust(t, os.MkdirAll(filepath.Dir(p), 0o755))
	wkMust(t, os.WriteFile(p, []byte(content), 0o644))
}

// wkMkfifo makes a named pipe at p with mkfifo(1), where there is one (the
// package's tests also build where syscall.Mkfifo does not exist).
func wkMkfifo(t *testing.T, p string) {
	t.Helper()
	if _, err := exec.LookPath("mkfifo"); err != nil {
		t.Logf("no mkfifo: named pipe not tested (%v)", err)
		return
	}
	if out, err := exec.Command("mkfifo", p).CombinedOutput(); err != nil {
		t.Fatalf("mkfifo: %v: %s", err, out)
	}
}

func wkMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wkEntry is what TestWalkLeavesSourceUntouched records of a path.
type wkEntry struct {
	Mode  os.FileMode
	Size  int64
	Mtime time.Time
	Sum   [32]byte
}

// wkSnapshot records every file and directory under root: type, mode,
// size, mtime and, for files, the SHA-256 of the content. A directory's
// mtime changes when an entry is created, renamed or removed in it.
func wkSnapshot(t *testing.T, root string) map[string]wkEntry {
	t.Helper()
	snap := make(map[string]wkEntry)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := wkEntry{Mode: fi.Mode(), Size: fi.Size(), Mtime: fi.ModTime()}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.Sum = sha256.Sum256(b)
		}
		snap[wkRel(t, root, p)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// wkCopyTree copies the tree src to dst, giving every file and directory
// the same old mtime, so that any write shows.
func wkCopyTree(t *testing.T, src, dst string) {
	t.Helper()
	old := time.Date(2011, 3, 13, 7, 6, 41, 0, time.UTC)
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dst, wkRel(t, src, p))
		if d.IsDir() {
			dirs = append(dirs, target)
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			return err
		}
		return os.Chtimes(target, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		wkMust(t, os.Chtimes(dirs[i], old, old))
	}
}

// TestWalkLeavesSourceUntouched walks a copy of the fixture trees (with
// empty Maildir directories added) in every format, reads every message
// again, and checks that no file or directory changed: same bytes, same
// mtime, none added, moved or removed; messages in new/ stay in new/ (as
// go-maildir's Dir.Unseen would not leave them).
func TestWalkLeavesSourceUntouched(t *testing.T) {
	dir := t.TempDir()
	wkCopyTree(t, wkTrees(), dir)
	for _, sub := range []string{"maildir/tmp", "maildirpp/tmp", "maildirpp/.Sent/new", "maildirpp/.Sent/tmp", "nested/foo/tmp"} {
		wkMust(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
	}
	before := wkSnapshot(t, dir)
	for _, format := range Formats {
		r, err := wkWalk(t, dir, Options{Format: format, WantData: true})
		if err != nil && !errors.Is(err, ErrNotMail) {
			t.Fatalf("format %s: %v", format, err)
		}
		for _, m := range r.Messages {
			if _, err := ReadMessage(m.Folder.Format, m.Loc, Options{}); err != nil {
				t.Errorf("format %s: ReadMessage %s: %v", format, m.Loc, err)
			}
		}
	}
	after := wkSnapshot(t, dir)
	for p, b := range before {
		a, ok := after[p]
		if !ok {
			t.Errorf("%s: gone after the walk", p)
			continue
		}
		if a != b {
			t.Errorf("%s: changed by the walk:\nbefore %+v\nafter  %+v", p, b, a)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: created by the walk", p)
		}
	}
	for _, p := range []string{"maildir/new/1300000005.M5P5.host", "maildir/new/1300000006.M6P6.host:2,S", "maildirpp/new/1300000101.M2P2.host", "nested/foo/baz/new/1300000202.M3P3.host"} {
		if _, ok := after[p]; !ok {
			t.Errorf("%s: no longer in new/", p)
		}
	}
}

// TestWalkThunderbirdSearchCopies checks that the message copies
// Thunderbird keeps for Spotlight and Windows Search (Inbox.mozmsgs/) are
// not read as a folder of their own.
func TestWalkThunderbirdSearchCopies(t *testing.T) {
	dir := t.TempDir()
	wkWriteFile(t, filepath.Join(dir, "Inbox"), "From - Sun Mar 13 07:06:41 2011\nSubject: x\nMessage-ID: <x@y>\n\nx\n")
	wkWriteFile(t, filepath.Join(dir, "Inbox.mozmsgs", "x.mozeml"), "Subject: x\nMessage-ID: <x@y>\n\nx\n")
	r, err := wkWalk(t, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.relFolders(t, dir), []wkFolder{{InboxName, FormatMbox, "Inbox", 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("folders: got %v, want %v", got, want)
	}
	if got, want := r.relIgnored(t, dir), []string{"Inbox.mozmsgs"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ignored: got %q, want %q", got, want)
	}
}
