package importers

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// A scan that does not want the upload bytes (Options.WantData false) of a
// large mbox file runs on several cores: the file is cut into segments of
// mboxSegmentSize bytes, and workers scan them at once, each with its own
// reader, from the first From_ line of its segment through every message
// that starts before the next one. The caller's goroutine hands the
// messages to the Handler in file order and checks that they are the ones
// one scan from the start of the file finds. That check is simple because
// the scan from a message start depends on nothing before it
// (mboxState): a segment's messages from the one where the scan so far
// stands are right. Where the scan so far stands at no message start of
// the next segment (a From_ line inside a message whose Content-Length
// delimits it, MMDF, a segment inside one large message, a worker that
// stopped after mboxSegmentMessages), the caller scans from there itself,
// up to the next start the segment has, and goes on from there. A worker
// that hits a read error or a file that is not an mbox leaves the rest of
// the file to one run from where the scan stands, which reports the
// problem as the one scan would. So the messages, their order and their
// problems are those of the one scan (the tests compare them on every
// fixture and in the fuzz target, with tiny segments), only found sooner.
//
// The work a message costs (finding its end, counting its line endings,
// splitting its header, hashing the ones without a Message-ID) is spread
// over the cores, and so is getting the bytes. Where mapping the file is
// cheap (mboxMapFast), a worker maps it from its segment on and copies
// nothing, and the pages it has read leave resident memory as it goes;
// elsewhere it reads in its own goroutine, so that the bytes are still in
// its core's cache when it looks at them. Memory stays bounded: a buffer
// or a few megabytes of mapped file per worker, and the messages (without
// their bytes) of at most workers+1 segments of at most
// mboxSegmentMessages each.
//
// On the reference VM (2 vCPUs) the parallel scan of a 210 MB mbox ran
// at 0.62-0.67x the speed of cat; the one scan ran at 0.30-0.33x, and the
// parallel one reading instead of mapping at 0.42-0.48x.

const (
	// mboxSegmentSize is how much of the file a worker scans at a time. Each
	// segment costs the message that crosses its start scanned twice, and
	// the last round of segments may keep only some workers busy.
	mboxSegmentSize = 8 << 20
	// mboxSegmentMessages bounds the messages a worker holds for the
	// caller: a segment of tiny messages is left to the caller to finish.
	mboxSegmentMessages = 8192
	// mboxDropAtLeast is how much of a mapped file a worker reads before
	// it drops the pages (mboxDrop).
	mboxDropAtLeast = 1 << 20
	// mboxMapAlign is where a worker's mapping of the file starts: a
	// multiple of it (and of the page size).
	mboxMapAlign = 2 << 20
	// mboxMaxWorkers bounds the workers of one scan, and so its memory.
	mboxMaxWorkers = 4
)

// mboxWorkers returns how many workers scan a file of size bytes: one (no
// parallel scan) for a file of less than two segments, or when one core is
// all the process may use.
func mboxWorkers(size int64) int {
	if size < 2*mboxSegmentSize {
		return 1
	}
	return min(runtime.GOMAXPROCS(0), mboxMaxWorkers, int((size+mboxSegmentSize-1)/mboxSegmentSize))
}

// scanMbox reads the messages of src, an mbox file; see readMbox.
func scanMbox(ctx context.Context, f *Folder, src *os.File, opts *Options, h *Handler) error {
	if !opts.WantData {
		if fi, err := src.Stat(); err == nil && fi.Mode().IsRegular() {
			if w := mboxWorkers(fi.Size()); w > 1 {
				sp := mboxSplit{seg: mboxSegmentSize, workers: w, chunk: mboxChunk, max: mboxSegmentMessages}
				if mboxMapFast(src, fi.Size()) {
					sp.mapFile = src
				}
				return scanMboxParallel(ctx, f, src, fi.Size(), sp, opts, h)
			}
		}
	}
	return scanMboxChunked(ctx, f, src, mboxChunk, opts, h)
}

// mboxSegResult is what a worker found in one segment: its messages, how
// each starts, and the state after the last one (with no messages: where
// the segment's search stopped, kindBeyond at the segment's end when no
// From_ line starts in it).
type mboxSegResult struct {
	msgs        []*Message
	kinds       []mboxKind
	end         mboxState
	problem     *Problem
	err         error
	crash       any // what the worker panicked with, and where
	crashedWith string
}

// start returns the state of the i-th message.
func (r *mboxSegResult) start(i int) mboxState {
	return mboxState{r.msgs[i].Loc.Offset, r.kinds[i]}
}

// mboxParallelScans counts the parallel scans, mboxCatchUps the runs the
// caller made itself, and mboxFallbacks the scans it finished alone after
// a worker's problem (for tests).
var mboxParallelScans, mboxCatchUps, mboxFallbacks atomic.Int64

// mboxSplit is how a parallel scan goes: segments of seg bytes, workers
// workers, chunk bytes read at a time, at most max messages per segment
// (tests use small values of each).
type mboxSplit struct {
	seg                 int64
	workers, chunk, max int
	// mapFile, when not nil, is the file, which the workers map into
	// memory (mboxMap) rather than read, from the start of their segment
	// on. The caller's own runs always read, so that a fault (the file
	// shrank) can only hit a worker.
	mapFile *os.File
}

// scanMboxParallel scans src, of size bytes, as sp says; see above. The
// messages have no Data.
func scanMboxParallel(ctx context.Context, f *Folder, src mboxSource, size int64, sp mboxSplit, opts *Options, h *Handler) error {
	mboxParallelScans.Add(1)
	seg, workers, chunk := sp.seg, sp.workers, sp.chunk
	n := int((size + seg - 1) / seg)
	results := make([]chan mboxSegResult, n)
	for k := range results {
		results[k] = make(chan mboxSegResult, 1)
	}
	// The scan's own pool keeps the workers' buffers from one segment to
	// the next, grown ones too; the standard ones come from the Walk's
	// pool and go back to it.
	pool := &mboxBufPool{keepBig: true}
	opts.mboxBufs.moveBufs(pool)
	defer pool.moveBufs(opts.mboxBufs) // after stop, below
	// A worker takes a token before it takes a segment, and the caller
	// gives it back once it is done with the segment: at most workers+1
	// segments are scanned ahead of the caller. Segments are taken in
	// order, so the one the caller waits for holds a token or can get one.
	tokens := make(chan struct{}, workers+1)
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var next atomic.Int64
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
	}
	defer stop()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := &mboxBuilder{opts: opts} // its buffers serve every segment
			for {
				select {
				case tokens <- struct{}{}:
				case <-wctx.Done():
					return
				}
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				results[k] <- scanMboxSegment(wctx, f, src, size, sp, k, n, opts, pool, b)
			}
		}()
	}

	m := &mboxMerge{ctx: ctx, f: f, src: src, chunk: chunk, opts: opts, pool: pool, h: h, atStart: true}
	for k := range n {
		var res mboxSegResult
		select {
		case res = <-results[k]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if res.crash != nil {
			panic(fmt.Sprintf("mbox scan of %s: %v\n%s", f.Path, res.crash, res.crashedWith))
		}
		if res.err != nil {
			return res.err // only ctx's: the workers' emit never fails
		}
		if res.problem != nil {
			// A read error, or a file that is not an mbox: one run from
			// where the scan stands finds it again, where the one scan
			// would, with the right message index.
			stop()
			mboxFallbacks.Add(1)
			_, err := m.span(math.MaxInt64)
			return err
		}
		done, err := m.segment(&res)
		if done || err != nil {
			return err
		}
		<-tokens
	}
	if m.atStart || m.want.kind != kindEOF {
		stop()
		_, err := m.span(math.MaxInt64)
		return err
	}
	return nil
}

// mboxMerge hands on the messages of a parallel scan in the caller's
// goroutine, and scans itself what the workers' results do not cover.
type mboxMerge struct {
	ctx   context.Context
	f     *Folder
	src   mboxSource
	chunk int
	opts  *Options
	pool  *mboxBufPool
	h     *Handler
	index int       // messages handed on
	want  mboxState // where the scan stands: the next message
	// atStart: nothing is scanned yet; want means the start of the file.
	atStart bool
}

// segment hands on the messages of res from where the scan stands on,
// scanning up to them itself where needed. It reports done when the scan
// has ended.
func (m *mboxMerge) segment(res *mboxSegResult) (done bool, err error) {
	i := 0
	for {
		if !m.atStart && m.want.kind == kindEOF {
			return true, nil
		}
		if m.atStart {
			// Only segment 0 comes first, and its worker began at the
			// start of the file, as the one scan does.
			for _, msg := range res.msgs {
				if err := m.message(msg); err != nil {
					return true, err
				}
			}
			m.atStart, m.want = false, res.end
			return m.want.kind == kindEOF, nil
		}
		for i < len(res.msgs) && res.start(i).off <= m.want.off && !res.start(i).same(m.want) {
			i++
		}
		if i < len(res.msgs) && res.start(i).same(m.want) {
			for _, msg := range res.msgs[i:] {
				if err := m.message(msg); err != nil {
					return true, err
				}
			}
			m.want = res.end
			return m.want.kind == kindEOF, nil
		}
		// The scan stands at none of the segment's starts: scan up to the
		// next one after where it stands, or through the segment.
		var limit int64
		switch {
		case i < len(res.msgs):
			limit = res.start(i).off
		case res.end.kind == kindEOF:
			limit = math.MaxInt64
		default:
			limit = res.end.off
		}
		if m.want.off >= limit {
			return false, nil
		}
		mboxCatchUps.Add(1)
		if done, err := m.span(limit); done || err != nil {
			return true, err
		}
	}
}

// message hands on msg, a worker's, numbered in the one scan's order.
func (m *mboxMerge) message(msg *Message) error {
	m.index++
	msg.Loc.Index = m.index
	return m.h.message(msg)
}

// span scans from where the scan stands through the messages that start
// before limit, in the caller's goroutine. It reports done when the scan
// has ended: at the end of the file, or with a problem, which it reports.
func (m *mboxMerge) span(limit int64) (done bool, err error) {
	sp := mboxSpan{f: m.f, src: &mboxAt{ra: m.src}, chunk: m.chunk, opts: m.opts, pool: m.pool, limit: limit, index: m.index}
	begin := mboxBegin{how: beginFile}
	if !m.atStart {
		begin = mboxBegin{how: beginState, state: m.want}
	}
	end, p, err := sp.run(m.ctx, begin, func(msg *Message, _ mboxKind) error {
		m.index = msg.Loc.Index
		return m.h.message(msg)
	})
	if err != nil {
		return true, err
	}
	if p != nil {
		m.h.problem(p.Path, p.Offset, p.Index, "%s", p.Err)
		return true, nil
	}
	m.atStart, m.want = false, end
	return end.kind == kindEOF, nil
}

// scanMboxSegment is a worker's scan of segment k of n of src, a file of
// size bytes: from the start of the file (k = 0) or the first From_ line
// at or after the segment's start, through the messages that start before
// the next segment, or before the end of the file for the last, and at
// most split.max of them.
func scanMboxSegment(ctx context.Context, f *Folder, src mboxSource, size int64, split mboxSplit, k, n int, opts *Options, pool *mboxBufPool, b *mboxBuilder) (res mboxSegResult) {
	var mapped []byte
	defer func() {
		if v := recover(); v != nil {
			if fault, ok := v.(interface{ Addr() uintptr }); ok && mapped != nil {
				// The file shrank under the mapping: the caller reads on
				// from where the scan stands, and finds what is there now.
				res = mboxSegResult{problem: &Problem{Path: f.Path, Offset: int64(k) * split.seg,
					Err: fmt.Sprintf("the file changed while it was read (fault at %#x)", fault.Addr())}}
				return
			}
			res = mboxSegResult{crash: v, crashedWith: string(debug.Stack())}
		}
	}()
	limit := int64(k+1) * split.seg
	if k == n-1 {
		limit = math.MaxInt64
	}
	sp := mboxSpan{f: f, src: &mboxAt{ra: src}, chunk: split.chunk, opts: opts, pool: pool, limit: limit, max: split.max, sync: true, b: b}
	begin := mboxBegin{how: beginFile}
	if k > 0 {
		begin = mboxBegin{how: beginSearch, off: int64(k) * split.seg}
	}
	// Map the file from the 2 MB boundary before where the segment's
	// search starts (3 bytes before the segment: a From_ line there may
	// follow an empty line) to its end: a fault maps a large folio of the
	// page cache at once only where the mapping and the file are aligned
	// alike. The pages read leave resident memory as the scan
	// goes, a megabyte or more at a time, all of them from the start each
	// time (a fault may map a whole large folio again, behind the scan),
	// and with the mapping at the end.
	page := int64(os.Getpagesize())
	sp.mappedAt = max(0, int64(k)*split.seg-3) / mboxMapAlign * mboxMapAlign
	if split.mapFile != nil {
		if m, err := mboxMap(split.mapFile, sp.mappedAt, size-sp.mappedAt); err == nil {
			mapped, sp.mapped = m, m
			defer mboxUnmap(m)
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		}
	}
	var dropped int64
	res.end, res.problem, res.err = sp.run(ctx, begin, func(m *Message, kind mboxKind) error {
		res.msgs = append(res.msgs, m)
		res.kinds = append(res.kinds, kind)
		if to := (m.Loc.Offset - sp.mappedAt) / page * page; mapped != nil && to-dropped >= mboxDropAtLeast {
			mboxDrop(mapped[:to])
			dropped = to
		}
		return nil
	})
	return res
}
