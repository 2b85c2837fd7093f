package importers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/quotedprintable"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file reads Apple Mail.app's own store (not its "Export Mailbox"
// bundle, which is an mbox file):
//
//	Foo.mbox/Messages/123.emlx
//	Foo.mbox/Messages/124.partial.emlx
//	Foo.mbox/Attachments/124/2/report.pdf
//	Foo.mbox/<StoreUUID>/Data/<d>/<d>/Messages/...   (Mail 3 and later)
//
// An .emlx file is a line holding the decimal byte count N of the message
// (Mail pads it with spaces to a fixed width), then the N bytes of the RFC
// 5322 message with LF line ends, then an XML property list whose "flags"
// integer holds the message state (see emlxFlags) and "date-received" the
// delivery time in Unix seconds.
//
// A .partial.emlx is a message whose attachment bodies Mail took out: the
// part keeps its header, gains an "X-Apple-Content-Length: n" field (the
// length of the encoded body Mail removed) and has an empty body. The
// decoded attachment is stored as Attachments/<number>/<part>/<file name>,
// where <part> is the IMAP part number (RFC 9051 §6.4.5: 1, 2, 2.1...) and
// Attachments is a sibling of the Messages directory. Older IMAP stores kept
// the still-encoded body in a sidecar Messages/<number>.<part>.emlxpart
// instead. The reader puts every such body back, encoded with the part's
// Content-Transfer-Encoding, and changes no other byte of the message; an
// attachment it cannot find leaves the part empty, with a Warning naming it.

// errNotEmlx is the Problem of a file in Messages/ that has no byte count.
var errNotEmlx = errors.New("not an emlx file: no byte count")

// emlxEntry is one .emlx file of a store, before it is read.
type emlxEntry struct {
	path  string
	num   uint64 // the number in the file name
	isNum bool   // the file name starts with a number
	name  string
}

// readEmlx reads the Apple Mail store folder f.Path (the directory that holds
// Messages/*.emlx, and Attachments/ for .partial.emlx files). The .emlx files
// of f.Path/Messages and of every Messages directory under
// f.Path/<StoreUUID>/Data/ are read together, in the numeric order of their
// file names (Mail's message numbers); child mailboxes (*.mbox directories
// inside f.Path) are folders of their own and are not read. Files in Messages
// directories that are not .emlx files are reported to h.Ignored, except
// .emlxpart sidecars, which are read with their message. A file that is not
// an emlx file, or cannot be read, is a Problem.
func readEmlx(ctx context.Context, f *Folder, opts *Options, h *Handler) error {
	files := listEmlx(f.Path, h)
	index := 0
	for _, e := range files {
		if err := canceled(ctx); err != nil {
			return err
		}
		m, err := loadEmlx(e.path, opts.WantData)
		if err != nil {
			h.problem(e.path, -1, 0, "%s", err)
			continue
		}
		index++
		m.Folder = f
		m.Loc = Location{Path: e.path, Index: index}
		if err := h.message(m); err != nil {
			return err
		}
	}
	return nil
}

// readEmlxMessage reads again the .emlx file at loc, with Data.
func readEmlxMessage(loc Location, opts *Options) (*Message, error) {
	m, err := loadEmlx(loc.Path, true)
	if err != nil {
		return nil, fmt.Errorf("emlx %s: %w", loc.Path, err)
	}
	m.Loc = loc
	return m, nil
}

// listEmlx returns the .emlx files of the store at root, sorted.
func listEmlx(root string, h *Handler) []emlxEntry {
	var files []emlxEntry
	for _, dir := range emlxMessageDirs(root, h) {
		des, err := os.ReadDir(dir)
		if err != nil {
			h.problem(dir, -1, 0, "cannot read directory: %v", ioCause(err))
		}
		for _, de := range des {
			name := de.Name()
			p := filepath.Join(dir, name)
			stem, isEmlx := emlxStem(name)
			switch {
			case isEmlx && de.Type().IsRegular():
				e := emlxEntry{path: p, name: name}
				e.num, e.isNum = leadingNumber(stem)
				files = append(files, e)
			case isEmlx:
				h.ignored(p, "not a regular file")
			case strings.HasSuffix(strings.ToLower(name), ".emlxpart") && de.Type().IsRegular():
				// An attachment body, read with its message.
			default:
				h.ignored(p, "not an .emlx message file")
			}
		}
	}
	sort.SliceStable(files, func(i, j int) bool {
		a, b := files[i], files[j]
		if a.isNum != b.isNum {
			return a.isNum
		}
		if a.num != b.num {
			return a.num < b.num
		}
		if a.name != b.name {
			return a.name < b.name
		}
		return a.path < b.path
	})
	return files
}

// emlxMessageDirs finds the Messages directories of the store at root:
// root/Messages, and Messages directories in the hash buckets of
// root/<StoreUUID>/Data/ (Data/Messages, Data/1/Messages, Data/9/7/Messages:
// the bucket directories are named by digits). Symbolic links are not
// followed; Attachments, hidden directories and child mailboxes (*.mbox)
// are not searched.
func emlxMessageDirs(root string, h *Handler) []string {
	des, err := os.ReadDir(root)
	if err != nil {
		h.problem(root, -1, 0, "cannot read directory: %v", ioCause(err))
	}
	var dirs []string
	for _, de := range des {
		name := de.Name()
		if !de.IsDir() || strings.HasPrefix(name, ".") || name == "Attachments" || isMailboxDirName(name) {
			continue
		}
		p := filepath.Join(root, name)
		if name == "Messages" {
			dirs = append(dirs, p)
			continue
		}
		data := filepath.Join(p, "Data")
		if fi, err := os.Lstat(data); err == nil && fi.IsDir() {
			dirs = appendBucketDirs(dirs, data, 0, h)
		}
	}
	return dirs
}

// appendBucketDirs appends the Messages directories in the bucket tree dir.
func appendBucketDirs(dirs []string, dir string, depth int, h *Handler) []string {
	des, err := os.ReadDir(dir)
	if err != nil {
		h.problem(dir, -1, 0, "cannot read directory: %v", ioCause(err))
	}
	for _, de := range des {
		if !de.IsDir() {
			continue
		}
		p := filepath.Join(dir, de.Name())
		if de.Name() == "Messages" {
			dirs = append(dirs, p)
		} else if isDigitString(de.Name()) && depth < 20 {
			dirs = appendBucketDirs(dirs, p, depth+1, h)
		}
	}
	return dirs
}

// isMailboxDirName reports whether a directory is a Mail.app mailbox.
func isMailboxDirName(name string) bool {
	l := strings.ToLower(name)
	return strings.HasSuffix(l, ".mbox") || strings.HasSuffix(l, ".imapmbox")
}

// emlxStem returns the name of an .emlx or .partial.emlx file without its
// extension, and whether it is one.
func emlxStem(name string) (string, bool) {
	l := strings.ToLower(name)
	switch {
	case strings.HasSuffix(l, ".partial.emlx"):
		return name[:len(name)-len(".partial.emlx")], true
	case strings.HasSuffix(l, ".emlx"):
		return name[:len(name)-len(".emlx")], true
	}
	return "", false
}

// leadingNumber parses the digits at the start of s.
func leadingNumber(s string) (uint64, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	return n, err == nil
}

func isDigitString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// ioCause returns the cause of a file system error without the path, which
// the Problem already names.
func ioCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// emlxSource says where an .emlx file's attachments are.
type emlxSource struct {
	fsys fs.FS  // rooted at the directory that holds Messages/ and Attachments/
	dir  string // the directory of the .emlx file in fsys ("Messages")
	name string // the .emlx file's name
}

// loadEmlx reads the .emlx file at p.
func loadEmlx(p string, wantData bool) (*Message, error) {
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("cannot read file: %w", ioCause(err))
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = p
	}
	dir := filepath.Dir(abs)
	src := emlxSource{
		fsys: os.DirFS(filepath.Dir(dir)),
		dir:  filepath.Base(dir),
		name: filepath.Base(abs),
	}
	return parseEmlx(raw, src, wantData)
}

// parseEmlx builds the Message of the .emlx file content raw. Without
// wantData, Size and Key are computed without building the upload bytes
// when the message has a Message-ID: the attachments are then measured,
// not read (base64), or streamed through a counter.
func parseEmlx(raw []byte, src emlxSource, wantData bool) (*Message, error) {
	msg, plist, warnings, err := splitEmlx(raw)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(msg)) == 0 {
		return nil, errors.New("empty message")
	}
	m := &Message{Warnings: warnings}
	if len(plist) == 0 {
		m.Warnings = append(m.Warnings, "no property list after the message: flags and delivery time unknown")
	} else if info, err := parseEmlxPlist(plist); err != nil {
		m.Warnings = append(m.Warnings, fmt.Sprintf("property list unreadable (%v): flags and delivery time unknown", err))
	} else {
		if info.hasFlags {
			m.Flags, m.Deleted = emlxFlags(info.flags)
		}
		if !info.received.IsZero() {
			m.Date, m.DateSource = info.received, DateEmlxPlist
		}
	}

	header, body := SplitHeader(msg)
	stubs := findEmlxStubs(msg)
	if len(stubs) == 0 {
		m.Size = crlfSize(msg)
		if wantData {
			m.Data = appendCRLF(make([]byte, 0, m.Size), msg)
		}
		setHeaderFields(m, header, body)
		return m, nil
	}

	// A message without a Message-ID is keyed by its body, which needs the
	// attachments; otherwise the key is in the header and only the size
	// depends on them.
	build := wantData || !hasMessageID(header)
	stem, _ := emlxStem(src.name)
	var ins []emlxInsert
	for _, s := range stubs {
		in, warning := resolveEmlxStub(src, stem, s, build)
		if warning != "" {
			m.Warnings = append(m.Warnings, warning)
			continue
		}
		ins = append(ins, in)
	}
	if !build {
		var c crlfCounter
		prev := 0
		for _, in := range ins {
			c.Write(msg[prev:in.at])
			c.Write([]byte(in.before))
			c.merge(&in.count)
			prev = in.at
		}
		c.Write(msg[prev:])
		m.Size = c.n
		setHeaderFields(m, header, body)
		return m, nil
	}
	full := assembleEmlx(msg, ins)
	m.Size = crlfSize(full)
	if wantData {
		m.Data = appendCRLF(make([]byte, 0, m.Size), full)
	}
	header, body = SplitHeader(full)
	setHeaderFields(m, header, body)
	return m, nil
}

func hasMessageID(header []byte) bool {
	v, ok := headerValue(header, "Message-ID")
	return ok && NormalizeMessageID(string(v)) != ""
}

// splitEmlx splits an .emlx file into the message and the property list.
// When the declared byte count does not end the message right before the
// property list (Mail wrote it wrong, or the file was edited), the message
// is taken up to the property list instead, and a warning says so: no byte
// of the message is dropped.
func splitEmlx(raw []byte) (msg, plist []byte, warnings []string, err error) {
	nl := bytes.IndexByte(raw, '\n')
	if nl < 0 || nl > 64 {
		return nil, nil, nil, errNotEmlx
	}
	count := bytes.Trim(raw[:nl], " \t\r")
	if !isDigitString(string(count)) || len(count) > 18 {
		return nil, nil, nil, errNotEmlx
	}
	n, err := strconv.Atoi(string(count))
	if err != nil {
		return nil, nil, nil, errNotEmlx
	}
	start := nl + 1
	rest := raw[start:]
	if n <= len(rest) && (n == len(rest) || startsPlist(rest[n:])) {
		return rest[:n], rest[n:], nil, nil
	}
	if p := trailingPlist(rest); p >= 0 {
		w := fmt.Sprintf("declared message length %d bytes does not match the file: the message was taken up to the property list at byte %d (%d bytes)", n, start+p, p)
		return rest[:p], rest[p:], []string{w}, nil
	}
	if n < len(rest) {
		w := fmt.Sprintf("declared message length %d bytes is followed by %d bytes that are not a property list: they were kept as part of the message", n, len(rest)-n)
		return rest, nil, []string{w}, nil
	}
	w := fmt.Sprintf("declared message length %d bytes exceeds the %d bytes in the file, which has no property list: the message may be cut short", n, len(rest))
	return rest, nil, []string{w}, nil
}

// startsPlist reports whether b, the rest of an .emlx file after its
// message, is the property list.
func startsPlist(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return bytes.HasPrefix(b, []byte("<?xml")) || bytes.HasPrefix(b, []byte("<!DOCTYPE plist")) || bytes.HasPrefix(b, []byte("<plist"))
}

// trailingPlist returns the offset in rest of the property list that ends
// it (the last "<?xml" of a file ending in "</plist>"), or -1.
func trailingPlist(rest []byte) int {
	if !bytes.HasSuffix(bytes.TrimRight(rest, " \t\r\n\x00"), []byte("</plist>")) {
		return -1
	}
	i := bytes.LastIndex(rest, []byte("<?xml"))
	if i < 0 || !bytes.Contains(rest[i:], []byte("<plist")) {
		return -1
	}
	return i
}

// emlxPlist holds what the reader uses of an .emlx property list.
type emlxPlist struct {
	flags    uint64
	hasFlags bool
	received time.Time
}

// parseEmlxPlist reads the top-level dictionary of an .emlx property list:
// "flags" (integer) and "date-received" (integer or real Unix seconds, or a
// date). Other keys and nested values are skipped.
func parseEmlxPlist(b []byte) (emlxPlist, error) {
	var p emlxPlist
	d := xml.NewDecoder(bytes.NewReader(b))
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	inDict := false
	key := ""
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = errors.New("no <dict> element")
			}
			return p, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !inDict {
				inDict = t.Name.Local == "dict"
				continue
			}
			if t.Name.Local == "key" {
				if err := d.DecodeElement(&key, &t); err != nil {
					return p, err
				}
				continue
			}
			switch t.Name.Local {
			case "integer", "real", "date", "string":
				var v string
				if err := d.DecodeElement(&v, &t); err != nil {
					return p, err
				}
				p.set(key, t.Name.Local, strings.TrimSpace(v))
			default:
				if err := d.Skip(); err != nil {
					return p, err
				}
			}
			key = ""
		case xml.EndElement:
			if inDict && t.Name.Local == "dict" {
				return p, nil
			}
		}
	}
}

func (p *emlxPlist) set(key, kind, v string) {
	switch {
	case key == "flags" && kind == "integer":
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			p.flags, p.hasFlags = n, true
		} else if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			p.flags, p.hasFlags = uint64(n), true
		}
	case key == "date-received" && kind == "integer":
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n < 1<<40 {
			p.received = time.Unix(n, 0)
		}
	case key == "date-received" && kind == "real":
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 1 && f < 1<<40 {
			p.received = time.Unix(int64(f), 0)
		}
	case key == "date-received" && kind == "date":
		if t, err := time.Parse(time.RFC3339, v); err == nil && t.Unix() > 0 {
			p.received = t
		}
	}
}

// An emlxStub is a MIME part whose body Mail took out of a .partial.emlx.
type emlxStub struct {
	part   string // the IMAP part number
	header []byte // the part's header block
	at     int    // the offset in the message where the body goes
	before string // line breaks the header lacks before its body
}

// maxMIMEDepth bounds the nesting of multiparts that findEmlxStubs follows.
const maxMIMEDepth = 40

// findEmlxStubs returns the parts of msg whose header has an
// X-Apple-Content-Length field and whose body is empty, in message order.
func findEmlxStubs(msg []byte) []emlxStub {
	if !bytes.Contains(msg, []byte("X-Apple-Content-Length")) && !bytes.Contains(bytes.ToLower(msg), []byte("x-apple-content-length")) {
		return nil
	}
	var stubs []emlxStub
	walkEmlxEntity(msg, 0, len(msg), "", true, 0, &stubs)
	return stubs
}

// walkEmlxEntity looks for stubs in the entity msg[start:end]. num is the
// entity's IMAP part number; root says that the entity is a message (the
// top-level one, or one encapsulated in a message/rfc822 part), whose
// non-multipart body is part num.1 (part 1 at the top).
func walkEmlxEntity(msg []byte, start, end int, num string, root bool, depth int, out *[]emlxStub) {
	ent := msg[start:end]
	header, body := SplitHeader(ent)
	bodyStart := end - len(body)
	leaf := num
	if root {
		leaf = childPart(num, 1)
	}
	if _, ok := headerValue(header, "X-Apple-Content-Length"); ok && len(bytes.Trim(body, " \t\r\n")) == 0 {
		s := emlxStub{part: leaf, header: header, at: bodyStart}
		if body == nil {
			// The header block has no empty line to end it.
			s.before = "\n\n"
			if len(ent) > 0 && ent[len(ent)-1] == '\n' {
				s.before = "\n"
			}
		}
		*out = append(*out, s)
		return
	}
	if depth >= maxMIMEDepth {
		return
	}
	ctype, params := headerMediaType(header, "Content-Type")
	switch {
	case strings.HasPrefix(ctype, "multipart/"):
		if params["boundary"] == "" {
			return
		}
		for i, p := range splitMultipart(msg, bodyStart, end, params["boundary"]) {
			walkEmlxEntity(msg, p[0], p[1], childPart(num, i+1), false, depth+1, out)
		}
	case ctype == "message/rfc822" && isIdentityEncoding(transferEncoding(header)):
		walkEmlxEntity(msg, bodyStart, end, leaf, true, depth+1, out)
	}
}

// childPart returns the part number of the i-th child of part num.
func childPart(num string, i int) string {
	if num == "" {
		return strconv.Itoa(i)
	}
	return num + "." + strconv.Itoa(i)
}

// splitMultipart returns the [start, end) spans of the body parts of the
// multipart body msg[start:end] delimited by boundary (RFC 2046 §5.1.1): the
// line break before a delimiter line belongs to the delimiter; the preamble
// and epilogue are not parts. A last part without a close delimiter runs to
// end; "--boundary-" (one hyphen) closes as "--boundary--" does.
func splitMultipart(msg []byte, start, end int, boundary string) [][2]int {
	delim := []byte("--" + boundary)
	var parts [][2]int
	partStart := -1
	for i := start; i < end; {
		lineEnd := end
		if j := bytes.IndexByte(msg[i:end], '\n'); j >= 0 {
			lineEnd = i + j
		}
		line := msg[i:lineEnd]
		if bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r")
			// A close delimiter with one hyphen, as Mail wrote one
			// (partial-emlx-converter issue #5), closes too.
			closing := bytes.HasPrefix(rest, []byte("--")) || string(rest) == "-"
			if closing || len(rest) == 0 {
				if partStart >= 0 {
					pe := i - 1
					if pe > partStart && msg[pe-1] == '\r' {
						pe--
					}
					parts = append(parts, [2]int{partStart, max(pe, partStart)})
				}
				if closing {
					return parts
				}
				partStart = min(lineEnd+1, end)
			}
		}
		i = lineEnd + 1
	}
	if partStart >= 0 {
		parts = append(parts, [2]int{partStart, end})
	}
	return parts
}

// headerMediaType parses a Content-Type-like field: the lowercased value and
// its parameters (RFC 2231 continuations and charsets decoded). Values
// mime.ParseMediaType rejects are split leniently.
func headerMediaType(header []byte, field string) (string, map[string]string) {
	v, ok := headerValue(header, field)
	if !ok {
		return "", nil
	}
	s := unfold(v)
	mt, params, err := mime.ParseMediaType(s)
	if err != nil {
		mt, params = lenientMediaType(s)
	}
	return strings.ToLower(mt), params
}

func lenientMediaType(s string) (string, map[string]string) {
	fields := strings.Split(s, ";")
	params := make(map[string]string)
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if _, dup := params[k]; !dup && k != "" {
			params[k] = v
		}
	}
	return strings.TrimSpace(fields[0]), params
}

func transferEncoding(header []byte) string {
	v, _ := headerValue(header, "Content-Transfer-Encoding")
	return strings.ToLower(unfold(v))
}

func isIdentityEncoding(cte string) bool {
	return cte == "" || cte == "7bit" || cte == "8bit" || cte == "binary"
}

// attachmentName returns the decoded file name a part's header gives.
func attachmentName(header []byte) string {
	if _, p := headerMediaType(header, "Content-Disposition"); p["filename"] != "" {
		return decodeHeader(p["filename"])
	}
	if _, p := headerMediaType(header, "Content-Type"); p["name"] != "" {
		return decodeHeader(p["name"])
	}
	return ""
}

// An emlxInsert is an attachment body to put back into a message.
type emlxInsert struct {
	at      int
	before  string
	content []byte      // the encoded body, when the message is built
	count   crlfCounter // its upload size, when it is only measured
}

// resolveEmlxStub finds the stored body of stub s of message number stem and
// encodes it (build) or measures it; or returns a warning saying why the part
// stays empty. The sidecar Messages/<stem>.<part>.emlxpart holds the encoded
// body and is preferred; Attachments/<stem>/<part>/ holds the decoded file:
// the one the part's header names, else the only file there.
func resolveEmlxStub(src emlxSource, stem string, s emlxStub, build bool) (emlxInsert, string) {
	in := emlxInsert{at: s.at, before: s.before}
	name := attachmentName(s.header)
	what := "part " + s.part
	if name != "" {
		what += fmt.Sprintf(" (%q)", name)
	}
	dir := path.Join("Attachments", stem, s.part)
	var file string
	verbatim := false
	sidecar := path.Join(src.dir, stem+"."+s.part+".emlxpart")
	switch {
	case !fs.ValidPath(dir) || !fs.ValidPath(sidecar):
		return in, fmt.Sprintf("attachment of %s: no valid attachment path for file name %q: the part was left empty", what, src.name)
	case isRegularFile(src.fsys, sidecar):
		file, verbatim = sidecar, true
	case isSafeFileName(name) && isRegularFile(src.fsys, dir+"/"+name):
		file = dir + "/" + name
	default:
		des, err := fs.ReadDir(src.fsys, dir)
		var names []fs.DirEntry
		for _, de := range des {
			if !strings.HasPrefix(de.Name(), ".") {
				names = append(names, de)
			}
		}
		switch {
		case len(names) == 1 && names[0].Type().IsRegular():
			file = dir + "/" + names[0].Name()
		case len(names) == 1 && names[0].IsDir():
			return in, fmt.Sprintf("attachment of %s: %s is a directory (an unpacked bundle), which cannot be put back: the part was left empty", what, dir+"/"+names[0].Name())
		case len(names) > 1:
			return in, fmt.Sprintf("attachment of %s not found: %s holds %d files, none of that name: the part was left empty", what, dir, len(names))
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return in, fmt.Sprintf("attachment of %s: cannot read %s: %v: the part was left empty", what, dir, ioCause(err))
		default:
			return in, fmt.Sprintf("attachment of %s not found in %s: the part was left empty", what, dir)
		}
	}

	cte := transferEncoding(s.header)
	if !verbatim && cte != "base64" && cte != "quoted-printable" && !isIdentityEncoding(cte) {
		return in, fmt.Sprintf("attachment of %s: transfer encoding %q cannot be re-created from %s: the part was left empty", what, cte, file)
	}
	ctype, _ := headerMediaType(s.header, "Content-Type")
	binary := !(ctype == "" || strings.HasPrefix(ctype, "text/") || strings.HasPrefix(ctype, "message/"))

	if !build && !verbatim && cte == "base64" {
		if fi, err := fs.Stat(src.fsys, file); err == nil {
			in.count.addBase64(fi.Size())
			return in, ""
		}
	}
	var w io.Writer = &in.count
	var buf bytes.Buffer
	if build {
		w = &buf
	}
	if err := encodeAttachment(w, src.fsys, file, verbatim, cte, binary); err != nil {
		return emlxInsert{}, fmt.Sprintf("attachment of %s: cannot read %s: %v: the part was left empty", what, file, ioCause(err))
	}
	in.content = buf.Bytes()
	return in, ""
}

func isRegularFile(fsys fs.FS, name string) bool {
	fi, err := fs.Stat(fsys, name)
	return err == nil && fi.Mode().IsRegular()
}

// isSafeFileName reports whether a file name from a message header can be
// looked up in an attachment directory: one plain path element, so that a
// crafted name ("../../x") cannot make the reader take any other file.
func isSafeFileName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\\x00")
}

// encodeAttachment writes the attachment file in the encoding of its part,
// with LF line breaks and no line break after the last line (the line break
// before the next delimiter ends it): base64 in lines of 76 characters
// (RFC 2045 §6.8), quoted-printable (binary mode for parts that are not
// text, so that their line ends survive), other encodings as they are. A
// sidecar .emlxpart is already encoded and is copied as it is.
func encodeAttachment(w io.Writer, fsys fs.FS, file string, verbatim bool, cte string, binary bool) error {
	f, err := fsys.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	switch {
	case verbatim || isIdentityEncoding(cte):
		_, err = io.Copy(w, f)
		return err
	case cte == "base64":
		enc := base64.NewEncoder(base64.StdEncoding, &lineWrapper{w: w})
		if _, err := io.Copy(enc, f); err != nil {
			return err
		}
		return enc.Close()
	default:
		qp := quotedprintable.NewWriter(dropCR{w})
		qp.Binary = binary
		if _, err := io.Copy(qp, f); err != nil {
			return err
		}
		return qp.Close()
	}
}

// base64LineLength is the length of base64 lines (RFC 2045 §6.8).
const base64LineLength = 76

var lineBreak = []byte{'\n'}

// lineWrapper breaks what is written to it into lines of base64LineLength
// bytes, with no line break after the last one.
type lineWrapper struct {
	w   io.Writer
	col int
}

func (l *lineWrapper) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if l.col == base64LineLength {
			if _, err := l.w.Write(lineBreak); err != nil {
				return n, err
			}
			l.col = 0
		}
		k := min(base64LineLength-l.col, len(p))
		if _, err := l.w.Write(p[:k]); err != nil {
			return n, err
		}
		l.col += k
		n += k
		p = p[k:]
	}
	return n, nil
}

// dropCR removes the CRs from the CRLF line breaks of the quoted-printable
// writer (which encodes every CR of its input), to match the LF message.
type dropCR struct{ w io.Writer }

func (d dropCR) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, '\r') < 0 {
		return d.w.Write(p)
	}
	if _, err := d.w.Write(bytes.ReplaceAll(p, []byte{'\r'}, nil)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// assembleEmlx returns msg with the attachment bodies put back.
func assembleEmlx(msg []byte, ins []emlxInsert) []byte {
	size := len(msg)
	for _, in := range ins {
		size += len(in.before) + len(in.content)
	}
	out := make([]byte, 0, size)
	prev := 0
	for _, in := range ins {
		out = append(out, msg[prev:in.at]...)
		out = append(out, in.before...)
		out = append(out, in.content...)
		prev = in.at
	}
	return append(out, msg[prev:]...)
}

// crlfCounter counts the bytes appendCRLF makes of everything written to it,
// taken as one stream (an LF right after a CR written earlier is not
// doubled), without keeping them.
type crlfCounter struct {
	n           int64
	first, last byte
	started     bool
}

func (c *crlfCounter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	add := int64(len(p) + bytes.Count(p, []byte{'\n'}) - bytes.Count(p, []byte("\r\n")))
	if p[0] == '\n' && c.last == '\r' {
		add--
	}
	c.n += add
	if !c.started {
		c.first, c.started = p[0], true
	}
	c.last = p[len(p)-1]
	return len(p), nil
}

// merge appends what o counted to c.
func (c *crlfCounter) merge(o *crlfCounter) {
	if !o.started {
		return
	}
	add := o.n
	if o.first == '\n' && c.last == '\r' {
		add--
	}
	c.n += add
	if !c.started {
		c.first, c.started = o.first, true
	}
	c.last = o.last
}

// addBase64 counts the base64 encoding (as encodeAttachment writes it) of n
// bytes, without reading them.
func (c *crlfCounter) addBase64(n int64) {
	chars := 4 * ((n + 2) / 3)
	if chars == 0 {
		return
	}
	breaks := (chars+base64LineLength-1)/base64LineLength - 1
	c.merge(&crlfCounter{n: chars + 2*breaks, first: 'A', last: 'A', started: true})
}
