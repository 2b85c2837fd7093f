package importers

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf16"

	"github.com/emersion/go-maildir/maildirpp"
)

// This file finds the folders of a source, whatever its layout, and hands
// each to the reader of its layout (mbox.go, maildir.go, apple.go, eml.go).
//
// Walk works in two passes. The first lists the source's directories and
// decides what every file and directory is: a folder (an mbox file, a
// Maildir, an Apple Mail mailbox, a directory of message files), part of one,
// or not mail; files are opened read-only and only their first 4 KiB are
// read. The second pass sorts the folders by name and reads them one at a
// time. Only the list of folders is held in memory, never messages.

// sniffSize is how much of a file is read to decide what it is.
const sniffSize = 4096

// Walk reads the archive at path (a file or a directory tree, in any layout
// when opts.Format is auto) and reports its folders, messages, problems and
// ignored files to h, folders in a stable order. It returns an error
// wrapping ErrNotFound when path does not exist, ErrNotMail when it holds
// no mail at all, h's own errors, and ctx's error when cancelled; anything
// else unreadable is a Problem and reading goes on.
//
// What a path is, with opts.Format auto:
//
//   - A regular file: an mbox file (one folder named after the file, its
//     .mbox, .mbx or .mbs extension stripped; a file called inbox, in any
//     case, is InboxName); an empty file is an empty mbox folder; an .emlx
//     file, or a file holding one message (.eml), is a folder named after
//     the file's parent directory holding that message (a message file in a
//     Maildir's cur/ or new/ is read as a Maildir message of the folder
//     named after the Maildir).
//   - A directory: a tree whose folders are named by their path relative to
//     it, segments joined by "/", a first segment "inbox" (any case) being
//     InboxName. In it:
//   - a Maildir (a directory holding cur/ or new/) is a folder; the source
//     itself, when it is a Maildir, is InboxName. Its Maildir++ subfolders
//     (".Work.Projects", holding cur/ or new/; modified UTF-7 names decoded)
//     are named by their dotted name split ("Work/Projects"), under the name
//     of the directory holding them (nothing for the source root). Nested
//     Maildirs (mutt and notmuch's "foo/baz/cur") are named by their path.
//   - an mbox file is a folder named by its path, its extension stripped; a
//     "Foo.sbd" directory (Thunderbird) holds the subfolders of "Foo". An
//     empty file is an empty mbox folder when it is named *.mbox, *.mbx or
//     *.mbs, when Thunderbird's index (name.msf) lies next to it, or when it
//     has no extension in a directory of mbox files; otherwise it is ignored.
//   - an Apple Mail "Export Mailbox" bundle (a directory X.mbox holding a
//     file mbox) is the mbox folder X; a Mail.app mailbox (a directory
//     holding Messages/*.emlx and Attachments/, or X.mbox holding
//     <UUID>/Data/.../Messages/ as Mail.app V2 and later write) is one emlx
//     folder named after the directory, .mbox stripped, whose Path is that
//     directory; its child mailboxes (X.mbox/Y.mbox) are folders "X/Y".
//   - the files holding one message each (as sniffMessageFile decides:
//     Outlook Express and Windows Live Mail .eml exports, notmuch's loose
//     files, MH folders) that lie in one directory are one eml folder named
//     after the directory (the source root: its base name); loose .emlx
//     files likewise make one emlx folder.
//   - index and state files (.msf, .dat, .json, .sqlite, .toc, .idx, .ibex,
//     dovecot-*, table_of_contents, Info.plist, .DS_Store, Thumbs.db),
//     hidden files and directories (except Maildir++ folders), files that
//     hold no mail (notes.txt, a README, plain text even when named .mbox)
//     Thunderbird's *.mozmsgs search copies, and symbolic links to
//     directories (never followed: they can loop) are reported as ignored,
//     with the reason. Compressed files and mail stores
//     that cannot be read (.gz, .zip, .pst, .dbx, .msg) are Problems, so
//     that no mail is silently left behind.
//
// opts.Format other than auto forces a layout: with FormatMbox every
// regular file that is not a known index or hidden file is read as an mbox
// file (Maildirs are not looked for); with FormatMaildir only Maildirs are
// read; with FormatEmlx only Mail.app mailboxes and .emlx files; with
// FormatEML only message files.
//
// Two folders never get the same name: when they would (a "Foo" mbox file
// and a "Foo.mbox" one, or a "Foo" mbox file and a "Foo/" directory of
// message files), the folder whose path sorts first keeps the name, the
// others are renamed "Foo (2)", "Foo (3)" and so on, and a Problem says so.
func Walk(ctx context.Context, path string, opts Options, h Handler) error {
	if opts.Format == "" {
		opts.Format = FormatAuto
	}
	if _, err := ParseFormat(string(opts.Format)); err != nil {
		return err
	}
	path = filepath.Clean(path)
	opts.mboxBufs = new(mboxBufPool)
	w := &walker{ctx: ctx, opts: &opts, format: opts.Format}
	w.h = h
	w.h.Problem = func(p Problem) {
		w.problems++
		if h.Problem != nil {
			h.Problem(p)
		}
	}
	w.h.Ignored = func(p, reason string) {
		w.ignoredN++
		if h.Ignored != nil {
			h.Ignored(p, reason)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", path, ErrNotFound)
		}
		w.h.problem(path, -1, 0, "cannot read: %v", fsCause(err))
		return fmt.Errorf("%s: %w: cannot read it: %v", path, ErrNotMail, fsCause(err))
	}
	switch {
	case fi.IsDir():
		w.dir(path, nil, true)
	case fi.Mode().IsRegular():
		if err := w.file(path, fi); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: %w: not a regular file or a directory (%s)", path, ErrNotMail, fileType(fi.Mode()))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(w.folders) == 0 {
		return fmt.Errorf("%s: %w: no mbox file, Maildir, Apple Mail mailbox or message file found (%d files ignored, %d problems)",
			path, ErrNotMail, w.ignoredN, w.problems)
	}
	w.order()
	return w.read()
}

// ReadMessage reads again the message of a folder in format f at loc, with
// Data, for uploading.
func ReadMessage(f Format, loc Location, opts Options) (*Message, error) {
	opts.WantData = true
	switch f {
	case FormatMbox:
		return readMboxMessage(loc, &opts)
	case FormatMaildir:
		return readMaildirMessage(loc, &opts)
	case FormatEmlx:
		return readEmlxMessage(loc, &opts)
	case FormatEML:
		return readEMLMessage(loc, &opts)
	}
	return nil, fmt.Errorf("%s: cannot read a message of format %q (want mbox, maildir, emlx or eml)", loc, f)
}

type walker struct {
	ctx     context.Context
	opts    *Options
	format  Format
	h       Handler // the caller's, counting problems and ignored files
	folders []*planned

	problems, ignoredN int
}

// planned is a folder found by the first pass.
type planned struct {
	f    Folder
	segs []string // the name, before InboxName and uniqueness are applied
	// files are read one message each with readOne (a single-file source,
	// loose .emlx files, and the symbolic links to message files of an eml
	// folder, which readEML leaves to its caller).
	files   []string
	readOne func(Location, *Options) (*Message, error)
	// claimed are the files of an eml folder's directory that Walk reported
	// as something else (an mbox folder, ignored, a problem): what readEML
	// says of them is dropped, so that nothing is read or reported twice.
	claimed map[string]bool
}

func (w *walker) add(p *planned) { w.folders = append(w.folders, p) }

// allow reports whether folders of format f are looked for.
func (w *walker) allow(f Format) bool { return w.format == FormatAuto || w.format == f }

// file plans a source that is a single regular file.
func (w *walker) file(path string, fi fs.FileInfo) error {
	name := filepath.Base(path)
	parent := filepath.Dir(path)
	ext := strings.ToLower(filepath.Ext(name))
	asMbox := func() error {
		w.add(&planned{f: Folder{Format: FormatMbox, Path: path}, segs: []string{mboxSegment(name)}})
		return nil
	}
	asMessage := func(format Format) error {
		p := &planned{f: Folder{Format: format, Path: parent}, files: []string{path}}
		p.segs = []string{baseSegment(parent)}
		switch format {
		case FormatEmlx:
			p.readOne = readEmlxMessage
		case FormatEML:
			p.readOne = readEMLMessage
		case FormatMaildir:
			p.readOne = readMaildirMessage
			p.f.Path = filepath.Dir(parent)
			p.segs = []string{baseSegment(p.f.Path)}
		}
		w.add(p)
		return nil
	}
	sub := filepath.Base(parent)
	inMaildir := (sub == "cur" || sub == "new") && isMaildirDir(filepath.Dir(parent))
	message := func() error {
		if inMaildir {
			return asMessage(FormatMaildir)
		}
		return asMessage(FormatEML)
	}
	switch w.format {
	case FormatMbox:
		return asMbox()
	case FormatEmlx:
		return asMessage(FormatEmlx)
	case FormatEML:
		return asMessage(FormatEML)
	case FormatMaildir:
		if inMaildir {
			return asMessage(FormatMaildir)
		}
		return fmt.Errorf("%s: %w: a single file is not a Maildir (pass the Maildir directory, which holds cur/ and new/)", path, ErrNotMail)
	}
	if fi.Size() == 0 {
		return asMbox() // given explicitly: an empty mailbox
	}
	if ext == ".emlx" {
		return asMessage(FormatEmlx)
	}
	head, err := readHead(path, sniffSize)
	if err != nil {
		w.h.problem(path, -1, 0, "cannot read: %v", fsCause(err))
		return fmt.Errorf("%s: %w: cannot read it: %v", path, ErrNotMail, fsCause(err))
	}
	switch {
	case ext == ".eml" && sniffMessageFile(name, head):
		return message()
	case sniffMbox(head):
		return asMbox()
	case sniffMessageFile(name, head):
		return message()
	}
	if r, ok := unsupportedFile(ext, head); ok {
		return fmt.Errorf("%s: %w: %s", path, ErrNotMail, r)
	}
	if looksLikeMail(head) {
		return fmt.Errorf("%s: %w: it %s", path, ErrNotMail, lookalikeReason)
	}
	if r, ok := knownNonMail(strings.ToLower(name), ext); ok {
		return fmt.Errorf("%s: %w: %s", path, ErrNotMail, r)
	}
	return fmt.Errorf("%s: %w: %s", path, ErrNotMail, notMailReason)
}

// A dirFile is a regular file (or a link to one) found in a directory.
type dirFile struct {
	name, path string
	info       fs.FileInfo
	class      fileClass
	link       bool // a symbolic link to a regular file
}

// dir plans the directory dir, whose folder name segments are segs (nil
// for the source root), and the tree below it.
func (w *walker) dir(dir string, segs []string, root bool) {
	if w.ctx.Err() != nil {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		w.h.problem(dir, -1, 0, "cannot read directory: %v", fsCause(err))
		if len(entries) == 0 {
			return
		}
	}
	byName := make(map[string]fs.DirEntry, len(entries))
	for _, e := range entries {
		byName[e.Name()] = e
	}
	hasDir := func(n string) bool { e, ok := byName[n]; return ok && e.IsDir() }
	own := segs // the name of a folder this directory itself is
	if root {
		own = []string{baseSegment(dir)}
	}
	consumed := make(map[string]bool)

	isMaildir := w.allow(FormatMaildir) && (hasDir("cur") || hasDir("new"))
	if isMaildir {
		name := own
		if root {
			name = []string{InboxName}
			if b := absBase(dir); strings.HasPrefix(b, ".") {
				if parts := maildirppParts(b); len(parts) > 0 {
					name = parts // a Maildir++ folder passed on its own
				}
			}
		}
		w.add(&planned{f: Folder{Format: FormatMaildir, Path: dir}, segs: name})
		consumed["cur"], consumed["new"], consumed["tmp"] = true, true, true
	}
	if w.allow(FormatMbox) && hasSuffixFold(absBase(dir), ".mbox") {
		if e, ok := byName["mbox"]; ok && e.Type().IsRegular() {
			w.add(&planned{f: Folder{Format: FormatMbox, Path: filepath.Join(dir, "mbox")}, segs: own})
			consumed["mbox"] = true
		}
	}
	if w.allow(FormatEmlx) {
		if ok, used := appleStore(dir, entries); ok {
			w.add(&planned{f: Folder{Format: FormatEmlx, Path: dir}, segs: own})
			for _, n := range used {
				consumed[n] = true
			}
		}
	}

	var files []dirFile
	var subdirs []fs.DirEntry
	mboxTree := false // a directory of mbox files: empty extensionless files are folders
	for _, e := range entries {
		n := e.Name()
		if consumed[n] {
			continue
		}
		p := filepath.Join(dir, n)
		if e.IsDir() {
			subdirs = append(subdirs, e)
			if hasSuffixFold(n, ".sbd") {
				mboxTree = true
			}
			continue
		}
		hr := &w.h
		if isMaildir {
			// readMaildir reports the problems of the files here; Walk
			// only looks for mbox files among them.
			hr = &Handler{}
		}
		fi, ok := regularFile(p, e, hr)
		if !ok {
			continue
		}
		if fi == nil {
			w.h.ignored(p, "symbolic link to a directory: not followed (links can loop; pass its target as a source of its own)")
			continue
		}
		if isMaildir && w.format == FormatMaildir {
			continue // readMaildir reads or reports every file here
		}
		c := classify(p, n, fi, w.format)
		if c.kind == fileMbox || strings.EqualFold(filepath.Ext(n), ".msf") {
			mboxTree = true
		}
		files = append(files, dirFile{name: n, path: p, info: fi, class: c, link: e.Type()&fs.ModeSymlink != 0})
	}

	claimed := make(map[string]bool)
	var eml, emlLinks, emlx []string
	for _, fe := range files {
		c := fe.class
		if isMaildir && c.kind != fileMbox {
			continue // readMaildir reads or reports it
		}
		switch c.kind {
		case fileMbox:
			w.add(&planned{f: Folder{Format: FormatMbox, Path: fe.path}, segs: appendSeg(segs, mboxSegment(fe.name))})
			claimed[fe.path] = true
		case fileEmpty:
			_, hasMsf := byName[fe.name+".msf"]
			if w.format == FormatMbox || isMboxExt(fe.name) || hasMsf || (mboxTree && !strings.Contains(fe.name, ".")) {
				w.add(&planned{f: Folder{Format: FormatMbox, Path: fe.path}, segs: appendSeg(segs, mboxSegment(fe.name))})
			} else {
				w.h.ignored(fe.path, "empty file, not in a directory of mbox files")
			}
			claimed[fe.path] = true
		case fileMessage:
			eml = append(eml, fe.path)
			if fe.link {
				emlLinks = append(emlLinks, fe.path)
			}
		case fileEmlx:
			emlx = append(emlx, fe.path)
		case fileProblem:
			w.h.problem(fe.path, -1, 0, "%s", c.reason)
			claimed[fe.path] = true
		default:
			w.h.ignored(fe.path, c.reason)
			claimed[fe.path] = true
		}
	}
	if len(eml) > 0 {
		w.add(&planned{f: Folder{Format: FormatEML, Path: dir}, segs: own, claimed: claimed, files: emlLinks, readOne: readEMLMessage})
	}
	if len(emlx) > 0 {
		w.add(&planned{f: Folder{Format: FormatEmlx, Path: dir}, segs: own, files: emlx, readOne: readEmlxMessage})
	}

	for _, e := range subdirs {
		n := e.Name()
		p := filepath.Join(dir, n)
		if strings.HasPrefix(n, ".") {
			if w.allow(FormatMaildir) && isMaildirDir(p) {
				if parts := maildirppParts(n); len(parts) > 0 {
					w.dir(p, appendSeg(segs, parts...), false)
					continue
				}
			}
			w.h.ignored(p, "hidden directory: not read")
			continue
		}
		if r, ok := ignoredDirs[strings.ToLower(n)]; ok {
			w.h.ignored(p, r)
			continue
		}
		if hasSuffixFold(n, ".mozmsgs") {
			w.h.ignored(p, "Thunderbird search index (copies of the messages of a folder, for Spotlight or Windows Search)")
			continue
		}
		w.dir(p, appendSeg(segs, dirSegment(n)), false)
	}
}

// appleStore reports whether the directory dir is a Mail.app mailbox,
// which readEmlx reads as one folder: dir holds Messages/ (with .emlx
// files, or any Messages/ when dir is named *.mbox), or, as Mail.app V2 and
// later write, <StoreUUID>/Data/ trees of numbered buckets holding
// Messages/ (Data/Messages, Data/1/Messages, Data/9/7/Messages). used are
// the entries of dir that belong to the mailbox, which Walk does not
// descend into: the same ones readEmlx reads (Messages, Attachments, and
// the non-hidden subdirectories holding Data/ that are not *.mbox child
// mailboxes).
func appleStore(dir string, entries []fs.DirEntry) (ok bool, used []string) {
	isMbox := hasSuffixFold(absBase(dir), ".mbox")
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || strings.HasPrefix(n, ".") {
			continue
		}
		switch {
		case n == "Messages":
			if isMbox || hasEmlx(filepath.Join(dir, n)) {
				ok = true
				used = append(used, n)
			}
		case n == "Attachments", hasSuffixFold(n, ".mbox"), hasSuffixFold(n, ".imapmbox"):
		default:
			data := filepath.Join(dir, n, "Data")
			if st, err := os.Lstat(data); err == nil && st.IsDir() && hasMessagesDir(data, 0) {
				ok = true
				used = append(used, n)
			}
		}
	}
	if ok {
		used = append(used, "Attachments")
	}
	return ok, used
}

// hasMessagesDir reports whether the bucket tree d (digit-named
// directories) holds a Messages directory.
func hasMessagesDir(d string, depth int) bool {
	entries, _ := os.ReadDir(d)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if e.Name() == "Messages" {
			return true
		}
		if allDigits(e.Name()) && depth < 20 && hasMessagesDir(filepath.Join(d, e.Name()), depth+1) {
			return true
		}
	}
	return false
}

// order names the planned folders, sorts them by name (segment by segment,
// so that parents come before their children), and renames those whose
// name is taken (see Walk).
func (w *walker) order() {
	all := make(map[string]bool, len(w.folders))
	for _, p := range w.folders {
		p.f.Name = folderName(p.segs)
		all[p.f.Name] = true
	}
	w.sort()
	taken := make(map[string]string, len(w.folders))
	for _, p := range w.folders {
		first, dup := taken[p.f.Name]
		if !dup {
			taken[p.f.Name] = p.f.Path
			continue
		}
		name := p.f.Name
		for i := 2; ; i++ {
			n := fmt.Sprintf("%s (%d)", name, i)
			if _, used := taken[n]; !used && !all[n] {
				p.f.Name = n
				break
			}
		}
		taken[p.f.Name] = p.f.Path
		w.h.problem(p.f.Path, -1, 0, "folder name %q is already taken by %s: this folder is read as %q", name, first, p.f.Name)
	}
	w.sort()
}

func (w *walker) sort() {
	sort.SliceStable(w.folders, func(i, j int) bool {
		a, b := w.folders[i], w.folders[j]
		if c := compareNames(a.f.Name, b.f.Name); c != 0 {
			return c < 0
		}
		return a.f.Path < b.f.Path
	})
}

// compareNames compares folder names segment by segment.
func compareNames(a, b string) int {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if c := strings.Compare(as[i], bs[i]); c != 0 {
			return c
		}
	}
	return len(as) - len(bs)
}

// read reads the planned folders, in order.
func (w *walker) read() error {
	for _, p := range w.folders {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if err := w.readFolder(p); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) readFolder(p *planned) error {
	f := &p.f
	if err := w.h.folder(f); err != nil {
		return err
	}
	var hErr error // the handler's own error, which stops the walk
	n := 0
	renumber := p.claimed != nil || p.files != nil
	h := w.h
	h.Message = func(m *Message) error {
		if p.claimed[m.Loc.Path] {
			return nil
		}
		n++
		if renumber {
			m.Loc.Index = n
		}
		m.Folder = f
		if err := w.h.message(m); err != nil {
			hErr = err
			return err
		}
		return nil
	}
	if p.claimed != nil {
		h.Ignored = func(path, reason string) {
			if !p.claimed[path] {
				w.h.ignored(path, reason)
			}
		}
		h.Problem = func(pr Problem) {
			if !p.claimed[pr.Path] {
				w.h.Problem(pr)
			}
		}
	}
	var err error
	switch {
	case p.claimed != nil: // a directory of message files
		if err = readEML(w.ctx, f, w.opts, &h); err == nil && len(p.files) > 0 {
			err = w.readFiles(p, &h)
		}
	case p.files != nil:
		err = w.readFiles(p, &h)
	case f.Format == FormatEmlx:
		err = readEmlx(w.ctx, f, w.opts, &h)
	case f.Format == FormatMbox:
		err = readMbox(w.ctx, f, w.opts, &h)
	case f.Format == FormatMaildir:
		err = readMaildir(w.ctx, f, w.opts, &h)
	}
	if err == nil {
		return nil
	}
	if hErr != nil {
		return hErr
	}
	if cerr := w.ctx.Err(); cerr != nil {
		return cerr
	}
	// A reader failed on its own: the folder is reported, and the walk goes on.
	w.h.problem(f.Path, -1, 0, "cannot read %s folder %q: %s", f.Format, f.Name, trimPath(err, f.Path))
	return nil
}

// readFiles reads the folder p whose messages are one per file.
func (w *walker) readFiles(p *planned, h *Handler) error {
	for _, path := range p.files {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		m, err := p.readOne(Location{Path: path}, w.opts)
		if err != nil {
			h.problem(path, -1, 0, "%s", trimPath(err, path))
			continue
		}
		m.Loc.Index = 0 // numbered by h.Message
		if !w.opts.WantData {
			m.Data = nil
		}
		if err := h.message(m); err != nil {
			return err
		}
	}
	return nil
}

// trimPath returns err's text without the leading "path: " (or "format
// path: "), which the Problem around it already names.
func trimPath(err error, path string) string {
	msg := err.Error()
	if i := strings.Index(msg, path+": "); i >= 0 && i <= len("maildir ") {
		return msg[i+len(path)+2:]
	}
	return msg
}

// The kinds of regular files found in a directory.
type fileKind int

const (
	fileIgnored fileKind = iota // not mail; reason says what it is
	fileProblem                 // mail that cannot be read, or an unreadable file; reason says why
	fileEmpty                   // 0 bytes: an empty mbox folder, or nothing (see Walk)
	fileMbox                    // an mbox (or MMDF) file
	fileMessage                 // one message (sniffMessageFile)
	fileEmlx                    // an Apple Mail .emlx file
)

type fileClass struct {
	kind   fileKind
	reason string
}

// lookalikeReason is the Problem of a file that looksLikeMail.
const lookalikeReason = "looks like mail (header fields near its start), but is neither an mbox file nor a message file archive2imap can read: not read"

const notMailReason = "not mail: neither an mbox file (From_ line) nor a message (header fields) at its start"

// classify decides what the regular file at p, called name, is, when
// looking for folders of the layout format. It reads at most the first
// sniffSize bytes of the file, and only when its name leaves a doubt.
func classify(p, name string, fi fs.FileInfo, format Format) fileClass {
	lower := strings.ToLower(name)
	ext := strings.ToLower(filepath.Ext(name))
	if strings.HasPrefix(name, ".") {
		if r, ok := ignoredNames[lower]; ok {
			return fileClass{fileIgnored, r}
		}
		return fileClass{fileIgnored, "hidden file"}
	}
	switch format {
	case FormatMaildir:
		return fileClass{fileIgnored, "not in a Maildir (format maildir)"}
	case FormatEmlx:
		if ext == ".emlx" {
			return fileClass{kind: fileEmlx}
		}
		return fileClass{fileIgnored, "not an .emlx file (format emlx)"}
	case FormatAuto:
		if ext == ".emlx" {
			return fileClass{kind: fileEmlx}
		}
	}
	known, isKnown := knownNonMail(lower, ext)
	if fi.Size() == 0 {
		if isKnown {
			return fileClass{fileIgnored, known}
		}
		if format == FormatEML {
			return fileClass{fileIgnored, "empty file"}
		}
		return fileClass{kind: fileEmpty}
	}
	if format == FormatMbox && !isKnown {
		return fileClass{kind: fileMbox}
	}
	head, err := readHead(p, sniffSize)
	if err != nil {
		return fileClass{fileProblem, fmt.Sprintf("cannot read: %v", fsCause(err))}
	}
	if isKnown {
		// An index or state file by its name; but mail is never left
		// behind for its name: an mbox called "dovecot-lists" is read.
		if format != FormatEML && sniffMbox(head) {
			return fileClass{kind: fileMbox}
		}
		return fileClass{fileIgnored, known}
	}
	if format == FormatEML {
		if sniffMessageFile(name, head) {
			return fileClass{kind: fileMessage}
		}
		return fileClass{fileIgnored, "not a message file (format eml)"}
	}
	switch {
	case ext == ".eml" && sniffMessageFile(name, head):
		return fileClass{kind: fileMessage}
	case sniffMbox(head):
		return fileClass{kind: fileMbox}
	case sniffMessageFile(name, head):
		return fileClass{kind: fileMessage}
	}
	if r, ok := unsupportedFile(ext, head); ok {
		return fileClass{fileProblem, r}
	}
	if looksLikeMail(head) {
		return fileClass{fileProblem, lookalikeReason}
	}
	return fileClass{fileIgnored, notMailReason}
}

// ignoredNames are files known not to be mail, by their lowercased name.
var ignoredNames = map[string]string{
	".ds_store":             "macOS Finder metadata",
	"thumbs.db":             "Windows thumbnail cache",
	"desktop.ini":           "Windows folder settings",
	"msgfilterrules.dat":    "Thunderbird message filter rules",
	"popstate.dat":          "Thunderbird POP3 state",
	"table_of_contents":     "Apple Mail export index (the mail is in the mbox file next to it)",
	"info.plist":            "Apple Mail mailbox properties",
	".mh_sequences":         "MH sequences file",
	".xmhcache":             "MH client cache",
	".mew_cache":            "MH client cache",
	".mew-cache":            "MH client cache",
	".sylpheed_cache":       "MH client cache",
	".overview":             "MH client cache",
	"maildirfolder":         "Maildir++ folder marker",
	"courierimapuiddb":      "Courier-IMAP state file",
	"courierimapsubscribed": "Courier-IMAP state file",
	"courierimapacl":        "Courier-IMAP state file",
	"courierpop3dsizelist":  "Courier-IMAP state file",
}

// ignoredExts are files known not to be mail, by their extension.
var ignoredExts = map[string]string{
	".msf":            "Thunderbird folder index (the mail is in the file of the same name without .msf)",
	".dat":            "application state file (.dat)",
	".json":           "settings or state file (.json)",
	".sqlite":         "database file (.sqlite)",
	".sqlite-wal":     "database file (.sqlite)",
	".sqlite-shm":     "database file (.sqlite)",
	".sqlite-journal": "database file (.sqlite)",
	".toc":            "mailbox index (.toc)",
	".idx":            "mailbox index (.idx)",
	".ibex":           "mailbox index (.ibex)",
	".plist":          "property list (.plist)",
	".lock":           "lock file",
}

// ignoredDirs are directories known not to hold mail.
var ignoredDirs = map[string]string{
	"courierimapkeywords": "Courier-IMAP keywords directory",
	"courierimaphieracl":  "Courier-IMAP access control directory",
}

// knownNonMail says what a file is when its lowercased name or extension
// tells that it is not mail.
func knownNonMail(lower, ext string) (string, bool) {
	if r, ok := ignoredNames[lower]; ok {
		return r, true
	}
	if strings.HasPrefix(lower, "dovecot-") || strings.HasPrefix(lower, "dovecot.") {
		return "Dovecot index or state file", true
	}
	if r, ok := ignoredExts[ext]; ok {
		return r, true
	}
	return "", false
}

// unsupportedFile tells, for a file that is neither an mbox nor a message,
// whether it is a container that may hold mail archive2imap cannot read: it
// is then a Problem, not an ignored file.
func unsupportedFile(ext string, head []byte) (string, bool) {
	switch ext {
	case ".pst", ".ost":
		return "an Outlook data file (" + ext + "): archive2imap cannot read it; export its folders as .eml files or mbox first", true
	case ".dbx":
		return "an Outlook Express store (.dbx): archive2imap cannot read it; export its messages as .eml files first", true
	case ".msg":
		return "an Outlook message file (.msg): archive2imap cannot read it; save the message as .eml first", true
	}
	for _, magic := range []string{"\x1f\x8b", "BZh", "\xfd7zXZ\x00", "PK\x03\x04", "\x28\xb5\x2f\xfd", "7z\xbc\xaf\x27\x1c", "Rar!"} {
		if bytes.HasPrefix(head, []byte(magic)) {
			return "a compressed file or archive: not read; unpack it and pass what it holds", true
		}
	}
	switch ext {
	case ".gz", ".bz2", ".xz", ".zst", ".z", ".zip", ".7z", ".rar", ".tgz", ".tar":
		return "a compressed file or archive (" + ext + "): not read; unpack it and pass what it holds", true
	}
	return "", false
}

// mailFieldNames are header fields that, found near the start of a file,
// say it holds mail.
var mailFieldNames = []string{"From", "To", "Cc", "Date", "Subject", "Message-ID", "Received", "Return-Path", "Delivered-To"}

// looksLikeMail reports whether head, the start of a file that is neither
// an mbox file nor a message file, still looks like mail: a "From " line
// followed by a header field (an mbox whose From_ line sniffMbox does not
// accept), or two well-known header fields among its first lines (the
// legacy list archives of ietf-mailarchive, which start with an empty line
// or a year). Such a file is a Problem, never silently ignored.
func looksLikeMail(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	lines, known := 0, 0
	fromLine := false
	for len(head) > 0 && lines < 12 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			if lines > 0 {
				break
			}
			continue
		}
		lines++
		if lines == 1 && bytes.HasPrefix(line, []byte("From ")) {
			fromLine = true
			continue
		}
		if !isFieldLine(line) {
			continue
		}
		if fromLine && lines == 2 {
			return true
		}
		name := line[:bytes.IndexByte(line, ':')]
		for _, k := range mailFieldNames {
			if equalFold(bytes.TrimRight(name, " \t"), k) {
				known++
				break
			}
		}
	}
	return known >= 2
}

// isMaildirDir reports whether dir holds cur/ or new/.
func isMaildirDir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if st, err := os.Lstat(filepath.Join(dir, sub)); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// hasEmlx reports whether dir holds an .emlx file.
func hasEmlx(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, n := range names {
			if hasSuffixFold(n, ".emlx") {
				return true
			}
		}
		if err != nil {
			return false
		}
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// folderName joins name segments, a first segment "inbox" (any case)
// being InboxName: IMAP's INBOX is case-insensitive.
func folderName(segs []string) string {
	if len(segs) == 0 {
		return InboxName
	}
	s := append([]string(nil), segs...)
	if strings.EqualFold(s[0], InboxName) {
		s[0] = InboxName
	}
	return strings.Join(s, "/")
}

func appendSeg(segs []string, more ...string) []string {
	return append(append([]string(nil), segs...), more...)
}

// mboxSegment is the folder name segment of an mbox file: its name without
// a .mbox, .mbx or .mbs extension.
func mboxSegment(name string) string {
	if isMboxExt(name) {
		if s := name[:len(name)-len(filepath.Ext(name))]; s != "" {
			return s
		}
	}
	return name
}

func isMboxExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".mbox", ".mbx", ".mbs":
		return true
	}
	return false
}

// dirSegment is the folder name segment of a directory: its name without
// Thunderbird's .sbd or Apple Mail's .mbox extension.
func dirSegment(name string) string {
	for _, ext := range []string{".sbd", ".mbox"} {
		if hasSuffixFold(name, ext) && len(name) > len(ext) {
			return name[:len(name)-len(ext)]
		}
	}
	return name
}

// baseSegment is the folder name segment of the directory dir given as (or
// holding) a source.
func baseSegment(dir string) string {
	b := absBase(dir)
	if b == "" || b == "." || b == string(filepath.Separator) {
		return InboxName
	}
	return dirSegment(b)
}

// absBase is the base name of path, made absolute first ("." has none).
func absBase(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return filepath.Base(path)
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// maildirppParts splits the name of a Maildir++ folder directory
// (".Work.Projects") into its name segments (Work, Projects), each decoded
// from IMAP's modified UTF-7, in which Dovecot and Courier store names
// (".Entw&APw-rfe" is "Entwürfe"). Empty segments are dropped.
func maildirppParts(name string) []string {
	parts, err := maildirpp.Split(name)
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, decodeMUTF7(p))
		}
	}
	return out
}

// decodeMUTF7 decodes IMAP's modified UTF-7 (RFC 3501 §5.1.3). A string
// that is not valid modified UTF-7 (which is pure ASCII) is returned as it
// is: Dovecot can also store names as plain UTF-8.
func decodeMUTF7(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return s
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return s
		}
		enc := s[i+1 : i+1+j]
		i += j + 2
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := base64.RawStdEncoding.DecodeString(strings.ReplaceAll(enc, ",", "/"))
		if err != nil || len(raw) == 0 || len(raw)%2 != 0 {
			return s
		}
		u := make([]uint16, len(raw)/2)
		for k := range u {
			u[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		dec := string(utf16.Decode(u))
		if strings.ContainsRune(dec, '\uFFFD') {
			return s
		}
		b.WriteString(dec)
	}
	return b.String()
}
