package uploader

// The fault-tolerance property test: whatever happens during a run
// (connections cut anywhere, delays, throttling, BYE, refused
// connections, a size limit, a full account, Ctrl-C), running the same
// migration again finishes the job, and then every message is on the
// server exactly once, with its flags and date; nothing else appeared;
// what was on the server before is untouched; the source is unchanged.
// And the report of the broken run says the truth about what landed.
//
// Each seed makes its own archive, account (a fresh Dovecot), fault
// schedule (faultproxy_test.go) and run options. CI runs the default
// number of seeds; before a release, run at least 200:
//
//	ARCHIVE2IMAP_FAULT_SEEDS=200 go test -race -run 'TestFaults$' ./uploader
//
// and one seed alone (a failure says which):
//
//	ARCHIVE2IMAP_FAULT_SEED=17 go test -race -run 'TestFaults$' -v ./uploader
//
// ARCHIVE2IMAP_FAULT_PARALLEL sets how many seeds run at once (default 4;
// most of a seed's time is spent waiting, not computing).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/internal/dovecottest"
	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
)

const (
	faultSeedsEnv     = "ARCHIVE2IMAP_FAULT_SEEDS"
	faultSeedEnv      = "ARCHIVE2IMAP_FAULT_SEED"
	faultParallelEnv  = "ARCHIVE2IMAP_FAULT_PARALLEL"
	defaultFaultSeeds = 24
)

// faultScenario is everything a seed decides besides the proxy's
// per-connection plans.
type faultScenario struct {
	seed    uint64
	folders []string
	msgs    []srcMsg
	// preseed: copies of source messages (indexes into msgs) put on the
	// server before the run, with other flags and dates.
	preseed []int
	exec    ExecOptions
	ledger  bool
	// bigCount messages planned for upload are refused NO [TOOBIG] by the
	// proxy, every time (a size limit the plan did not know of).
	bigCount int
	// fullAfter: the account is full after this many APPENDs (0: never).
	fullAfter int64
	// interrupt: Ctrl-C this long after the run starts (0: none), or
	// as soon as interruptAfter APPENDs have reached the server, which
	// lands mid-upload whatever the machine's speed.
	interrupt      time.Duration
	interruptAfter int64
	// budget bounds the faults that break or slow down the run.
	budget int64
}

func (sc faultScenario) String() string {
	var f []string
	f = append(f, fmt.Sprintf("%d messages in %v, %d copies pre-seeded", len(sc.msgs), sc.folders, len(sc.preseed)))
	f = append(f, fmt.Sprintf("connections %d, batch %d, window %d, retries %d", sc.exec.Connections, sc.exec.Batch, sc.exec.Window, sc.exec.Retries))
	if sc.ledger {
		f = append(f, "ledger")
	}
	if sc.bigCount > 0 {
		f = append(f, fmt.Sprintf("%d refused TOOBIG", sc.bigCount))
	}
	if sc.fullAfter > 0 {
		f = append(f, fmt.Sprintf("account full after %d APPENDs", sc.fullAfter))
	}
	if sc.interrupt > 0 {
		f = append(f, fmt.Sprintf("Ctrl-C after %v", sc.interrupt))
	}
	if sc.interruptAfter > 0 {
		f = append(f, fmt.Sprintf("Ctrl-C after %d APPENDs", sc.interruptAfter))
	}
	f = append(f, fmt.Sprintf("fault budget %d", sc.budget))
	return strings.Join(f, "; ")
}

// newFaultScenario draws a seed's archive and options: 20 to 40 messages
// in 2 or 3 folders, a quarter without Message-ID, most small, some over
// 4 KiB (synchronizing literals under LITERAL-) and a few over 64 KiB;
// flags, some messages in new/, some marked deleted (skipped), some
// delivery dates out of order; copies in the same folder (duplicates), a
// resent message (same Message-ID, other bytes), and the same message in
// two folders (uploaded to both).
func newFaultScenario(seed uint64) faultScenario {
	r := rand.New(rand.NewPCG(seed, 0xfa17))
	sc := faultScenario{seed: seed, folders: []string{"inbox"}}
	others := []string{"Sent", "Work/Clients", "Archives/2009"}
	r.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	sc.folders = append(sc.folders, others[:1+r.IntN(2)]...)
	n := 20 + r.IntN(21)
	for i := 0; i < n; i++ {
		folder := sc.folders[r.IntN(len(sc.folders))]
		id := fmt.Sprintf("s%d.m%d@fault.example.org", seed, i)
		if r.IntN(4) == 0 {
			id = ""
		}
		lines := 1 + r.IntN(40)
		switch k := r.IntN(100); {
		case k >= 97:
			lines = 1500 + r.IntN(500) // 70-90 KB
		case k >= 75:
			lines = 100 + r.IntN(300) // 5-18 KB
		}
		var body strings.Builder
		fmt.Fprintf(&body, "Message %d of seed %d.\n", i, seed)
		for l := 0; l < lines; l++ {
			fmt.Fprintf(&body, "Line %d: lorem ipsum dolor sit amet, consectetur.\n", l)
		}
		var info []byte
		for _, c := range "DFPRS" {
			if r.IntN(10) < 3 {
				info = append(info, byte(c))
			}
		}
		if r.IntN(20) == 0 {
			info = append(info, 'T') // trashed: marked deleted, skipped
		}
		m := srcMsg{folder: folder, data: mail(id, fmt.Sprintf("Seed %d message %d", seed, i), body.String()), info: string(info)}
		if r.IntN(12) == 0 {
			m.inNew = true
		}
		if r.IntN(5) == 0 {
			m.at = time.Date(2003+r.IntN(12), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC)
		}
		sc.msgs = append(sc.msgs, m)
		switch k := r.IntN(100); {
		case k < 10: // the same message twice in its folder
			c := m
			c.info, c.at = "S", time.Time{}
			sc.msgs = append(sc.msgs, c)
		case k < 15 && id != "": // resent: same Message-ID, other bytes
			c := m
			c.data = strings.Replace(m.data, "\n\n", "\nX-Resent: yes\n\n", 1)
			sc.msgs = append(sc.msgs, c)
		case k < 23 && id != "" && len(sc.folders) > 1: // filed in two folders
			c := m
			for c.folder == m.folder {
				c.folder = sc.folders[r.IntN(len(sc.folders))]
			}
			sc.msgs = append(sc.msgs, c)
		}
	}
	// Copies of up to two inbox or Sent messages are already on the
	// server (with other flags and dates: they must stay so).
	// (Distinct ones: the account holds no duplicates to start with.)
	for i, m := range sc.msgs {
		same := false
		for _, j := range sc.preseed {
			a, b := m.data, sc.msgs[j].data
			same = same || a == b || messageID(a) != "" && messageID(a) == messageID(b)
		}
		if len(sc.preseed) < 2 && !same && (m.folder == "inbox" || m.folder == "Sent") && !strings.Contains(m.info, "T") && r.IntN(6) == 0 {
			sc.preseed = append(sc.preseed, i)
		}
	}
	sc.exec = ExecOptions{
		Connections:    1 + r.IntN(3),
		Batch:          []int{0, 0, 1, 4}[r.IntN(4)],
		Window:         []int{0, 0, 1, 3, 16}[r.IntN(5)],
		Backoff:        5 * time.Millisecond,
		ThrottleGiveUp: 300 * time.Millisecond,
		Grace:          2 * time.Second,
	}
	if r.IntN(2) == 0 {
		sc.exec.Retries = 2 + r.IntN(4)
	}
	sc.ledger = r.IntN(2) == 0
	if r.IntN(5) == 0 {
		sc.bigCount = 1 + r.IntN(2)
	}
	if r.IntN(100) < 15 {
		sc.fullAfter = 1 + r.Int64N(4)
	}
	switch n := r.IntN(100); {
	case n < 10:
		sc.interrupt = time.Duration(r.IntN(250)) * time.Millisecond
	case n < 25:
		sc.interruptAfter = 1 + r.Int64N(2)
	}
	sc.budget = 2 + r.Int64N(10)
	return sc
}

// messageID returns the Message-ID of a test message, or "".
func messageID(data string) string {
	_, id := importers.KeyOf([]byte(crlf(data)))
	return id
}

// faultTally counts, over all seeds, what happened, so that the test
// fails if some kind of fault silently stopped being injected.
type faultTally struct {
	mu     sync.Mutex
	seeds  int
	counts map[string]int
}

func (ft *faultTally) add(kind string, n int) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.counts[kind] += n
}

// faultSeeds are the seeds to run: ARCHIVE2IMAP_FAULT_SEED alone, or
// 1..ARCHIVE2IMAP_FAULT_SEEDS (default 24).
func faultSeeds(t *testing.T) (seeds []uint64, single bool) {
	if s := os.Getenv(faultSeedEnv); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a number", faultSeedEnv, s)
		}
		return []uint64{n}, true
	}
	count := defaultFaultSeeds
	if s := os.Getenv(faultSeedsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", faultSeedsEnv, s)
		}
		count = n
	}
	for i := 1; i <= count; i++ {
		seeds = append(seeds, uint64(i))
	}
	return seeds, false
}

// TestFaults is the property test described at the top of this file.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("real Dovecot: skipped with -short")
	}
	seeds, single := faultSeeds(t)
	parallel := 4
	if s := os.Getenv(faultParallelEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", faultParallelEnv, s)
		}
		parallel = n
	}
	tally := &faultTally{counts: make(map[string]int)}
	start := time.Now()
	// Subtests run from a few goroutines of their own (testing allows
	// Run from several goroutines), so that -parallel, which defaults to
	// the number of CPUs, does not bound a test that mostly waits.
	ch := make(chan uint64)
	var wg sync.WaitGroup
	for w := 0; w < min(parallel, len(seeds)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range ch {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runFaultSeed(t, seed, tally) })
			}
		}()
	}
	for _, s := range seeds {
		ch <- s
	}
	close(ch)
	wg.Wait()

	var kinds []string
	for k, n := range tally.counts {
		kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(kinds)
	t.Logf("%d seeds in %v (%d at a time); over all seeds:\n  %s", len(seeds), time.Since(start).Round(time.Millisecond), parallel, strings.Join(kinds, "\n  "))
	if single || len(seeds) < defaultFaultSeeds || t.Failed() {
		return
	}
	// Every kind of fault happened somewhere, and the runs it broke were
	// finished by the reruns: the test tests what it says.
	for _, k := range []string{
		"greeting BYE", "cut client->server", "cut server->client", "delay", "LITERAL-", "synchronizing literal",
		"BYE", "THROTTLED", "UNAVAILABLE", "TOOBIG", "account full", "OVERQUOTA",
		"run: ErrOverQuota", "run: interrupted", "run: failed TOOBIG", "run: left work", "rerun: uploaded",
	} {
		if tally.counts[k] == 0 {
			t.Errorf("over %d seeds, %q never happened: the fault schedule no longer exercises it", len(seeds), k)
		}
	}
}

// expected is a source message the server must end up holding.
type expected struct {
	loc    string
	target string
	sum    string
	key    string
	flags  []string
	date   time.Time
}

// preseeded is a message put on the server before the run.
type preseeded struct {
	box string
	msg serverMsg
}

func runFaultSeed(t *testing.T, seed uint64, tally *faultTally) {
	sc := newFaultScenario(seed)
	var proxy *faultProxy
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		t.Logf("seed %d: %s", seed, sc)
		if proxy != nil {
			t.Logf("what the fault proxy did:\n%s", proxy.eventLog())
		}
		t.Logf("rerun just this seed: %s=%d go test -race -run 'TestFaults$' -v ./uploader", faultSeedEnv, seed)
	})
	srv := dovecottest.Start(t, dovecottest.Options{
		Users:   []dovecottest.User{{Name: testUser, Password: testPassword}},
		Storage: "mdbox",
		// The tests' own connections (observer, planning) count too.
		MaxUserConnections: 40,
	})
	direct := &Config{Host: srv.Host, Port: srv.Port, TLS: TLSNone, User: testUser, Password: testPassword, Timeout: 10 * time.Second}
	root := writeSource(t, sc.msgs)
	srcBefore := tree(t, root)

	// The account before: copies of some source messages, with other
	// flags and dates, and unrelated messages.
	o := dialObserver(t, srv.Addr())
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, i := range sc.preseed {
		box := "INBOX"
		if sc.msgs[i].folder == "Sent" {
			box = "Sent"
		}
		o.add(box, sc.msgs[i].data, []imap.Flag{imap.FlagFlagged, "$Preseeded"}, old)
	}
	o.add("INBOX", mail(fmt.Sprintf("unrelated.%d@example.com", seed), "Already on the server", "Not from the archive."), []imap.Flag{imap.FlagSeen}, old)
	o.add("Trash", mail("", "Deleted on the server", "Not from the archive either."), nil, old)
	boxesBefore := o.list()
	var pre []preseeded
	for name, attrs := range boxesBefore {
		if hasAttrFold(attrs, `\Noselect`) || hasAttrFold(attrs, `\NonExistent`) {
			continue
		}
		for _, m := range o.messages(name) {
			pre = append(pre, preseeded{name, m})
		}
	}

	// The plan, made without faults: what must be on the server in the end.
	lpath := filepath.Join(t.TempDir(), "ledger.jsonl")
	openLedger := func() *Ledger {
		if !sc.ledger {
			return nil
		}
		// Seeds run in parallel and start Dovecots: a child forked
		// between our open and close of the ledger holds a copy of its
		// descriptor, and so of its flock, until it execs (O_CLOEXEC).
		// A reopen right after Close can meet that lock for a moment.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			l, err := OpenLedger(lpath)
			if errors.Is(err, ErrLedgerLocked) && time.Now().Before(deadline) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
	}
	rep := scan(t, root, plan.Options{})
	ledger := openLedger()
	cl, err := Connect(context.Background(), direct)
	if err != nil {
		t.Fatal(err)
	}
	if err := Plan(context.Background(), rep, cl, PlanOptions{Ledger: ledger}); err != nil {
		t.Fatalf("Plan: %v", err)
	}
	cl.Close()
	checkCounters(t, rep)
	if rep.Totals.AlreadyOnServer < len(sc.preseed) {
		t.Fatalf("the plan finds %d messages on the server, but %d source messages were copied there", rep.Totals.AlreadyOnServer, len(sc.preseed))
	}
	var want []expected
	targets := make(map[string]bool)
	for i := range rep.Messages {
		m := &rep.Messages[i]
		switch m.Plan {
		case report.DecisionUpload:
			data := sourceData(t, rep, m)
			key, _ := importers.KeyOf(data)
			want = append(want, expected{loc: m.Location(), target: m.Target, sum: sha(data), key: key, flags: sortedFlags(m.Flags), date: m.Date})
			targets[m.Target] = true
		case report.DecisionExists, report.DecisionDuplicate, report.DecisionSkipped:
		default:
			t.Fatalf("%s: planned %q (%s) without faults", m.Location(), m.Plan, m.Reason)
		}
	}
	created := make(map[string]bool)
	for _, f := range rep.Folders {
		if f.Create {
			created[f.Target] = true
		}
	}
	r := rand.New(rand.NewPCG(seed, 0xb16))
	big := make(map[string]bool)
	for _, k := range r.Perm(len(want)) {
		if len(big) >= sc.bigCount {
			break
		}
		big[want[k].sum] = true
	}

	// The run, through the fault proxy.
	proxy = startFaultProxy(t, srv.Addr(), seed, func(p *faultProxy) {
		p.tooBig = func(msg []byte) bool { return big[sha(msg)] }
		p.fullAfter = sc.fullAfter
		p.budget.Store(sc.budget)
	})
	pcfg := proxy.config(direct)
	runCtx, cancelRun := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelRun()
	ctx, interrupt := context.WithCancel(runCtx)
	defer interrupt()
	if sc.interrupt > 0 {
		time.AfterFunc(sc.interrupt, interrupt)
	}
	if sc.interruptAfter > 0 {
		go func() {
			for ctx.Err() == nil && proxy.appended.Load() < sc.interruptAfter {
				time.Sleep(time.Millisecond)
			}
			interrupt()
		}()
	}
	eopts := sc.exec
	eopts.Ledger = ledger
	ran := false
	var runErr error
	// A run that cannot even log in (a refused or broken connection) is
	// run again by the user, through the same faulty network.
	for attempt := 1; attempt <= 3 && !ran && ctx.Err() == nil; attempt++ {
		ctl, err := Connect(ctx, pcfg)
		if err != nil {
			if !errors.Is(err, ErrConnect) || errors.Is(err, ErrAuth) {
				t.Errorf("a fault while logging in is not \"cannot connect\" (exit code 3): %v", err)
			}
			t.Logf("attempt %d could not start: %v", attempt, err)
			continue
		}
		ran = true
		runErr = Execute(ctx, rep, pcfg, ctl, eopts)
		ctl.Close()
	}
	if err := ledger.Close(); err != nil {
		t.Errorf("ledger: %v", err)
	}
	if runCtx.Err() != nil {
		t.Fatalf("the run under faults did not end within 2 minutes")
	}
	if !proxy.settle(30 * time.Second) {
		t.Fatalf("connections through the proxy still open 30 s after the run")
	}
	interrupted := (sc.interrupt > 0 || sc.interruptAfter > 0) && ctx.Err() != nil
	switch {
	case runErr == nil:
	case errors.Is(runErr, ErrOverQuota):
		tally.add("run: ErrOverQuota", 1)
		if !proxy.full.Load() {
			t.Errorf("Execute: %v, but the proxy never said the account was full", runErr)
		}
	case errors.Is(runErr, context.Canceled) && interrupted:
		tally.add("run: interrupted", 1)
	default:
		t.Errorf("Execute: %v; want nil, ErrOverQuota or (interrupted) context.Canceled", runErr)
	}
	fired, _ := proxy.counts()
	for k, n := range fired {
		tally.add(k, n)
	}
	if ran {
		checkRunReport(t, o, rep, pre, big, tally)
	}
	if t.Failed() {
		return
	}

	// Reruns without faults, as the user would, until nothing is left.
	done := false
	for i := 1; i <= 3 && !done; i++ {
		l := openLedger()
		rep2 := scan(t, root, plan.Options{})
		cl, err := Connect(context.Background(), direct)
		if err != nil {
			t.Fatal(err)
		}
		if err := Plan(context.Background(), rep2, cl, PlanOptions{Ledger: l}); err != nil {
			t.Fatalf("rerun %d: Plan: %v", i, err)
		}
		if rep2.Totals.ToUpload == 0 {
			done = true
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err = Execute(ctx, rep2, direct, cl, ExecOptions{Backoff: 5 * time.Millisecond, Ledger: l})
			cancel()
			if err != nil {
				t.Fatalf("rerun %d: Execute: %v", i, err)
			}
			tally.add("rerun: uploaded", rep2.Totals.Uploaded)
			checkCounters(t, rep2)
			// Without faults, a rerun does all that is left.
			for _, m := range rep2.Messages {
				if m.Plan == report.DecisionUpload && m.Outcome != report.DecisionUploaded {
					t.Errorf("rerun %d, without faults: %s: %s (%s)", i, m.Location(), m.Outcome, m.Reason)
				}
			}
		}
		cl.Close()
		if err := l.Close(); err != nil {
			t.Errorf("ledger: %v", err)
		}
	}
	if !done {
		t.Errorf("3 reruns without faults did not finish the job")
	}
	checkFinal(t, o, want, pre, created, targets, boxesBefore)
	if after := tree(t, root); after != srcBefore {
		t.Errorf("the source changed:\nbefore:\n%s\nafter:\n%s", srcBefore, after)
	}
}

// newOnServer returns the messages of mailbox that were not there before.
func newOnServer(o *observer, mailbox string, pre []preseeded) []serverMsg {
	had := make(map[uint32]bool)
	for _, p := range pre {
		if p.box == mailbox {
			had[p.msg.UID] = true
		}
	}
	var out []serverMsg
	for _, m := range o.messages(mailbox) {
		if !had[m.UID] {
			out = append(out, m)
		}
	}
	return out
}

// checkRunReport checks that the report of the run under faults says the
// truth: a message it calls uploaded is on the server exactly once, with
// the UID it names; one it calls failed is not there (and it failed
// "too large" only if the proxy refused it so); one it calls pending may
// be there once (the run could not tell); nothing else is new.
func checkRunReport(t *testing.T, o *observer, rep *report.Report, pre []preseeded, big map[string]bool, tally *faultTally) {
	t.Helper()
	checkCounters(t, rep)
	byTarget := make(map[string][]*report.Message)
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Plan == report.DecisionUpload {
			byTarget[m.Target] = append(byTarget[m.Target], m)
		}
	}
	for target, ms := range byTarget {
		on := make(map[string][]serverMsg)
		for _, sm := range newOnServer(o, target, pre) {
			on[sm.sum()] = append(on[sm.sum()], sm)
		}
		for _, m := range ms {
			sum := sha(sourceData(t, rep, m))
			got := on[sum]
			delete(on, sum)
			switch m.Outcome {
			case report.DecisionUploaded:
				if len(got) != 1 {
					t.Errorf("run report: %s uploaded, but %s holds %d copies", m.Location(), target, len(got))
				} else if m.UID != 0 && got[0].UID != m.UID {
					t.Errorf("run report: %s uploaded as UID %d, but the server has it as UID %d", m.Location(), m.UID, got[0].UID)
				}
				if big[sum] {
					t.Errorf("run report: %s uploaded, though every APPEND of it was refused TOOBIG", m.Location())
				}
			case report.DecisionFailed:
				if len(got) != 0 {
					t.Errorf("run report: %s failed (%s), but %s holds %d copies", m.Location(), m.Reason, target, len(got))
				}
				if strings.Contains(m.Reason, "too large") {
					tally.add("run: failed TOOBIG", 1)
					if !big[sum] || !strings.Contains(m.Reason, "Message too large for this server (fault proxy)") {
						t.Errorf("run report: %s: %q, but the server was not made to refuse it for its size", m.Location(), m.Reason)
					}
				}
				for _, bug := range []string{"cannot read it from the source", "the source changed", "cannot be sent"} {
					if strings.Contains(m.Reason, bug) {
						t.Errorf("run report: %s: %q: not a fault the proxy made", m.Location(), m.Reason)
					}
				}
				tally.add("run: left work", 1)
			case report.DecisionPending:
				if len(got) > 1 {
					t.Errorf("run report: %s pending, and %s holds %d copies", m.Location(), target, len(got))
				}
				tally.add("run: left work", 1)
			default:
				t.Errorf("run report: %s planned for upload, outcome %q", m.Location(), m.Outcome)
			}
		}
		for sum, sms := range on {
			for _, sm := range sms {
				t.Errorf("after the run, %s holds UID %d (sha %s), which is no source message planned for it", target, sm.UID, sum)
			}
		}
	}
}

// checkFinal checks the account after the reruns: each target holds what
// was there before, untouched, and exactly the planned messages, each
// once (by bytes and by key), with the source's flags and date; no other
// folder changed or appeared; the folders the run created are subscribed.
func checkFinal(t *testing.T, o *observer, want []expected, pre []preseeded, created, targets map[string]bool, boxesBefore map[string][]string) {
	t.Helper()
	boxes := o.list()
	for name, attrs := range boxes {
		if _, ok := boxesBefore[name]; ok || targets[name] || created[name] {
			continue
		}
		parent := false
		for c := range created {
			parent = parent || strings.HasPrefix(c, name+"/")
		}
		if !parent || !(hasAttrFold(attrs, `\Noselect`) || hasAttrFold(attrs, `\NonExistent`)) {
			t.Errorf("mailbox %q %v appeared", name, attrs)
		}
	}
	subs := o.subscribed()
	for name := range created {
		if _, ok := boxes[name]; !ok {
			t.Errorf("mailbox %q was to be created, and is not there", name)
		} else if !slices.Contains(subs, name) {
			t.Errorf("mailbox %q was created by the migration, and is not subscribed", name)
		}
	}
	wantIn := make(map[string][]expected)
	for _, w := range want {
		wantIn[w.target] = append(wantIn[w.target], w)
	}
	check := make(map[string]bool)
	for name, attrs := range boxes {
		if !hasAttrFold(attrs, `\Noselect`) && !hasAttrFold(attrs, `\NonExistent`) {
			check[name] = true
		}
	}
	for name := range check {
		all := o.messages(name)
		byUID := make(map[uint32]serverMsg)
		keys := make(map[string]int)
		for _, m := range all {
			byUID[m.UID] = m
			k, _ := importers.KeyOf(m.Data)
			keys[k]++
		}
		for k, n := range keys {
			if n > 1 {
				t.Errorf("%s holds %d messages with key %s", name, n, k)
			}
		}
		// What was there is untouched: same UIDs, flags, dates, bytes.
		for _, p := range pre {
			if p.box != name {
				continue
			}
			m, ok := byUID[p.msg.UID]
			switch {
			case !ok:
				t.Errorf("%s: UID %d, there before the run, is gone", name, p.msg.UID)
			case m.sum() != p.msg.sum() || !slices.Equal(noRecent(m.Flags), noRecent(p.msg.Flags)) || !m.Date.Equal(p.msg.Date):
				t.Errorf("%s: UID %d, there before the run, changed: flags %v date %v sha %s, was %v %v %s",
					name, m.UID, m.Flags, m.Date, m.sum(), p.msg.Flags, p.msg.Date, p.msg.sum())
			}
		}
		fresh := newOnServer(o, name, pre)
		bySum := make(map[string][]serverMsg)
		for _, m := range fresh {
			bySum[m.sum()] = append(bySum[m.sum()], m)
		}
		for _, w := range wantIn[name] {
			got := bySum[w.sum]
			delete(bySum, w.sum)
			if len(got) != 1 {
				t.Errorf("%s: %s: %d copies, want exactly 1", name, w.loc, len(got))
				continue
			}
			m := got[0]
			if !slices.Equal(noRecent(m.Flags), w.flags) {
				t.Errorf("%s: %s: flags %v, the source's %v", name, w.loc, m.Flags, w.flags)
			}
			if !w.date.IsZero() && m.Date.Unix() != w.date.Unix() {
				t.Errorf("%s: %s: INTERNALDATE %v, delivered %v", name, w.loc, m.Date.UTC(), w.date.UTC())
			}
			if k, _ := importers.KeyOf(m.Data); k != w.key {
				t.Errorf("%s: %s: key %s on the server, %s in the source", name, w.loc, k, w.key)
			}
		}
		for sum, ms := range bySum {
			for _, m := range ms {
				t.Errorf("%s: UID %d (sha %s) appeared, and is no planned message", name, m.UID, sum)
			}
		}
	}
	for target := range wantIn {
		if !check[target] {
			t.Errorf("the target %q of %d messages is not a mailbox", target, len(wantIn[target]))
		}
	}
}

// noRecent drops \Recent, a property of the session, not of the message.
func noRecent(flags []string) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if !strings.EqualFold(f, `\Recent`) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}
