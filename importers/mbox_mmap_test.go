package importers

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
)

// These tests are about reading an mbox file held in memory as a whole (a
// mapped file on Linux): the two goroutines that share the work and the
// batches they pass, the single-goroutine path for GOMAXPROCS 1, and the
// guarantees that come with a mapping (nothing kept points into it, no
// goroutine outlives the read). scanMapped runs on bytes from the heap
// here, so they hold on every platform; mbox_mmap_linux_test.go covers
// what needs a real mapping.

// scanMappedBytes reads data as an mbox file held in memory.
func scanMappedBytes(t testing.TB, path string, data []byte, opts Options) mboxRun {
	t.Helper()
	var run mboxRun
	f := &Folder{Name: "test", Format: FormatMbox, Path: path}
	h := Handler{
		Message: func(m *Message) error {
			c := *m
			c.Data = bytes.Clone(m.Data)
			run.msgs = append(run.msgs, &c)
			return nil
		},
		Problem: func(p Problem) { run.problems = append(run.problems, p) },
	}
	if err := scanMapped(context.Background(), f, &mboxMapping{data: data}, &opts, &h); err != nil {
		t.Fatalf("scanMapped(%s): %v", path, err)
	}
	return run
}

// withGOMAXPROCS runs fn with GOMAXPROCS n, which makes scanMapped read
// in one goroutine when n is 1.
func withGOMAXPROCS(n int, fn func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	fn()
}

// sameRun reports the first difference between two reads of one file.
func sameRun(t *testing.T, what string, got, want mboxRun, withData bool) {
	t.Helper()
	if len(got.msgs) != len(want.msgs) || len(got.problems) != len(want.problems) {
		t.Fatalf("%s: %d messages %v, want %d %v", what, len(got.msgs), got.problems, len(want.msgs), want.problems)
	}
	for i, p := range got.problems {
		if p != want.problems[i] {
			t.Fatalf("%s: problem %+v, want %+v", what, p, want.problems[i])
		}
	}
	for i, m := range got.msgs {
		if d := sameMessage(m, want.msgs[i], withData); d != "" {
			t.Fatalf("%s: %s", what, d)
		}
	}
}

// TestMboxMappedSameAsChunked: reading a file held in memory, in two
// goroutines or in one, gives what the chunked reader gives, message for
// message, for every handmade fixture and for a generated file of 2,000
// messages, which makes the scan goroutine fill and recycle many batches
// (64 messages or 1 MiB each) and run ahead of the builder.
func TestMboxMappedSameAsChunked(t *testing.T) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "mbox", "*"))
	if err != nil || len(fixtures) < 10 {
		t.Fatalf("fixtures: %v %v", fixtures, err)
	}
	gen := filepath.Join(t.TempDir(), "generated.mbox")
	_, count := writeBenchMbox(t, gen, 6<<20)
	if count < 100 {
		t.Fatalf("generated only %d messages", count)
	}
	// A file of many small messages, for the 64-message limit of a batch.
	var many bytes.Buffer
	for i := range 2000 {
		many.WriteString("From a@example.com Mon Jan  1 10:00:00 2001\nSubject: m\n")
		if i%3 != 0 {
			many.WriteString("Message-ID: <" + strings.Repeat("x", i%7) + "@example.com>\n")
		}
		many.WriteString("\n>From the body\n\n")
	}
	manyPath := filepath.Join(t.TempDir(), "many.mbox")
	if err := os.WriteFile(manyPath, many.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range append(fixtures, gen, manyPath) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, wantData := range []bool{false, true} {
			opts := Options{WantData: wantData}
			want := scanMboxBytes(t, path, data, 64<<10, 0, opts)
			withGOMAXPROCS(2, func() {
				sameRun(t, path+" (two goroutines)", scanMappedBytes(t, path, data, opts), want, wantData)
			})
			withGOMAXPROCS(1, func() {
				sameRun(t, path+" (GOMAXPROCS 1)", scanMappedBytes(t, path, data, opts), want, wantData)
			})
		}
	}
	if got := scanMappedBytes(t, manyPath, many.Bytes(), Options{}); len(got.msgs) != 2000 {
		t.Errorf("many.mbox: %d messages, want 2000", len(got.msgs))
	}
}

// scanGoroutines counts the goroutines running the scan of a mapped file.
func scanGoroutines() int {
	var b strings.Builder
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	return strings.Count(b.String(), "(*mboxScan).run")
}

// TestMboxMappedStops: a handler error, a cancelled context and a panic in
// the handler stop the read at once, in the caller's goroutine, and the
// scan goroutine has ended when scanMapped returns.
func TestMboxMappedStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stop.mbox")
	_, count := writeBenchMbox(t, path, 8<<20)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := &Folder{Path: path}
	stop := errors.New("stop")
	for _, procs := range []int{2, 1} {
		withGOMAXPROCS(procs, func() {
			n := 0
			h := Handler{Message: func(*Message) error {
				if n++; n == 3 {
					return stop
				}
				return nil
			}}
			if err := scanMapped(context.Background(), f, &mboxMapping{data: data}, &Options{}, &h); !errors.Is(err, stop) || n != 3 {
				t.Errorf("GOMAXPROCS %d: handler error: %v after %d of %d messages", procs, err, n, count)
			}
			if g := scanGoroutines(); g != 0 {
				t.Errorf("GOMAXPROCS %d: %d scan goroutines left after a handler error", procs, g)
			}

			ctx, cancel := context.WithCancel(context.Background())
			n = 0
			h = Handler{Message: func(*Message) error {
				if n++; n == 2 {
					cancel()
				}
				return nil
			}}
			if err := scanMapped(ctx, f, &mboxMapping{data: data}, &Options{}, &h); !errors.Is(err, context.Canceled) || n != 2 {
				t.Errorf("GOMAXPROCS %d: cancel: %v after %d messages", procs, err, n)
			}
			if g := scanGoroutines(); g != 0 {
				t.Errorf("GOMAXPROCS %d: %d scan goroutines left after cancelling", procs, g)
			}

			h = Handler{Message: func(*Message) error { panic("handler bug") }}
			func() {
				defer func() {
					if v := recover(); v != "handler bug" {
						t.Errorf("GOMAXPROCS %d: recovered %v, want the handler's panic", procs, v)
					}
				}()
				scanMapped(context.Background(), f, &mboxMapping{data: data}, &Options{}, &h)
			}()
			if g := scanGoroutines(); g != 0 {
				t.Errorf("GOMAXPROCS %d: %d scan goroutines left after a panic", procs, g)
			}
		})
	}
}

// TestMboxMappedNotMbox: the problems found before the first message
// (not an mbox file, an empty file) come out of the pipeline as they come
// out of the chunked reader.
func TestMboxMappedNotMbox(t *testing.T) {
	for _, name := range []string{"not-mbox.txt", "empty.mbox", "leading-blank.mbox"} {
		path := filepath.Join("testdata", "mbox", name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := scanMboxBytes(t, path, data, 64<<10, 0, Options{})
		got := scanMappedBytes(t, path, data, Options{})
		sameRun(t, name, got, want, false)
		if name == "not-mbox.txt" && (len(got.problems) != 1 || !strings.Contains(got.problems[0].Err, "not an mbox file")) {
			t.Errorf("%s: problems %v", name, got.problems)
		}
	}
}

// TestMboxMappedScanCrash: a panic in the scan goroutine that is not a
// fault of the mapping (a bug) is not swallowed: it is panicked again in
// the caller's goroutine, with the scan goroutine's stack.
func TestMboxMappedScanCrash(t *testing.T) {
	// The scan reads from the source (rather than the window) only to look
	// past a Content-Length that runs over the separators: a source that
	// panics there stands for a bug in the scan goroutine.
	data := []byte("From a Mon Jan  1 10:00:00 2001\nContent-Length: 900\n\nbody\n\nFrom b Mon Jan  1 10:00:00 2001\n\nx\n")
	mm := &mboxMapping{data: data, src: panicSource{}}
	defer func() {
		v := recover()
		err, ok := v.(error)
		if !ok || !strings.Contains(err.Error(), "mbox scan of crash.mbox: probe bug") || !strings.Contains(err.Error(), "goroutine") {
			t.Errorf("recovered %v, want the scan goroutine's panic with its stack", v)
		}
		if g := scanGoroutines(); g != 0 {
			t.Errorf("%d scan goroutines left after the panic", g)
		}
	}()
	withGOMAXPROCS(2, func() {
		scanMapped(context.Background(), &Folder{Path: "crash.mbox"}, mm, &Options{}, &Handler{})
	})
	t.Error("scanMapped returned after its scan goroutine panicked")
}

type panicSource struct{}

func (panicSource) Read([]byte) (int, error)          { panic("probe bug") }
func (panicSource) ReadAt([]byte, int64) (int, error) { panic("probe bug") }
