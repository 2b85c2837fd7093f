package importers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// This file reads one Maildir folder: the message files in its cur/ and new/
// directories (https://cr.yp.to/proto/maildir.html), and the message files
// that some tools (notmuch) leave directly in the folder directory.
//
// go-maildir is not used to list or read messages: its Dir.Unseen moves
// files from new/ to cur/ (it writes to the source), and Dir.Walk lists
// cur/ only. Its maildirpp package names Maildir++ folders (see walk.go).
// Nothing here creates, renames, moves or touches a file.

// maildirLoose is the warning on a message file that lies in the folder
// directory itself rather than in cur/ or new/.
const maildirLoose = "outside cur/ and new/: a strict Maildir reader would not see this message; read as part of the folder (notmuch indexes such files)"

// A maildirFile is a message file of a Maildir folder, before it is read.
type maildirFile struct {
	path string
	name string
	sub  string // "cur", "new", or "" for a file in the folder directory
	info fs.FileInfo
	ts   int64 // the delivery time in the name (seconds since 1970), 0 if none
}

// readMaildir reads the Maildir folder directory f.Path (cur/ and new/).
//
// Messages come in a stable order: by the delivery time at the start of
// their file names, then by name (files whose names carry no time first),
// whichever of cur/, new/ and the folder directory they lie in. Names
// starting with "." are not messages (the Maildir rule; neomutt and the
// notmuch test corpus keep empty placeholder dot-files in cur/ and new/):
// they are reported as ignored. tmp/ holds deliveries in progress or
// interrupted, not delivered mail: each file in it is reported as ignored,
// and none is read. A message file of 0 bytes is not a message (there is
// nothing to upload): it is reported as a Problem and not counted.
//
// Flags come from the info part of the file name, after the last ':' (or
// '!' or ';', which tools on systems that forbid ':' in file names use):
// "2,FRS" and the like (see maildirFlags), lowercase letters being the
// keywords named in the folder's dovecot-keywords file. Files in new/ carry
// no flags: a message there has not been seen by any client, and info some
// tools put there anyway is discarded, as go-maildir does. A file in cur/
// whose name has no info part but whose header has X-Mozilla-Status
// (Thunderbird's maildir store keeps its flags there) takes its flags from
// the header (see mboxFlags).
//
// The delivery time is the time at the start of the file name
// (DateMaildirName), else the file's modification time (DateMtime).
//
// Regular files lying in the folder directory itself (not in cur/, new/ or
// tmp/) that hold a message are read as messages of the folder, with a
// Warning: notmuch's test corpus keeps mail there, and a strict reader
// would lose it. Index files (dovecot-*, courier*, maildirfolder) and other
// files that are not mail are reported as ignored; mbox files there are
// folders of their own, which Walk reads (with Format maildir forced, they
// are reported as ignored).
func readMaildir(ctx context.Context, f *Folder, opts *Options, h *Handler) error {
	keywords := maildirKeywords(f.Path, h)
	var files []maildirFile
	for _, sub := range []string{"cur", "new"} {
		dir := filepath.Join(f.Path, sub)
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				h.problem(dir, -1, 0, "cannot read directory: %v", fsCause(err))
			}
			if len(entries) == 0 {
				continue
			}
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if strings.HasPrefix(e.Name(), ".") {
				h.ignored(p, "dot-file in Maildir "+sub+"/: not a message (Maildir rule)")
				continue
			}
			fi, ok := regularFile(p, e, h)
			if !ok {
				continue
			}
			if fi == nil {
				h.ignored(p, "directory inside Maildir "+sub+"/: not a message")
				continue
			}
			files = append(files, newMaildirFile(p, sub, fi))
		}
	}
	tmp := filepath.Join(f.Path, "tmp")
	if entries, err := os.ReadDir(tmp); err == nil {
		for _, e := range entries {
			h.ignored(filepath.Join(tmp, e.Name()), "in Maildir tmp/: a delivery in progress or interrupted, not a delivered message")
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		h.problem(tmp, -1, 0, "cannot read directory: %v", fsCause(err))
	}
	files = append(files, maildirLooseFiles(f.Path, opts, h)...)

	sort.Slice(files, func(i, j int) bool {
		a, b := &files[i], &files[j]
		if a.ts != b.ts {
			return a.ts < b.ts
		}
		if a.name != b.name {
			return a.name < b.name
		}
		return a.sub < b.sub
	})

	var buf, data []byte
	index := 0
	for i := range files {
		if err := canceled(ctx); err != nil {
			return err
		}
		mf := &files[i]
		var err error
		buf, err = readFileInto(buf[:0], mf.path)
		if err != nil {
			h.problem(mf.path, -1, 0, "cannot read message file: %v", fsCause(err))
			continue
		}
		if len(buf) == 0 {
			h.problem(mf.path, -1, 0, "empty file: not a message, nothing to upload")
			continue
		}
		index++
		m := &Message{Folder: f, Loc: Location{Path: mf.path, Index: index}}
		data = maildirMessage(m, mf, buf, keywords, opts.WantData, data[:0])
		if err := h.message(m); err != nil {
			return err
		}
	}
	return nil
}

// readMaildirMessage reads again the message file at loc, with Data.
func readMaildirMessage(loc Location, opts *Options) (*Message, error) {
	dir := filepath.Dir(loc.Path)
	sub := filepath.Base(dir)
	folder := filepath.Dir(dir)
	if sub != "cur" && sub != "new" {
		sub, folder = "", dir
	}
	fi, err := os.Stat(loc.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", loc.Path, fsCause(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", loc.Path)
	}
	raw, err := readFileInto(nil, loc.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", loc.Path, fsCause(err))
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%s: empty file: not a message", loc.Path)
	}
	var quiet Handler
	mf := newMaildirFile(loc.Path, sub, fi)
	m := &Message{Loc: loc}
	maildirMessage(m, &mf, raw, maildirKeywords(folder, &quiet), true, nil)
	return m, nil
}

func newMaildirFile(path, sub string, fi fs.FileInfo) maildirFile {
	name := filepath.Base(path)
	mf := maildirFile{path: path, name: name, sub: sub, info: fi}
	if t, ok := maildirNameTime(name); ok {
		mf.ts = t.Unix()
	}
	return mf
}

// maildirMessage fills m from the bytes raw of the message file mf, and
// returns the buffer Data was built in (dst grown), for reuse.
func maildirMessage(m *Message, mf *maildirFile, raw []byte, keywords map[byte]string, wantData bool, dst []byte) []byte {
	header, body := SplitHeader(raw)
	info, hasInfo := maildirInfo(mf.name)
	switch {
	case mf.sub == "new":
		// Not yet seen by any client: no flags, whatever the name says.
	case hasInfo:
		m.Flags, m.Deleted = maildirFlags(info, keywords)
	case mf.sub == "cur":
		if _, ok := headerValue(header, "X-Mozilla-Status"); ok {
			m.Flags, m.Deleted = mboxFlags(header)
		}
	}
	if len(m.Flags) == 0 {
		m.Flags = nil
	}
	if t, ok := maildirNameTime(mf.name); ok {
		m.Date, m.DateSource = t, DateMaildirName
	} else {
		m.Date, m.DateSource = mf.info.ModTime(), DateMtime
	}
	setHeaderFields(m, header, body)
	m.Size = crlfSize(raw)
	if wantData {
		dst = appendCRLF(dst, raw)
		m.Data = dst
	}
	if mf.sub == "" {
		m.Warnings = append(m.Warnings, maildirLoose)
	}
	return dst
}

// maildirInfo returns the info part of a Maildir file name: what follows
// the last ':' ("2,FRS"), or the last '!' or ';' where ':' is not allowed
// in file names (Windows checkouts, mbsync's InfoDelimiter).
func maildirInfo(name string) (string, bool) {
	i := strings.LastIndexAny(name, ":!;")
	if i < 0 {
		return "", false
	}
	return name[i+1:], true
}

// maildirKeywords reads the dovecot-keywords file of a Maildir folder:
// lines "N name", where N is the keyword's number and the letter 'a'+N
// stands for it in file names. A missing file means no keywords; a broken
// line is skipped.
func maildirKeywords(dir string, h *Handler) map[byte]string {
	p := filepath.Join(dir, "dovecot-keywords")
	f, err := os.Open(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			h.problem(p, -1, 0, "cannot read keywords (messages are read without them): %v", fsCause(err))
		}
		return nil
	}
	defer f.Close()
	kw := make(map[byte]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		num, name, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		n, err := strconv.Atoi(num)
		name = strings.TrimSpace(name)
		if !ok || err != nil || n < 0 || n >= 26 || name == "" {
			continue
		}
		kw[byte('a'+n)] = name
	}
	if err := sc.Err(); err != nil {
		h.problem(p, -1, 0, "cannot read keywords: %v", err)
	}
	return kw
}

// maildirLooseFiles lists the message files lying in the Maildir folder
// directory dir itself, and reports the other files there (see readMaildir).
// Subdirectories are Walk's: nested Maildirs, Maildir++ folders, other
// trees.
func maildirLooseFiles(dir string, opts *Options, h *Handler) []maildirFile {
	entries, err := os.ReadDir(dir)
	if err != nil {
		h.problem(dir, -1, 0, "cannot read directory: %v", fsCause(err))
	}
	var files []maildirFile
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, ok := regularFile(p, e, h)
		if !ok || fi == nil {
			continue // a problem reported, or a symlink to a directory (Walk's)
		}
		c := classify(p, e.Name(), fi, FormatAuto)
		switch c.kind {
		case fileMessage:
			files = append(files, newMaildirFile(p, "", fi))
		case fileEmpty:
			h.problem(p, -1, 0, "empty file: not a message, nothing to upload")
		case fileMbox:
			if opts.Format == FormatMaildir {
				h.ignored(p, "an mbox file: not read with format maildir")
			}
			// Otherwise Walk reads it as a folder of its own.
		case fileEmlx:
			h.problem(p, -1, 0, "an Apple Mail .emlx file inside a Maildir folder: not read (pass it as a source of its own)")
		case fileProblem:
			h.problem(p, -1, 0, "%s", c.reason)
		default:
			h.ignored(p, c.reason)
		}
	}
	return files
}

// regularFile returns the FileInfo of the directory entry e at path p,
// following a symbolic link. It returns ok false after reporting a problem
// (a broken link, a named pipe, an unreadable entry), and a nil FileInfo
// for a directory or a link to one.
func regularFile(p string, e fs.DirEntry, h *Handler) (fs.FileInfo, bool) {
	var fi fs.FileInfo
	var err error
	if e.Type()&fs.ModeSymlink != 0 {
		fi, err = os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				h.problem(p, -1, 0, "broken symbolic link: its target does not exist")
			} else {
				h.problem(p, -1, 0, "cannot follow symbolic link: %v", fsCause(err))
			}
			return nil, false
		}
	} else {
		fi, err = e.Info()
		if err != nil {
			h.problem(p, -1, 0, "cannot read file information: %v", fsCause(err))
			return nil, false
		}
	}
	if fi.IsDir() {
		return nil, true
	}
	if !fi.Mode().IsRegular() {
		h.problem(p, -1, 0, "not a regular file (%s): not read", fileType(fi.Mode()))
		return nil, false
	}
	return fi, true
}

// readFileInto reads the regular file at path, read-only, into buf (which
// it grows as needed) and returns it. It never opens anything but a regular
// file: opening a named pipe would block.
func readFileInto(buf []byte, path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return buf, err
	}
	if !fi.Mode().IsRegular() {
		return buf, fmt.Errorf("not a regular file (%s)", fileType(fi.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	if need := len(buf) + int(fi.Size()) + 512; cap(buf) < need {
		nb := make([]byte, len(buf), need)
		copy(nb, buf)
		buf = nb
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// readHead reads up to n bytes from the start of the regular file at path.
func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	m, err := io.ReadFull(f, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return buf[:m], err
}

// fsCause strips the operation and path from an *fs.PathError, which the
// Problem or error around it already names.
func fsCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fileType names the type of a file that is not regular, for messages.
func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	}
	return "irregular file"
}
