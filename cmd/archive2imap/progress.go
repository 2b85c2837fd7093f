package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/archive2imap/archive2imap/report"
)

// barProgress shows a progress bar per phase on a terminal, with
// messages/s, MB/s and the time left when the total is known.
type barProgress struct {
	mu      sync.Mutex
	w       io.Writer
	bar     *progressbar.ProgressBar
	phase   string
	start   time.Time
	n       int
	bytes   int64
	total   int
	totalB  int64
	lastMsg time.Time
}

func newBarProgress(w io.Writer) *barProgress { return &barProgress{w: w} }

func (p *barProgress) Start(phase string, total int, totalBytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
	p.phase, p.total, p.totalB, p.n, p.bytes, p.start = phase, total, totalBytes, 0, 0, time.Now()
	max := int64(total)
	if totalBytes > 0 {
		max = totalBytes
	}
	if max <= 0 {
		max = -1 // spinner
	}
	p.bar = progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(phase),
		progressbar.OptionShowBytes(totalBytes > 0),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetPredictTime(max > 0),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
	)
}

func (p *barProgress) Add(n int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		return
	}
	p.n += n
	p.bytes += bytes
	el := time.Since(p.start).Seconds()
	if el > 0 && time.Since(p.lastMsg) > 200*time.Millisecond {
		p.lastMsg = time.Now()
		desc := fmt.Sprintf("%s %d msgs, %.0f msgs/s, %.1f MB/s", p.phase, p.n, float64(p.n)/el, float64(p.bytes)/el/1e6)
		if p.total > 0 {
			desc = fmt.Sprintf("%s %d/%d msgs, %.0f msgs/s, %.1f MB/s", p.phase, p.n, p.total, float64(p.n)/el, float64(p.bytes)/el/1e6)
		}
		p.bar.Describe(desc)
	}
	if p.totalB > 0 {
		_ = p.bar.Add64(bytes)
	} else {
		_ = p.bar.Add(n)
	}
}

func (p *barProgress) Logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.w, format+"\n", args...)
	if p.bar != nil {
		_ = p.bar.RenderBlank()
	}
}

func (p *barProgress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
}

func (p *barProgress) finishLocked() {
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
		p.bar = nil
	}
}

// logProgress writes plain log lines, for when stderr is not a terminal:
// one at the start and end of each phase and one every 10 seconds. A phase
// whose size is not known in advance (scanning) is announced when its
// first message comes, so a run that stops before any work (a source that
// holds no mail) prints its one error line and nothing else.
type logProgress struct {
	mu      sync.Mutex
	w       io.Writer
	phase   string
	start   time.Time
	last    time.Time
	n       int
	bytes   int64
	total   int
	open    bool
	pending bool // open, but the start line is not written yet
}

func newLogProgress(w io.Writer) *logProgress { return &logProgress{w: w} }

func (p *logProgress) Start(phase string, total int, totalBytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
	p.phase, p.total, p.n, p.bytes, p.open, p.pending = phase, total, 0, 0, true, false
	p.start, p.last = time.Now(), time.Now()
	if total > 0 {
		fmt.Fprintf(p.w, "%s: %d messages (%s)\n", phase, total, report.HumanBytes(totalBytes))
	} else {
		p.pending = true
	}
}

// announceLocked writes the start line of a phase of unknown size.
func (p *logProgress) announceLocked() {
	if p.pending {
		p.pending = false
		fmt.Fprintf(p.w, "%s...\n", p.phase)
	}
}

func (p *logProgress) Add(n int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.announceLocked()
	p.n += n
	p.bytes += bytes
	if time.Since(p.last) >= 10*time.Second {
		p.last = time.Now()
		fmt.Fprintf(p.w, "%s: %s\n", p.phase, p.rateLocked())
	}
}

func (p *logProgress) rateLocked() string {
	el := time.Since(p.start).Seconds()
	if el <= 0 {
		el = 1e-9
	}
	done := fmt.Sprintf("%d", p.n)
	if p.total > 0 {
		done = fmt.Sprintf("%d/%d", p.n, p.total)
	}
	return fmt.Sprintf("%s messages, %s, %.0f msgs/s, %.1f MB/s", done, report.HumanBytes(p.bytes), float64(p.n)/el, float64(p.bytes)/el/1e6)
}

func (p *logProgress) Logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.announceLocked()
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *logProgress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
}

func (p *logProgress) finishLocked() {
	if p.open && !p.pending {
		fmt.Fprintf(p.w, "%s done: %s in %s\n", p.phase, p.rateLocked(), time.Since(p.start).Round(time.Millisecond))
	}
	p.open, p.pending = false, false
}
