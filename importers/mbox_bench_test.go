package importers

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The benchmarks read a generated mbox of realistic mail (not timed):
// messages of 2-20 KB of text with headers and quoted replies, some with
// base64 attachments of 100 KB-2 MB, some with quoted ">From " body lines,
// some without a Message-ID.
//
//	go test -run=XXX -bench=Mbox -benchtime=5x ./importers/
//
// BenchmarkScanMbox is what a scan costs (Size and Key, no upload bytes);
// BenchmarkReadFileBaseline reads the same file with a 128 KiB buffer and
// does nothing else, the equivalent of cat FILE >/dev/null on a warm page
// cache. The target is a scan at least half as fast as the baseline.
// BenchmarkScanVsRead runs both on one file in turns and reports the ratio
// of their speeds, scan/read, which is the number to look at on a machine
// that other jobs share: a load that comes and goes weighs on both alike.
//
//	go test -run=XXX -bench=ScanVsRead -benchtime=15x ./importers/
//
// BenchmarkScanVsReadMaildir does the same for a Maildir of 20,000
// generated message files: Walk against reading every file once.
//
// With ARCHIVE2IMAP_BENCH_1GB=1, BenchmarkScanMbox1GB scans a 1 GB file and
// reports the peak RSS of the process, which must stay under 64 MB: memory
// follows the largest message, not the file. Run it alone, as the peak is
// the process's:
//
//	ARCHIVE2IMAP_BENCH_1GB=1 go test -run=XXX -bench=ScanMbox1GB -benchtime=1x ./importers/

const benchMboxSize = 200 << 20

// benchMailer generates realistic messages; the same seed gives the same
// messages.
type benchMailer struct {
	rng       *rand.Rand
	words     []string
	people    []string
	line      []byte
	att, b64  []byte
	n         int
	start     time.Time
	maxAttach int // bytes of base64 at most in an attachment
}

func newBenchMailer() *benchMailer {
	return &benchMailer{
		rng: rand.New(rand.NewPCG(1, 2)),
		words: strings.Fields("the of and to a in is it you that he was for on are with as I his they be at one " +
			"have this from or had by hot word but what some we can out other were all there when up use your how said " +
			"an each she which do their time if will way about many then them write would like so these her long make " +
			"thing see him two has look more day could go come did number sound no most people my over know water than " +
			"call first who may down side been now find any new work part take get place made live where after back little"),
		people:    []string{"alice@example.com", "bob@example.org", "carol@lists.example.net", "dave@example.co.uk", "eve@mail.example"},
		line:      make([]byte, 0, 100),
		att:       make([]byte, 57*100),
		b64:       make([]byte, base64.StdEncoding.EncodedLen(57)),
		start:     time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
		maxAttach: 2 << 20,
	}
}

func (g *benchMailer) sentence() []byte {
	g.line = g.line[:0]
	for len(g.line) < 60+g.rng.IntN(15) {
		if len(g.line) > 0 {
			g.line = append(g.line, ' ')
		}
		g.line = append(g.line, g.words[g.rng.IntN(len(g.words))]...)
	}
	return append(g.line, '\n')
}

// message writes the next message to w, as it lies in an mbox file (a
// From_ line first, an empty line after it) when mbox is true, and returns
// its delivery time and how many bytes it wrote.
func (g *benchMailer) message(w *bufio.Writer, mbox bool) (time.Time, int64) {
	rng := g.rng
	g.n++
	n := g.n
	t := g.start.Add(time.Duration(n) * 37 * time.Minute)
	from := g.people[rng.IntN(len(g.people))]
	var b strings.Builder
	if mbox {
		fmt.Fprintf(&b, "From %s %s\n", from, t.Format("Mon Jan _2 15:04:05 2006"))
	}
	fmt.Fprintf(&b, "Return-Path: <%s>\n", from)
	for i := 0; i < 2+rng.IntN(3); i++ {
		fmt.Fprintf(&b, "Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])\n\tby mail.example.com with ESMTP id %x;\n\t%s\n",
			i, i, rng.IntN(255), rng.Uint64(), t.Add(-time.Duration(i)*time.Second).Format(time.RFC1123Z))
	}
	fmt.Fprintf(&b, "From: %s\nTo: %s\nSubject: Re: %s\nDate: %s\n", from, g.people[rng.IntN(len(g.people))], strings.TrimSpace(string(g.sentence()[:30])), t.Format(time.RFC1123Z))
	if rng.IntN(20) != 0 { // 5% have no Message-ID
		fmt.Fprintf(&b, "Message-ID: <%d.%x@example.com>\n", n, rng.Uint64())
	}
	fmt.Fprintf(&b, "MIME-Version: 1.0\nStatus: RO\nX-Mozilla-Status: 0001\n")
	attach := rng.IntN(50) == 0 // 2% carry an attachment
	if attach {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\nContent-Type: text/plain\n\n", n, n)
	} else {
		b.WriteString("Content-Type: text/plain; charset=us-ascii\n\n")
	}
	w.WriteString(b.String())
	written := int64(b.Len())

	text := 2<<10 + rng.IntN(18<<10)
	for t := 0; t < text; {
		var l []byte
		switch r := rng.IntN(100); {
		case r < 25:
			l = append([]byte("> "), g.sentence()...)
		case r < 26 && rng.IntN(4) == 0:
			l = append([]byte(">From "), g.sentence()...) // a quoted From line
		default:
			l = g.sentence()
		}
		w.Write(l)
		t += len(l)
		written += int64(len(l))
	}
	if attach {
		s := fmt.Sprintf("\n--b%d\nContent-Type: application/octet-stream; name=\"data.bin\"\nContent-Transfer-Encoding: base64\n\n", n)
		w.WriteString(s)
		written += int64(len(s))
		for left := min(100<<10+rng.IntN(1900<<10), g.maxAttach); left > 0; {
			for i := range g.att {
				g.att[i] = byte(rng.Uint32())
			}
			for i := 0; i+57 <= len(g.att) && left > 0; i += 57 {
				base64.StdEncoding.Encode(g.b64, g.att[i:i+57])
				w.Write(g.b64)
				w.WriteByte('\n')
				left -= len(g.b64) + 1
				written += int64(len(g.b64) + 1)
			}
		}
		s = fmt.Sprintf("--b%d--\n", n)
		w.WriteString(s)
		written += int64(len(s))
	}
	if mbox {
		w.WriteString("\n")
		written++
	}
	return t, written
}

// writeBenchMbox writes an mbox of at least size bytes to path and returns
// its size and message count. The same seed gives the same file.
func writeBenchMbox(tb testing.TB, path string, size int64) (int64, int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	g := newBenchMailer()
	var written int64
	for written < size {
		_, n := g.message(w, true)
		written += n
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return written, g.n
}

// benchMaildirFiles is the size of the Maildir the benchmarks read.
const benchMaildirFiles = 20000

// writeBenchMaildir writes a Maildir of count messages under dir (one in
// ten in new/, the others in cur/ as seen, some answered) and returns its
// size. Attachments are up to 500 KB, to keep the tree near 300 MB.
func writeBenchMaildir(tb testing.TB, dir string, count int) int64 {
	tb.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	g := newBenchMailer()
	g.maxAttach = 500 << 10
	w := bufio.NewWriterSize(nil, 64<<10)
	var size int64
	for i := 0; i < count; i++ {
		t := g.start.Add(time.Duration(i+1) * 37 * time.Minute)
		name := filepath.Join("cur", fmt.Sprintf("%d.M%dP%d.bench:2,S", t.Unix(), i, 4242))
		switch {
		case i%10 == 9:
			name = filepath.Join("new", fmt.Sprintf("%d.M%dP%d.bench", t.Unix(), i, 4242))
		case i%7 == 0:
			name = filepath.Join("cur", fmt.Sprintf("%d.M%dP%d.bench:2,RS", t.Unix(), i, 4242))
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			tb.Fatal(err)
		}
		w.Reset(f)
		_, n := g.message(w, false)
		size += n
		if err := w.Flush(); err != nil {
			tb.Fatal(err)
		}
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	return size
}

// benchScan reads path with readMbox and checks the message count.
func benchScan(b *testing.B, path string, size int64, count int, wantData bool) {
	f := &Folder{Path: path}
	opts := &Options{WantData: wantData}
	var n int
	var bytes int64
	h := Handler{
		Message: func(m *Message) error {
			n++
			bytes += m.Size
			return nil
		},
		Problem: func(p Problem) { b.Fatalf("problem: %v", p) },
	}
	b.SetBytes(size)
	cpu := startCPU()
	b.ResetTimer()
	for b.Loop() {
		n, bytes = 0, 0
		if err := readMbox(context.Background(), f, opts, &h); err != nil {
			b.Fatal(err)
		}
		if n != count {
			b.Fatalf("%d messages, want %d", n, count)
		}
	}
	cpu.report(b, size)
	b.ReportMetric(float64(bytes)/float64(n), "upload-bytes/msg")
}

// cpuClock measures the CPU time (user and system) the process used, which
// other jobs on a shared machine inflate much less than wall time.
type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{cpuTime()} }

// report adds the throughput per CPU second, "cpu-MB/s".
func (c cpuClock) report(b *testing.B, size int64) {
	if d := cpuTime() - c.start; d > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/1e6/d.Seconds(), "cpu-MB/s")
	}
}

func BenchmarkScanMbox(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.mbox")
	size, count := writeBenchMbox(b, path, benchMboxSize)
	benchScan(b, path, size, count, false)
}

func BenchmarkReadMboxWithData(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.mbox")
	size, count := writeBenchMbox(b, path, benchMboxSize)
	benchScan(b, path, size, count, true)
}

// readFileBaseline reads path to its end with a 128 KiB buffer, as cat
// does, and returns how many bytes it read.
func readFileBaseline(tb testing.TB, path string, buf []byte) int64 {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var total int64
	for {
		n, err := f.Read(buf)
		total += int64(n)
		if err == io.EOF {
			return total
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func BenchmarkReadFileBaseline(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.mbox")
	size, _ := writeBenchMbox(b, path, benchMboxSize)
	buf := make([]byte, 128<<10)
	b.SetBytes(size)
	cpu := startCPU()
	b.ResetTimer()
	for b.Loop() {
		if total := readFileBaseline(b, path, buf); total != size {
			b.Fatalf("read %d bytes, want %d", total, size)
		}
	}
	cpu.report(b, size)
}

// turns times two ways of reading the same bytes, taking turns, and
// reports the median speed of each (a pass runs once per iteration) and
// the ratio of the medians, scan/read.
func turns(b *testing.B, size int64, read, scan func()) {
	var reads, scans []time.Duration
	read() // warm the page cache and the heap
	scan()
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		read()
		reads = append(reads, time.Since(t))
		t = time.Now()
		scan()
		scans = append(scans, time.Since(t))
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	r, s := median(reads), median(scans)
	b.ReportMetric(float64(size)/1e6/r.Seconds(), "read-MB/s")
	b.ReportMetric(float64(size)/1e6/s.Seconds(), "scan-MB/s")
	b.ReportMetric(r.Seconds()/s.Seconds(), "scan/read")
	b.ReportMetric(0, "ns/op") // the time of a turn says nothing
}

// BenchmarkScanVsRead: the mbox scan (readMbox, WantData false) against
// reading the same file once; the target is scan/read >= 0.5.
func BenchmarkScanVsRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.mbox")
	size, count := writeBenchMbox(b, path, benchMboxSize)
	buf := make([]byte, 128<<10)
	n := 0
	h := Handler{
		Message: func(*Message) error { n++; return nil },
		Problem: func(p Problem) { b.Fatalf("problem: %v", p) },
	}
	scan := func() {
		n = 0
		if err := readMbox(context.Background(), &Folder{Path: path}, &Options{}, &h); err != nil || n != count {
			b.Fatalf("readMbox: %d messages, want %d; %v", n, count, err)
		}
	}
	turns(b, size, func() {
		if total := readFileBaseline(b, path, buf); total != size {
			b.Fatalf("read %d bytes, want %d", total, size)
		}
	}, scan)
	// The issue's own yardstick: cat FILE >/dev/null, a process of its
	// own, against the scan, in turns as above.
	cat, err := exec.LookPath("cat")
	if err != nil {
		return
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	var cats, scans []time.Duration
	for range 5 {
		cmd := exec.Command(cat, path)
		cmd.Stdout = null
		t := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("cat: %v", err)
		}
		cats = append(cats, time.Since(t))
		t = time.Now()
		scan()
		scans = append(scans, time.Since(t))
	}
	slices.Sort(cats)
	slices.Sort(scans)
	c, sc := cats[len(cats)/2], scans[len(scans)/2]
	b.ReportMetric(float64(size)/1e6/c.Seconds(), "cat-MB/s")
	b.ReportMetric(c.Seconds()/sc.Seconds(), "scan/cat")
}

// BenchmarkScanVsReadMaildir: Walk over a Maildir of 20,000 files
// (WantData false) against reading each of its files once, as
// cat cur/* new/* >/dev/null does.
func BenchmarkScanVsReadMaildir(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "Maildir")
	size := writeBenchMaildir(b, dir, benchMaildirFiles)
	buf := make([]byte, 128<<10)
	n := 0
	h := Handler{
		Message: func(*Message) error { n++; return nil },
		Problem: func(p Problem) { b.Fatalf("problem: %v", p) },
	}
	turns(b, size, func() {
		var total int64
		for _, sub := range []string{"cur", "new"} {
			entries, err := os.ReadDir(filepath.Join(dir, sub))
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range entries {
				total += readFileBaseline(b, filepath.Join(dir, sub, e.Name()), buf)
			}
		}
		if total != size {
			b.Fatalf("read %d bytes, want %d", total, size)
		}
	}, func() {
		n = 0
		if err := Walk(context.Background(), dir, Options{}, h); err != nil || n != benchMaildirFiles {
			b.Fatalf("Walk: %d messages, want %d; %v", n, benchMaildirFiles, err)
		}
	})
}

func BenchmarkScanMbox1GB(b *testing.B) {
	if os.Getenv("ARCHIVE2IMAP_BENCH_1GB") == "" {
		b.Skip("set ARCHIVE2IMAP_BENCH_1GB=1 to scan a generated 1 GB mbox and report the peak RSS")
	}
	path := filepath.Join(b.TempDir(), "bench1g.mbox")
	size, count := writeBenchMbox(b, path, 1<<30)
	benchScan(b, path, size, count, false)
	peak, ok := peakRSS()
	if !ok {
		b.Skip("the peak RSS is only measured on Linux")
	}
	b.ReportMetric(peak, "peak-RSS-MB")
	if peak >= 64 {
		b.Errorf("peak RSS %.1f MB, want under 64 MB", peak)
	}
}

// TestWriteBenchMbox writes the benchmarks' mbox to the path in
// ARCHIVE2IMAP_BENCH_MBOX (of ARCHIVE2IMAP_BENCH_MBOX_MB megabytes, 200 by
// default), to time the built command on it against cat:
//
//	ARCHIVE2IMAP_BENCH_MBOX=/tmp/bench.mbox go test -run=WriteBenchMbox ./importers/
//	time archive2imap scan --quiet /tmp/bench.mbox; time cat /tmp/bench.mbox >/dev/null
func TestWriteBenchMbox(t *testing.T) {
	path := os.Getenv("ARCHIVE2IMAP_BENCH_MBOX")
	if path == "" {
		t.Skip("set ARCHIVE2IMAP_BENCH_MBOX to a path to write the benchmarks' mbox there")
	}
	size := int64(benchMboxSize)
	if s := os.Getenv("ARCHIVE2IMAP_BENCH_MBOX_MB"); s != "" {
		mb, err := strconv.Atoi(s)
		if err != nil || mb <= 0 {
			t.Fatalf("ARCHIVE2IMAP_BENCH_MBOX_MB=%q: want a number of megabytes", s)
		}
		size = int64(mb) << 20
	}
	n, count := writeBenchMbox(t, path, size)
	t.Logf("%s: %d bytes, %d messages", path, n, count)
}
