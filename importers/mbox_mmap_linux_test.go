package importers

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// What needs a real mapping: readMbox maps regular files on Linux and
// falls back to reading pipes; a file that shrinks under the mapping is a
// Problem, not a crash; the pages behind the scan are given back.

// mappedRSS returns the resident size of the mappings of path in this
// process, from /proc/self/smaps, and whether there is one.
func mappedRSS(t testing.TB, path string) (int64, bool) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rss int64
	found, in := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			// A mapping's first line: "start-end perms offset dev inode path".
			in = len(fields) >= 6 && fields[5] == path
			found = found || in
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			rss += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rss, found
}

// TestMboxMapsOnLinux: readMbox reads a regular file through a mapping of
// it (seen in /proc/self/smaps while the handler runs), unmaps it before
// it returns, and keeps the resident part of the mapping to a few
// megabytes however far the scan has gone: here a 96 MB file is never
// more than 40 MB resident (8 MB given back at a time, up to 8 batches of
// about 1 MB read ahead, and the messages they end in).
func TestMboxMapsOnLinux(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.mbox")
	size, count := writeBenchMbox(t, path, 96<<20)
	var maxRSS int64
	n := 0
	h := Handler{
		Message: func(m *Message) error {
			if n++; n == 1 || n%50 == 0 || n == count {
				rss, mapped := mappedRSS(t, path)
				if !mapped {
					t.Fatalf("message %d: %s is not mapped while it is read", n, path)
				}
				maxRSS = max(maxRSS, rss)
			}
			return nil
		},
		Problem: func(p Problem) { t.Errorf("problem: %v", p) },
	}
	for _, procs := range []int{2, 1} {
		n, maxRSS = 0, 0
		withGOMAXPROCS(procs, func() {
			if err := readMbox(context.Background(), &Folder{Path: path}, &Options{}, &h); err != nil {
				t.Fatal(err)
			}
		})
		if n != count {
			t.Errorf("GOMAXPROCS %d: %d messages, want %d", procs, n, count)
		}
		if _, mapped := mappedRSS(t, path); mapped {
			t.Errorf("GOMAXPROCS %d: %s is still mapped after readMbox returned", procs, path)
		}
		t.Logf("GOMAXPROCS %d: %d MB file, at most %.1f MB of it resident", procs, size>>20, float64(maxRSS)/(1<<20))
		if maxRSS > 40<<20 {
			t.Errorf("GOMAXPROCS %d: up to %d MB of the mapping resident, want at most 40 MB", procs, maxRSS>>20)
		}
	}
}

// TestMboxMappedShrinks: a file that shrinks while it is read (another
// program truncating it) raises SIGBUS on the pages past its new end. That
// is a Problem at the first message the scan could not read whole ("the
// file changed"), after every message before it was delivered; readMbox
// returns nil and the process goes on. Both sides are covered: the file
// cut far ahead of the builder (the scan meets the new end), and cut right
// after the message being handled (the builder meets it).
func TestMboxMappedShrinks(t *testing.T) {
	orig := filepath.Join(t.TempDir(), "orig.mbox")
	writeBenchMbox(t, orig, 48<<20)
	data, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	full := scanMboxBytes(t, orig, data, 1<<20, 0, Options{})
	page := int64(os.Getpagesize())
	for _, c := range []struct {
		name string
		cut  func(first Location) int64 // the new size, page-aligned
	}{
		{"cut ahead of the builder", func(Location) int64 { return 36 << 20 }},
		{"cut behind the message handled", func(first Location) int64 { return (first.Offset + first.Length) &^ (page - 1) }},
	} {
		for _, procs := range []int{2, 1} {
			path := filepath.Join(t.TempDir(), "shrinks.mbox")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			var got []Location
			var problems []Problem
			var size int64
			h := Handler{
				Message: func(m *Message) error {
					got = append(got, m.Loc)
					if len(got) == 1 {
						size = c.cut(m.Loc)
						if err := os.Truncate(path, size); err != nil {
							t.Fatal(err)
						}
					}
					return nil
				},
				Problem: func(p Problem) { problems = append(problems, p) },
			}
			withGOMAXPROCS(procs, func() {
				if err := readMbox(context.Background(), &Folder{Path: path}, &Options{}, &h); err != nil {
					t.Fatalf("%s, GOMAXPROCS %d: %v", c.name, procs, err)
				}
			})
			// The first message reaching past the new end is the one the
			// problem is about; all those before it were delivered.
			// (The first message was delivered before the cut.)
			k := 1
			for k < len(full.msgs) && full.msgs[k].Loc.Offset+full.msgs[k].Loc.Length <= size {
				k++
			}
			if k == len(full.msgs) {
				t.Fatalf("%s: the cut at %d spares all %d messages", c.name, size, k)
			}
			want := full.msgs[k].Loc
			if len(got) != k {
				t.Errorf("%s, GOMAXPROCS %d: %d messages delivered, want %d", c.name, procs, len(got), k)
			}
			if len(problems) != 1 || problems[0].Offset != want.Offset || problems[0].Index != want.Index ||
				!strings.Contains(problems[0].Err, "the file changed (shrank) while it was read") {
				t.Errorf("%s, GOMAXPROCS %d: problems %+v, want one at message %d (byte %d)", c.name, procs, problems, want.Index, want.Offset)
			}
			if g := scanGoroutines(); g != 0 {
				t.Errorf("%s, GOMAXPROCS %d: %d scan goroutines left", c.name, procs, g)
			}
		}
	}
}

// TestMboxMappedKeepsNothing: nothing of a Message points into the
// mapping, which is unmapped when readMbox returns: the strings a caller
// keeps (Subject, Key, Flags, Warnings...) are read here after the unmap,
// which would crash the test if they did, and compared with the chunked
// reader's.
func TestMboxMappedKeepsNothing(t *testing.T) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "mbox", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range fixtures {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, wantData := range []bool{false, true} {
			opts := Options{WantData: wantData}
			var kept []Message
			h := Handler{Message: func(m *Message) error {
				kept = append(kept, *m) // Data is reused; the rest is kept
				return nil
			}}
			if err := readMbox(context.Background(), &Folder{Path: path}, &opts, &h); err != nil {
				t.Fatal(err)
			}
			want := scanMboxBytes(t, path, data, 64<<10, 0, opts)
			if len(kept) != len(want.msgs) {
				t.Fatalf("%s: %d messages, want %d", path, len(kept), len(want.msgs))
			}
			for i := range kept {
				kept[i].Data = want.msgs[i].Data
				if d := sameMessage(&kept[i], want.msgs[i], false); d != "" || kept[i].HeaderPrint != want.msgs[i].HeaderPrint {
					t.Errorf("%s: kept fields differ after the unmap: %s", path, d)
				}
			}
		}
	}
}

// TestMboxPipeNotMapped: a named pipe cannot be mapped; readMbox reads it
// in chunks, with the same result as the file.
func TestMboxPipeNotMapped(t *testing.T) {
	src := filepath.Join("testdata", "mbox", "mboxrd.mbox")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "pipe.mbox")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		w.Write(data)
		w.Close()
	}()
	var got []*Message
	h := Handler{Message: func(m *Message) error {
		c := *m
		c.Data = bytes.Clone(m.Data)
		got = append(got, &c)
		return nil
	}}
	if err := readMbox(context.Background(), &Folder{Path: fifo}, &Options{WantData: true}, &h); err != nil {
		t.Fatal(err)
	}
	want := scanMboxBytes(t, fifo, data, 64<<10, 0, Options{WantData: true})
	if len(got) != len(want.msgs) || len(got) == 0 {
		t.Fatalf("%d messages from the pipe, want %d", len(got), len(want.msgs))
	}
	for i, m := range got {
		m.Folder = want.msgs[i].Folder
		if d := sameMessage(m, want.msgs[i], true); d != "" {
			t.Errorf("pipe: %s", d)
		}
	}
}
