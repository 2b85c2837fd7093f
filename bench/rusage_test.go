package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Peak RSS of a child process, measured right.
//
// Go starts children with clone(CLONE_VM|CLONE_VFORK): until exec the child
// runs in the parent's memory, and Linux's exec keeps the old memory's
// high-water mark in the child's ru_maxrss. So the Maxrss of a child of
// this test process, which holds the whole corpus, is at least this
// process's own peak (160 MB for 5,000 messages), whatever the child
// uses. The benchmarks therefore start each timed program through a
// helper: this test binary again, started with rusageHelperEnv before it
// allocates anything, which starts the program, waits for it and writes
// its rusage and wall time to a file. The program's ru_maxrss is then at
// least the helper's own small peak (the floor, reported too) and
// otherwise its own.

const (
	// rusageHelperEnv names the file the helper writes its result to.
	rusageHelperEnv = "ARCHIVE2IMAP_BENCH_RUSAGE_HELPER"
	// allocEnv makes the test binary allocate and touch that many MiB
	// and exit: the known child of TestPeakRSSHelper.
	allocEnv = "ARCHIVE2IMAP_BENCH_ALLOC_MIB"
)

// helperResult is what the helper writes.
type helperResult struct {
	ExitCode int           `json:"exit_code"`
	StartErr string        `json:"start_error,omitempty"`
	Wall     time.Duration `json:"wall_ns"`
	MaxRSS   int64         `json:"maxrss_bytes"` // the program's
	Floor    int64         `json:"floor_bytes"`  // the helper's own peak when it started the program
	CPU      time.Duration `json:"cpu_ns"`       // the program's user and system time
}

func TestMain(m *testing.M) {
	if out := os.Getenv(rusageHelperEnv); out != "" {
		os.Exit(rusageHelper(out, os.Args[1:]))
	}
	if v := os.Getenv(allocEnv); v != "" {
		n, _ := strconv.Atoi(v)
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		runtime.KeepAlive(b)
		os.Exit(0)
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// rusageHelper runs args with this process's environment minus the
// helper's variable, standard streams passed on, and writes a
// helperResult to out. It exits as the program did.
func rusageHelper(out string, args []string) int {
	res := helperResult{ExitCode: 125, Floor: vmHWM()}
	if len(args) == 0 {
		res.StartErr = "no command"
	} else {
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, rusageHelperEnv+"=") {
				env = append(env, kv)
			}
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = env
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		// The helper is killed on timeout; take the program along.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		start := time.Now()
		err := cmd.Run()
		res.Wall = time.Since(start)
		var ee *exec.ExitError
		switch {
		case err == nil:
			res.ExitCode = 0
		case errors.As(err, &ee):
			res.ExitCode = ee.ExitCode()
		default:
			res.StartErr = err.Error()
		}
		if cmd.ProcessState != nil {
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				res.MaxRSS = ru.Maxrss * 1024 // KiB on Linux
				res.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			}
		}
	}
	data, _ := json.Marshal(res)
	if err := os.WriteFile(out, data, 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "rusage helper: %v\n", err)
		return 125
	}
	if res.StartErr != "" {
		fmt.Fprintf(os.Stderr, "rusage helper: %s\n", res.StartErr)
	}
	return res.ExitCode
}

// vmHWM is this process's own peak RSS (its memory's high-water mark;
// getrusage's ru_maxrss would include the parent's, inherited at exec).
func vmHWM() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// helperCommand returns a command that runs name args through the helper;
// read its result with readHelper once it has run.
func helperCommand(ctx context.Context, tb testing.TB, name string, args ...string) (*exec.Cmd, string) {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(tb.TempDir(), "rusage.json")
	cmd := exec.CommandContext(ctx, self, append([]string{name}, args...)...)
	cmd.Env = []string{rusageHelperEnv + "=" + out}
	return cmd, out
}

func readHelper(path string) (helperResult, error) {
	var res helperResult
	data, err := os.ReadFile(path)
	if err != nil {
		return res, fmt.Errorf("the rusage helper wrote no result: %w", err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, fmt.Errorf("the rusage helper's result: %w", err)
	}
	if res.StartErr != "" {
		return res, errors.New(res.StartErr)
	}
	return res, nil
}

// TestPeakRSSHelper: with this process holding 128 MiB, the helper
// reports a small program as small and a 64 MiB program as at least 64
// MiB and less than this process's peak.
func TestPeakRSSHelper(t *testing.T) {
	ballast := make([]byte, 128<<20)
	for i := 0; i < len(ballast); i += 4096 {
		ballast[i] = 1
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	// Directly, as the benchmarks must not: Maxrss carries this
	// process's peak (only logged: it is Go's and Linux's behaviour).
	direct := exec.Command("/bin/sh", "-c", "true")
	if err := direct.Run(); err != nil {
		t.Fatal(err)
	}
	t.Logf("sh started directly: Maxrss %d MiB", direct.ProcessState.SysUsage().(*syscall.Rusage).Maxrss>>10)

	cmd, out := helperCommand(context.Background(), t, "/bin/sh", "-c", "true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	small, err := readHelper(out)
	if err != nil {
		t.Fatal(err)
	}
	if small.MaxRSS > 64<<20 {
		t.Errorf("sh through the helper: peak RSS %d MiB, want the helper's floor (%d MiB), far below this process's 128 MiB", small.MaxRSS>>20, small.Floor>>20)
	}

	cmd, out = helperCommand(context.Background(), t, self)
	cmd.Env = append(cmd.Env, allocEnv+"=64")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	big, err := readHelper(out)
	if err != nil {
		t.Fatal(err)
	}
	// At least what it touched; and far from this process's peak, which
	// it would carry if the helper did not do its job (the child is this
	// test binary: with -race, its own peak is about 200 MiB).
	if self := vmHWM(); big.MaxRSS < 64<<20 || big.MaxRSS > self*3/4 {
		t.Errorf("a program touching 64 MiB: peak RSS %d MiB through the helper (this process's peak: %d MiB)", big.MaxRSS>>20, self>>20)
	}
	if big.Wall <= 0 || big.CPU <= 0 {
		t.Errorf("wall time %v, CPU time %v", big.Wall, big.CPU)
	}
	if small.Floor <= 0 || small.Floor > 64<<20 {
		t.Errorf("the helper's own peak is %d MiB, want a few MiB, not this process's", small.Floor>>20)
	}

	cmd, out = helperCommand(context.Background(), t, "/bin/sh", "-c", "exit 3")
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("exit 3 through the helper: %v", err)
	}
	if res, err := readHelper(out); err != nil || res.ExitCode != 3 {
		t.Errorf("exit 3 through the helper: result %+v, %v", res, err)
	}
	ballast[1] = 2 // keep it alive
}
