package uploader

import (
	"context"
	"testing"
	"time"
)

func TestGovernorSlowsDownAndRecovers(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	g := newGovernor(4, time.Second)
	g.now = func() time.Time { return now }
	for id := 0; id < 4; id++ {
		if ok, _, _ := g.allowed(id); !ok {
			t.Fatalf("worker %d not allowed before any signal", id)
		}
	}
	// Each signal: one connection fewer, and a pause that doubles.
	g.slowDown(0)
	if ok, wait, _ := g.allowed(0); ok || wait != time.Second {
		t.Fatalf("after a signal: allowed %v, wait %v; want a 1s pause", ok, wait)
	}
	if ok, _, _ := g.allowed(3); ok {
		t.Fatal("the fourth connection is still allowed after a signal")
	}
	g.slowDown(0)
	g.slowDown(0)
	g.slowDown(0) // never fewer than one connection
	if _, limit := g.status(); limit != 1 {
		t.Fatalf("limit %d after four signals, want 1", limit)
	}
	if g.pause != 8*time.Second {
		t.Fatalf("pause %v after four signals, want 8s", g.pause)
	}
	// A server's hint longer than the pause wins (Microsoft 365).
	g.slowDown(2 * time.Minute)
	if _, wait, _ := g.allowed(0); wait != 2*time.Minute {
		t.Fatalf("wait %v, want the server's 2m hint", wait)
	}
	now = now.Add(2*time.Minute + time.Millisecond)
	if ok, _, _ := g.allowed(0); !ok {
		t.Fatal("worker 0 not allowed after the pause")
	}
	if ok, _, _ := g.allowed(1); ok {
		t.Fatal("worker 1 allowed right after the pause")
	}
	// A quiet spell brings connections back, one at a time.
	for want := 2; want <= 4; want++ {
		now = now.Add(maxPause + time.Second)
		g.allowed(0)
		if _, limit := g.status(); limit != want {
			t.Fatalf("limit %d after a quiet spell, want %d", limit, want)
		}
	}
	if signals, _ := g.status(); signals != 5 {
		t.Errorf("%d signals counted, want 5", signals)
	}
}

func TestGovernorAdmitWaitsAndCloses(t *testing.T) {
	g := newGovernor(2, 50*time.Millisecond)
	g.slowDown(0)
	closed := false
	start := time.Now()
	if err := g.admit(context.Background(), 0, func() { closed = true }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("admitted after %v, want the 50ms pause", d)
	}
	if !closed {
		t.Error("the connection was not closed while waiting")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.admit(ctx, 1, nil); err != context.Canceled {
		t.Errorf("admit of a worker over the limit with a cancelled context: %v", err)
	}
}

func TestBusy(t *testing.T) {
	for _, tc := range []struct {
		code, text string
		want       bool
	}{
		{"THROTTLED", "Account exceeded command or bandwidth limits", true}, // Gmail
		{"UNAVAILABLE", "Backend temporarily unavailable", true},            // RFC 5530
		{"LIMIT", "Too many connections", true},
		{"LIMIT", "Mail size is larger than the maximum size allowed by server configuration", false},      // Dovecot quota_max_mail_size
		{"", "Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)", true}, // Dovecot BYE
		{"ALERT", "Too many simultaneous connections. (Failure)", true},                                    // Gmail login
		{"AUTHENTICATIONFAILED", "Authentication failed.", false},
		{"TOOBIG", "Message too large", false},
		{"", "Server shutting down.", false},
	} {
		if got := busy(tc.code, tc.text); got != tc.want {
			t.Errorf("busy(%q, %q) = %v, want %v", tc.code, tc.text, got, tc.want)
		}
	}
	if d := backoffHint("Request is throttled. Suggested Backoff Time: 2389 milliseconds"); d != 2389*time.Millisecond {
		t.Errorf("Microsoft 365 hint: %v", d)
	}
	if d := backoffHint("no hint here"); d != 0 {
		t.Errorf("no hint: %v", d)
	}
}

// TestGovernorRetiredWorkerGivesItsPlace: after a signal took a
// connection away, the worker over the limit waits; once a worker under
// the limit has no more work, it takes that one's place at once, instead
// of waiting for the quiet spell (30 s or more) while nothing is sent.
func TestGovernorRetiredWorkerGivesItsPlace(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	g := newGovernor(3, time.Second)
	g.now = func() time.Time { return now }
	g.slowDown(0)
	g.slowDown(0) // one connection left
	now = now.Add(3 * time.Second)
	if ok, _, _ := g.allowed(2); ok {
		t.Fatal("worker 2 allowed with one connection left")
	}
	_, _, wake := g.allowed(2)
	g.retire(0)
	select {
	case <-wake:
	default:
		t.Fatal("retiring a worker does not wake the waiting ones")
	}
	if ok, _, _ := g.allowed(1); !ok {
		t.Fatal("worker 1 not allowed after worker 0 retired")
	}
	if ok, _, _ := g.allowed(2); ok {
		t.Fatal("worker 2 allowed too: two connections, one allowed")
	}
	g.retire(1)
	if ok, _, _ := g.allowed(2); !ok {
		t.Fatal("worker 2 not allowed after workers 0 and 1 retired")
	}
}
