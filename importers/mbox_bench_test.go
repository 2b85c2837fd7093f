package importers

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
//
// With ARCHIVE2IMAP_BENCH_1GB=1, BenchmarkScanMbox1GB scans a 1 GB file and
// reports the peak RSS of the process, which must stay under 64 MB: memory
// follows the largest message, not the file. Run it alone, as the peak is
// the process's:
//
//	ARCHIVE2IMAP_BENCH_1GB=1 go test -run=XXX -bench=ScanMbox1GB -benchtime=1x ./importers/

const benchMboxSize = 200 << 20

// writeBenchMbox writes an mbox of at least size bytes to path and returns
// its size and message count. The same seed gives the same file.
func writeBenchMbox(tb testing.TB, path string, size int64) (int64, int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the of and to a in is it you that he was for on are with as I his they be at one " +
		"have this from or had by hot word but what some we can out other were all there when up use your how said " +
		"an each she which do their time if will way about many then them write would like so these her long make " +
		"thing see him two has look more day could go come did number sound no most people my over know water than " +
		"call first who may down side been now find any new work part take get place made live where after back little")
	people := []string{"alice@example.com", "bob@example.org", "carol@lists.example.net", "dave@example.co.uk", "eve@mail.example"}
	line := make([]byte, 0, 100)
	sentence := func() []byte {
		line = line[:0]
		for len(line) < 60+rng.IntN(15) {
			if len(line) > 0 {
				line = append(line, ' ')
			}
			line = append(line, words[rng.IntN(len(words))]...)
		}
		return append(line, '\n')
	}
	att := make([]byte, 57*100)
	b64 := make([]byte, base64.StdEncoding.EncodedLen(57))

	var written int64
	n := 0
	start := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	for written < size {
		n++
		t := start.Add(time.Duration(n) * 37 * time.Minute)
		from := people[rng.IntN(len(people))]
		var b strings.Builder
		fmt.Fprintf(&b, "From %s %s\n", from, t.Format("Mon Jan _2 15:04:05 2006"))
		fmt.Fprintf(&b, "Return-Path: <%s>\n", from)
		for i := 0; i < 2+rng.IntN(3); i++ {
			fmt.Fprintf(&b, "Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])\n\tby mail.example.com with ESMTP id %x;\n\t%s\n",
				i, i, rng.IntN(255), rng.Uint64(), t.Add(-time.Duration(i)*time.Second).Format(time.RFC1123Z))
		}
		fmt.Fprintf(&b, "From: %s\nTo: %s\nSubject: Re: %s\nDate: %s\n", from, people[rng.IntN(len(people))], strings.TrimSpace(string(sentence()[:30])), t.Format(time.RFC1123Z))
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
		written += int64(b.Len())

		text := 2<<10 + rng.IntN(18<<10)
		for t := 0; t < text; {
			var l []byte
			switch r := rng.IntN(100); {
			case r < 25:
				l = append([]byte("> "), sentence()...)
			case r < 26 && rng.IntN(4) == 0:
				l = append([]byte(">From "), sentence()...) // a quoted From line
			default:
				l = sentence()
			}
			w.Write(l)
			t += len(l)
			written += int64(len(l))
		}
		if attach {
			s := fmt.Sprintf("\n--b%d\nContent-Type: application/octet-stream; name=\"data.bin\"\nContent-Transfer-Encoding: base64\n\n", n)
			w.WriteString(s)
			written += int64(len(s))
			for left := 100<<10 + rng.IntN(1900<<10); left > 0; {
				for i := range att {
					att[i] = byte(rng.Uint32())
				}
				for i := 0; i+57 <= len(att) && left > 0; i += 57 {
					base64.StdEncoding.Encode(b64, att[i:i+57])
					w.Write(b64)
					w.WriteByte('\n')
					left -= len(b64) + 1
					written += int64(len(b64) + 1)
				}
			}
			s = fmt.Sprintf("--b%d--\n", n)
			w.WriteString(s)
			written += int64(len(s))
		}
		w.WriteString("\n")
		written++
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return written, n
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

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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

func BenchmarkReadFileBaseline(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.mbox")
	size, _ := writeBenchMbox(b, path, benchMboxSize)
	buf := make([]byte, 128<<10)
	b.SetBytes(size)
	cpu := startCPU()
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		var total int64
		for {
			n, err := f.Read(buf)
			total += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
		if total != size {
			b.Fatalf("read %d bytes, want %d", total, size)
		}
	}
	cpu.report(b, size)
}

func BenchmarkScanMbox1GB(b *testing.B) {
	if os.Getenv("ARCHIVE2IMAP_BENCH_1GB") == "" {
		b.Skip("set ARCHIVE2IMAP_BENCH_1GB=1 to scan a generated 1 GB mbox and report the peak RSS")
	}
	path := filepath.Join(b.TempDir(), "bench1g.mbox")
	size, count := writeBenchMbox(b, path, 1<<30)
	benchScan(b, path, size, count, false)
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	peak := float64(ru.Maxrss) / 1024 // kilobytes on Linux
	b.ReportMetric(peak, "peak-RSS-MB")
	if peak >= 64 {
		b.Errorf("peak RSS %.1f MB, want under 64 MB", peak)
	}
}
