package bench

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/internal/dovecottest"
)

// The upload benchmarks; README.md says how to run them and how to read
// the tables they print. Run them alone:
//
//	go test ./bench -run '^$' -bench . -benchtime 1x -timeout 60m
//
// Environment:
//
//	ARCHIVE2IMAP_BENCH_N          messages per upload (default 5000; 20000 for the full run)
//	ARCHIVE2IMAP_BENCH_DEDUP_N    messages in the dedup benchmark's folder (default 20000)
//	ARCHIVE2IMAP_BENCH_RUNS       rounds of BenchmarkUpload (default 3); each round runs every
//	                              row once, so the rows of a round share the machine's load
//	ARCHIVE2IMAP_BENCH_PHASES     set: migrate runs without --quiet and the table shows its phases
//	ARCHIVE2IMAP_BENCH_PROFILE    a directory: each archive2imap run writes a CPU profile there
//	ARCHIVE2IMAP_BENCH_CHILD_ENV  extra environment for archive2imap, e.g. "GOGC=400"
//
// Every measurement gets a fresh Dovecot (mdbox, mail_fsync = never) and so
// a fresh account. Generating the corpus, building the binary, starting
// servers and checking the result are not timed.

const (
	benchSeed  = 1
	proxyDelay = 20 * time.Millisecond // each way: 40 ms round trip
	// benchMailbox is the target folder of the single-mbox rows: the mbox
	// file is Bench.mbox, which migrate maps to "Bench".
	benchMailbox = "Bench"
)

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func skipWithoutDovecot(b *testing.B) {
	if !dovecottest.Installed() {
		b.Skip("SKIPPING the upload benchmarks: dovecot is not installed (Debian: apt-get install dovecot-imapd)")
	}
}

// network is where the clients connect: straight to Dovecot, or through
// the latency proxy.
type network struct {
	name  string
	delay time.Duration
}

var networks = []network{{"loopback", 0}, {"40ms RTT", proxyDelay}}

// clientAddr returns the address the client dials for s on n, starting a
// proxy when n has a delay (nil otherwise; close it with stop).
func clientAddr(b *testing.B, s *dovecottest.Server, n network) (addr string, p *latencyProxy, stop func()) {
	if n.delay == 0 {
		return s.Addr(), nil, func() {}
	}
	p = startLatencyProxy(b, s.Addr(), n.delay)
	return p.Addr(), p, p.Close
}

// measurement is one timed run.
type measurement struct {
	wall   time.Duration
	cpu    time.Duration            // the client process's user+system time; 0: not measured
	rss    int64                    // the client process's peak RSS; 0: not measured
	floor  int64                    // the rusage helper's own peak, 0 when not run through it
	late   time.Duration            // the proxy's mean lateness (see latencyProxy.Lateness)
	phases map[string]time.Duration // migrate's, with ARCHIVE2IMAP_BENCH_PHASES
}

// rowKey names a row of the table.
type rowKey struct {
	network, client, source string
	conns                   int
}

// row is one line of the result table: a client on a network, run once a
// round.
type row struct {
	rowKey
	msgs   int
	bytes  int64
	note   string
	runs   []measurement
	ratios []float64 // each run's msgs/s over its round's ceiling on the same network
}

// median is the run with the median wall time.
func (r *row) median() measurement {
	s := slices.Clone(r.runs)
	slices.SortFunc(s, func(a, b measurement) int { return cmp.Compare(a.wall, b.wall) })
	return s[len(s)/2]
}

func (r *row) msgsPerSec() float64 { return float64(r.msgs) / r.median().wall.Seconds() }
func (r *row) mbPerSec() float64   { return float64(r.bytes) / 1e6 / r.median().wall.Seconds() }

// table collects the rows of BenchmarkUpload over its rounds.
type table struct {
	mu       sync.Mutex
	rows     []*row
	ceilings map[string]float64 // round/network -> the ceiling's msgs/s
}

// add records a run of a row in a round, with its ratio to the round's
// ceiling on the same network, and reports its figures to go test.
func (t *table) add(b *testing.B, round int, k rowKey, msgs int, bytes int64, note string, m measurement) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rate := float64(msgs) / m.wall.Seconds()
	ceilKey := fmt.Sprintf("%d/%s", round, k.network)
	if k.client == "ceiling" {
		if t.ceilings == nil {
			t.ceilings = map[string]float64{}
		}
		t.ceilings[ceilKey] = rate
	}
	var r *row
	for _, old := range t.rows {
		if old.rowKey == k {
			r = old
		}
	}
	if r == nil {
		r = &row{rowKey: k, msgs: msgs, bytes: bytes, note: note}
		t.rows = append(t.rows, r)
	}
	r.runs = append(r.runs, m)
	b.ReportMetric(float64(m.wall.Nanoseconds()), "ns/op")
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(float64(bytes)/1e6/m.wall.Seconds(), "MB/s")
	if c := t.ceilings[ceilKey]; c > 0 {
		r.ratios = append(r.ratios, rate/c)
		b.ReportMetric(rate/c, "x-ceiling")
	}
	if m.rss > 0 {
		b.ReportMetric(float64(m.rss)/(1<<20), "peak-RSS-MiB")
	}
	if m.cpu > 0 {
		b.ReportMetric(m.cpu.Seconds(), "client-CPU-s")
	}
}

// print writes the table in the README's format.
func (t *table) print(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(w, "| network | client | source | conns | msgs/s | MB/s | x ceiling | client CPU s | peak RSS MiB | wall s (each round) | note |\n")
	fmt.Fprintf(w, "|---|---|---|--:|--:|--:|--:|--:|--:|---|---|\n")
	var floor int64
	for _, r := range t.rows {
		med := r.median()
		conns, ratio, cpu, rss := "", "", "", ""
		if r.conns > 0 {
			conns = strconv.Itoa(r.conns)
		}
		if len(r.ratios) > 0 {
			ratio = fmt.Sprintf("%.2f", medianOf(r.ratios))
		}
		if med.cpu > 0 {
			cpu = fmt.Sprintf("%.2f", med.cpu.Seconds())
		}
		var walls []string
		var most int64
		var late []float64
		for _, m := range r.runs {
			walls = append(walls, fmt.Sprintf("%.2f", m.wall.Seconds()))
			most = max(most, m.rss)
			floor = max(floor, m.floor)
			late = append(late, float64(m.late)/float64(time.Millisecond))
		}
		if most > 0 {
			rss = fmt.Sprintf("%.1f", float64(most)/(1<<20))
		}
		note := r.note
		if r.network != "loopback" && r.network != "-" {
			note = joinNote(note, fmt.Sprintf("proxy late by %.1f ms (median of the runs' means)", medianOf(late)))
		}
		note = joinNote(note, phaseNote(med.phases))
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.0f | %.1f | %s | %s | %s | %s | %s |\n",
			r.network, r.client, r.source, conns, r.msgsPerSec(), r.mbPerSec(), ratio, cpu, rss, strings.Join(walls, ", "), note)
	}
	fmt.Fprintf(w, "\nmsgs/s and MB/s: from the median wall time of the rows' runs. x ceiling: the median of each run's ratio to the ceiling client's run of the same round on the same network.")
	fmt.Fprintf(w, " Client CPU: user+system time of the client process in the median run. Peak RSS: the largest ru_maxrss of the runs")
	if floor > 0 {
		fmt.Fprintf(w, ", taken through a helper process whose own peak (%.1f MiB) is the least it can show", float64(floor)/(1<<20))
	}
	fmt.Fprintf(w, ".\n")
}

func joinNote(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// withPhases reports whether migrate runs show their phases: with
// ARCHIVE2IMAP_BENCH_PHASES set they run without --quiet, and the table's
// note gives the time of each phase (from migrate's progress lines).
func withPhases() bool { return os.Getenv("ARCHIVE2IMAP_BENCH_PHASES") != "" }

// phaseNote formats phase durations for the table: "scanning 0.21 s, ...".
func phaseNote(phases map[string]time.Duration) string {
	var parts []string
	for _, name := range []string{"scanning", "checking what the server has", "uploading"} {
		if d, ok := phases[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f s", name, d.Seconds()))
		}
	}
	return strings.Join(parts, ", ")
}

// BenchmarkUpload uploads the same corpus with the ceiling client,
// migrate (one mbox with --connections 1; a four-folder tree with 1, 2
// and 4) and mbsync, on loopback and through the 40 ms proxy, in rounds,
// and prints the table.
func BenchmarkUpload(b *testing.B) {
	skipWithoutDovecot(b)
	n := envInt(b, "ARCHIVE2IMAP_BENCH_N", 5000)
	rounds := envInt(b, "ARCHIVE2IMAP_BENCH_RUNS", 3)
	mbsync, _ := exec.LookPath("mbsync")
	fx := newFixture(b, n, true, mbsync != "")
	migrateBinary(b)
	tab := &table{}
	load0 := loadAvg()
	start := time.Now()

	type migrateCase struct {
		source string
		conns  int
	}
	migrateCases := []migrateCase{{"mbox", 1}, {"tree", 1}, {"tree", 2}, {"tree", 4}}

	for round := 0; round < rounds; round++ {
		// The scan alone (no server): what every migrate row pays first.
		b.Run("scan", func(b *testing.B) {
			r := runTool(b, "scan", "scan", fx.mbox, "--quiet", "--mbox-timezone", "UTC")
			tab.add(b, round, rowKey{"-", "archive2imap scan", "mbox (1 folder)", 0}, n, fx.corpus.Bytes, "reads the source only",
				measurement{wall: r.wall, cpu: r.cpu, rss: r.rss, floor: r.floor})
		})

		for _, nw := range networks {
			b.Run(nw.name+"/ceiling", func(b *testing.B) {
				b.StopTimer()
				s := startServer(b)
				defer closeServer(b, s)
				addr, proxy, stop := clientAddr(b, s, nw)
				defer stop()
				cpu0 := selfCPU()
				b.StartTimer()
				start := time.Now()
				err := ceilingUpload(addr, s.Users[0].Name, s.Users[0].Password, benchMailbox, fx.corpus.Messages)
				m := measurement{wall: time.Since(start)}
				b.StopTimer()
				note := "in the test process: no RSS"
				if proxy == nil {
					m.cpu = selfCPU() - cpu0
				} else {
					m.late, _ = proxy.Lateness()
					note += "; no CPU (the proxy shares the process)"
				}
				if err != nil {
					b.Fatalf("ceiling: %v", err)
				}
				want, wantBytes := fx.wantSingle()
				if err := checkFolders(s, want, wantBytes); err != nil {
					b.Fatalf("after the ceiling client: %v", err)
				}
				tab.add(b, round, rowKey{nw.name, "ceiling", "memory", 1}, n, fx.corpus.Bytes, note, m)
			})

			for _, mc := range migrateCases {
				b.Run(fmt.Sprintf("%s/migrate/%s/c%d", nw.name, mc.source, mc.conns), func(b *testing.B) {
					b.StopTimer()
					path, label := fx.mbox, "mbox (1 folder)"
					want, wantBytes := fx.wantSingle()
					if mc.source == "tree" {
						path, label = fx.tree, "tree (4 folders)"
						want, wantBytes = fx.wantTree()
					}
					s := startServer(b)
					defer closeServer(b, s)
					addr, proxy, stop := clientAddr(b, s, nw)
					defer stop()
					args := append([]string{"migrate", path}, serverArgs(b, s, addr)...)
					args = append(args, "--connections", strconv.Itoa(mc.conns), "--mbox-timezone", "UTC")
					if !withPhases() {
						args = append(args, "--quiet")
					}
					b.StartTimer()
					r := runTool(b, b.Name(), args...)
					b.StopTimer()
					if r.report.Status != "complete" || r.report.Totals.Uploaded != n {
						b.Fatalf("migrate: status %q, %d of %d uploaded", r.report.Status, r.report.Totals.Uploaded, n)
					}
					if err := checkFolders(s, want, wantBytes); err != nil {
						b.Fatalf("after migrate: %v", err)
					}
					m := measurement{wall: r.wall, cpu: r.cpu, rss: r.rss, floor: r.floor, phases: r.phases}
					if proxy != nil {
						m.late, _ = proxy.Lateness()
					}
					tab.add(b, round, rowKey{nw.name, "migrate", label, mc.conns}, n, fx.corpus.Bytes, "", m)
				})
			}

			if nw.delay == 0 {
				b.Run(nw.name+"/mbsync", func(b *testing.B) {
					if mbsync == "" {
						b.Skip("SKIPPING the mbsync row: mbsync is not installed (Debian: apt-get install isync)")
					}
					b.StopTimer()
					s := startServer(b)
					defer closeServer(b, s)
					b.StartTimer()
					m := runMbsync(b, mbsync, s, fx)
					b.StopTimer()
					// mbsync adds "X-TUID: <12 characters>\r\n" to each
					// message it uploads, to find it again by its header.
					tuid := int64(len("X-TUID: 0123456789ab\r\n"))
					if err := checkFolders(s, map[string]int{benchMailbox: n}, map[string]int64{benchMailbox: fx.corpus.Bytes + int64(n)*tuid}); err != nil {
						b.Fatalf("after mbsync: %v", err)
					}
					tab.add(b, round, rowKey{nw.name, "mbsync " + mbsyncVersion(mbsync), "Maildir (1 folder)", 1}, n, fx.corpus.Bytes,
						"uploads 22 bytes more per message (X-TUID)", m)
				})
			}
		}
	}

	fmt.Printf("\n## Upload benchmark: %d messages, %.1f MB (mean %.1f KB), %d rounds in %v\n\n",
		n, float64(fx.corpus.Bytes)/1e6, float64(fx.corpus.Bytes)/float64(n)/1e3, rounds, time.Since(start).Round(time.Second))
	printMachine(os.Stdout, load0)
	fmt.Println()
	tab.print(os.Stdout)
	fmt.Println()
}

func mbsyncVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "isync ")
}

// BenchmarkDedup measures the dedup pass of a rerun: upload a folder of
// ARCHIVE2IMAP_BENCH_DEDUP_N (20,000) messages, then run migrate
// --dry-run on the same source, which fetches the folder's Message-IDs
// (and the fingerprints of the messages without one) and finds everything
// there. The pass is timed twice: by migrate's own progress line for the
// phase "checking what the server has", and from outside as a dry run
// minus a scan of the same source. Three reruns: the first is the real
// case (Dovecot has not cached the Message-ID field yet), the others show
// the cached one. The target is at most 5% of the folder's upload time.
func BenchmarkDedup(b *testing.B) {
	skipWithoutDovecot(b)
	n := envInt(b, "ARCHIVE2IMAP_BENCH_DEDUP_N", 20000)
	fx := newFixture(b, n, false, false)
	migrateBinary(b)
	load0 := loadAvg()
	s := startServer(b)
	base := append([]string{fx.mbox}, serverArgs(b, s, s.Addr())...)
	base = append(base, "--mbox-timezone", "UTC")

	// The upload records its ledger, which the reruns read (as reruns on
	// the same machine do by default); the runs with --no-ledger fetch the
	// Message-ID of every message instead.
	ledger := filepath.Join(b.TempDir(), "ledger.jsonl")
	withLedger := append(slices.Clone(base), "--ledger", ledger)
	// Not --quiet: the progress lines time the phases.
	up := runTool(b, "dedup-upload", append([]string{"migrate"}, withLedger...)...)
	if up.report.Totals.Uploaded != n {
		b.Fatalf("upload: %d of %d uploaded", up.report.Totals.Uploaded, n)
	}
	want, wantBytes := fx.wantSingle()
	if err := checkFolders(s, want, wantBytes); err != nil {
		b.Fatal(err)
	}
	upload, ok := up.phases["uploading"]
	if !ok {
		b.Fatalf("no \"uploading done\" line in migrate's progress:\n%s", up.stderr)
	}

	const runs = 3
	var scans, dries, checks, fullChecks []time.Duration
	var dryRSS int64
	for i := 0; i < runs; i++ {
		sc := runTool(b, "dedup-scan", "scan", fx.mbox, "--quiet", "--mbox-timezone", "UTC")
		scans = append(scans, sc.wall)
		dr := runTool(b, "dedup-dryrun", append([]string{"migrate", "--dry-run"}, withLedger...)...)
		if t := dr.report.Totals; t.AlreadyOnServer != n || t.ToUpload != 0 {
			b.Fatalf("dry run after the upload: %d of %d already on the server, %d to upload", t.AlreadyOnServer, n, t.ToUpload)
		}
		dries = append(dries, dr.wall)
		dryRSS = max(dryRSS, dr.rss)
		if d, ok := dr.phases["checking what the server has"]; ok {
			checks = append(checks, d)
		}
	}
	for i := 0; i < runs; i++ {
		dr := runTool(b, "dedup-dryrun-noledger", append([]string{"migrate", "--dry-run", "--no-ledger"}, base...)...)
		if t := dr.report.Totals; t.AlreadyOnServer != n || t.ToUpload != 0 {
			b.Fatalf("dry run without the ledger: %d of %d already on the server, %d to upload", t.AlreadyOnServer, n, t.ToUpload)
		}
		if d, ok := dr.phases["checking what the server has"]; ok {
			fullChecks = append(fullChecks, d)
		}
	}
	closeServer(b, s)

	// The floor: the same FETCH by a minimal client, on a second server
	// loaded by the ceiling client (a fresh one, so that its first FETCH
	// finds nothing cached, as migrate's first rerun did).
	s2 := startServer(b)
	defer closeServer(b, s2)
	upStart := time.Now()
	if err := ceilingUpload(s2.Addr(), s2.Users[0].Name, s2.Users[0].Password, benchMailbox, fx.corpus.Messages); err != nil {
		b.Fatalf("ceiling upload: %v", err)
	}
	ceilingUp := time.Since(upStart)
	var floors []time.Duration
	for i := 0; i < runs; i++ {
		d, got, err := minimalFetch(s2.Addr(), s2.Users[0].Name, s2.Users[0].Password, benchMailbox, dedupFetchItems)
		if err != nil || got != n {
			b.Fatalf("minimal FETCH: %d of %d messages: %v", got, n, err)
		}
		floors = append(floors, d)
	}

	scan, dry := medianDuration(scans), medianDuration(dries)
	wrapped := dry - scan
	// The first dry run is the realistic rerun: Dovecot has not yet
	// cached the Message-ID field (it caches a header field once a client
	// asks for it). The next runs show the cached case.
	wrappedFirst := dries[0] - scan
	b.ReportMetric(float64(upload.Milliseconds()), "upload-ms")
	b.ReportMetric(float64(wrappedFirst.Milliseconds()), "dedup-wrapped-first-ms")
	b.ReportMetric(wrappedFirst.Seconds()/upload.Seconds(), "dedup/upload-wrapped-first")
	haveChecks := len(checks) == runs
	if haveChecks {
		b.ReportMetric(float64(checks[0].Milliseconds()), "dedup-first-ms")
		b.ReportMetric(checks[0].Seconds()/upload.Seconds(), "dedup/upload-first")
		b.ReportMetric(medianDuration(checks[1:]).Seconds()/upload.Seconds(), "dedup/upload-cached")
	}
	b.ReportMetric(floors[0].Seconds()/upload.Seconds(), "floor/upload-first")
	b.ReportMetric(float64(n), "msgs")

	secs := func(ds []time.Duration) string {
		var out []string
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%.3f", d.Seconds()))
		}
		return strings.Join(out, ", ")
	}
	pct := func(d time.Duration) string { return fmt.Sprintf("%.1f%%", 100*d.Seconds()/upload.Seconds()) }
	fmt.Printf("\n## Dedup pass of a rerun: one folder of %d messages, %.1f MB\n\n", n, float64(fx.corpus.Bytes)/1e6)
	printMachine(os.Stdout, load0)
	fmt.Println()
	fmt.Println("| what | time s | share of the upload |")
	fmt.Println("|---|--:|--:|")
	fmt.Printf("| upload: migrate wall (scan, plan, upload), peak RSS %.1f MiB | %.2f | |\n", float64(up.rss)/(1<<20), up.wall.Seconds())
	fmt.Printf("| upload: its \"uploading\" phase | %.2f | 100%% |\n", upload.Seconds())
	fmt.Printf("| upload: its \"scanning\" phase | %.2f | |\n", up.phases["scanning"].Seconds())
	fmt.Printf("| rerun: migrate --dry-run wall, runs 1-%d (peak RSS %.1f MiB) | %s | |\n", runs, float64(dryRSS)/(1<<20), secs(dries))
	fmt.Printf("| scan wall, runs 1-%d | %s | |\n", runs, secs(scans))
	if haveChecks {
		fmt.Printf("| **dedup pass, migrate's own timing** (phase \"checking what the server has\"), first rerun, with the ledger of the upload | %.3f | **%s** |\n", checks[0].Seconds(), pct(checks[0]))
		fmt.Printf("| the same, reruns 2-%d | %s | %s |\n", runs, secs(checks[1:]), pct(medianDuration(checks[1:])))
		if len(fullChecks) == runs {
			fmt.Printf("| dedup pass with --no-ledger (a Message-ID FETCH of every message), runs 1-%d (the first finds Dovecot's cache cold) | %s | %s, then %s |\n", runs, secs(fullChecks), pct(fullChecks[0]), pct(medianDuration(fullChecks[1:])))
			b.ReportMetric(fullChecks[0].Seconds()/upload.Seconds(), "dedup-noledger/upload-first")
		}
	} else {
		fmt.Printf("| dedup pass, migrate's own timing | not in its progress lines | |\n")
	}
	fmt.Printf("| dedup pass from outside (with the ledger): first dry run minus the median scan | %.3f | %s |\n", wrappedFirst.Seconds(), pct(wrappedFirst))
	fmt.Printf("| the same, median dry run minus median scan | %.3f | %s |\n", wrapped.Seconds(), pct(wrapped))
	fmt.Printf("| floor: the same FETCH by a minimal client (`UID FETCH 1:* %s`), first on a fresh server | %.3f | %s |\n", dedupFetchItems, floors[0].Seconds(), pct(floors[0]))
	fmt.Printf("| floor, FETCHes 2-%d (cached) | %s | %s |\n", runs, secs(floors[1:]), pct(medianDuration(floors[1:])))
	fmt.Printf("| for scale: the ceiling client's upload of the same folder | %.2f | %s |\n", ceilingUp.Seconds(), pct(ceilingUp))
	fmt.Println()
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
