package importers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Walking a tree of many small mbox files (a Thunderbird or mutt tree)
// reuses the reader's buffer from one file to the next: reading one
// allocates far less than the buffer's mboxBufferChunks megabytes, which
// a new buffer costs (and, on a VM, a page fault per page: 300 small files
// took 0.5 s instead of 0.06 s).
func TestMboxWalkReusesBuffer(t *testing.T) {
	dir := t.TempDir()
	const files = 40
	for i := range files {
		msg := fmt.Sprintf("From a@b Mon Jan  1 00:00:00 2001\nMessage-ID: <%d@x>\nSubject: s\n\nbody\n", i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("box%02d", i)), []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	h := Handler{Message: func(*Message) error { n++; return nil }, Problem: func(p Problem) { t.Errorf("problem: %v", p) }}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := Walk(context.Background(), dir, Options{Format: FormatMbox}, h); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n != files {
		t.Fatalf("%d messages, want %d", n, files)
	}
	per := (after.TotalAlloc - before.TotalAlloc) / files
	if limit := uint64(mboxBufferChunks * mboxChunk / 4); per > limit {
		t.Errorf("walking %d one-message files allocates %d bytes per file, want under %d: the buffer is not reused", files, per, limit)
	}
}
