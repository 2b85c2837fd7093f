package importers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file reads mbox files, every flavour with one streaming reader,
// deciding per message:
//
//   - mboxo and mboxrd: body lines ">From ", ">>From "... were quoted by the
//     writer; one ">" is removed from each (the mboxrd reading, which is also
//     what Dovecot and mutt do with mboxo files).
//   - mboxcl and mboxcl2: a message whose Content-Length header is right
//     (the body of that many bytes is followed by blank lines and a From_
//     line, or by the end of the file) ends there, whatever From lines its
//     body holds. If such a body holds bare From lines, the writer did not
//     quote (mboxcl2) and nothing is unquoted. A wrong Content-Length is
//     ignored, with a warning.
//   - MMDF: messages between "\x01\x01\x01\x01" lines.
//
// A message is found in two steps that never disagree: the streaming scan
// finds where each message ends (mboxReader), and mboxBuilder.build turns
// the bytes of one message, and nothing else, into a Message.
// readMboxMessage calls build on the same bytes read again, so it gives the
// same result as the scan.
//
// The scan looks at each block of bytes once while it is in the CPU cache:
// it searches for "From " lines and counts line endings (mboxStats), and
// splits the header of each message. build takes those counts instead of
// reading the message again, unless the upload bytes are wanted, so a scan
// costs little more than reading the file. The file is read in chunks, a
// read running ahead in a goroutine while the bytes before it are looked
// at (scanMboxChunked). A large file that is scanned without the upload
// bytes is scanned in segments on several cores, mapped into memory where
// that is cheap (mbox_parallel.go).

const (
	// mboxChunk is how much is read from the file at a time.
	mboxChunk = 1 << 20
	// mboxProbe is how much is read ahead of a Content-Length to check that
	// the message really ends there.
	mboxProbe = 64 << 10
	// mboxAlign keeps reads aligned: the reader places each byte at a
	// buffer index congruent to its file offset modulo mboxAlign (large
	// buffers start at a page boundary), so the kernel copies from the
	// page cache to a buffer at the same offset within a page. On the
	// reference VM (AMD EPYC), a copy between two mutually misaligned
	// addresses ran at 1.6 GB/s, an aligned one at 8.7 GB/s.
	mboxAlign = 4096
	mmdfDelim = "\x01\x01\x01\x01"
)

var mboxBOM = []byte("\xef\xbb\xbf")

// errMboxChanged is wrapped by readMboxMessage's error when the bytes at a
// location are no longer the message the scan found there.
var errMboxChanged = errors.New("the file changed since it was scanned: no message at this position any more")

// mboxKind says how a message starts.
type mboxKind int

const (
	kindEOF     mboxKind = iota // no message: the end of the file
	kindMbox                    // a From_ line
	kindMMDF                    // an MMDF delimiter line
	kindOrphan                  // text after an MMDF message with no delimiter before it
	kindNotMbox                 // the file does not start like an mbox
	kindBeyond                  // no message starts in a segment (mboxScan.search)
)

// readMbox reads the mbox file f.Path and calls h.Message for each message,
// in file order. Problems with single messages or the file go to h.Problem;
// the error is only for h's own errors and cancellation.
func readMbox(ctx context.Context, f *Folder, opts *Options, h *Handler) error {
	file, err := os.Open(f.Path)
	if err != nil {
		h.problem(f.Path, -1, 0, "cannot open: %v", mboxPathErr(err))
		return nil
	}
	defer file.Close()
	return scanMbox(ctx, f, file, opts, h)
}

// mboxPathErr drops the operation and path from an *fs.PathError, which the
// Problem already names.
func mboxPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// mboxSource is what the scanner reads: an *os.File, or a test double.
type mboxSource interface {
	io.Reader
	io.ReaderAt
}

// errMboxRead stops the scan of a file after a read error.
var errMboxRead = errors.New("read error")

// errMboxStop is findSeparator giving up at mboxReader.stopAt.
var errMboxStop = errors.New("no separator before the stop offset")

// mboxReader holds a window of the file, from the start of the current
// message to the last byte read, in a buffer of a few chunks that grows
// only while one message is longer than that: memory follows the largest
// message, not the file.
type mboxReader struct {
	src     mboxSource
	chunk   int           // how much to read at a time (mboxChunk; tests use less)
	pending bool          // a read into the free end of buf is running
	done    chan mboxRead // where it reports
	sync    bool          // read in the caller's goroutine (moreSync)
	mapped  bool          // buf is the rest of the file, mapped (mboxSpan.mapped)
	buf     []byte        // file bytes from base; the window is buf[start:]
	spare   []byte        // the other buffer kept (makeRoom)
	start   int
	base    int64
	eof     bool
	rerr    error // the read error that stopped reading
	rpos    int64 // file offset where it happened
	probe   []byte
	stopAt  int64        // findSeparator gives up at this file offset (errMboxStop); 0: never
	pool    *mboxBufPool // where the buffer is kept for the next file (Options.mboxBufs)
	from    fromSearch
	stats   mboxStats // of the current message, as findSeparator went
	loc     *time.Location
	// The date of the last From_ line the scan parsed, at file offset
	// fromOff, for build to reuse.
	fromOff  int64
	fromDate time.Time
	fromOK   bool
}

// win returns the window: the bytes from the current message on.
func (r *mboxReader) win() []byte { return r.buf[r.start:] }

// off returns the file offset of the window's first byte.
func (r *mboxReader) off() int64 { return r.base + int64(r.start) }

// more reads more bytes into the window. It returns errMboxRead after a
// read error, and nil otherwise (r.eof tells whether anything was added).
//
// Reading runs ahead: when there is room at the free end of the buffer,
// the next read is started in a goroutine after bytes are added, so that
// the file is read while the caller looks at what it has. That free end
// and the window never overlap, and the buffer is only moved (compacted or
// grown) when no read is running and the caller asks for more, that is
// when the window holds little more than one message.
func (r *mboxReader) more() error {
	if r.sync {
		return r.moreSync()
	}
	for {
		if r.rerr != nil && !r.pending {
			return errMboxRead
		}
		if r.eof {
			return nil
		}
		if !r.pending {
			r.makeRoom()
			r.startRead()
		}
		added := r.collect()
		if !r.eof && r.rerr == nil && cap(r.buf)-len(r.buf) >= r.chunk {
			r.startRead()
		}
		if added > 0 {
			return nil
		}
	}
}

// moreSync is more reading in the caller's goroutine, with no read ahead:
// the bytes are still in the core's cache when the scan looks at them.
// The workers of a parallel scan read so, as they keep the cores busy
// without reading ahead.
func (r *mboxReader) moreSync() error {
	for {
		if r.rerr != nil {
			return errMboxRead
		}
		if r.eof {
			return nil
		}
		r.makeRoom()
		n, err := r.src.Read(r.buf[len(r.buf):min(cap(r.buf), len(r.buf)+r.chunk)])
		if r.add(mboxRead{n, err}) > 0 {
			return nil
		}
	}
}

// mboxBufferChunks is the size of the buffer, in chunks, when messages are
// small: room for the window and for reads ahead of it.
const mboxBufferChunks = 8

// makeRoom moves the window to the front of the buffer, or into a larger
// one, so that at least a chunk is free after it; a buffer is replaced by
// one at least twice the window's size, so each byte is copied a bounded
// number of times. No read may be running.
//
// The reader keeps two buffers at most: one of the standard size
// (mboxBufferChunks chunks) and the largest one it grew for a large
// message. Once the window is small again it goes back to the standard
// one, which stays in the cache, and the large one is kept for the next
// large message: a new buffer costs a page fault per page.
func (r *mboxReader) makeRoom() {
	if cap(r.buf)-len(r.buf) >= r.chunk {
		return
	}
	n := len(r.buf) - r.start
	a := r.alignOf(r.off())
	need := a + 2*n + 2*r.chunk
	std := mboxBufferChunks * r.chunk
	var nb []byte
	switch {
	case cap(r.buf) > std && cap(r.spare) == std && need <= std:
		nb, r.spare = r.spare, r.buf // back to the standard buffer
	case need <= cap(r.buf):
		nb = r.buf
	case cap(r.spare) >= need:
		nb, r.spare = r.spare, r.buf
	default:
		nb = make([]byte, 0, max(need, std))
		if cap(r.buf) == std {
			r.spare = r.buf
		}
	}
	nb = nb[:a+n]
	copy(nb[a:], r.buf[r.start:])
	r.buf = nb
	r.base = r.off() - int64(a)
	r.start = a
}

// alignOf returns where in a page the byte at file offset off goes (see
// mboxAlign; the tiny chunks of tests keep their tiny buffers).
func (r *mboxReader) alignOf(off int64) int {
	return int(off % int64(min(mboxAlign, r.chunk)))
}

// seek starts r, which has read nothing, with the window at file offset
// off, reading from the page boundary before it (mboxAlign).
func (r *mboxReader) seek(off int64) error {
	if r.mapped {
		r.start = int(min(max(off-r.base, 0), int64(len(r.buf))))
		return nil
	}
	base := off - int64(r.alignOf(off))
	r.src = &mboxAt{ra: r.src, off: base}
	r.base = base
	for int64(len(r.buf)) < off-base && !r.eof {
		if err := r.more(); err != nil {
			return err
		}
	}
	r.start = int(min(off-base, int64(len(r.buf))))
	return nil
}

// Walk keeps the readers' buffers from one mbox file to the next
// (Options.mboxBufs). A new buffer of mboxBufferChunks megabytes costs a
// page fault per page when first written, and the runtime gives freed
// memory back to the system: on the reference VM, where a page fault is
// expensive, scanning a tree of 300 small mbox files took 0.5-1 s with a
// new buffer for each, 0.06 s with one. They are kept for the Walk only,
// not for the process: memory held for nothing raises the garbage
// collector's goal, and so the peak memory of the upload that follows.
// Only buffers of the standard size are kept: not one grown for a message
// larger than it (that memory goes back once the file is read), nor those
// of tests that read in tiny chunks to exercise moving and growing the
// window; and no more than one per scan running at once.
type mboxBufPool struct {
	mu   sync.Mutex
	bufs [][]byte // standard-size buffers
	// big holds grown buffers when keepBig is set: a parallel scan keeps
	// them from one segment to the next, not the Walk from one file to
	// the next.
	big     [][]byte
	keepBig bool
}

// mboxPoolMax bounds the buffers of each kind a pool keeps: one per scan
// running at once.
const mboxPoolMax = mboxMaxWorkers + 1

// takeBuf starts r with kept buffers, if any.
func (r *mboxReader) takeBuf() {
	if r.pool == nil || r.chunk != mboxChunk || r.mapped {
		return
	}
	p := r.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.bufs); n > 0 {
		r.buf = p.bufs[n-1][:0]
		p.bufs[n-1] = nil
		p.bufs = p.bufs[:n-1]
	}
	if n := len(p.big); n > 0 {
		r.spare = p.big[n-1][:0]
		p.big[n-1] = nil
		p.big = p.big[:n-1]
	}
}

// putBuf gives r's buffers back to the pool, once no read is running into
// them.
func (r *mboxReader) putBuf() {
	if r.pool == nil || r.pending || r.chunk != mboxChunk || r.mapped {
		return
	}
	p := r.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range [][]byte{r.buf, r.spare} {
		switch {
		case cap(b) == mboxBufferChunks*mboxChunk && len(p.bufs) < mboxPoolMax:
			p.bufs = append(p.bufs, b[:0])
		case cap(b) > mboxBufferChunks*mboxChunk && p.keepBig && len(p.big) < mboxPoolMax:
			p.big = append(p.big, b[:0])
		}
	}
	r.buf, r.spare = nil, nil
}

// moveBufs moves the standard-size buffers of p to q.
func (p *mboxBufPool) moveBufs(q *mboxBufPool) {
	if p == nil || q == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(p.bufs) > 0 && len(q.bufs) < mboxPoolMax {
		n := len(p.bufs)
		q.bufs = append(q.bufs, p.bufs[n-1])
		p.bufs[n-1] = nil
		p.bufs = p.bufs[:n-1]
	}
}

// mboxRead is the result of one read.
type mboxRead struct {
	n   int
	err error
}

// startRead starts reading into the free end of the buffer.
func (r *mboxReader) startRead() {
	if r.done == nil {
		r.done = make(chan mboxRead, 1)
	}
	dst := r.buf[len(r.buf):min(cap(r.buf), len(r.buf)+r.chunk)]
	r.pending = true
	go func() {
		n, err := r.src.Read(dst)
		r.done <- mboxRead{n, err}
	}()
}

// collect waits for the running read and adds what it read to the window.
func (r *mboxReader) collect() int {
	res := <-r.done
	r.pending = false
	return r.add(res)
}

// add adds what a read read to the window, and returns how much.
func (r *mboxReader) add(res mboxRead) int {
	r.buf = r.buf[:len(r.buf)+res.n]
	if res.err == io.EOF {
		r.eof = true
	} else if res.err != nil && r.rerr == nil {
		r.rerr = res.err
		r.rpos = r.base + int64(len(r.buf))
	}
	return res.n
}

// stop waits for a running read to finish, so that nothing reads the
// source after the scan returns.
func (r *mboxReader) stop() {
	if r.pending {
		<-r.done
		r.pending = false
	}
}

// lineAt returns the line that starts at window index i, without its LF,
// and the index after its LF, reading until the line is complete or the
// file ends. ok is false when i is at the end of the file.
func (r *mboxReader) lineAt(i int) (line []byte, next int, ok bool, err error) {
	from := i
	for {
		w := r.win()
		if k := bytes.IndexByte(w[from:], '\n'); k >= 0 {
			return w[i : from+k], from + k + 1, true, nil
		}
		if r.eof {
			if i >= len(w) {
				return nil, len(w), false, nil
			}
			return w[i:], len(w), true, nil
		}
		from = len(w)
		if err := r.more(); err != nil {
			return nil, 0, false, err
		}
	}
}

// mboxScan finds the messages of an mbox file one after the other on an
// mboxReader: where each starts and ends, how it starts, and what the scan
// saw of its content on the way (r.stats).
type mboxScan struct {
	r     *mboxReader
	path  string
	kind  mboxKind // how the message at the window start starts
	index int      // of the message next found, or being looked for
}

// An mboxCut is one message found by mboxScan.next: it spans n bytes from
// file offset off, which are the window's first n bytes until the scan
// moves past them.
type mboxCut struct {
	off   int64
	n     int
	index int
	kind  mboxKind
	atEOF bool // the message ends at the end of the file
	// hasSt says that the scan's stats are about this message: r.stats,
	// or st once the cut is handed to another goroutine.
	hasSt bool
	st    mboxStats
}

// start skips the leading junk of the file (a UTF-8 BOM, empty lines) and
// finds how the first message starts. It returns a Problem when the file
// cannot be read or is not an mbox file.
func (s *mboxScan) start() *Problem {
	r := s.r
	for len(r.win()) < len(mboxBOM) && !r.eof {
		if err := r.more(); err != nil {
			return s.problem(0, 0, "read error at byte %d: %v", r.rpos, mboxPathErr(r.rerr))
		}
	}
	i := 0
	if bytes.HasPrefix(r.win(), mboxBOM) {
		i = len(mboxBOM)
	}
	at, kind, err := r.nextStart(i, true)
	if err != nil {
		return s.problem(r.off(), 0, "read error at byte %d: %v", r.rpos, mboxPathErr(r.rerr))
	}
	if kind == kindNotMbox {
		return s.problem(r.off()+int64(at), 0, "not an mbox file: the first line is neither a From_ line nor an MMDF delimiter")
	}
	r.start += at
	s.kind = kind
	return nil
}

// next finds the message that starts the window and fills c (but not c.st)
// with it. It reports false at the end of the file, and a Problem after a
// read error, which ends the scan. The caller moves the window past the
// message (r.start += c.n) once it has no more use for its bytes.
func (s *mboxScan) next(c *mboxCut) (bool, *Problem) {
	if s.kind == kindEOF {
		return false, nil
	}
	r := s.r
	s.index++
	var end int
	var err error
	next := kindMbox
	switch s.kind {
	case kindMbox:
		end, err = r.mboxEnd()
		if end == len(r.win()) && r.eof {
			next = kindEOF
		}
	default:
		end, next, err = r.mmdfEnd(s.kind)
	}
	if err != nil {
		s.kind = kindEOF
		return false, s.problem(r.off(), s.index, "read error at byte %d: %v; the rest of the file was not read", r.rpos, mboxPathErr(r.rerr))
	}
	c.off, c.n, c.index, c.kind = r.off(), end, s.index, s.kind
	c.atEOF = r.eof && end == len(r.win())
	c.hasSt = s.kind == kindMbox && r.stats.end == end
	s.kind = next
	return true, nil
}

func (s *mboxScan) problem(offset int64, index int, format string, args ...any) *Problem {
	return &Problem{Path: s.path, Offset: offset, Index: index, Err: fmt.Sprintf(format, args...)}
}

// mboxMessage returns the Message for c, with its location.
func mboxMessage(f *Folder, c *mboxCut) *Message {
	return &Message{
		Folder: f,
		Loc:    Location{Path: f.Path, Offset: c.off, Length: int64(c.n), Index: c.index},
	}
}

// scanMboxChunked is scanMbox reading chunk bytes at a time, in one run
// from the start of the file to its end.
func scanMboxChunked(ctx context.Context, f *Folder, src mboxSource, chunk int, opts *Options, h *Handler) error {
	sp := mboxSpan{f: f, src: src, chunk: chunk, opts: opts, pool: opts.mboxBufs, limit: math.MaxInt64}
	_, p, err := sp.run(ctx, mboxBegin{how: beginFile}, func(m *Message, _ mboxKind) error { return h.message(m) })
	if p != nil {
		h.problem(p.Path, p.Offset, p.Index, "%s", p.Err)
	}
	return err
}

// mboxState is where a scan stands between two messages: the file offset
// where the next message starts and how it starts (kindEOF: the file
// ended). What the scan finds from there on depends on nothing else, as
// the reader's window never holds a byte before the message it is on: a
// scan begun at a state finds the same messages as one that got there.
type mboxState struct {
	off  int64
	kind mboxKind
}

// same reports whether two states are the same point of the scan.
func (s mboxState) same(o mboxState) bool {
	return s.kind == o.kind && (s.kind == kindEOF || s.off == o.off)
}

// mboxBegin says where a span begins.
type mboxBegin struct {
	how   int
	state mboxState // beginState: that state
	off   int64     // beginSearch: search from this offset
}

const (
	beginFile   = iota // the start of the file (leading junk skipped)
	beginState         // a state some other scan reached
	beginSearch        // the first From_ line that starts at or after off
)

// An mboxSpan is one run of the scan over part of a file: from where it
// begins, through every message that starts before limit.
type mboxSpan struct {
	f     *Folder
	src   mboxSource
	chunk int
	opts  *Options
	pool  *mboxBufPool
	limit int64
	max   int  // stop after this many messages; 0: no limit
	index int  // messages before the span's first (Loc.Index counts on)
	sync  bool // read without reading ahead (mboxReader.sync)
	// mapped, when not nil, is the file from offset mappedAt to its end
	// mapped into memory: the reader's window is a slice of it and
	// nothing is read.
	mapped   []byte
	mappedAt int64
	// b, when not nil, is the builder to use (its buffers), for opts.
	b *mboxBuilder
}

// run scans the span, builds each message and calls emit with it and how
// it starts, in file order, stopping early after max messages (a
// message's Data is only valid until emit returns). It returns the state
// after the last message (where the next one starts; with no message, the
// state the span began at, or kindBeyond at limit when it has none); a
// Problem when a read error ended the scan or the file is not an mbox
// file; and emit's error or ctx's.
func (sp *mboxSpan) run(ctx context.Context, begin mboxBegin, emit func(*Message, mboxKind) error) (end mboxState, _ *Problem, _ error) {
	r := &mboxReader{src: sp.src, chunk: sp.chunk, sync: sp.sync, loc: sp.opts.mboxLocation(), fromOff: -1, pool: sp.pool}
	if sp.mapped != nil {
		r.buf, r.base, r.mapped, r.eof = sp.mapped, sp.mappedAt, true, true
	}
	r.takeBuf()
	defer func() {
		r.stop()
		r.putBuf()
	}()
	s := &mboxScan{r: r, path: sp.f.Path, index: sp.index}
	switch begin.how {
	case beginFile:
		if p := s.start(); p != nil {
			return end, p, nil
		}
	case beginState:
		if err := r.seek(begin.state.off); err != nil {
			return end, s.problem(begin.state.off, s.index+1, "read error at byte %d: %v; the rest of the file was not read", r.rpos, mboxPathErr(r.rerr)), nil
		}
		s.kind = begin.state.kind
	case beginSearch:
		if p := s.search(begin.off, sp.limit); p != nil {
			return end, p, nil
		}
		if s.kind == kindBeyond {
			return mboxState{sp.limit, kindBeyond}, nil, nil
		}
	}
	b := sp.b
	if b == nil {
		b = &mboxBuilder{opts: sp.opts}
	}
	var c mboxCut
	for {
		if err := canceled(ctx); err != nil {
			return end, nil, err
		}
		if s.kind == kindEOF || r.off() >= sp.limit || sp.max > 0 && s.index-sp.index >= sp.max {
			return mboxState{r.off(), s.kind}, nil, nil
		}
		found, p := s.next(&c)
		if p != nil {
			return end, p, nil
		}
		if !found {
			return mboxState{r.off(), kindEOF}, nil, nil
		}
		var st *mboxStats
		if c.hasSt {
			st = &r.stats
		}
		m := mboxMessage(sp.f, &c)
		b.build(m, r.win()[:c.n], c.kind, c.atEOF, st)
		if err := emit(m, c.kind); err != nil {
			return end, nil, err
		}
		r.start += c.n
	}
}

// search starts the scan at the first From_ line that starts at or after
// file offset off (> 0), as the scan would find it in the middle of a
// message: what is before off is not looked at, but for the few bytes that
// tell whether a line starts at off and follows an empty line. When no
// From_ line starts before limit, it stops looking there, with s.kind
// kindBeyond: the segment holds no message start, and the one that covers
// it is found by the scan of an earlier one.
func (s *mboxScan) search(off, limit int64) *Problem {
	r := s.r
	// Read from 3 bytes before off: a From_ line at off may follow an
	// empty line.
	if err := r.seek(max(0, off-3)); err != nil {
		return s.problem(off, 0, "read error at byte %d: %v", r.rpos, mboxPathErr(r.rerr))
	}
	i := int(off - r.off())
	for len(r.win()) < i && !r.eof {
		if err := r.more(); err != nil {
			return s.problem(off, 0, "read error at byte %d: %v", r.rpos, mboxPathErr(r.rerr))
		}
	}
	if len(r.win()) < i {
		s.kind = kindEOF
		r.start = len(r.buf)
		return nil
	}
	if r.win()[i-1] != '\n' {
		_, next, _, err := r.lineAt(i)
		if err != nil {
			return s.problem(off, 0, "read error at byte %d: %v", r.rpos, mboxPathErr(r.rerr))
		}
		i = next
	}
	r.stopAt = limit
	c, err := r.findSeparator(i)
	r.stopAt = 0
	if err == errMboxStop {
		s.kind = kindBeyond
		return nil
	}
	if err != nil {
		return s.problem(off, 0, "read error at byte %d: %v", r.rpos, mboxPathErr(r.rerr))
	}
	s.kind = kindMbox
	if c == len(r.win()) && r.eof {
		s.kind = kindEOF
	}
	r.start += c
	return nil
}

// mboxAt reads a file from offset off on, with ReadAt, so that several
// scans can read one file at once; ReadAt passes through.
type mboxAt struct {
	ra  io.ReaderAt
	off int64
}

func (a *mboxAt) Read(p []byte) (int, error) {
	n, err := a.ra.ReadAt(p, a.off)
	a.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (a *mboxAt) ReadAt(p []byte, off int64) (int, error) { return a.ra.ReadAt(p, off) }

// nextStart finds where the next message starts at or after window index
// i, which is at a line start: after the leading junk of the file
// (fileStart) or after an MMDF message's closing delimiter. It skips empty
// lines, and MMDF delimiter lines that enclose nothing but empty lines.
func (r *mboxReader) nextStart(i int, fileStart bool) (int, mboxKind, error) {
	for {
		line, next, ok, err := r.lineAt(i)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			return i, kindEOF, nil
		}
		switch {
		case isMboxBlankLine(line):
			i = next
		case isMMDFDelimLine(line):
			j := next
			for {
				l2, n2, ok2, err := r.lineAt(j)
				if err != nil {
					return 0, 0, err
				}
				if !ok2 {
					return j, kindEOF, nil
				}
				if isMMDFDelimLine(l2) {
					i = j
					break
				}
				if !isMboxBlankLine(l2) {
					return i, kindMMDF, nil
				}
				j = n2
			}
		default:
			strong, weak := r.fromLineAt(i, line)
			if strong || weak && !fileStart {
				return i, kindMbox, nil
			}
			if weak {
				// At the start of a file a dateless From_ line must be
				// followed by a header field: "From here on" is not mail.
				l2, _, ok2, err := r.lineAt(next)
				if err != nil {
					return 0, 0, err
				}
				if ok2 && isFieldLine(mboxTrimCR(l2)) {
					return i, kindMbox, nil
				}
			}
			if fileStart {
				return i, kindNotMbox, nil
			}
			return i, kindOrphan, nil
		}
	}
}

// mboxEnd returns the length of the message whose From_ line starts the
// window: up to the next separator, or to where a right Content-Length says
// it ends.
func (r *mboxReader) mboxEnd() (int, error) {
	_, fromEnd, _, err := r.lineAt(0)
	if err != nil {
		return 0, err
	}
	end, err := r.findSeparator(fromEnd)
	if err != nil {
		return 0, err
	}
	w := r.win()
	content := w[fromEnd:end]
	header, body, cl, hasCL := splitHeaderField(content, "Content-Length")
	st := &r.stats
	st.headerEnd, st.bodyStart = fromEnd+len(header), end-len(body)
	st.cl, st.hasCL = cl, hasCL
	if !st.hasCL {
		return end, nil
	}
	n, ok := parseContentLength(st.cl)
	if !ok {
		return end, nil
	}
	bodyStart := st.bodyStart
	if n <= int64(end-bodyStart) {
		// The body it declares ends inside what the scan found: it is
		// right if blank lines then a From_ line follow (a From_ line with
		// no empty line before it, which the scan does not trust alone).
		p := mboxSkipBlankLines(w[:end], bodyStart+int(n))
		if p == end {
			return end, nil
		}
		if line, _, _, _ := r.lineAt(p); isFromShaped(line) {
			return p, nil
		}
		return end, nil
	}
	if end == len(w) && r.eof {
		return end, nil // past the end of the file
	}
	// The declared body runs over what the scan took for separators: look
	// there without buffering what lies in between.
	m, ok, err := r.landing(r.off() + int64(bodyStart) + n)
	if err != nil || !ok {
		return end, err
	}
	// Read through m, and one read further when the window ends there, so
	// that the caller knows whether the file does (a message ends at the
	// end of the file when r.eof is set and the window ends with it).
	for int64(len(r.win())) <= m && !r.eof {
		if err := r.more(); err != nil {
			return 0, err
		}
	}
	if int64(len(r.win())) < m {
		return end, nil // the file shrank under us
	}
	return int(m), nil
}

// mboxScanBlock is how much findSeparator searches at a time, so that the
// counting after it finds the bytes still in the CPU cache.
const mboxScanBlock = 64 << 10

// mboxStats is what findSeparator learns about the content of a message
// (the bytes after its From_ line) as it goes, so that building the
// message need not read them all again: window indexes of quoted and bare
// From lines, and line ending counts.
type mboxStats struct {
	from, end int   // the content the stats are about: window [from, end)
	lf, crlf  int   // LFs, and LFs preceded by a CR
	quotes    []int // the first '>' of each line matching ^>+From
	bare      []int // each line starting with "From " that is not a separator
	// The header block of the content, as SplitHeader splits it: its
	// length, where the body starts (window indexes), and its
	// Content-Length field.
	headerEnd, bodyStart int
	cl                   []byte
	hasCL                bool
	// The date of the message's own From_ line, when the scan parsed it.
	date             time.Time
	dateOK, dateKnow bool
}

// count adds the line endings of w[a:b] to the stats. A CRLF counts with
// the block that holds its LF.
func (st *mboxStats) count(w []byte, a, b int) {
	if a >= b {
		return
	}
	st.lf += bytes.Count(w[a:b], []byte{'\n'})
	if a > st.from && w[a-1] == '\r' && w[a] == '\n' {
		st.crlf++
	}
	if bytes.IndexByte(w[a:b], '\r') >= 0 {
		st.crlf += bytes.Count(w[a:b], []byte("\r\n"))
	}
}

// findSeparator returns the window index of the first separator line after
// window index from (a line start right after a LF), or the window's
// length at the end of the file, and leaves in r.stats what it saw of the
// content in between.
//
// It searches for "From " (see fromSearch) block by block and looks at the
// byte before each: a LF (a separator, or a bare From line), or a '>' (a
// quoted From line).
func (r *mboxReader) findSeparator(from int) (int, error) {
	st := &r.stats
	st.from, st.end, st.lf, st.crlf = from, from, 0, 0
	st.quotes, st.bare = st.quotes[:0], st.bare[:0]
	st.dateKnow = r.fromOff == r.off()
	st.date, st.dateOK = r.fromDate, r.fromOK
	if from == 0 || from > len(r.win()) {
		st.from, st.end = len(r.win()), len(r.win())
		return len(r.win()), nil
	}
	pos, counted := from, from
	for {
		w := r.win()
		end := min(len(w), pos+mboxScanBlock)
		k := r.from.index(w[pos:end])
		if k < 0 {
			if end == len(w) && r.eof {
				st.count(w, counted, end)
				st.end = end
				return end, nil
			}
			// A "From " may start in the last 4 bytes and end after them.
			next := max(pos, end-len("From"))
			st.count(w, counted, next)
			counted = next
			if r.stopAt > 0 && r.off()+int64(end) >= r.stopAt {
				return 0, errMboxStop
			}
			if end == len(w) {
				if err := r.more(); err != nil {
					return 0, err
				}
			}
			pos = next
			continue
		}
		c := pos + k
		st.count(w, counted, c)
		counted = c
		switch w[c-1] {
		case '\n':
			sep, err := r.isSeparator(c)
			if err != nil {
				return 0, err
			}
			if sep {
				st.end = c
				return c, nil
			}
			st.bare = append(st.bare, c)
		case '>':
			j := c - 1
			for w[j-1] == '>' {
				j--
			}
			if w[j-1] == '\n' {
				st.quotes = append(st.quotes, j)
			}
		}
		pos = c + 1
	}
}

// isSeparator reports whether the line at window index c, which starts
// with "From " after a LF, is a From_ line. A line with a date is. A
// dateless one ("From -", "From ", "From id@host") is when a header field
// follows it and either an empty line comes before it, or what follows is
// a whole header block with a field every message has: Netscape wrote bare
// "From - " lines right after a MIME closing boundary, with no empty line.
func (r *mboxReader) isSeparator(c int) (bool, error) {
	line, next, _, err := r.lineAt(c)
	if err != nil {
		return false, err
	}
	strong, weak := r.fromLineAt(c, line)
	if strong {
		return true, nil
	}
	if !weak {
		return false, nil
	}
	l2, _, ok, err := r.lineAt(next)
	if err != nil || !ok || !isFieldLine(mboxTrimCR(l2)) {
		return false, err
	}
	if mboxAfterBlankLine(r.win(), c) {
		return true, nil
	}
	return r.headerBlockAt(next)
}

// mboxHeaderBlockLines bounds how far headerBlockAt looks.
const mboxHeaderBlockLines = 500

// headerBlockAt reports whether the lines from window index i form a
// header block (fields and their continuations up to an empty line or the
// end of the file) with one of the fields every delivered message has.
func (r *mboxReader) headerBlockAt(i int) (bool, error) {
	known := false
	for n := 0; n < mboxHeaderBlockLines; n++ {
		line, next, ok, err := r.lineAt(i)
		if err != nil {
			return false, err
		}
		if !ok {
			return known, nil
		}
		l := mboxTrimCR(line)
		switch {
		case len(l) == 0:
			return known, nil
		case l[0] == ' ' || l[0] == '\t':
			if n == 0 {
				return false, nil
			}
		case !isFieldLine(l):
			return false, nil
		default:
			name := bytes.TrimRight(l[:bytes.IndexByte(l, ':')], " \t")
			for _, k := range []string{"Return-Path", "Received", "From", "Date", "Message-ID", "Subject"} {
				if equalFold(name, k) {
					known = true
				}
			}
		}
		i = next
	}
	return false, nil
}

// landing reports whether the file, at offset at, holds blank lines and
// then a From_ line or the end of the file, and returns the window index
// where the next message would start.
func (r *mboxReader) landing(at int64) (int64, bool, error) {
	if at < 1 {
		return 0, false, nil
	}
	if r.probe == nil {
		r.probe = make([]byte, mboxProbe)
	}
	// Read from one byte early: getting that byte tells at <= file size.
	n, err := r.src.ReadAt(r.probe, at-1)
	if err != nil && err != io.EOF {
		r.rerr, r.rpos = err, at-1
		return 0, false, errMboxRead
	}
	if n == 0 {
		return 0, false, nil
	}
	p := r.probe[1:n]
	atEOF := n < len(r.probe)
	i := mboxSkipBlankLines(p, 0)
	if i == len(p) {
		return at + int64(i) - r.off(), atEOF, nil
	}
	nl := bytes.IndexByte(p[i:], '\n')
	if nl < 0 && !atEOF {
		return 0, false, nil
	}
	line := p[i:]
	if nl >= 0 {
		line = p[i : i+nl]
	}
	if !isFromShaped(line) {
		return 0, false, nil
	}
	return at + int64(i) - r.off(), true, nil
}

// mmdfEnd returns the length of the MMDF message at the window start
// (kindMMDF: its opening delimiter; kindOrphan: text after a closing
// delimiter with no opening one), through its closing delimiter and the
// empty lines after it, and how the next message starts.
func (r *mboxReader) mmdfEnd(kind mboxKind) (int, mboxKind, error) {
	// Search for "\n" + delimiter from the LF that ends the opening
	// delimiter line. An orphan's first line is never a delimiter.
	pos := 0
	if kind == kindMMDF {
		_, next, _, err := r.lineAt(0)
		if err != nil {
			return 0, 0, err
		}
		pos = next - 1
	}
	for {
		w := r.win()
		k := bytes.Index(w[pos:], []byte("\n"+mmdfDelim))
		if k < 0 {
			if r.eof {
				return len(w), kindEOF, nil
			}
			pos = max(pos, len(w)-len(mmdfDelim))
			if err := r.more(); err != nil {
				return 0, 0, err
			}
			continue
		}
		c := pos + k + 1
		line, next, _, err := r.lineAt(c)
		if err != nil {
			return 0, 0, err
		}
		if isMMDFDelimLine(line) {
			return r.nextStart(next, false)
		}
		pos = c
	}
}

// isMboxBlankLine reports whether line (without its LF) is empty.
func isMboxBlankLine(line []byte) bool {
	return len(line) == 0 || len(line) == 1 && line[0] == '\r'
}

// isMMDFDelimLine reports whether line (without its LF) is an MMDF delimiter.
func isMMDFDelimLine(line []byte) bool {
	return string(mboxTrimCR(line)) == mmdfDelim
}

func mboxTrimCR(line []byte) []byte {
	if len(line) > 0 && line[len(line)-1] == '\r' {
		return line[:len(line)-1]
	}
	return line
}

// fromLineShape classifies a line (without its LF) that may be a From_
// line: strong when parseFromLine finds a date in it; weak when it has no
// date but the shape of a dateless separator: "From" and at most one word
// ("From ", "From -", "From ???@???", "From 1844347792267117879@xxx").
// Prose such as "From Russia with love" is neither.
func fromLineShape(line []byte) (strong, weak bool) {
	if !bytes.HasPrefix(line, []byte("From ")) {
		return false, false
	}
	if _, ok := fromLineDate(mboxTrimCR(line), time.UTC); ok {
		return true, false
	}
	return false, weakFromShape(line)
}

// weakFromShape reports whether line, "From " and what follows, has at
// most one word after "From".
func weakFromShape(line []byte) bool {
	words := 0
	inWord := false
	for _, c := range line[5:] {
		if c == ' ' || c == '\t' || c == '\r' {
			inWord = false
			continue
		}
		if !inWord {
			words++
			inWord = true
		}
	}
	return words <= 1
}

// fromLineAt is fromLineShape for the line at window index c, remembering
// the date it found.
func (r *mboxReader) fromLineAt(c int, line []byte) (strong, weak bool) {
	if !bytes.HasPrefix(line, []byte("From ")) {
		return false, false
	}
	t, ok := fromLineDate(mboxTrimCR(line), r.loc)
	r.fromOff, r.fromDate, r.fromOK = r.off()+int64(c), t, ok
	if ok {
		return true, false
	}
	return false, weakFromShape(line)
}

// isFromShaped reports whether line is a From_ line by its shape alone.
func isFromShaped(line []byte) bool {
	strong, weak := fromLineShape(line)
	return strong || weak
}

// mboxAfterBlankLine reports whether the line starting at w[c] follows an
// empty line.
func mboxAfterBlankLine(w []byte, c int) bool {
	switch {
	case c >= 2 && w[c-2] == '\n':
		return true
	case c >= 3 && w[c-2] == '\r' && w[c-3] == '\n':
		return true
	}
	return false
}

// mboxSkipBlankLines returns the index after the empty lines (LF or CRLF) that
// start at b[i].
func mboxSkipBlankLines(b []byte, i int) int {
	for i < len(b) {
		switch {
		case b[i] == '\n':
			i++
		case b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n':
			i += 2
		default:
			return i
		}
	}
	return i
}

// parseContentLength parses a Content-Length value.
func parseContentLength(v []byte) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
	return n, err == nil && n >= 0
}

// mboxBuilder turns the bytes of one message into a Message, reusing its
// buffers from one message to the next.
type mboxBuilder struct {
	opts    *Options
	from    fromSearch
	quotes  []int
	scratch []byte
	data    []byte
}

// build fills m from seg, the bytes of one message as the scan delimited
// it (From_ line or MMDF delimiter included, up to the next message). kind
// says how seg starts; atEOF that it ends at the end of the file. The
// result depends on nothing else: st, when not nil, holds what the scan
// already knows of seg's content (indexes in seg), which saves reading it
// again, and gives the same result.
func (b *mboxBuilder) build(m *Message, seg []byte, kind mboxKind, atEOF bool, st *mboxStats) {
	var raw []byte
	unquote := false
	contentStart := 0
	// For kindMbox, the header block's length and where the body starts,
	// in the content (after the From_ line).
	hdrLen, bodyAt := -1, -1
	warn := func(format string, args ...any) {
		m.Warnings = append(m.Warnings, fmt.Sprintf(format, args...))
	}
	switch kind {
	case kindMbox:
		var fromLine, content []byte
		if nl := bytes.IndexByte(seg, '\n'); nl >= 0 {
			fromLine, content = seg[:nl], seg[nl+1:]
			contentStart = nl + 1
		} else {
			fromLine, contentStart = seg, len(seg)
			warn("cut short at the end of the file: nothing after the From_ line")
		}
		if st != nil && st.dateKnow {
			if st.dateOK {
				m.Date, m.DateSource = st.date, DateFromLine
			}
		} else if t, ok := fromLineDate(mboxTrimCR(fromLine), b.opts.mboxLocation()); ok {
			m.Date, m.DateSource = t, DateFromLine
		}
		if len(content) > 0 && content[len(content)-1] != '\n' {
			warn("cut short at the end of the file: the last line has no newline")
		}
		raw = mboxTrimSeparatorLine(content)
		unquote = true
		var header, body, v []byte
		var ok bool
		if st != nil {
			header, body = seg[contentStart:st.headerEnd], seg[st.bodyStart:]
			v, ok = st.cl, st.hasCL
		} else {
			header, body = SplitHeader(content)
			v, ok = headerValue(header, "Content-Length")
		}
		hdrLen, bodyAt = len(header), len(content)-len(body)
		if ok {
			bodyLen := int64(len(body))
			n, ok := parseContentLength(v)
			switch {
			case !ok:
				warn("Content-Length %q is not a number; ignored", unfold(v))
			case n <= bodyLen && mboxSkipBlankLines(body, int(n)) == len(body):
				// mboxcl/mboxcl2: the Content-Length delimits the
				// message. Bare From lines in its body mean the writer
				// did not quote (mboxcl2).
				if hasBareFrom(body, contentStart+len(content)-len(body), st) {
					unquote = false
				}
			case n > bodyLen && atEOF:
				warn("cut short at the end of the file: Content-Length is %d but the body has %d bytes", n, bodyLen)
			default:
				warn("Content-Length %d does not match where the message ends (the body has %d bytes); ignored", n, bodyLen)
			}
		}
	default: // kindMMDF, kindOrphan
		content := seg
		if kind == kindMMDF {
			if nl := bytes.IndexByte(content, '\n'); nl >= 0 {
				content = content[nl+1:]
			} else {
				content = nil
			}
		} else {
			warn("no MMDF delimiter before this message")
		}
		// Writers such as Python's mailbox.MMDF put a From_ line first.
		if nl := bytes.IndexByte(content, '\n'); nl >= 0 && isFromShaped(content[:nl]) {
			if t, ok := fromLineDate(mboxTrimCR(content[:nl]), b.opts.mboxLocation()); ok {
				m.Date, m.DateSource = t, DateFromLine
			}
			content = content[nl+1:]
		}
		raw = content
		if c := findMMDFDelim(content); c >= 0 {
			raw = content[:c]
		} else {
			warn("cut short at the end of the file: no closing MMDF delimiter")
		}
	}

	var quotes []int
	if unquote {
		b.quotes = b.quotes[:0]
		if st != nil {
			for _, q := range st.quotes {
				b.quotes = append(b.quotes, q-contentStart)
			}
		} else {
			b.quotes = b.from.quotes(raw, b.quotes)
		}
		quotes = b.quotes
	}
	if st != nil {
		// crlfSize(raw), from the counts of the content: raw lacks the
		// trailing empty line ("\n" or "\r\n") when there was one.
		lf, crlf := st.lf, st.crlf
		switch len(seg) - contentStart - len(raw) {
		case 1:
			lf--
		case 2:
			lf, crlf = lf-1, crlf-1
		}
		m.Size = int64(len(raw)+lf-crlf) - int64(len(quotes))
	} else {
		m.Size = crlfSize(raw) - int64(len(quotes))
	}
	if b.opts.WantData {
		b.data = appendUnquotedCRLF(b.data[:0], raw, quotes)
		m.Data = b.data
	}

	// The header block of raw is that of the content (raw only lacks a
	// trailing empty line), so the scan's split serves.
	var header, body []byte
	if hdrLen >= 0 {
		header, body = raw[:hdrLen], raw[min(bodyAt, len(raw)):]
	} else {
		header, body = SplitHeader(raw)
	}
	hEnd := len(raw) - len(body)
	if len(quotes) > 0 && quotes[0] < hEnd {
		// A quoted line inside the header block: split again after
		// unquoting all of it.
		b.scratch = mboxUnquoteInto(b.scratch[:0], raw, quotes, 0)
		header, body = SplitHeader(b.scratch)
	}
	// One pass over the header for the flags and every field used below.
	var hf headerFields
	var flags flagSet
	forEachField(header, func(name, value []byte) bool {
		hf.add(name, value)
		flags.mboxField(name, value)
		return true
	})
	if len(quotes) > 0 && quotes[0] >= hEnd {
		if v, ok := hf.get(hfMessageID); !ok || NormalizeMessageID(string(v)) == "" {
			// The fingerprint covers the body as uploaded.
			b.scratch = mboxUnquoteInto(b.scratch[:0], raw, quotes, hEnd)
			body = b.scratch
		}
	}
	switch {
	case len(raw) == 0:
		warn("the message is empty")
	case len(header) == 0:
		warn("the message has no header fields")
	}
	m.Flags, m.Deleted = flags.sorted(), flags.deleted
	setCollectedFields(m, &hf, body)
}

// hasBareFrom reports whether body, which starts at index at of the
// message, holds a line starting with "From ". st, when not nil, lists them.
func hasBareFrom(body []byte, at int, st *mboxStats) bool {
	if st == nil {
		return bytes.HasPrefix(body, []byte("From ")) || bytes.Contains(body, []byte("\nFrom "))
	}
	for _, p := range st.bare {
		if p >= at {
			return true
		}
	}
	return false
}

// mboxTrimSeparatorLine removes the one empty line an mbox writer puts before
// the next From_ line, if content ends with an empty line.
func mboxTrimSeparatorLine(content []byte) []byte {
	n := len(content)
	switch {
	case n >= 2 && content[n-1] == '\n' && content[n-2] == '\n':
		return content[:n-1]
	case n >= 3 && content[n-1] == '\n' && content[n-2] == '\r' && content[n-3] == '\n':
		return content[:n-2]
	case n == 1 && content[0] == '\n':
		return content[:0]
	case n == 2 && content[0] == '\r' && content[1] == '\n':
		return content[:0]
	}
	return content
}

// findMMDFDelim returns the index of the first MMDF delimiter line in
// content (which starts at a line start), or -1.
func findMMDFDelim(content []byte) int {
	c := -1
	if bytes.HasPrefix(content, []byte(mmdfDelim)) {
		c = 0
	}
	for {
		if c >= 0 {
			line := content[c:]
			if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
				line = line[:nl]
			}
			if isMMDFDelimLine(line) {
				return c
			}
		}
		from := max(c, 0)
		k := bytes.Index(content[from:], []byte("\n"+mmdfDelim))
		if k < 0 {
			return -1
		}
		c = from + k + 1
	}
}

// quotes appends to dst the index of the first ">" of every quoted From
// line of raw (a line matching ^>+From ), the byte unquoting removes.
func (st *fromSearch) quotes(raw []byte, dst []int) []int {
	for i := 0; ; {
		k := st.index(raw[i:])
		if k < 0 {
			return dst
		}
		p := i + k
		j := p
		for j > 0 && raw[j-1] == '>' {
			j--
		}
		if j < p && (j == 0 || raw[j-1] == '\n') {
			dst = append(dst, j)
		}
		i = p + len("From ")
	}
}

// fromSearch finds "From " as bytes.Index does, faster on mail. Searching
// for "\nFrom " or ">From " would stop bytes.Index at every line or quoted
// line; "From " itself stops it at every F, one byte in 64 of base64. So
// it looks for the F where F is rare (text), and for the space where
// spaces are rare (base64 has none), switching when one gets dense. Either
// way the result is the first "From " of s.
type fromSearch struct {
	space  bool // looking for the space of "From ", not its F
	misses int  // candidates that were not "From " since the last check
	span   int  // bytes those candidates were apart, in total
}

// fromSearchCheck is how many misses fromSearch waits before it checks
// whether the other byte would be rarer; fromSearchDense is the average
// distance between misses below which it switches.
const (
	fromSearchCheck = 32
	fromSearchDense = 128
)

// index returns the index of the first "From " in s, or -1.
func (st *fromSearch) index(s []byte) int {
	for i := 0; ; {
		var j, skipped int
		if st.space {
			if len(s)-i < len("From ") {
				return -1
			}
			k := bytes.IndexByte(s[i+4:], ' ')
			if k < 0 {
				return -1
			}
			j, skipped = i+k, k+1
			if string(s[j:j+4]) == "From" {
				return j
			}
		} else {
			k := bytes.IndexByte(s[i:], 'F')
			if k < 0 {
				return -1
			}
			j, skipped = i+k, k+1
			if len(s)-j >= len("From ") && string(s[j+1:j+5]) == "rom " {
				return j
			}
		}
		i = j + 1
		st.misses++
		st.span += skipped
		if st.misses == fromSearchCheck {
			if st.span < fromSearchCheck*fromSearchDense {
				st.space = !st.space
			}
			st.misses, st.span = 0, 0
		}
	}
}

// appendUnquotedCRLF appends raw to dst without the bytes at the indexes
// quotes, with every bare LF turned into CRLF.
func appendUnquotedCRLF(dst, raw []byte, quotes []int) []byte {
	prev := 0
	for _, q := range quotes {
		dst = appendCRLF(dst, raw[prev:q])
		prev = q + 1
	}
	return appendCRLF(dst, raw[prev:])
}

// mboxUnquoteInto appends raw[from:] to dst without the bytes at the indexes
// quotes.
func mboxUnquoteInto(dst, raw []byte, quotes []int, from int) []byte {
	prev := from
	for _, q := range quotes {
		if q < from {
			continue
		}
		dst = append(dst, raw[prev:q]...)
		prev = q + 1
	}
	return append(dst, raw[prev:]...)
}

// readMboxMessage reads again the message at loc (Offset, Length as Walk
// reported them), with Data.
func readMboxMessage(loc Location, opts *Options) (*Message, error) {
	o := *opts
	o.WantData = true
	where := func(err error) error {
		return fmt.Errorf("mbox %s: message %d at byte %d: %w", loc.Path, loc.Index, loc.Offset, err)
	}
	if loc.Offset < 0 || loc.Length <= 0 {
		return nil, where(fmt.Errorf("invalid location (length %d)", loc.Length))
	}
	file, err := os.Open(loc.Path)
	if err != nil {
		return nil, where(mboxPathErr(err))
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, where(mboxPathErr(err))
	}
	size := st.Size()
	if loc.Offset+loc.Length > size {
		return nil, where(fmt.Errorf("%w (the file has %d bytes, the message was to end at byte %d)", errMboxChanged, size, loc.Offset+loc.Length))
	}
	seg := make([]byte, loc.Length)
	if _, err := file.ReadAt(seg, loc.Offset); err != nil {
		return nil, where(fmt.Errorf("read error: %w", mboxPathErr(err)))
	}
	atEOF := loc.Offset+loc.Length == size

	first := seg
	if nl := bytes.IndexByte(seg, '\n'); nl >= 0 {
		first = seg[:nl]
	}
	var kind mboxKind
	switch {
	case isFromShaped(first):
		kind = kindMbox
	case isMMDFDelimLine(first):
		kind = kindMMDF
	default:
		// Text after an MMDF message: a delimiter line or an empty line
		// comes before it.
		var prev [6]byte
		n := 0
		if loc.Offset >= 2 {
			from := max(loc.Offset-6, 0)
			n, _ = file.ReadAt(prev[:loc.Offset-from], from)
		}
		p := prev[:n]
		if !bytes.HasSuffix(p, []byte(mmdfDelim+"\n")) && !bytes.HasSuffix(p, []byte(mmdfDelim+"\r\n")) &&
			!bytes.HasSuffix(p, []byte("\n\n")) && !bytes.HasSuffix(p, []byte("\n\r\n")) {
			return nil, where(errMboxChanged)
		}
		kind = kindOrphan
	}
	if !atEOF {
		// Something starts right after this message: after an mbox
		// message, always a From_ line.
		var next [len("From ")]byte
		n, _ := file.ReadAt(next[:], loc.Offset+loc.Length)
		if n == 0 || kind == kindMbox && string(next[:n]) != "From " {
			return nil, where(errMboxChanged)
		}
	}
	m := &Message{Loc: loc}
	b := &mboxBuilder{opts: &o}
	b.build(m, seg, kind, atEOF, nil)
	return m, nil
}

// sniffMbox reports whether head, the first bytes of a file (up to 4 KiB),
// is the start of an mbox (or MMDF) file.
func sniffMbox(head []byte) bool {
	head = bytes.TrimPrefix(head, mboxBOM)
	line, rest := mboxNextLine(head)
	for isMboxBlankLine(line) && len(rest) > 0 {
		line, rest = mboxNextLine(rest)
	}
	if isMMDFDelimLine(line) {
		return true
	}
	strong, weak := fromLineShape(line)
	if strong {
		return true
	}
	if !weak {
		return false
	}
	next, _ := mboxNextLine(rest)
	return isFieldLine(mboxTrimCR(next))
}

// mboxNextLine splits b after its first line, returning the line without its LF.
func mboxNextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}
