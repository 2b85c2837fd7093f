package uploader

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/archive2imap/archive2imap/report"
)

// ErrBudgetReached is wrapped by the error of a run that stopped at its
// daily upload budget (see BudgetError).
var ErrBudgetReached = errors.New("daily upload budget reached")

// BudgetError says that a run stopped at the daily upload budget, how much
// the account took in the last 24 hours, and when to run again.
type BudgetError struct {
	// PerDay is the budget; 0 when the server stopped the run (Gmail's
	// "Account exceeded command or bandwidth limits").
	PerDay int64
	// Used is what was uploaded in the last 24 hours, by this run and by
	// the earlier runs the ledger recorded.
	Used int64
	// ResumeAt is when enough of the budget is free again for the next
	// message; zero when only the server knows.
	ResumeAt time.Time
	// ServerText is the server's refusal, when the server stopped the run.
	ServerText string
}

func (e *BudgetError) Error() string {
	if e.ServerText != "" {
		s := fmt.Sprintf("budget reached: the server refuses more uploads for now (%s)", e.ServerText)
		if e.Used > 0 {
			s += fmt.Sprintf("; about %s uploaded in the last 24 hours", report.HumanBytes(e.Used))
		}
		return s + "; run the same command again in a few hours (Gmail lifts this block within 24 hours)"
	}
	return fmt.Sprintf("budget reached: about %s uploaded in the last 24 hours (the budget is %s a day); run the same command again after %s",
		report.HumanBytes(e.Used), report.HumanBytes(e.PerDay), e.ResumeAt.Local().Format("2006-01-02 15:04 MST"))
}

func (e *BudgetError) Unwrap() error { return ErrBudgetReached }

// budgetWindow is how far back the daily budget looks.
const budgetWindow = 24 * time.Hour

// A Budget limits what a run sends: a daily allowance, counted over a
// sliding 24 hours that include the uploads of earlier runs (read from the
// ledger, which records each upload's time and size), and a rate in bytes
// per second (a token bucket). It counts what is sent, not what the
// server keeps: a message sent again after a broken connection counts
// twice, as the bytes crossed the wire twice. Safe for concurrent use by
// the upload connections; nil means no limit.
//
// Its memory is bounded: uploads are kept as one total per minute of the
// last 24 hours.
type Budget struct {
	// PerDay is the daily allowance in bytes; 0: none.
	PerDay int64
	// PerSecond is the rate limit in bytes per second; 0: none.
	PerSecond int64
	// Wait makes a run that reaches the daily allowance wait until it
	// frees up instead of stopping.
	Wait bool
	// Label names the allowance in sentences ("Gmail's ~500 MB/day");
	// "": the amount is shown.
	Label string

	now func() time.Time
	// sleep waits d or until ctx ends; nil: the package's sleep (tests
	// set a fake one, so that no test waits for real).
	sleep func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	minutes []spent // uploads in the last 24 hours, per minute, oldest first
	before  int64   // what earlier runs uploaded in the 24 hours before the run (LoadLedger)
	tokens  float64 // the rate's bucket; negative: owed
	last    time.Time
}

// spent is what was uploaded in one minute; at is the time of the last
// upload counted in it.
type spent struct {
	minute int64 // Unix minute
	at     time.Time
	n      int64
}

// NewBudget returns a budget of perDay bytes a day and perSecond bytes a
// second (0: no limit), or nil when both are 0.
func NewBudget(perDay, perSecond int64) *Budget {
	if perDay <= 0 && perSecond <= 0 {
		return nil
	}
	return &Budget{PerDay: max(perDay, 0), PerSecond: max(perSecond, 0), now: time.Now}
}

// LoadLedger counts the uploads that the ledger at path recorded in the
// last 24 hours (a missing file is an empty ledger). Lines it cannot read
// are skipped, as OpenLedger skips them.
func (b *Budget) LoadLedger(path string) error {
	if b == nil || b.PerDay <= 0 || path == "" {
		return nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	since := b.now().Add(-budgetWindow)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	b.mu.Lock()
	defer b.mu.Unlock()
	for sc.Scan() {
		var e struct {
			Time time.Time `json:"time"`
			Size int64     `json:"size"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Size <= 0 || !e.Time.After(since) {
			continue
		}
		b.addLocked(e.Time, e.Size)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	b.before = b.usedLocked(b.now())
	return nil
}

// addLocked counts n bytes uploaded at t.
func (b *Budget) addLocked(t time.Time, n int64) {
	m := t.Unix() / 60
	i := sort.Search(len(b.minutes), func(i int) bool { return b.minutes[i].minute >= m })
	if i < len(b.minutes) && b.minutes[i].minute == m {
		b.minutes[i].n += n
		if t.After(b.minutes[i].at) {
			b.minutes[i].at = t
		}
		return
	}
	b.minutes = append(b.minutes, spent{})
	copy(b.minutes[i+1:], b.minutes[i:])
	b.minutes[i] = spent{minute: m, at: t, n: n}
}

// usedLocked drops what is older than 24 hours and returns the rest.
func (b *Budget) usedLocked(now time.Time) int64 {
	k := 0
	for k < len(b.minutes) && !b.minutes[k].at.After(now.Add(-budgetWindow)) {
		k++
	}
	b.minutes = b.minutes[k:]
	var sum int64
	for _, s := range b.minutes {
		sum += s.n
	}
	return sum
}

// Used returns what was uploaded in the last 24 hours.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.usedLocked(b.now())
}

// spend counts n bytes about to be sent, or returns a *BudgetError when
// they do not fit in the daily allowance (nothing is counted then). A
// message larger than the whole allowance goes when nothing else was sent
// in the last 24 hours, or it could never go.
func (b *Budget) spend(n int64) *BudgetError {
	if b == nil || b.PerDay <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	used := b.usedLocked(now)
	if used > 0 && used+n > b.PerDay {
		return &BudgetError{PerDay: b.PerDay, Used: used, ResumeAt: b.resumeLocked(used, n)}
	}
	b.addLocked(now, n)
	return nil
}

// resumeLocked is when n more bytes fit: when enough of what was uploaded
// in the last 24 hours is 24 hours old.
func (b *Budget) resumeLocked(used, n int64) time.Time {
	at := b.now()
	for _, s := range b.minutes {
		if used == 0 || used+n <= b.PerDay {
			break
		}
		used -= s.n
		at = s.at.Add(budgetWindow)
	}
	return at
}

// waitForRoom waits until n bytes fit in the daily allowance (or ctx
// ends).
func (b *Budget) waitForRoom(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		now := b.now()
		used := b.usedLocked(now)
		if used == 0 || used+n <= b.PerDay {
			b.mu.Unlock()
			return nil
		}
		d := b.resumeLocked(used, n).Sub(now) + time.Second
		b.mu.Unlock()
		if err := b.wait(ctx, d); err != nil {
			return err
		}
	}
}

// wait sleeps d, or until ctx ends.
func (b *Budget) wait(ctx context.Context, d time.Duration) error {
	if b.sleep != nil {
		return b.sleep(ctx, d)
	}
	return sleep(ctx, d)
}

// pace counts n bytes against the rate and returns how long to wait
// before sending them: the bucket holds at most a second's worth, and a
// message bigger than that is paid for by waiting, so that over a run the
// bytes go at the rate on average.
func (b *Budget) pace(n int64) time.Duration {
	if b == nil || b.PerSecond <= 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	rate := float64(b.PerSecond)
	if !b.last.IsZero() {
		b.tokens += now.Sub(b.last).Seconds() * rate
	}
	b.tokens = min(b.tokens, rate)
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / rate * float64(time.Second))
}

// Describe is the budget as the report states it, for toUpload bytes;
// nil without a budget.
func (b *Budget) Describe(toUpload int64) *report.Budget {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	before := b.before
	b.mu.Unlock()
	rb := &report.Budget{BytesPerDay: b.PerDay, Label: b.Label, UsedLast24h: before, BytesToUpload: toUpload, BytesPerSecond: b.PerSecond, Wait: b.Wait}
	if b.PerDay > 0 {
		rb.Days = budgetDays(toUpload, b.PerDay, before)
	}
	return rb
}

// budgetDays is how many days of perDay it takes to upload toUpload when
// used was uploaded in the last 24 hours: 1 when it fits in what is left.
func budgetDays(toUpload, perDay, used int64) int {
	left := max(perDay-used, 0)
	if toUpload <= left {
		return 1
	}
	rest := toUpload - left
	return 1 + int((rest+perDay-1)/perDay)
}
