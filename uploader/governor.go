package uploader

import (
	"context"
	"sync"
	"time"
)

// governor paces the workers of a run when the server asks to slow down
// (NO [THROTTLED], [UNAVAILABLE], BYE, "too many connections"): each
// signal takes one connection away (never the last) and sets a pause,
// doubled at each signal up to maxPause (or the server's own hint), before
// anything is sent again. After a quiet spell without signals the run
// speeds up again, one connection at a time. Slowing down never fails a
// message: it only waits.
type governor struct {
	mu      sync.Mutex
	max     int           // connections asked for
	limit   int           // connections allowed now: workers 0..limit-1 may send
	pause   time.Duration // the current pause after a signal; 0: none
	base    time.Duration // the first pause
	until   time.Time     // nothing is sent before this
	last    time.Time     // the end of the pause of the last signal, or the last recovery
	signals int           // signals so far, for the report
	retired map[int]bool  // workers that have no more work: their places go to the others
	wake    chan struct{} // closed (and replaced) when limit, until or retired changes
	now     func() time.Time
}

// maxPause bounds the pause after a slow-down signal.
const maxPause = 5 * time.Minute

func newGovernor(connections int, base time.Duration) *governor {
	return &governor{max: connections, limit: connections, base: base, retired: make(map[int]bool), wake: make(chan struct{}), now: time.Now}
}

// retire says that worker id has no more work: a worker waiting for a
// connection takes its place. (Without this, a worker over the limit
// waited for the quiet spell, at least 30 s, holding its folder, while
// the others had finished and the run sent nothing.)
func (g *governor) retire(id int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.retired[id] = true
	g.notify()
}

// slowDown records a signal; hint is the pause the server suggested, or 0.
func (g *governor) slowDown(hint time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.signals++
	if g.limit > 1 {
		g.limit--
	}
	switch {
	case g.pause == 0:
		g.pause = g.base
	default:
		g.pause *= 2
	}
	if g.pause > maxPause {
		g.pause = maxPause
	}
	p := max(g.pause, hint)
	if u := g.now().Add(p); u.After(g.until) {
		g.until = u
	}
	// The quiet spell that brings speed back counts from the pause's end.
	g.last = g.until
	g.notify()
}

func (g *governor) notify() {
	close(g.wake)
	g.wake = make(chan struct{})
}

// allowed reports whether worker id may send now, recovering speed after
// a quiet spell (twice the pause, and at least 30 s, after the last
// signal's pause ended).
func (g *governor) allowed(id int) (ok bool, wait time.Duration, wake <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if g.pause > 0 && now.Sub(g.last) > max(2*g.pause, 30*time.Second) {
		g.pause /= 2
		if g.pause < g.base {
			g.pause = 0
		}
		if g.limit < g.max {
			g.limit++
		}
		g.last = now
		g.notify()
	}
	// The first limit workers still at work may send.
	rank := id
	for r := range g.retired {
		if r < id {
			rank--
		}
	}
	if rank >= g.limit {
		// Look again when the quiet spell may have ended.
		return false, max(2*g.pause, 30*time.Second), g.wake
	}
	if now.Before(g.until) {
		return false, g.until.Sub(now), g.wake
	}
	return true, 0, g.wake
}

// admit blocks until worker id may send. before is called once if it must
// wait (to close the worker's connection while it is not allowed one).
func (g *governor) admit(ctx context.Context, id int, before func()) error {
	called := false
	for {
		ok, wait, wake := g.allowed(id)
		if ok {
			return nil
		}
		if !called && before != nil {
			before()
			called = true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// status returns the number of slow-down signals and the connections
// allowed now.
func (g *governor) status() (signals, limit int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.signals, g.limit
}
