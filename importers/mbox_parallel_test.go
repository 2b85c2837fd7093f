package importers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scanMboxParallelBytes scans data as an mbox file the parallel way, as sp
// says.
func scanMboxParallelBytes(t testing.TB, path string, src mboxSource, size int64, sp mboxSplit, opts Options) mboxRun {
	t.Helper()
	var run mboxRun
	f := &Folder{Name: "test", Format: FormatMbox, Path: path}
	h := Handler{
		Message: func(m *Message) error {
			if m.Data != nil {
				t.Errorf("%v: parallel scan built Data", m.Loc)
			}
			run.msgs = append(run.msgs, m)
			return nil
		},
		Problem: func(p Problem) { run.problems = append(run.problems, p) },
	}
	opts.WantData = false
	if err := scanMboxParallel(context.Background(), f, src, size, sp, &opts, &h); err != nil {
		t.Fatalf("scanMboxParallel(%s, %+v): %v", path, sp, err)
	}
	return run
}

// mboxSplits are the ways checkMboxParallel cuts a file of size bytes:
// segments from a few bytes (every From_ line in its own segment, most
// segments inside a message) to a third of the file, 2 or 3 workers,
// reads of a few bytes or a page, and a message cap that leaves most of a
// segment to the caller.
func mboxSplits(size int) []mboxSplit {
	// Keep the number of segments, each a scan of its own, in bounds for
	// large files.
	least := int64(size/100 + 1)
	var out []mboxSplit
	for i, seg := range []int64{7, 64, 700, int64(size/3 + 1)} {
		seg = max(seg, least)
		out = append(out, mboxSplit{seg: seg, workers: 2 + i%2, chunk: []int{5, 4096}[i%2], max: []int{1 << 20, 1, 2}[i%3]})
	}
	return out
}

// checkMboxParallel checks that the parallel scan of data, cut every way
// mboxSplits says, gives the messages and problems of want, the one
// scan's. checkMboxInvariants and FuzzMbox run it, so every mbox fixture,
// every corpus file and every fuzz input gets it; scanMboxParallel is
// called directly, as readMbox only takes it for files of two segments
// (16 MB) or more.
func checkMboxParallel(t testing.TB, path string, data []byte, want mboxRun, opts Options) {
	t.Helper()
	compare := func(how string, sp mboxSplit, got mboxRun) {
		t.Helper()
		sp.mapFile = nil
		if len(got.msgs) != len(want.msgs) || !reflect.DeepEqual(got.problems, want.problems) {
			t.Fatalf("parallel, %s, %+v: %d messages %v; the one scan: %d messages %v", how, sp, len(got.msgs), got.problems, len(want.msgs), want.problems)
		}
		for i, m := range got.msgs {
			if d := sameMessage(m, want.msgs[i], false); d != "" {
				t.Fatalf("parallel, %s, %+v: %s", how, sp, d)
			}
		}
	}
	for _, sp := range mboxSplits(len(data)) {
		compare("read", sp, scanMboxParallelBytes(t, path, bytes.NewReader(data), int64(len(data)), sp, opts))
	}
	// The workers read the file mapped into memory, as readMbox has them
	// where that is cheap (mboxMapFast). The messages are compared once
	// the mappings are gone: one that kept a byte of them would crash the
	// test.
	if len(data) == 0 {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, sp := range mboxSplits(len(data))[1:3] {
		sp.mapFile = f
		got := scanMboxParallelBytes(t, path, f, int64(len(data)), sp, opts)
		compare("mapped", sp, got)
	}
}

// tricky writes an mbox of n messages that mixes everything where a
// segment's search can go wrong: mboxcl2 messages whose bodies hold bare
// From_ lines after empty lines (a right Content-Length says they are
// content), quoted and bare "From " lines, CRLF messages, messages far
// larger than a segment, and runs of tiny messages.
func tricky(rng *rand.Rand, n int, mmdf bool) []byte {
	var b bytes.Buffer
	if rng.IntN(2) == 0 {
		b.WriteString("\xef\xbb\xbf\n")
	}
	date := time.Date(2003, 4, 5, 6, 7, 8, 0, time.UTC)
	for i := range n {
		date = date.Add(time.Duration(rng.IntN(100000)) * time.Second)
		eol := "\n"
		if rng.IntN(4) == 0 {
			eol = "\r\n"
		}
		var body strings.Builder
		switch rng.IntN(6) {
		case 0: // a bare From_ line, with a date, inside a Content-Length body
			fmt.Fprintf(&body, "text%s%sFrom inner@example.com %s%sSubject: not a message%s%smore%s",
				eol, eol, date.Format(time.ANSIC), eol, eol, eol, eol)
		case 1: // quoted From lines
			fmt.Fprintf(&body, "a%s>From x%s>>From y%s%sFrom here on, prose%s", eol, eol, eol, eol, eol)
		case 2: // a message several segments long
			line := strings.Repeat("x", 70) + eol
			for range 20 + rng.IntN(200) {
				body.WriteString(line)
			}
		case 3: // nothing
		default:
			fmt.Fprintf(&body, "body %d%s", i, eol)
		}
		hdr := fmt.Sprintf("From: s%d@example.com%sSubject: m%d%s", i, eol, i, eol)
		if rng.IntN(3) > 0 {
			hdr += fmt.Sprintf("Message-ID: <%d.%d@example.com>%s", i, rng.IntN(5), eol)
		}
		if rng.IntN(5) == 0 {
			hdr += "Status: RO" + eol
		}
		if mmdf && rng.IntN(2) == 0 {
			fmt.Fprintf(&b, "\x01\x01\x01\x01%s%s%s%s\x01\x01\x01\x01%s", eol, hdr, eol, body.String(), eol)
			continue
		}
		if body.Len() > 0 && strings.Contains(body.String(), "From inner") || rng.IntN(4) == 0 {
			cl := body.Len()
			if rng.IntN(5) == 0 {
				cl += rng.IntN(7) - 3 // a wrong one now and then
			}
			hdr += fmt.Sprintf("Content-Length: %d%s", cl, eol)
		}
		fmt.Fprintf(&b, "From s%d@example.com %s%s%s%s%s", i, date.Format(time.ANSIC), eol, hdr, eol, body.String())
		if i < n-1 || rng.IntN(2) == 0 {
			b.WriteString(eol)
		}
	}
	if rng.IntN(4) == 0 { // cut short
		b.Truncate(b.Len() - rng.IntN(min(b.Len(), 40)))
	}
	return b.Bytes()
}

// TestMboxParallelTricky compares the parallel scan with the one scan on
// generated files, and checks that the ways the caller catches up are all
// taken: runs of its own between a worker's messages, and (after a read
// error) the rest of the file alone.
func TestMboxParallelTricky(t *testing.T) {
	catchUps := mboxCatchUps.Load()
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	for i := range 24 {
		data := tricky(rng, 5+rng.IntN(40), i%3 == 0)
		path := filepath.Join(dir, fmt.Sprintf("tricky%d.mbox", i))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			checkMboxInvariants(t, path, Options{MboxLocation: time.UTC})
		})
	}
	if mboxCatchUps.Load() == catchUps {
		t.Errorf("the caller never scanned a span itself: the merge is not exercised")
	}
}

// failingAt is a file that cannot be read past failAt.
type failingAt struct {
	r      *bytes.Reader
	failAt int64
}

var errDisk = errors.New("input/output error")

func (f *failingAt) Read(p []byte) (int, error) { panic("the parallel scan reads with ReadAt") }

func (f *failingAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.failAt {
		return 0, errDisk
	}
	if rest := f.failAt - off; int64(len(p)) > rest {
		n, _ := f.r.ReadAt(p[:rest], off)
		return n, errDisk
	}
	return f.r.ReadAt(p, off)
}

// TestMboxParallelReadError: a read error anywhere gives the problem the
// one scan gives (same offset, message index and text), after the same
// messages, whichever segment's worker meets it.
func TestMboxParallelReadError(t *testing.T) {
	fallbacks := mboxFallbacks.Load()
	rng := rand.New(rand.NewPCG(3, 4))
	data := tricky(rng, 80, false)
	f := &Folder{Name: "test", Format: FormatMbox, Path: "bad.mbox"}
	for _, failAt := range []int64{0, 1, 100, int64(len(data) / 3), int64(len(data) / 2), int64(len(data) - 1)} {
		var want mboxRun
		h := Handler{
			Message: func(m *Message) error { want.msgs = append(want.msgs, m); return nil },
			Problem: func(p Problem) { want.problems = append(want.problems, p) },
		}
		src := &mboxAt{ra: &failingAt{bytes.NewReader(data), failAt}}
		if err := scanMboxChunked(context.Background(), f, src, 64, &Options{}, &h); err != nil {
			t.Fatal(err)
		}
		if len(want.problems) != 1 || !strings.Contains(want.problems[0].Err, "input/output error") {
			t.Fatalf("fail at %d: the one scan reports %v", failAt, want.problems)
		}
		for _, sp := range mboxSplits(len(data)) {
			got := scanMboxParallelBytes(t, "bad.mbox", &failingAt{bytes.NewReader(data), failAt}, int64(len(data)), sp, Options{})
			if len(got.msgs) != len(want.msgs) || !reflect.DeepEqual(got.problems, want.problems) {
				t.Fatalf("fail at %d, %+v: %d messages %v; the one scan: %d messages %v", failAt, sp, len(got.msgs), got.problems, len(want.msgs), want.problems)
			}
			for i, m := range got.msgs {
				if d := sameMessage(m, want.msgs[i], false); d != "" {
					t.Fatalf("fail at %d, %+v: %s", failAt, sp, d)
				}
			}
		}
	}
	if mboxFallbacks.Load() == fallbacks {
		t.Errorf("no worker's problem left the rest to the caller: the fallback is not exercised")
	}
}

// TestMboxParallelHandlerError: the handler's error and cancellation stop
// the parallel scan, and no worker outlives it (the race detector and the
// read counter would see one).
func TestMboxParallelHandlerError(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	data := tricky(rng, 200, false)
	stopErr := errors.New("enough")
	for _, after := range []int{1, 50, 150} {
		src := &countingAt{r: bytes.NewReader(data)}
		n := 0
		h := Handler{Message: func(m *Message) error {
			n++
			if n == after {
				return stopErr
			}
			return nil
		}}
		sp := mboxSplit{seg: 512, workers: 3, chunk: 256, max: 1 << 20}
		err := scanMboxParallel(context.Background(), &Folder{Path: "x.mbox"}, src, int64(len(data)), sp, &Options{}, &h)
		if !errors.Is(err, stopErr) || n != after {
			t.Errorf("after %d: err %v, %d messages", after, err, n)
		}
		reads := src.reads.Load()
		time.Sleep(10 * time.Millisecond)
		if src.reads.Load() != reads {
			t.Errorf("after %d: the file is still read after the scan returned", after)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	h := Handler{Message: func(m *Message) error { cancel(); return nil }}
	sp := mboxSplit{seg: 512, workers: 2, chunk: 256, max: 1 << 20}
	err := scanMboxParallel(ctx, &Folder{Path: "x.mbox"}, bytes.NewReader(data), int64(len(data)), sp, &Options{}, &h)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err %v", err)
	}
}

// countingAt counts the reads of a file.
type countingAt struct {
	r     *bytes.Reader
	reads atomic.Int64
}

func (c *countingAt) Read(p []byte) (int, error) { panic("the parallel scan reads with ReadAt") }

func (c *countingAt) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.r.ReadAt(p, off)
}

var _ io.ReaderAt = (*countingAt)(nil)

// TestMboxParallelReadMbox: readMbox takes the parallel scan for a file of
// several segments, and it gives what the one scan gives, message by
// message.
func TestMboxParallelReadMbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.mbox")
	size, count := writeBenchMbox(t, path, 3*mboxSegmentSize+12345)
	if w := mboxWorkers(size); w < 2 {
		t.Skipf("GOMAXPROCS=%d: readMbox scans on one core here", runtime.GOMAXPROCS(0))
	}
	calls := mboxParallelScans.Load()
	par := readMboxFile(t, path, Options{})
	if mboxParallelScans.Load() == calls {
		t.Fatalf("readMbox did not scan %d bytes in parallel", size)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	one := scanMboxBytes(t, path, data, mboxChunk, 0, Options{})
	if len(one.msgs) != count || len(par.msgs) != count || len(par.problems)+len(one.problems) != 0 {
		t.Fatalf("parallel: %d messages %v; one scan: %d %v; written: %d", len(par.msgs), par.problems, len(one.msgs), one.problems, count)
	}
	for i, m := range par.msgs {
		if d := sameMessage(m, one.msgs[i], false); d != "" {
			t.Fatalf("parallel scan differs: %s", d)
		}
	}
}

// TestMboxParallelFileShrank: when the file shrinks under the mapping, a
// worker that reads where it was faults instead of crashing the program,
// and the caller reads on from where the scan stands: the scan finds what
// a scan of the file as it is now finds.
func TestMboxParallelFileShrank(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	data := tricky(rng, 300, false)
	for len(data) < 64<<10 {
		data = append(data, tricky(rng, 300, false)...)
	}
	path := filepath.Join(t.TempDir(), "shrinking.mbox")
	fallbacks := mboxFallbacks.Load()
	for _, cut := range []int{len(data) / 2, len(data)/3 + 4096, len(data) - 8192} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, int64(cut)); err != nil {
			t.Fatal(err)
		}
		want := scanMboxBytes(t, path, data[:cut], 4096, 0, Options{})
		// The scan is told the size the file had: the workers map it all.
		sp := mboxSplit{seg: 4096, workers: 2, chunk: 4096, max: 1 << 20, mapFile: f}
		got := scanMboxParallelBytes(t, path, f, int64(len(data)), sp, Options{})
		f.Close()
		if len(got.msgs) != len(want.msgs) || !reflect.DeepEqual(got.problems, want.problems) {
			t.Fatalf("cut at %d: %d messages %v; the file as it is: %d messages %v", cut, len(got.msgs), got.problems, len(want.msgs), want.problems)
		}
		for i, msg := range got.msgs {
			if d := sameMessage(msg, want.msgs[i], false); d != "" {
				t.Fatalf("cut at %d: %s", cut, d)
			}
		}
	}
	if mboxFallbacks.Load() == fallbacks && runtime.GOOS == "linux" {
		t.Errorf("no worker faulted: the test did not shrink the file under a worker")
	}
}
