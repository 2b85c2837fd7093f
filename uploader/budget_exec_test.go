package uploader

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/archive2imap/archive2imap/internal/memimap"
	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
)

// Execute with an upload budget, against the in-process server. The
// budget's clock and its sleeping are fakes: no test waits for real.

// fakeTime is a settable clock whose sleeping only moves it on, safe for
// the concurrent upload connections. sleeps records every wait asked for;
// onSleep, when set, may end the wait with an error instead.
type fakeTime struct {
	mu      sync.Mutex
	t       time.Time
	sleeps  []time.Duration
	onSleep func(n int) error
}

func (f *fakeTime) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeTime) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.sleeps = append(f.sleeps, d)
	n, hook := len(f.sleeps), f.onSleep
	f.mu.Unlock()
	if hook != nil {
		if err := hook(n); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
	return nil
}

func (f *fakeTime) advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func (f *fakeTime) slept() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// budgetOn is a budget that runs on ft.
func budgetOn(perDay, perSecond int64, ft *fakeTime) *Budget {
	b := NewBudget(perDay, perSecond)
	b.now, b.sleep = ft.now, ft.sleep
	return b
}

// sameSizeSource writes n messages of one size: the first inbox ones in
// inbox, the rest in Work.
func sameSizeSource(t *testing.T, n, inbox int) string {
	var msgs []srcMsg
	for i := range n {
		folder := "inbox"
		if i >= inbox {
			folder = "Work"
		}
		msgs = append(msgs, srcMsg{folder: folder, data: mail(fmt.Sprintf("b-%02d@example.org", i), fmt.Sprintf("Budget %02d", i), strings.Repeat("budget line\n", 150)), info: "S"})
	}
	return writeSource(t, msgs)
}

// oneSize returns the size of rep's messages, which must all be the same.
func oneSize(t *testing.T, rep *report.Report) int64 {
	t.Helper()
	size := rep.Messages[0].Size
	for _, m := range rep.Messages {
		if m.Size != size {
			t.Fatalf("the messages differ in size: %d and %d", size, m.Size)
		}
	}
	return size
}

// ledgerKeys returns the keys a ledger file lists, sorted.
func ledgerKeys(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e LedgerEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("ledger line %q: %v", sc.Text(), err)
		}
		keys = append(keys, e.Key)
	}
	sort.Strings(keys)
	return keys
}

// keysWhere returns the keys of rep's messages that pick selects, sorted.
func keysWhere(rep *report.Report, pick func(*report.Message) bool) []string {
	var keys []string
	for i := range rep.Messages {
		if pick(&rep.Messages[i]) {
			keys = append(keys, rep.Messages[i].Key)
		}
	}
	sort.Strings(keys)
	return keys
}

func isUploaded(m *report.Message) bool { return m.Outcome == report.DecisionUploaded }

// budgetRun plans root against srv (with the ledger at ledgerPath, as a
// rerun reads it) and executes the plan with budget b.
func budgetRun(t *testing.T, ctx context.Context, srv *testServer, root, ledgerPath string, b *Budget, eo ExecOptions) (*report.Report, error) {
	t.Helper()
	l, err := OpenLedger(ledgerPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := b.LoadLedger(ledgerPath); err != nil {
		t.Fatal(err)
	}
	rep, cl := planned(t, root, srv.config(), plan.Options{}, PlanOptions{Ledger: l})
	eo.Ledger, eo.Budget, eo.Backoff = l, b, 10*time.Millisecond
	err = Execute(ctx, rep, srv.config(), cl, eo)
	return rep, err
}

// TestBudgetStopsRun: a run whose daily allowance holds 4 of its 10
// messages uploads 4, stops cleanly with a BudgetError that says when to
// run again, and leaves the other 6 pending; the ledger lists exactly the
// 4. A rerun at the same time counts the earlier run's uploads (read from
// the ledger) and sends nothing; a rerun a day later uploads the 6, and
// every message is on the server once.
func TestBudgetStopsRun(t *testing.T) {
	srv := startServer(t, memimap.Options{})
	root := sameSizeSource(t, 10, 6)
	ledgerPath := filepath.Join(t.TempDir(), "account.ledger.jsonl")
	size := oneSize(t, scan(t, root, plan.Options{}))
	perDay := 4*size + size/2
	start := time.Now().Truncate(time.Minute)
	ft := &fakeTime{t: start}

	rep, err := budgetRun(t, testCtx(t), srv, root, ledgerPath, budgetOn(perDay, 0, ft), ExecOptions{Connections: 2})
	var be *BudgetError
	if !errors.As(err, &be) || !errors.Is(err, ErrBudgetReached) {
		t.Fatalf("Execute: %v (%T), want a *BudgetError", err, err)
	}
	if be.PerDay != perDay || be.Used != 4*size || !be.ResumeAt.Equal(start.Add(24*time.Hour)) {
		t.Errorf("BudgetError %+v: want per day %d, used %d, resume at %v", be, perDay, 4*size, start.Add(24*time.Hour))
	}
	if !strings.Contains(be.Error(), "run the same command again after ") {
		t.Errorf("error %q does not say when to run again", be)
	}
	if rep.Totals.Uploaded != 4 || rep.Totals.Failed != 0 || countOutcome(rep, report.DecisionPending) != 6 {
		t.Errorf("uploaded %d, failed %d, pending %d; want 4, 0, 6", rep.Totals.Uploaded, rep.Totals.Failed, countOutcome(rep, report.DecisionPending))
	}
	checkCounters(t, rep)
	o := srv.observer()
	checkUploaded(t, o, rep, nil, 0)
	if got, want := ledgerKeys(t, ledgerPath), keysWhere(rep, isUploaded); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the ledger lists %v, the report's uploads are %v", got, want)
	}

	// The same day: the earlier run's 4 count, the next message does not
	// fit, nothing is sent.
	rep2, err := budgetRun(t, testCtx(t), srv, root, ledgerPath, budgetOn(perDay, 0, ft), ExecOptions{Connections: 2})
	if !errors.As(err, &be) || be.Used != 4*size {
		t.Fatalf("a rerun the same day: %v, want a BudgetError counting the %d bytes of the first run", err, 4*size)
	}
	if rep2.Totals.Uploaded != 0 || rep2.Totals.AlreadyOnServer != 4 || countOutcome(rep2, report.DecisionPending) != 6 {
		t.Errorf("rerun the same day: uploaded %d, on server %d, pending %d; want 0, 4, 6", rep2.Totals.Uploaded, rep2.Totals.AlreadyOnServer, countOutcome(rep2, report.DecisionPending))
	}
	checkUploaded(t, o, rep, nil, 0)

	// A day later the allowance is free again: 4 more, then the last 2.
	ft.advance(24*time.Hour + time.Minute)
	rep3, err := budgetRun(t, testCtx(t), srv, root, ledgerPath, budgetOn(perDay, 0, ft), ExecOptions{Connections: 2})
	if !errors.As(err, &be) || rep3.Totals.Uploaded != 4 {
		t.Fatalf("the next day: %v, uploaded %d; want the budget reached after 4", err, rep3.Totals.Uploaded)
	}
	ft.advance(24*time.Hour + time.Minute)
	rep4, err := budgetRun(t, testCtx(t), srv, root, ledgerPath, budgetOn(perDay, 0, ft), ExecOptions{Connections: 2})
	if err != nil {
		t.Fatalf("the last day: %v", err)
	}
	if rep4.Totals.Uploaded != 2 || rep4.Totals.AlreadyOnServer != 8 || countOutcome(rep4, report.DecisionPending) != 0 {
		t.Errorf("last run: uploaded %d, on server %d, pending %d; want 2, 8, 0", rep4.Totals.Uploaded, rep4.Totals.AlreadyOnServer, countOutcome(rep4, report.DecisionPending))
	}
	checkCounters(t, rep4)
	checkOnServer(t, o, rep4, nil, func(m *report.Message) bool {
		return m.Plan == report.DecisionUpload || m.Plan == report.DecisionExists
	})
	if got := ledgerKeys(t, ledgerPath); len(got) != 10 {
		t.Errorf("the ledger lists %d uploads, want each of the 10 once: %v", len(got), got)
	}
}

// countOutcome counts rep's messages with that outcome.
func countOutcome(rep *report.Report, outcome string) int {
	n := 0
	for _, m := range rep.Messages {
		if m.Outcome == outcome {
			n++
		}
	}
	return n
}

// TestBudgetWait: with Budget.Wait, a run that reaches the allowance
// waits for it to free up (a day, on the fake clock) instead of stopping,
// and uploads everything once.
func TestBudgetWait(t *testing.T) {
	srv := startServer(t, memimap.Options{})
	root := sameSizeSource(t, 6, 3)
	size := oneSize(t, scan(t, root, plan.Options{}))
	start := time.Now()
	ft := &fakeTime{t: start}
	b := budgetOn(2*size+size/2, 0, ft)
	b.Wait = true
	rep, err := budgetRun(t, testCtx(t), srv, root, filepath.Join(t.TempDir(), "l.jsonl"), b, ExecOptions{Connections: 2})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if rep.Totals.Uploaded != 6 || rep.Totals.Failed != 0 {
		t.Errorf("uploaded %d, failed %d; want 6, 0", rep.Totals.Uploaded, rep.Totals.Failed)
	}
	checkExactlyOnce(t, srv.observer(), rep, nil)
	days := 0
	for _, d := range ft.slept() {
		if d >= 23*time.Hour && d <= 25*time.Hour {
			days++
		}
	}
	if days == 0 {
		t.Errorf("the run never waited for the allowance to free up (waits %v)", ft.slept())
	}
	if elapsed := ft.now().Sub(start); elapsed < 48*time.Hour {
		t.Errorf("6 messages of a 2.5-message daily allowance went within %v, want at least two days", elapsed)
	}
}

// TestBudgetPaced: --max-bytes-per-second makes the run wait before each
// message, on average size/rate; the waits add up to the bytes over the
// rate.
func TestBudgetPaced(t *testing.T) {
	srv := startServer(t, memimap.Options{})
	root := sameSizeSource(t, 5, 5)
	size := oneSize(t, scan(t, root, plan.Options{}))
	ft := &fakeTime{t: time.Now()}
	const rate = 1000
	rep, err := budgetRun(t, testCtx(t), srv, root, filepath.Join(t.TempDir(), "l.jsonl"), budgetOn(0, rate, ft), ExecOptions{Connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Uploaded != 5 {
		t.Fatalf("uploaded %d of 5", rep.Totals.Uploaded)
	}
	var total time.Duration
	for _, d := range ft.slept() {
		total += d
	}
	want := time.Duration(5*size) * time.Second / rate
	if total < want-time.Second || total > want+10*time.Millisecond {
		t.Errorf("5 messages of %d bytes at %d B/s waited %v in all (%v), want about %v", size, rate, total, ft.slept(), want)
	}
	checkExactlyOnce(t, srv.observer(), rep, nil)
}

// TestBudgetPaceInterrupted: an interrupt during the rate's pause stops
// the run at once: the paused message is not sent, what went is recorded,
// the rest is pending.
func TestBudgetPaceInterrupted(t *testing.T) {
	srv := startServer(t, memimap.Options{})
	root := sameSizeSource(t, 5, 5)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	ft := &fakeTime{t: time.Now()}
	ft.onSleep = func(n int) error {
		if n == 3 {
			cancel()
			return context.Canceled
		}
		return nil
	}
	rep, err := budgetRun(t, ctx, srv, root, filepath.Join(t.TempDir(), "l.jsonl"), budgetOn(0, 100, ft), ExecOptions{Connections: 1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Execute: %v, want interrupted", err)
	}
	if rep.Totals.Uploaded != 2 || countOutcome(rep, report.DecisionPending) != 3 {
		t.Errorf("uploaded %d, pending %d; want 2 and 3", rep.Totals.Uploaded, countOutcome(rep, report.DecisionPending))
	}
	checkUploaded(t, srv.observer(), rep, nil, 0)
}

// TestGmailBandwidthDuringRun: Gmail answers an APPEND over its daily
// limit with "[OVERQUOTA] Account exceeded command or bandwidth limits":
// that is the budget (exit 5, rerun later), not a full account (exit 4).
func TestGmailBandwidthDuringRun(t *testing.T) {
	r := &refuser{answer: func(n int, mailbox string, size int64) error {
		if n > 2 {
			return no(imap.ResponseCode("OVERQUOTA"), "Account exceeded command or bandwidth limits. (Failure)")
		}
		return nil
	}}
	srv := startServer(t, memimap.Options{Refuse: r.hook})
	root := sameSizeSource(t, 5, 5)
	rep, err := migrate(t, testCtx(t), root, srv.config(), PlanOptions{}, ExecOptions{Connections: 1, Batch: 1})
	var be *BudgetError
	if !errors.As(err, &be) || errors.Is(err, ErrOverQuota) {
		t.Fatalf("Execute: %v (%T), want a *BudgetError", err, err)
	}
	if !strings.Contains(be.Error(), "Account exceeded command or bandwidth limits. (Failure)") {
		t.Errorf("error %q lost the server's words", be)
	}
	if rep.Totals.Uploaded != 2 || countOutcome(rep, report.DecisionPending) != 3 || rep.Totals.Failed != 0 {
		t.Errorf("uploaded %d, pending %d, failed %d; want 2, 3, 0", rep.Totals.Uploaded, countOutcome(rep, report.DecisionPending), rep.Totals.Failed)
	}
	checkUploaded(t, srv.observer(), rep, nil, 0)
}
