//go:build linux

package importers

import (
	"errors"
	"os"
	"syscall"
)

// Mapping an mbox file spares the scan the copy of every byte that read(2)
// makes. It is done on Linux only: the resident set of a scan is bounded by
// giving back the pages behind it with madvise(MADV_DONTNEED), which the
// standard syscall package offers on Linux alone (golang.org/x/sys/unix
// would add a direct dependency for the others). Elsewhere, and for files
// that cannot be mapped, the chunked reader is used.

// mmapMbox maps file, opened read-only, into memory read-only, when it is a
// regular file that is not empty; the error says why not otherwise.
func mmapMbox(file *os.File) ([]byte, error) {
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if !st.Mode().IsRegular() || size <= 0 || size != int64(int(size)) {
		return nil, errors.ErrUnsupported
	}
	rc, err := file.SyscallConn()
	if err != nil {
		return nil, err
	}
	var data []byte
	var merr error
	if err := rc.Control(func(fd uintptr) {
		data, merr = syscall.Mmap(int(fd), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	}); err != nil {
		return nil, err
	}
	if merr != nil {
		return nil, merr
	}
	// Aggressive read-ahead for a cold cache; a hint only.
	_ = syscall.Madvise(data, syscall.MADV_SEQUENTIAL)
	return data, nil
}

// munmapMbox unmaps what mmapMbox mapped.
func munmapMbox(data []byte) {
	_ = syscall.Munmap(data)
}

// releaseMapped unmaps the pages of b, a page-aligned part of a mapping,
// from the process; they stay in the page cache, and a later read of b
// maps them again.
func releaseMapped(b []byte) {
	_ = syscall.Madvise(b, syscall.MADV_DONTNEED)
}
