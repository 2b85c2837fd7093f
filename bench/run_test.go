package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/archive2imap/archive2imap/internal/dovecottest"
)

// What the benchmarks run: the corpus on disk, Dovecot, the archive2imap
// binary and mbsync as child processes, the check of what landed.

// fixture is a corpus written to disk in the shapes the clients read.
type fixture struct {
	corpus  *Corpus
	dir     string
	mbox    string   // dir/Bench.mbox
	tree    string   // dir/Mail: four mbox files
	folders []Folder // of tree
	maildir string   // dir/maildir, holding the Maildir folder "Bench" (for mbsync)
}

func newFixture(tb testing.TB, n int, withTree, withMaildir bool) *fixture {
	tb.Helper()
	start := time.Now()
	fx := &fixture{corpus: Generate(benchSeed, n), dir: tb.TempDir()}
	fx.mbox = filepath.Join(fx.dir, benchMailbox+".mbox")
	if err := fx.corpus.WriteMbox(fx.mbox); err != nil {
		tb.Fatal(err)
	}
	if withTree {
		fx.tree = filepath.Join(fx.dir, "Mail")
		var err error
		if fx.folders, err = fx.corpus.WriteTree(fx.tree); err != nil {
			tb.Fatal(err)
		}
	}
	if withMaildir {
		fx.maildir = filepath.Join(fx.dir, "maildir")
		if err := fx.corpus.WriteMaildir(filepath.Join(fx.maildir, benchMailbox)); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Logf("corpus: %d messages, %.1f MB, generated and written in %v", n, float64(fx.corpus.Bytes)/1e6, time.Since(start).Round(time.Millisecond))
	return fx
}

// wantSingle is what the single-mbox rows must leave on the server.
func (fx *fixture) wantSingle() (map[string]int, map[string]int64) {
	return map[string]int{benchMailbox: len(fx.corpus.Messages)}, map[string]int64{benchMailbox: fx.corpus.Bytes}
}

// treeTargets are the server folders of the tree's files (the inbox file
// goes to INBOX; Sent to the special-use Sent, which exists already).
var treeTargets = map[string]string{"inbox": "INBOX", "Sent": "Sent", "Lists": "Lists", "Projects": "Projects"}

func (fx *fixture) wantTree() (map[string]int, map[string]int64) {
	n, sz := map[string]int{}, map[string]int64{}
	for _, f := range fx.folders {
		box := treeTargets[f.Name]
		n[box] = f.Count
		for _, m := range fx.corpus.Messages[f.First : f.First+f.Count] {
			sz[box] += int64(len(m.Data))
		}
	}
	return n, sz
}

// startServer starts a fresh Dovecot as the reference machine runs it:
// mdbox, mail_fsync = never.
func startServer(b *testing.B) *dovecottest.Server {
	b.Helper()
	s, err := dovecottest.StartProcess(dovecottest.Options{Storage: "mdbox", FSync: false, MaxUserConnections: 20})
	if err != nil {
		b.Fatalf("dovecot: %v", err)
	}
	return s
}

func closeServer(b *testing.B, s *dovecottest.Server) {
	if err := s.Close(); err != nil {
		b.Errorf("dovecot: %v", err)
	}
}

// checkFolders checks, on a separate connection straight to the server,
// that each folder holds the expected number of messages and, where the
// server reports it (STATUS=SIZE, as Dovecot does), bytes: a fast but
// broken upload cannot win.
func checkFolders(s *dovecottest.Server, want map[string]int, wantBytes map[string]int64) error {
	c, err := imapclient.DialInsecure(s.Addr(), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	u := s.Users[0]
	if err := c.Login(u.Name, u.Password).Wait(); err != nil {
		return err
	}
	withSize := c.Caps().Has("STATUS=SIZE") || c.Caps().Has(imap.CapIMAP4rev2)
	for box, n := range want {
		st, err := c.Status(box, &imap.StatusOptions{NumMessages: true, Size: withSize}).Wait()
		if err != nil {
			return fmt.Errorf("STATUS %s: %w", box, err)
		}
		if st.NumMessages == nil || int(*st.NumMessages) != n {
			got := "no count"
			if st.NumMessages != nil {
				got = fmt.Sprint(*st.NumMessages)
			}
			return fmt.Errorf("folder %s holds %s messages, want %d", box, got, n)
		}
		if withSize && st.Size != nil && *st.Size != wantBytes[box] {
			return fmt.Errorf("folder %s holds %d bytes, want %d", box, *st.Size, wantBytes[box])
		}
	}
	return nil
}

// ---- the binary ----

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// migrateBinary builds cmd/archive2imap once per test process. With
// ARCHIVE2IMAP_BENCH_PROFILE set it builds it with an overlay file that
// writes a CPU profile (see profileSource).
func migrateBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "a2i-bench-bin-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "archive2imap")
		args := []string{"build", "-o", buildBin}
		if os.Getenv("ARCHIVE2IMAP_BENCH_PROFILE") != "" {
			overlay, err := profileOverlay(buildDir)
			if err != nil {
				buildErr = err
				return
			}
			args = append(args, "-overlay", overlay)
		}
		args = append(args, "github.com/archive2imap/archive2imap/cmd/archive2imap")
		cmd := exec.Command(goTool(), args...)
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return buildBin
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// profileSource is added to package main by the profiling build only (an
// overlay: the source tree is not changed). When
// ARCHIVE2IMAP_BENCH_CPUPROFILE names a file, its init runs the whole
// command under the CPU profiler and exits: main's os.Exit would skip a
// deferred StopCPUProfile. Next to it, it writes a heap profile at the
// end. It relies on main's run(args, stdin, stdout, stderr) int.
const profileSource = `package main

import (
	"os"
	"runtime/pprof"
	"strings"
)

func init() {
	path := os.Getenv("ARCHIVE2IMAP_BENCH_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	pprof.StopCPUProfile()
	f.Close()
	// What is still held at the end (before exit: the report), and all
	// that was allocated (go tool pprof -sample_index=alloc_space).
	if h, err := os.Create(strings.TrimSuffix(path, ".cpu.pprof") + ".heap.pprof"); err == nil {
		pprof.Lookup("heap").WriteTo(h, 0)
		h.Close()
	}
	os.Exit(code)
}
`

func profileOverlay(dir string) (string, error) {
	src := filepath.Join(dir, "zz_benchprofile.go")
	if err := os.WriteFile(src, []byte(profileSource), 0o644); err != nil {
		return "", err
	}
	cmdDir, err := filepath.Abs(filepath.Join("..", "cmd", "archive2imap"))
	if err != nil {
		return "", err
	}
	j, err := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(cmdDir, "zz_benchprofile.go"): src}})
	if err != nil {
		return "", err
	}
	overlay := filepath.Join(dir, "overlay.json")
	return overlay, os.WriteFile(overlay, j, 0o644)
}

// ---- running archive2imap ----

// childResult is what a run of the binary left.
type childResult struct {
	wall   time.Duration
	cpu    time.Duration
	rss    int64 // bytes
	floor  int64 // the rusage helper's own peak: rss cannot be lower
	stdout string
	stderr string
	report migrateReport
	phases map[string]time.Duration // from the progress lines, without --quiet
}

// migrateReport is the part of the JSON report the benchmarks check.
type migrateReport struct {
	Status string `json:"status"`
	Totals struct {
		Found           int   `json:"found"`
		AlreadyOnServer int   `json:"already_on_server"`
		ToUpload        int   `json:"to_upload"`
		Uploaded        int   `json:"uploaded"`
		Failed          int   `json:"failed"`
		BytesUploaded   int64 `json:"bytes_uploaded"`
	} `json:"totals"`
}

// runTool runs the binary with args (a --report FILE is added) through
// the rusage helper, in a scrubbed environment, and returns its wall time
// (measured by the helper around the program alone), CPU time, peak RSS
// and report. A non-zero exit fails the benchmark.
func runTool(b *testing.B, name string, args ...string) childResult {
	b.Helper()
	bin := migrateBinary(b)
	dir := b.TempDir()
	rep := filepath.Join(dir, "r.json")
	args = append(args, "--report", rep)
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd, usage := helperCommand(ctx, b, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Env, "PATH=/usr/bin:/bin", "HOME="+dir, "TZ=UTC", "LANG=C.UTF-8")
	// Experiments without code changes, e.g. GOGC=400.
	cmd.Env = append(cmd.Env, strings.Fields(os.Getenv("ARCHIVE2IMAP_BENCH_CHILD_ENV"))...)
	if p := os.Getenv("ARCHIVE2IMAP_BENCH_PROFILE"); p != "" {
		if err := os.MkdirAll(p, 0o755); err != nil {
			b.Fatal(err)
		}
		prof := filepath.Join(p, fileName(name)+".cpu.pprof")
		cmd.Env = append(cmd.Env, "ARCHIVE2IMAP_BENCH_CPUPROFILE="+prof)
		b.Logf("CPU profile: go tool pprof %s %s", bin, prof)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("archive2imap %s: %v\nstderr:\n%s\nstdout:\n%s", strings.Join(args, " "), err, stderr.String(), tail(stdout.String(), 20))
	}
	hr, err := readHelper(usage)
	if err != nil {
		b.Fatal(err)
	}
	res := childResult{wall: hr.Wall, cpu: hr.CPU, rss: hr.MaxRSS, floor: hr.Floor,
		stdout: stdout.String(), stderr: stderr.String(), phases: parsePhases(stderr.String())}
	data, err := os.ReadFile(rep)
	if err != nil {
		b.Fatalf("archive2imap wrote no report: %v", err)
	}
	if err := json.Unmarshal(data, &res.report); err != nil {
		b.Fatalf("report %s: %v", rep, err)
	}
	return res
}

// childTimeout bounds one child process.
const childTimeout = 20 * time.Minute

// fileName makes a benchmark name a file name.
func fileName(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, name)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// phaseLine is the end line of a phase that cmd/archive2imap's log
// progress writes when stderr is not a terminal, such as
// "uploading done: 5000/5000 messages, 134.7 MB, 2154 msgs/s, 58.0 MB/s in 2.321s".
var phaseLine = regexp.MustCompile(`(?m)^(.+?) done: .* in (\S+)$`)

// parsePhases reads the phase durations from migrate's progress lines;
// the phases it cannot read are left out.
func parsePhases(stderr string) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, m := range phaseLine.FindAllStringSubmatch(stderr, -1) {
		if d, err := time.ParseDuration(m[2]); err == nil {
			out[m[1]] = d
		}
	}
	return out
}

// serverArgs are migrate's connection flags for s, reached at addr; the
// password goes in a file.
func serverArgs(b *testing.B, s *dovecottest.Server, addr string) []string {
	host, port, _ := strings.Cut(addr, ":")
	pw := filepath.Join(b.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(s.Users[0].Password+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	return []string{"--host", host, "--port", port, "--tls", "none", "--user", s.Users[0].Name, "--password-file", pw}
}

// ---- mbsync ----

// runMbsync pushes the fixture's Maildir folder to s with mbsync and
// measures it. mbsync renames the files it has synced (it adds UIDs to
// their names), so it works on a hard-linked copy of the Maildir.
func runMbsync(b *testing.B, mbsync string, s *dovecottest.Server, fx *fixture) measurement {
	b.Helper()
	dir := b.TempDir()
	near := filepath.Join(dir, "near")
	if err := linkTree(fx.maildir, near); err != nil {
		b.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o700); err != nil {
		b.Fatal(err)
	}
	rc := filepath.Join(dir, "mbsyncrc")
	conf := fmt.Sprintf(`IMAPAccount far
Host 127.0.0.1
Port %d
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore far
Account far

MaildirStore near
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel bench
Far :far:
Near :near:
Patterns %s
Create Far
Sync Push
Expunge None
CopyArrivalDate yes
SyncState %s/
`, s.Port, s.Users[0].Name, s.Users[0].Password, near, near, benchMailbox, filepath.Join(dir, "state"))
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd, usage := helperCommand(ctx, b, mbsync, "-c", rc, "-q", "bench")
	cmd.Dir = dir
	cmd.Env = append(cmd.Env, "PATH=/usr/bin:/bin", "HOME="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		b.Fatalf("mbsync: %v\n%s", err, out.String())
	}
	hr, err := readHelper(usage)
	if err != nil {
		b.Fatal(err)
	}
	return measurement{wall: hr.Wall, cpu: hr.CPU, rss: hr.MaxRSS, floor: hr.Floor}
}

// linkTree copies the directory tree src to dst with hard links.
func linkTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		return os.Link(p, to)
	})
}

// ---- the machine ----

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func commandVersion(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "not installed"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

func printMachine(w io.Writer, load0 string) {
	dovecot := "/usr/sbin/dovecot"
	if p, err := exec.LookPath("dovecot"); err == nil {
		dovecot = p
	}
	fmt.Fprintf(w, "machine: %d CPUs (%s), %s; load average (1, 5, 15 min) before %s, after %s\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), load0, loadAvg())
	fmt.Fprintf(w, "servers: Dovecot %s (mdbox, mail_fsync = never), a fresh one per run; mbsync: %s; proxy: %v each way\n",
		commandVersion(dovecot, "--version"), commandVersion("mbsync", "--version"), proxyDelay)
}

// selfCPU is this process's user and system time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestParsePhases reads the end lines cmd/archive2imap's log progress
// writes (progress.go: "%s done: %s in %s").
func TestParsePhases(t *testing.T) {
	stderr := "scanning...\n" +
		"scanning done: 5000 messages, 134.7 MB, 31691 msgs/s, 853.6 MB/s in 158ms\n" +
		"checking what the server has: 1 messages (0 B)\n" +
		"checking what the server has done: 1/1 messages, 0 B, 25 msgs/s, 0.0 MB/s in 40ms\n" +
		"uploading: 20000 messages (527.9 MB)\n" +
		"uploading: 9000/20000 messages, 240.0 MB, 900 msgs/s, 24.0 MB/s\n" +
		"uploading done: 20000/20000 messages, 527.9 MB, 310 msgs/s, 8.2 MB/s in 1m4.512s\n"
	got := parsePhases(stderr)
	want := map[string]time.Duration{
		"scanning":                     158 * time.Millisecond,
		"checking what the server has": 40 * time.Millisecond,
		"uploading":                    time.Minute + 4512*time.Millisecond,
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("phase %q: %v, want %v", k, got[k], v)
		}
	}
}
