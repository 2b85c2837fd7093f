//go:build linux || darwin || freebsd

package importers

import (
	"errors"
	"math"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"
)

// mboxMap maps length bytes of f from offset off (a multiple of the page
// size) into memory, read-only. A page of the file that is gone when it is
// read (the file shrank) faults; see scanMboxSegment.
func mboxMap(f *os.File, off, length int64) ([]byte, error) {
	if length <= 0 || length > math.MaxInt || off%int64(os.Getpagesize()) != 0 {
		return nil, errors.New("cannot map this range")
	}
	return unix.Mmap(int(f.Fd()), off, int(length), unix.PROT_READ, unix.MAP_SHARED)
}

// mboxUnmap undoes mboxMap.
func mboxUnmap(b []byte) { _ = unix.Munmap(b) }

// mboxDrop tells the system that the pages of b are not needed any more:
// they leave the process's resident memory (the page cache keeps them). A
// later read of them reads the file again.
func mboxDrop(b []byte) {
	if len(b) > 0 {
		_ = unix.Madvise(b, unix.MADV_DONTNEED)
	}
}

// mboxMapProbe is how much of a file mboxMapFast maps at a time.
const mboxMapProbe = 4 << 20

// mboxMapFast reports whether reading f mapped into memory is cheap here:
// whether the system maps the first mboxMapProbe bytes of f for less than
// 1.5 µs a 4 KB page (2.7 GB/s), reading one byte a page. On the
// reference VM (Linux 6.18, ext4) a mapped page cost 0.35-0.5 µs in a
// warm process and 0.7-1.1 µs in a new one, and a parallel scan of a
// mapped file ran 1.2-1.4x faster than one that reads it; on an earlier
// VM a page cost 1.7-2.5 µs, and a scan of a mapped file was 3x slower. A
// cold page cache makes the probe slow too, and the scan reads. The probe
// gives up early: where mapping is slow it costs a few hundred
// microseconds.
func mboxMapFast(f *os.File, size int64) bool {
	// A second try, of the next bytes, when the first was slow: one
	// preemption or stall must not decide it (it did, once in a few runs).
	return mboxMapProbeAt(f, 0, size) || mboxMapProbeAt(f, mboxMapProbe, size)
}

// mboxMapProbeAt maps the mboxMapProbe bytes of f at off and reports
// whether they cost under 1.5 µs a page, giving up as soon as they do not.
func mboxMapProbeAt(f *os.File, off, size int64) (fast bool) {
	if size-off < mboxMapProbe {
		return false
	}
	m, err := mboxMap(f, off, mboxMapProbe)
	if err != nil {
		return false
	}
	defer mboxUnmap(m)
	defer func() {
		if recover() != nil { // a fault: the file shrank since its size was read
			fast = false
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	page := os.Getpagesize()
	const perPage, slack = 1500 * time.Nanosecond, 100 * time.Microsecond
	start := time.Now()
	var sum byte
	for i, n := 0, 1; i < len(m); i, n = i+page, n+1 {
		sum += m[i]
		if n%128 == 0 || i+page >= len(m) {
			if time.Since(start) > time.Duration(n)*perPage+slack {
				return false
			}
		}
	}
	mboxProbeSink = sum
	return true
}

// mboxProbeSink keeps the compiler from dropping the probe's reads.
var mboxProbeSink byte
