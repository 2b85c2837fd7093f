package uploader

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/internal/memimap"
	"github.com/archive2imap/archive2imap/report"
)

// TestInterruptWaitsForAnswers: Ctrl-C stops the sending at once, but the
// answers to the APPENDs already on their way are awaited (for the grace
// period), so the report of an interrupted run says exactly what landed:
// every message the server took is "uploaded", none of them "pending".
func TestInterruptWaitsForAnswers(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	r := &refuser{answer: func(n int, _ string, _ int64) error {
		if n == 10 {
			cancel() // the user presses Ctrl-C while 10 APPENDs are in flight
			// The server is slow to answer them: the client must wait.
			time.Sleep(200 * time.Millisecond)
		}
		return nil
	}}
	s := startServer(t, memimap.Options{Refuse: r.hook})
	root := twoFolders(t, 30, 200)
	rep, err := migrate(t, ctx, root, s.config(), PlanOptions{}, ExecOptions{Connections: 1, Window: 16})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Execute: %v, want context.Canceled", err)
	}
	checkCounters(t, rep)
	up, pending := 0, 0
	for _, m := range rep.Messages {
		switch m.Outcome {
		case report.DecisionUploaded:
			up++
		case report.DecisionPending:
			pending++
		default:
			t.Errorf("%s: %s (%s)", m.Location(), m.Outcome, m.Reason)
		}
	}
	if up < 10 || pending == 0 {
		t.Fatalf("%d uploaded, %d pending; want at least the 10 the server took before the interrupt, and the rest pending", up, pending)
	}
	// Nothing on the server that the report calls pending.
	checkUploaded(t, s.observer(), rep, nil, 0)
}
