package uploader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/archive2imap/archive2imap/internal/corpora"
	"github.com/archive2imap/archive2imap/internal/dovecottest"
	"github.com/archive2imap/archive2imap/internal/memimap"
	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
)

// uploadKeys returns the (folder, key) of the messages rep plans to
// upload, or says were uploaded.
func uploadKeys(rep *report.Report, uploaded bool) []string {
	var out []string
	for _, m := range rep.Messages {
		if (!uploaded && m.Plan == report.DecisionUpload) || (uploaded && m.Outcome == report.DecisionUploaded) {
			out = append(out, m.Folder+" "+m.Key)
		}
	}
	slices.Sort(out)
	return out
}

func TestExecute(t *testing.T) {
	for _, tc := range []struct {
		name   string
		conns  int
		window int
	}{
		{"one connection", 1, 0},
		{"three connections, several folders each", 3, 0},
		{"two connections, window of 2 (sender waits for answers)", 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, before := richServer(t, memimap.Options{})
			o := s.observer()
			root := richSource(t)

			// The dry run says what the run will do.
			dry := s.config()
			dry.DryRun = true
			dryRep, _ := planned(t, root, dry, plan.Options{}, PlanOptions{})

			source := tree(t, root)
			prog := newProgress()
			rep, err := migrate(t, testCtx(t), root, s.config(), PlanOptions{}, ExecOptions{Connections: tc.conns, Window: tc.window, Progress: prog})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			checkCounters(t, rep)
			// Progress counted each message once.
			tot := rep.Totals
			if prog.totals["uploading"] != [2]int64{int64(tot.ToUpload), tot.BytesToUpload} || prog.done["uploading"] != [2]int64{int64(tot.Uploaded), tot.BytesUploaded} || prog.open != 0 {
				t.Errorf("progress: announced %v, done %v, %d phases open; report: %d/%d messages, %d/%d bytes",
					prog.totals["uploading"], prog.done["uploading"], prog.open, tot.Uploaded, tot.ToUpload, tot.BytesUploaded, tot.BytesToUpload)
			}
			if rep.Totals.Uploaded != 10 || rep.Totals.Uploaded != dryRep.Totals.ToUpload {
				t.Errorf("uploaded %d; the dry run planned %d; want 10", rep.Totals.Uploaded, dryRep.Totals.ToUpload)
			}
			if got, want := uploadKeys(rep, true), uploadKeys(dryRep, false); !slices.Equal(got, want) {
				t.Errorf("uploaded %v\nthe dry run planned %v", got, want)
			}
			for _, m := range rep.Messages {
				if m.Plan == report.DecisionUpload && (m.Outcome != report.DecisionUploaded || m.UID == 0 || m.UIDValidity == 0) {
					t.Errorf("%s: outcome %s (%s), UID %d/%d", m.Location(), m.Outcome, m.Reason, m.UIDValidity, m.UID)
				}
			}
			checkExactlyOnce(t, o, rep, before)

			// Missing folders created, non-ASCII names too, and
			// subscribed so that mail clients show them; so is
			// Projects, which existed unsubscribed: the migrated mail
			// must show (a run stopped between CREATE and SUBSCRIBE
			// leaves a folder so, and its rerun finds it existing).
			boxes := o.list()
			for _, name := range []string{"Work/Clients", "Café", "Empty"} {
				if _, ok := boxes[name]; !ok {
					t.Errorf("folder %q not created; the server has %v", name, boxes)
				}
			}
			if subs := o.subscribed(); !slices.Equal(subs, []string{"Archive", "Café", "Deleted Items", "Drafts", "Empty", "Junk E-mail", "Projects", "Sent Items", "Work/Clients"}) {
				t.Errorf("subscribed: %v", subs)
			}

			// Run again: nothing is uploaded twice, nothing changes.
			snap := o.snapshot()
			rep2, err := migrate(t, testCtx(t), root, s.config(), PlanOptions{}, ExecOptions{Connections: tc.conns})
			if err != nil {
				t.Fatal(err)
			}
			checkCounters(t, rep2)
			if rep2.Totals.ToUpload != 0 || rep2.Totals.Uploaded != 0 || rep2.Totals.AlreadyOnServer != rep.Totals.AlreadyOnServer+rep.Totals.Uploaded {
				t.Errorf("second run: to upload %d, uploaded %d, on server %d (want 0, 0, %d)", rep2.Totals.ToUpload, rep2.Totals.Uploaded, rep2.Totals.AlreadyOnServer, rep.Totals.AlreadyOnServer+rep.Totals.Uploaded)
			}
			if after := o.snapshot(); after != snap {
				t.Errorf("the second run changed the account:\nbefore:\n%s\nafter:\n%s", snap, after)
			}
			// The source was only read.
			if after := tree(t, root); after != source {
				t.Errorf("the runs changed the source:\nbefore:\n%s\nafter:\n%s", source, after)
			}
		})
	}
}

// TestExecuteDedupeScopes: with --dedupe folder a message the account has
// in another folder is uploaded to its own; with --dedupe account it is not.
func TestExecuteDedupeScopes(t *testing.T) {
	for _, tc := range []struct {
		dedupe   string
		projects int // messages in Projects after the run
	}{
		{DedupeFolder, 2},
		{DedupeAccount, 1},
	} {
		t.Run(tc.dedupe, func(t *testing.T) {
			s, _ := richServer(t, memimap.Options{})
			rep, err := migrate(t, testCtx(t), richSource(t), s.config(), PlanOptions{Dedupe: tc.dedupe}, ExecOptions{})
			if err != nil {
				t.Fatal(err)
			}
			o := s.observer()
			if n := len(o.messages("Projects")); n != tc.projects {
				t.Errorf("Projects holds %d messages, want %d", n, tc.projects)
			}
			if n := len(o.messages("Archive")); n != 1 {
				t.Errorf("Archive holds %d messages, want 1", n)
			}
			checkExactlyOnce(t, o, rep, map[string]int{"INBOX": 3})
		})
	}
}

// sixMessages is a folder of six messages of distinct sizes.
func sixMessages(t *testing.T) string {
	var msgs []srcMsg
	for i := 1; i <= 6; i++ {
		msgs = append(msgs, srcMsg{folder: "inbox", data: sixth(i), info: "S"})
	}
	return writeSource(t, msgs)
}

func sixth(i int) string {
	return mail(fmt.Sprintf("m%d@example.org", i), fmt.Sprintf("Message %d", i), strings.Repeat("body ", 10*i))
}

// sixthSize is the size of message i of sixMessages, as uploaded.
func sixthSize(i int) int64 { return int64(len(crlf(sixth(i)))) }

func TestExecuteRefusals(t *testing.T) {
	type want struct {
		outcomes []string
		reason   string // of the refused message (the third)
		err      error
		calls    int
	}
	U, F, P := report.DecisionUploaded, report.DecisionFailed, report.DecisionPending
	for _, tc := range []struct {
		name   string
		answer func(n int, mailbox string, size int64) error
		want   want
	}{
		{"RFC 7889 TOOBIG: failed with the server's words, the run goes on",
			func(n int, _ string, _ int64) error {
				if n == 3 {
					return no(imap.ResponseCodeTooBig, "Message exceeds the 25 MB size limit")
				}
				return nil
			},
			want{[]string{U, U, F, U, U, U}, "too large for the server: Message exceeds the 25 MB size limit", nil, 6}},
		{"plain NO (Exchange): failed with the server's words, the run goes on",
			func(n int, _ string, _ int64) error {
				if n == 3 {
					return no("", "APPEND failed: message has an invalid header")
				}
				return nil
			},
			want{[]string{U, U, F, U, U, U}, "APPEND failed: message has an invalid header", nil, 6}},
		// Dovecot's answer for a message over quota_max_mail_size (it
		// advertises no APPENDLIMIT then): RFC 5530 LIMIT is an
		// implementation limit, not "later".
		{"Dovecot LIMIT (message over quota_max_mail_size): failed at once with the server's words",
			func(n int, _ string, _ int64) error {
				if n == 3 {
					return no("LIMIT", "Mail size is larger than the maximum size allowed by server configuration")
				}
				return nil
			},
			want{[]string{U, U, F, U, U, U}, "[LIMIT] Mail size is larger than the maximum size allowed by server configuration", nil, 6}},
		{"Gmail THROTTLED once: retried, uploaded once",
			func(n int, _ string, _ int64) error {
				if n == 3 {
					return no("THROTTLED", "Too many simultaneous APPENDs, slow down")
				}
				return nil
			},
			want{[]string{U, U, U, U, U, U}, "", nil, 7}},
		{"RFC 5530 UNAVAILABLE twice: retried, uploaded once",
			func(n int, _ string, _ int64) error {
				if n == 3 || n == 7 {
					return no(imap.ResponseCodeUnavailable, "Backend temporarily unavailable")
				}
				return nil
			},
			want{[]string{U, U, U, U, U, U}, "", nil, 8}},
		// Throttling slows the run down (longer and longer pauses) instead
		// of failing it; only a folder that makes no progress at all for
		// ThrottleGiveUp (an hour by default; 300 ms here) is given up.
		{"THROTTLED every time: slowed down, then given up after ThrottleGiveUp, failed saying so",
			func(n int, _ string, size int64) error {
				if n >= 3 && size == sixthSize(3) {
					return no("THROTTLED", "Account exceeded command or bandwidth limits")
				}
				return nil
			},
			want{[]string{U, U, F, U, U, U}, "the server kept asking to slow down", nil, -1}},
		{"RFC 9208 OVERQUOTA from the fourth: the run stops, the rest pending",
			func(n int, _ string, _ int64) error {
				if n >= 4 {
					return no(imap.ResponseCodeOverQuota, "Quota exceeded (mailbox for user is full)")
				}
				return nil
			},
			want{[]string{U, U, U, P, P, P}, "", ErrOverQuota, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &refuser{answer: tc.answer}
			s := startServer(t, memimap.Options{Refuse: r.hook})
			rep, err := migrate(t, testCtx(t), sixMessages(t), s.config(), PlanOptions{}, ExecOptions{Retries: 5, ThrottleGiveUp: 300 * time.Millisecond})
			if !errors.Is(err, tc.want.err) || (err != nil) != (tc.want.err != nil) {
				t.Fatalf("Execute: %v, want %v", err, tc.want.err)
			}
			checkCounters(t, rep)
			for i, m := range rep.Messages {
				if m.Outcome != tc.want.outcomes[i] {
					t.Errorf("message %d: %s (%s), want %s", i+1, m.Outcome, m.Reason, tc.want.outcomes[i])
				}
			}
			if m := rep.Messages[2]; tc.want.reason != "" && !strings.Contains(m.Reason, tc.want.reason) {
				t.Errorf("reason %q, want it to hold %q", m.Reason, tc.want.reason)
			}
			if tc.want.calls >= 0 && r.calls() != tc.want.calls {
				t.Errorf("the server got %d APPENDs, want %d", r.calls(), tc.want.calls)
			}
			checkUploaded(t, s.observer(), rep, nil, 0)
			if tc.want.err == nil {
				return
			}
			// A rerun once there is room finishes the job.
			r.mu.Lock()
			r.answer = nil
			r.mu.Unlock()
			if _, err := migrate(t, testCtx(t), sixMessages(t), s.config(), PlanOptions{}, ExecOptions{}); err != nil {
				t.Fatal(err)
			}
			if n := len(s.observer().messages("INBOX")); n != 6 {
				t.Errorf("after the rerun INBOX holds %d messages, want 6", n)
			}
		})
	}
}

// onServer counts the messages in the target folders of rep.
func onServer(o *observer, rep *report.Report) int {
	n := 0
	seen := make(map[string]bool)
	for _, f := range rep.Folders {
		if !seen[f.Target] {
			seen[f.Target] = true
			n += len(o.messages(f.Target))
		}
	}
	return n
}

// twoFolders is an archive of two folders of n messages each, a fifth of
// them without a Message-ID.
func twoFolders(t *testing.T, n int, size int) string {
	var msgs []srcMsg
	for _, folder := range []string{"inbox", "Archives/2009"} {
		for i := 1; i <= n; i++ {
			id := fmt.Sprintf("%s-%d@example.org", strings.ReplaceAll(folder, "/", "-"), i)
			if i%5 == 0 {
				id = ""
			}
			body := fmt.Sprintf("Message %d of %s.\n%s", i, folder, strings.Repeat("Lorem ipsum dolor sit amet.\n", max(size/28, 1)))
			msgs = append(msgs, srcMsg{folder: folder, data: mail(id, fmt.Sprintf("%s %d", folder, i), body), info: []string{"S", "", "RS", "F"}[i%4]})
		}
	}
	return writeSource(t, msgs)
}

// TestExecuteInterrupted: Ctrl-C in the middle of a run. Execute returns
// context.Canceled; nothing more is sent, but the answers to what was in
// flight are awaited, so what was uploaded is marked so (with the UID the
// server gave) and nothing on the server is left "pending"; the rest is
// pending, and a rerun completes the job with every message exactly once.
func TestExecuteInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		conns  int
		window int
		slow   bool
		// onServer is how many messages the server must hold after the
		// interruption; 0: some.
		onServer int
	}{
		// With one APPEND in flight, the 8th is sent once the 7th is
		// answered; the interruption comes while the server executes it,
		// and its answer is awaited. The 9th may already be waiting for
		// the window slot, and then goes out too.
		{"cancelled while the server executes the 8th APPEND, one in flight", 1, 1, false, 8},
		{"cancelled by a timer while the server is slow, two connections, 4 in flight each", 2, 4, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := twoFolders(t, 15, 500)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			var once sync.Once
			r := &refuser{answer: func(n int, _ string, _ int64) error {
				if tc.slow {
					time.Sleep(10 * time.Millisecond)
					if n == 1 {
						time.AfterFunc(80*time.Millisecond, cancel)
					}
				} else if n == 8 {
					once.Do(cancel)
				}
				return nil
			}}
			s := startServer(t, memimap.Options{Refuse: r.hook})
			o := s.observer()
			rep, err := migrate(t, ctx, root, s.config(), PlanOptions{}, ExecOptions{Connections: tc.conns, Window: tc.window})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Execute: %v, want context.Canceled", err)
			}
			// What follows looks once the server is done with the
			// connections dropped (as a rerun comes after that).
			r.quiet(100 * time.Millisecond)
			checkCounters(t, rep)
			up, pending := 0, 0
			for _, m := range rep.Messages {
				switch m.Outcome {
				case report.DecisionUploaded:
					up++
				case report.DecisionPending:
					pending++
				default:
					t.Errorf("%s: outcome %q (%s), want uploaded or pending", m.Location(), m.Outcome, m.Reason)
				}
			}
			if up == 0 || pending == 0 || up+pending != 30 || (tc.onServer > 0 && up != tc.onServer && up != tc.onServer+1) {
				t.Errorf("%d uploaded, %d pending; want some of each, 30 in all", up, pending)
			}
			// What was answered is there; what was in flight may be.
			if tc.onServer > 0 {
				// The APPEND after the 8th may still go out: it may be
				// waiting for its window slot when ctx ends.
				if n := onServer(o, rep); n != tc.onServer && n != tc.onServer+1 {
					t.Errorf("the server holds %d messages, want %d (or one more)", n, tc.onServer)
				}
			}
			// Every answer was awaited: what is there is "uploaded".
			checkUploaded(t, o, rep, nil, 0)

			// The rerun: a new inventory and plan, as the command does.
			rep2, err := migrate(t, testCtx(t), root, s.config(), PlanOptions{}, ExecOptions{Connections: tc.conns})
			if err != nil {
				t.Fatal(err)
			}
			if rep2.Totals.AlreadyOnServer < up || rep2.Totals.AlreadyOnServer+rep2.Totals.Uploaded != 30 {
				t.Errorf("rerun: %d already there, %d uploaded; want at least %d there and 30 in all", rep2.Totals.AlreadyOnServer, rep2.Totals.Uploaded, up)
			}
			checkExactlyOnce(t, o, rep, nil)
		})
	}
}

// TestExecuteReconnect breaks the APPEND connection in the middle of a
// pipeline, so that some APPENDs have unknown outcomes: the server may have
// executed them. Execute must look at the server before sending them again:
// after the run, every message is there exactly once.
func TestExecuteReconnect(t *testing.T) {
	for _, tc := range []struct {
		name string
		// late: the server executes the last commands it got this long
		// after the client found the connection dead.
		late time.Duration
		// window of APPENDs in flight; 0: 64
		window int
		// cut returns, per connection through the proxy (the APPEND
		// connections and the checker's), where replies stop and where
		// the connection is cut.
		cut func(n int) (int64, int64)
		// lost is set when replies to executed APPENDs were certainly lost.
		lost bool
	}{
		{"replies lost, then the connection dies, 64 in flight", 0, 0,
			func(n int) (int64, int64) {
				if n == 1 {
					return 16000, 20000
				}
				return 0, 0
			}, true},
		{"cut inside a literal (the server gets a truncated APPEND), 64 in flight", 0, 0,
			func(n int) (int64, int64) {
				if n == 1 {
					return 20000, 20000
				}
				return 0, 0
			}, false},
		{"sender blocked on a window of 4 when the connection dies", 0, 4,
			func(n int) (int64, int64) {
				if n == 1 {
					return 15000, 15000
				}
				return 0, 0
			}, false},
		// A middlebox resets the client's side while the server still
		// has commands to execute (or the client times out first): the
		// check must not come before the server is done.
		{"the server executes the last APPENDs 150 ms after the client found the connection dead", 150 * time.Millisecond, 0,
			func(n int) (int64, int64) {
				if n == 1 {
					return 16000, 20000
				}
				return 0, 0
			}, true},
		{"the new connection breaks too", 0, 0,
			func(n int) (int64, int64) {
				if n == 1 || n == 3 {
					return 8000, 12000
				}
				return 0, 0
			}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, memimap.Options{})
			o := s.observer()
			root := twoFolders(t, 40, 1000)
			rep, cl := planned(t, root, s.config(), plan.Options{}, PlanOptions{})
			p := startProxy(t, s.Addr, tc.cut)
			p.late.Store(int64(tc.late))
			prog := newProgress()
			// The pause before reconnecting: 0.5 to 1.5 times this.
			pause := 10 * time.Millisecond
			if tc.late > 0 {
				pause = 2 * tc.late
			}
			err := Execute(testCtx(t), rep, p.config(s.config()), cl, ExecOptions{Window: tc.window, Backoff: pause, Progress: prog})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			checkCounters(t, rep)
			if d := prog.done["uploading"]; d != [2]int64{80, rep.Totals.BytesToUpload} {
				t.Errorf("progress counted %v, want 80 messages, %d bytes: each once", d, rep.Totals.BytesToUpload)
			}
			for _, m := range rep.Messages {
				if m.Outcome != report.DecisionUploaded {
					t.Errorf("%s: %s (%s)", m.Location(), m.Outcome, m.Reason)
				}
			}
			checkExactlyOnce(t, o, rep, nil)
			if p.conns.Load() < 3 {
				t.Errorf("%d connections through the proxy: no reconnection", p.conns.Load())
			}
			if tc.lost && p.lostOK.Load() == 0 {
				t.Error("no APPEND reply was lost: the test did not test the check before resending")
			}
			t.Logf("%d connections, %d replies to executed APPENDs lost", p.conns.Load(), p.lostOK.Load())
		})
	}
}

// TestExecuteGivesUp: when the server cannot be reached again, the
// folder's remaining messages fail with a reason (after Retries attempts)
// or, when their outcome is unknown, stay pending; none is lost silently.
func TestExecuteGivesUp(t *testing.T) {
	s := startServer(t, memimap.Options{})
	root := twoFolders(t, 10, 1000)
	rep, cl := planned(t, root, s.config(), plan.Options{}, PlanOptions{})
	// Every connection through the proxy dies after 5000 bytes: the
	// checker's too, so unknown outcomes cannot be settled.
	p := startProxy(t, s.Addr, func(int) (int64, int64) { return 5000, 5000 })
	err := Execute(testCtx(t), rep, p.config(s.config()), cl, ExecOptions{Backoff: time.Millisecond, Retries: 2})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	checkCounters(t, rep)
	for _, m := range rep.Messages {
		switch m.Outcome {
		case report.DecisionUploaded:
		case report.DecisionFailed, report.DecisionPending:
			if m.Reason == "" || !strings.Contains(m.Reason, "rerun") {
				t.Errorf("%s: %s with reason %q", m.Location(), m.Outcome, m.Reason)
			}
		default:
			t.Errorf("%s: outcome %q", m.Location(), m.Outcome)
		}
	}
	checkUploaded(t, s.observer(), rep, nil, 64)
	// The rerun settles everything.
	if _, err := migrate(t, testCtx(t), root, s.config(), PlanOptions{}, ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, s.observer(), rep, nil)
}

func TestExecuteOAuth(t *testing.T) {
	for _, mech := range []string{"", MechXOAuth2, MechOAuthBearer} {
		t.Run("mechanism "+mech, func(t *testing.T) {
			s := startServer(t, memimap.Options{Token: "token", OAuthOnly: true})
			cfg := s.config()
			cfg.Password, cfg.OAuth2Token, cfg.Mechanism = "", testToken, mech
			rep, err := migrate(t, testCtx(t), sixMessages(t), cfg, PlanOptions{}, ExecOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Totals.Uploaded != 6 {
				t.Errorf("uploaded %d", rep.Totals.Uploaded)
			}
			want := mech
			if want == "" {
				want = MechOAuthBearer
			}
			if rep.Server.Auth != want {
				t.Errorf("logged in with %s, want %s", rep.Server.Auth, want)
			}
		})
	}
}

// TestExecuteCorpus migrates real archives written by others (see
// ../shared/corpora/SOURCES.md): notmuch's lkml Maildir (210 LKML
// messages, 34 of them byte-identical second copies under other names)
// and its duplicate/ folder (9 message files for 3 Message-IDs, the copies
// differing in their bytes). SOURCES.md's naive counts agree here: the
// .keep placeholder Python's mailbox.Maildir counts as a 211th message is
// no message (Maildir rule), and same Message-ID with other bytes is the
// same message for dedup, so 3 of the 9 are uploaded.
func TestExecuteCorpus(t *testing.T) {
	paths := []string{corpora.Path(t, "notmuch", "lkml"), corpora.Path(t, "notmuch", "duplicate")}
	s := startServer(t, memimap.Options{})
	o := s.observer()
	rep, err := plan.Inventory(context.Background(), paths, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cl := connect(t, s.config())
	if err := Plan(context.Background(), rep, cl, PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Execute(testCtx(t), rep, s.config(), cl, ExecOptions{Connections: 2}); err != nil {
		t.Fatal(err)
	}
	checkCounters(t, rep)
	for _, w := range []struct {
		folder               string
		found, dup, uploaded int
	}{
		{"INBOX", 210, 34, 176},
		{"duplicate", 9, 6, 3},
	} {
		c := folderOf(t, rep, w.folder).Counters
		if c.Found != w.found || c.DuplicatesInSource != w.dup || c.Uploaded != w.uploaded || c.ToUpload != w.uploaded {
			t.Errorf("%s: %+v, want %d found, %d duplicates, %d uploaded", w.folder, c, w.found, w.dup, w.uploaded)
		}
	}
	checkExactlyOnce(t, o, rep, nil)

	// Verify, and a second run that uploads nothing.
	rep2, err := plan.Inventory(context.Background(), paths, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Plan(context.Background(), rep2, cl, PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Verify(context.Background(), rep2, cl, DedupeFolder, nil); err != nil {
		t.Fatal(err)
	}
	if v := rep2.Verify; v.Checked != 219 || v.Present != 219 {
		t.Errorf("verify: %+v", *v)
	}
	if rep2.Totals.ToUpload != 0 || rep2.Totals.AlreadyOnServer != 179 {
		t.Errorf("second plan: %d to upload, %d on the server", rep2.Totals.ToUpload, rep2.Totals.AlreadyOnServer)
	}
}

// TestExecuteInvalidRequest: a message whose APPEND cannot be encoded (a
// flag that is no IMAP atom, RFC 9051 §9) fails alone, saying why; the
// others go on, on the same connection.
func TestExecuteInvalidRequest(t *testing.T) {
	r := &refuser{}
	s := startServer(t, memimap.Options{Refuse: r.hook})
	rep, cl := planned(t, sixMessages(t), s.config(), plan.Options{}, PlanOptions{})
	rep.Messages[2].Flags = []string{`\Seen`, "Bad flag"}
	p := startProxy(t, s.Addr, func(int) (int64, int64) { return 0, 0 })
	if err := Execute(testCtx(t), rep, p.config(s.config()), cl, ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	checkCounters(t, rep)
	for i, m := range rep.Messages {
		want := report.DecisionUploaded
		if i == 2 {
			want = report.DecisionFailed
			if !strings.Contains(m.Reason, `flag "Bad flag" is not an IMAP atom`) {
				t.Errorf("reason %q", m.Reason)
			}
		}
		if m.Outcome != want {
			t.Errorf("message %d: %s (%s), want %s", i+1, m.Outcome, m.Reason, want)
		}
	}
	if n := p.conns.Load(); n != 1 || r.calls() != 5 {
		t.Errorf("%d connections, %d APPENDs; want 1 connection, 5 APPENDs", n, r.calls())
	}
	checkUploaded(t, s.observer(), rep, nil, 0)
}

// TestExecuteInterruptedBeforeUpload: Ctrl-C before the first APPEND.
// Execute returns context.Canceled, writes nothing (no folder is created
// after the interruption), and reports every message it was to upload as
// pending, so that the report says what a rerun will do.
func TestExecuteInterruptedBeforeUpload(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bound bool // the control connection was opened with the run's context
	}{
		{"the command's control connection, closed by the interruption", true},
		{"a control connection that stays open", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := richServer(t, memimap.Options{})
			o := s.observer()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rep := scan(t, richSource(t), plan.Options{})
			cctx := context.Background()
			if tc.bound {
				cctx = ctx
			}
			cl, err := Connect(cctx, s.config())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := Plan(ctx, rep, cl, PlanOptions{}); err != nil {
				t.Fatal(err)
			}
			before := o.snapshot()
			cancel()
			if err := Execute(ctx, rep, s.config(), cl, ExecOptions{}); !errors.Is(err, context.Canceled) {
				t.Fatalf("Execute: %v, want context.Canceled", err)
			}
			checkCounters(t, rep)
			for _, m := range rep.Messages {
				if m.Plan == report.DecisionUpload && m.Outcome != report.DecisionPending {
					t.Errorf("%s: outcome %q, want pending", m.Location(), m.Outcome)
				}
			}
			if after := o.snapshot(); after != before {
				t.Errorf("Execute wrote after it was interrupted:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// TestExecuteSourceChanged: the source changed between the scan and the
// upload (a mail client still running on it). A message that is now
// another one, or gone, fails with the reason; the others are uploaded.
func TestExecuteSourceChanged(t *testing.T) {
	s := startServer(t, memimap.Options{})
	root := sixMessages(t)
	rep, cl := planned(t, root, s.config(), plan.Options{}, PlanOptions{})
	if err := os.WriteFile(rep.Messages[1].Path, []byte(mail("replaced@example.org", "Another one", "x")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(rep.Messages[3].Path); err != nil {
		t.Fatal(err)
	}
	if err := Execute(testCtx(t), rep, s.config(), cl, ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	checkCounters(t, rep)
	for i, m := range rep.Messages {
		want, reason := report.DecisionUploaded, ""
		switch i {
		case 1:
			want, reason = report.DecisionFailed, "the source changed since it was scanned"
		case 3:
			want, reason = report.DecisionFailed, "cannot read it from the source again"
		}
		if m.Outcome != want || !strings.Contains(m.Reason, reason) {
			t.Errorf("message %d: %s %q, want %s %q", i+1, m.Outcome, m.Reason, want, reason)
		}
	}
	if n := len(s.observer().messages("INBOX")); n != 4 {
		t.Errorf("INBOX holds %d messages, want 4", n)
	}
}

// TestExecuteOverQuotaParallel: the account fills up while several
// connections upload: Execute stops them all and returns ErrOverQuota (not
// the cancellation it causes in the others); every message is uploaded or
// pending, and a rerun with room finishes the job.
func TestExecuteOverQuotaParallel(t *testing.T) {
	var full atomic.Bool
	r := &refuser{answer: func(n int, _ string, _ int64) error {
		if n >= 12 {
			full.Store(true)
		}
		if full.Load() {
			return no(imap.ResponseCodeOverQuota, "Quota exceeded")
		}
		return nil
	}}
	s := startServer(t, memimap.Options{Refuse: r.hook})
	root := twoFolders(t, 20, 300)
	rep, err := migrate(t, testCtx(t), root, s.config(), PlanOptions{}, ExecOptions{Connections: 2, Window: 2})
	if !errors.Is(err, ErrOverQuota) {
		t.Fatalf("Execute: %v, want ErrOverQuota", err)
	}
	checkCounters(t, rep)
	up := 0
	for _, m := range rep.Messages {
		switch m.Outcome {
		case report.DecisionUploaded:
			up++
		case report.DecisionPending:
		default:
			t.Errorf("%s: %s (%s)", m.Location(), m.Outcome, m.Reason)
		}
	}
	// The server took 11; the answers to those the other connection had
	// in flight (2 at most) may be lost when it is stopped.
	if up < 9 || up > 11 {
		t.Errorf("%d uploaded, want the 11 the server took, or up to 2 fewer", up)
	}
	checkUploaded(t, s.observer(), rep, nil, 11-up)
	if n := onServer(s.observer(), rep); n != 11 {
		t.Errorf("the server holds %d messages, want 11", n)
	}
	full.Store(false)
	r.mu.Lock()
	r.answer = nil
	r.mu.Unlock()
	if _, err := migrate(t, testCtx(t), root, s.config(), PlanOptions{}, ExecOptions{Connections: 2}); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, s.observer(), rep, nil)
}

// refusingWriter is a control connection on which CREATE fails for some
// names, and pretends to succeed for others without creating anything (as
// when someone deletes the folder right after).
type refusingWriter struct {
	Writer
	refuse, pretend string
}

func (w refusingWriter) Create(ctx context.Context, name string) error {
	switch name {
	case w.refuse:
		return &ServerError{Command: "CREATE " + name, Status: "NO", Code: "CANNOT", Text: "Invalid mailbox name"}
	case w.pretend:
		return nil
	}
	return w.Writer.Create(ctx, name)
}

// TestExecuteFolderFailures: a target folder that cannot be created, or
// cannot be opened, fails its messages with the server's words; the other
// folders are uploaded.
func TestExecuteFolderFailures(t *testing.T) {
	s, before := richServer(t, memimap.Options{})
	rep, cl := planned(t, richSource(t), s.config(), plan.Options{}, PlanOptions{})
	err := Execute(testCtx(t), rep, s.config(), refusingWriter{cl, "Café", "Work/Clients"}, ExecOptions{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkCounters(t, rep)
	for _, m := range rep.Messages {
		if m.Plan != report.DecisionUpload {
			continue
		}
		want, reason := report.DecisionUploaded, ""
		switch m.Folder {
		case "Café":
			want, reason = report.DecisionFailed, `cannot create folder "Café": CREATE Café: the server said NO [CANNOT] Invalid mailbox name`
		case "Work/Clients":
			want, reason = report.DecisionFailed, `cannot open folder "Work/Clients"`
		}
		if m.Outcome != want || !strings.Contains(m.Reason, reason) {
			t.Errorf("%s/%s: %s %q, want %s %q", m.Folder, m.Subject, m.Outcome, m.Reason, want, reason)
		}
	}
	if rep.Totals.Uploaded != 7 || rep.Totals.Failed != 1+3 {
		t.Errorf("uploaded %d, failed %d; want 7, 4", rep.Totals.Uploaded, rep.Totals.Failed)
	}
	checkUploaded(t, s.observer(), rep, before, 0)
}

// dovecotQuota configures Dovecot's quota plugin: messages over maxMail
// are refused with NO [LIMIT], and the account holds storage at most.
func dovecotQuota(maxMail, storage string) string {
	return "mail_plugins = $mail_plugins quota\nprotocol imap {\n  mail_plugins = $mail_plugins imap_quota\n}\n" +
		"plugin {\n  quota = count:User quota\n  quota_vsizes = yes\n  quota_max_mail_size = " + maxMail + "\n  quota_rule = *:storage=" + storage + "\n}\n"
}

// TestExecuteDovecot runs a whole migration against a real Dovecot 2.3
// (Exchange-style special-use names, a maximum message size), with the
// first APPEND connection cut in the middle, then a second run, then
// verify.
func TestExecuteDovecot(t *testing.T) {
	if testing.Short() {
		t.Skip("real Dovecot: skipped with -short")
	}
	srv := dovecottest.Start(t, dovecottest.Options{
		Users:      []dovecottest.User{{Name: testUser, Password: testPassword}},
		SpecialUse: outlookFolders,
		Extra:      dovecotQuota("4000B", "100M"),
	})
	o := dialObserver(t, srv.Addr())
	if err := o.c.Create("Projects", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2010, 1, 4, 9, 30, 0, 0, time.UTC)
	o.add("INBOX", inTwo, []imap.Flag{imap.FlagSeen}, when)
	o.add("INBOX", strings.Replace(inThree, "Third message.", "Third message, rewritten by a gateway.", 1), nil, when)
	o.add("INBOX", noIDOnServer, []imap.Flag{imap.FlagSeen}, when)
	o.add("Archive", inArchive, []imap.Flag{imap.FlagSeen}, when)
	before := map[string]int{"INBOX": 3, "Archive": 1}
	cfg := &Config{Host: srv.Host, Port: srv.Port, TLS: TLSNone, User: testUser, Password: testPassword, Timeout: 10 * time.Second}
	root := richSource(t)

	rep, cl := planned(t, root, cfg, plan.Options{}, PlanOptions{})
	checkCounters(t, rep)
	if f := folderOf(t, rep, "Sent"); f.Target != "Sent Items" || f.Create {
		t.Errorf("Sent -> %q (create %v)", f.Target, f.Create)
	}
	// Dovecot advertises no APPENDLIMIT: the big message is planned, and
	// refused when sent.
	if rep.Server.AppendLimit != 0 || rep.Totals.ToUpload != 11 || rep.Totals.AlreadyOnServer != 3 {
		t.Errorf("plan: APPENDLIMIT %d, to upload %d, on server %d; want 0, 11, 3", rep.Server.AppendLimit, rep.Totals.ToUpload, rep.Totals.AlreadyOnServer)
	}
	p := startProxy(t, srv.Addr(), func(n int) (int64, int64) {
		if n == 1 {
			return 900, 1300
		}
		return 0, 0
	})
	if err := Execute(testCtx(t), rep, p.config(cfg), cl, ExecOptions{Connections: 2, Backoff: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	checkCounters(t, rep)
	for _, m := range rep.Messages {
		if m.Plan != report.DecisionUpload {
			continue
		}
		if m.Subject == "Too big" {
			if m.Outcome != report.DecisionFailed || !strings.Contains(m.Reason, "[LIMIT] Mail size is larger than the maximum size allowed") {
				t.Errorf("the big message: %s %q", m.Outcome, m.Reason)
			}
		} else if m.Outcome != report.DecisionUploaded {
			t.Errorf("%s: %s %q", m.Location(), m.Outcome, m.Reason)
		}
	}
	if p.conns.Load() < 3 {
		t.Errorf("%d connections through the proxy: the cut did not happen", p.conns.Load())
	}
	checkUploaded(t, o, rep, before, 0)
	if subs := o.subscribed(); !slices.Contains(subs, "Work/Clients") || !slices.Contains(subs, "Café") || !slices.Contains(subs, "Empty") {
		t.Errorf("subscribed %v", subs)
	}

	snap := o.snapshot()
	rep2, err := migrate(t, testCtx(t), root, cfg, PlanOptions{}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Totals.ToUpload != 1 || rep2.Totals.Uploaded != 0 || rep2.Totals.AlreadyOnServer != 13 {
		t.Errorf("second run: to upload %d (the big one), uploaded %d, on server %d", rep2.Totals.ToUpload, rep2.Totals.Uploaded, rep2.Totals.AlreadyOnServer)
	}
	if after := o.snapshot(); after != snap {
		t.Errorf("the second run changed the account:\nbefore:\n%s\nafter:\n%s", snap, after)
	}
	vcfg := *cfg
	vcfg.DryRun = true
	vrep, vcl := planned(t, root, &vcfg, plan.Options{}, PlanOptions{})
	if err := Verify(context.Background(), vrep, vcl, DedupeFolder, nil); err != nil {
		t.Fatal(err)
	}
	// The big message is expected (Dovecot said nothing in advance) and
	// missing; Inbox two was there with fewer flags.
	if v := vrep.Verify; v.Checked != 16 || v.Present != 14 || v.Missing != 1 || v.FlagsDiffer != 1 {
		t.Errorf("verify: %+v", *v)
	}
}

// TestExecuteDovecotOverQuota: Dovecot's NO [OVERQUOTA] stops the run.
func TestExecuteDovecotOverQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("real Dovecot: skipped with -short")
	}
	srv := dovecottest.Start(t, dovecottest.Options{
		Users: []dovecottest.User{{Name: testUser, Password: testPassword}},
		Extra: dovecotQuota("1M", "20K"),
	})
	cfg := &Config{Host: srv.Host, Port: srv.Port, TLS: TLSNone, User: testUser, Password: testPassword, Timeout: 10 * time.Second}
	root := twoFolders(t, 20, 1000)
	rep, err := migrate(t, testCtx(t), root, cfg, PlanOptions{}, ExecOptions{})
	if !errors.Is(err, ErrOverQuota) || !strings.Contains(err.Error(), "Quota exceeded") {
		t.Fatalf("Execute: %v, want ErrOverQuota with Dovecot's words", err)
	}
	checkCounters(t, rep)
	up := rep.Totals.Uploaded
	if up == 0 || up >= 40 || rep.Totals.Failed != 0 {
		t.Errorf("uploaded %d, failed %d of 40", up, rep.Totals.Failed)
	}
	checkUploaded(t, dialObserver(t, srv.Addr()), rep, nil, 0)
}

// unlimited hides the server's APPENDLIMIT from the plan.
type unlimited struct{ Reader }

func (u unlimited) Info() ServerInfo {
	i := u.Reader.Info()
	i.AppendLimit = 0
	return i
}

// TestExecuteAppendLimitUnplanned: messages over the server's APPENDLIMIT
// that the plan did not know of are refused NO [TOOBIG] in the middle of
// a pipeline of non-synchronizing literals; they fail with the server's
// words and every other message arrives.
func TestExecuteAppendLimitUnplanned(t *testing.T) {
	s := startServer(t, memimap.Options{AppendLimit: 1500})
	var msgs []srcMsg
	for i := 1; i <= 30; i++ {
		body := strings.Repeat("Lorem ipsum dolor sit amet.\n", 10+40*(i%3/2)) // every third over 1,500 bytes
		msgs = append(msgs, srcMsg{folder: "inbox", data: mail(fmt.Sprintf("l%d@example.org", i), fmt.Sprintf("Message %d", i), body)})
	}
	rep := scan(t, writeSource(t, msgs), plan.Options{})
	cl := connect(t, s.config())
	if err := Plan(context.Background(), rep, unlimited{cl}, PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Execute(testCtx(t), rep, s.config(), cl, ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	checkCounters(t, rep)
	over := 0
	for _, m := range rep.Messages {
		if m.Size > 1500 {
			over++
			if m.Outcome != report.DecisionFailed || !strings.Contains(m.Reason, "too large for the server: Message too large (limit 1500 bytes)") {
				t.Errorf("%s (%d bytes): %s %q", m.Location(), m.Size, m.Outcome, m.Reason)
			}
		} else if m.Outcome != report.DecisionUploaded {
			t.Errorf("%s (%d bytes): %s %q", m.Location(), m.Size, m.Outcome, m.Reason)
		}
	}
	if over == 0 || over == len(rep.Messages) {
		t.Fatalf("%d of %d messages over the limit: the test tests nothing", over, len(rep.Messages))
	}
	checkUploaded(t, s.observer(), rep, nil, 0)
}
