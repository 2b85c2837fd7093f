package uploader

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clock is a settable time for the budget's tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestBudget(perDay, perSecond int64, c *clock) *Budget {
	b := NewBudget(perDay, perSecond)
	b.now = c.now
	return b
}

func TestNewBudgetNone(t *testing.T) {
	if b := NewBudget(0, 0); b != nil {
		t.Errorf("NewBudget(0, 0) = %+v, want nil (no limits)", b)
	}
	var b *Budget
	if b.spend(1<<40) != nil || b.pace(1<<40) != 0 || b.Used() != 0 || b.Describe(5) != nil {
		t.Error("a nil budget limits something")
	}
}

// TestBudgetDailyWindow: the daily budget counts what was sent in the last
// 24 hours, refuses what does not fit (counting nothing), says when the
// next message fits, and frees up as uploads get 24 hours old.
func TestBudgetDailyWindow(t *testing.T) {
	c := &clock{t: time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)}
	b := newTestBudget(1000, 0, c)
	if be := b.spend(400); be != nil {
		t.Fatal(be)
	}
	c.advance(2 * time.Hour) // 11:00
	if be := b.spend(500); be != nil {
		t.Fatal(be)
	}
	c.advance(time.Hour) // 12:00
	be := b.spend(200)
	if be == nil {
		t.Fatal("1,100 bytes in 24 hours fit in a budget of 1,000")
	}
	if b.Used() != 900 {
		t.Errorf("a refused message was counted: used %d, want 900", b.Used())
	}
	// 200 more fit once the 400 of 09:00 are 24 hours old.
	if want := time.Date(2024, 3, 2, 9, 0, 0, 0, time.UTC); be.Used != 900 || be.PerDay != 1000 || !be.ResumeAt.Equal(want) {
		t.Errorf("BudgetError %+v, want used 900, resume %v", be, want)
	}
	if !errors.Is(be, ErrBudgetReached) || !strings.Contains(be.Error(), "budget reached: about 900 B uploaded in the last 24 hours") ||
		!strings.Contains(be.Error(), "run the same command again after 2024-03-02 ") {
		t.Errorf("error text %q", be)
	}
	// A small one still fits.
	if be := b.spend(100); be != nil {
		t.Errorf("100 bytes did not fit in the 100 left: %v", be)
	}
	c.t = time.Date(2024, 3, 2, 9, 0, 1, 0, time.UTC)
	if b.Used() != 600 {
		t.Errorf("after 24 h: used %d, want 600 (the 09:00 upload expired)", b.Used())
	}
	if be := b.spend(400); be != nil {
		t.Errorf("400 did not fit in the 400 free: %v", be)
	}
	// A message larger than the whole budget goes alone, or never.
	c.advance(48 * time.Hour)
	if be := b.spend(5000); be != nil {
		t.Errorf("a message over the whole budget, with nothing sent for a day: %v", be)
	}
	if be := b.spend(1); be == nil {
		t.Error("the budget is spent, yet a byte more fits")
	}
}

// TestBudgetMemoryBounded: a day of uploads is kept as at most one total
// per minute.
func TestBudgetMemoryBounded(t *testing.T) {
	c := &clock{t: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)}
	b := newTestBudget(1<<40, 0, c)
	for range 3 * 24 * 60 * 2 { // three days, two messages a minute
		if be := b.spend(50); be != nil {
			t.Fatal(be)
		}
		c.advance(30 * time.Second)
	}
	if n := len(b.minutes); n > 24*60+1 {
		t.Errorf("%d entries kept for three days of uploads, want at most one per minute of the last 24 hours", n)
	}
	if used := b.Used(); used > 24*60*100+100 || used < 24*60*100-100 {
		t.Errorf("used %d, want about %d (24 hours' worth)", used, 24*60*100)
	}
}

// writeLedger writes ledger lines as OpenLedger's Record would.
func writeLedger(t *testing.T, path string, entries ...LedgerEntry) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, e := range entries {
		b, _ := json.Marshal(e)
		f.Write(append(b, '\n'))
	}
}

// TestBudgetLoadLedger: what earlier runs uploaded in the last 24 hours
// counts, older uploads and unreadable lines do not.
func TestBudgetLoadLedger(t *testing.T) {
	now := time.Date(2024, 3, 2, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "acct.ledger.jsonl")
	entry := func(at time.Time, size int64) LedgerEntry {
		return LedgerEntry{Time: at, Key: "mid:x@example.org", Target: "INBOX", UIDValidity: 1, UID: 1, Size: size}
	}
	writeLedger(t, path,
		entry(now.Add(-30*time.Hour), 5000), // yesterday's run: outside the window
		entry(now.Add(-23*time.Hour), 300),
		entry(now.Add(-1*time.Hour), 200),
	)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	f.WriteString("{\"time\":\"2024-03-02T11:") // a run killed mid-line
	f.Close()
	c := &clock{t: now}
	b := newTestBudget(1000, 0, c)
	if err := b.LoadLedger(path); err != nil {
		t.Fatal(err)
	}
	if b.Used() != 500 {
		t.Errorf("used %d, want 500 (the two uploads of the last 24 hours)", b.Used())
	}
	d := b.Describe(1200)
	if d.UsedLast24h != 500 || d.BytesPerDay != 1000 || d.BytesToUpload != 1200 || d.Days != 2 {
		// 500 left today, the other 700 tomorrow.
		t.Errorf("Describe: %+v, want used 500, 2 days", d)
	}
	be := b.spend(600)
	if be == nil {
		t.Fatal("600 fit in the 500 left")
	}
	// The 300 of 23 hours ago expire in an hour: then 800 are free.
	if want := now.Add(time.Hour); !be.ResumeAt.Equal(want) {
		t.Errorf("resume at %v, want %v", be.ResumeAt, want)
	}
	// A missing ledger is an empty one.
	b2 := newTestBudget(1000, 0, c)
	if err := b2.LoadLedger(filepath.Join(t.TempDir(), "none.jsonl")); err != nil || b2.Used() != 0 {
		t.Errorf("missing ledger: %v, used %d", err, b2.Used())
	}
}

func TestBudgetDays(t *testing.T) {
	const mb = 1000 * 1000
	for _, tc := range []struct {
		name                   string
		toUpload, perDay, used int64
		want                   int
	}{
		{"Gmail: 2.1 GB at 500 MB a day", 2_254_857_830, GmailBytesPerDay, 0, 5},
		{"fits today", 400 * mb, 500 * mb, 0, 1},
		{"exactly a day", 500 * mb, 500 * mb, 0, 1},
		{"a byte over", 500*mb + 1, 500 * mb, 0, 2},
		{"today already used up by an earlier run", 100 * mb, 500 * mb, 500 * mb, 2},
		{"partly used: 200 MB today, 500 tomorrow", 700 * mb, 500 * mb, 300 * mb, 2},
		{"partly used: 200 MB today, 500 tomorrow, 1 the day after", 700*mb + 1, 500 * mb, 300 * mb, 3},
	} {
		if got := budgetDays(tc.toUpload, tc.perDay, tc.used); got != tc.want {
			t.Errorf("%s: %d days, want %d", tc.name, got, tc.want)
		}
	}
}

// TestBudgetPace: the token bucket makes N bytes take about N/R seconds,
// whatever the message sizes.
func TestBudgetPace(t *testing.T) {
	c := &clock{t: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)}
	b := newTestBudget(0, 1000, c)
	var total time.Duration
	for _, n := range []int64{300, 300, 2500, 100, 800} { // 4,000 bytes
		d := b.pace(n)
		total += d
		c.advance(d) // the sender waits, then sends
	}
	if total < 3900*time.Millisecond || total > 4100*time.Millisecond {
		t.Errorf("4,000 bytes at 1,000 B/s paced over %v, want about 4 s", total)
	}
	// After a pause the bucket holds at most a second's worth.
	c.advance(time.Hour)
	if d := b.pace(1000); d != 0 {
		t.Errorf("a second's worth after an idle hour waits %v", d)
	}
	if d := b.pace(1000); d < 900*time.Millisecond {
		t.Errorf("the bucket kept more than a second's worth: the next second's bytes wait %v", d)
	}
}

func TestBudgetWaitForRoom(t *testing.T) {
	b := NewBudget(1000, 0)
	if be := b.spend(900); be != nil {
		t.Fatal(be)
	}
	// The 900 bytes expire in 24 hours: a short wait ends with ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.waitForRoom(ctx, 200); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waitForRoom: %v, want the context's end", err)
	}
	// With the window moved past them, it returns at once.
	b.now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	if err := b.waitForRoom(context.Background(), 200); err != nil {
		t.Error(err)
	}
}
