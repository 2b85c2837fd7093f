package uploader

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/report"
)

// DefaultConnections is the number of parallel APPEND connections when
// ExecOptions.Connections is 0.
const DefaultConnections = 1

// MaxConnections caps --connections: Dovecot allows 10 connections per
// user and IP by default and Gmail about 15 per account, and the control
// connection needs one too.
const MaxConnections = 8

// ErrOverQuota is returned when the server says the account is full.
var ErrOverQuota = errors.New("the account on the server is full (OVERQUOTA)")

// ExecOptions tune Execute.
type ExecOptions struct {
	// Connections is the number of parallel APPEND connections, one
	// folder at a time each; 0 means DefaultConnections.
	Connections int
	// Window is the number of APPENDs in flight per connection; 0: 64.
	Window int
	// Retries is how many times a folder's connection is reopened after it
	// breaks before its remaining messages are given up; 0: 5.
	Retries int
	// Backoff is the first pause before reconnecting; it doubles each time
	// (with jitter) up to a minute. 0: one second.
	Backoff time.Duration
	// Import says how to read the sources again (as when they were scanned).
	Import importers.Options
	// Progress receives upload progress.
	Progress report.Progress
}

// Execute uploads the messages rep plans for upload: it creates (and
// subscribes) the missing target folders, then APPENDs each folder's
// messages in source order on pipelined connections, recording in rep
// each message's outcome (uploaded with its UID, failed with the server's
// words). A message whose outcome is unknown because a connection broke is
// looked for on the server before it is sent again, so a retry never
// duplicates it. Execute returns ctx's error when interrupted (messages
// not done are left pending), ErrOverQuota when the account is full, and
// login errors; everything else is recorded per message.
func Execute(ctx context.Context, rep *report.Report, cfg *Config, ctl Writer, opts ExecOptions) error {
	if opts.Connections <= 0 {
		opts.Connections = DefaultConnections
	}
	if opts.Connections > MaxConnections {
		opts.Connections = MaxConnections
	}
	if opts.Retries <= 0 {
		opts.Retries = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	prog := opts.Progress
	if prog == nil {
		prog = report.NoProgress
	}
	formats := make(map[string]importers.Format, len(rep.Folders))
	for _, f := range rep.Folders {
		formats[f.Source] = importers.Format(f.Format)
	}

	// stopped leaves what was to be uploaded pending, as an interrupted
	// run does.
	stopped := func(err error) error {
		for i := range rep.Messages {
			m := &rep.Messages[i]
			if m.Plan == report.DecisionUpload && m.Outcome != report.DecisionUploaded {
				m.Outcome, m.Reason = report.DecisionPending, ""
			}
		}
		rep.Recount()
		return err
	}

	// Folders first: every missing target, even of an empty source folder,
	// so that the tree on the server matches the client's.
	failedFolder := make(map[string]string)
	created := make(map[string]bool)
	for _, f := range rep.Folders {
		if !f.Create || created[f.Target] || failedFolder[f.Target] != "" {
			continue
		}
		if ctx.Err() != nil {
			return stopped(ctx.Err())
		}
		name, err := createFolder(ctx, ctl, f.Target, f.Fallback)
		if ctx.Err() != nil {
			return stopped(ctx.Err())
		}
		if err != nil {
			failedFolder[f.Target] = fmt.Sprintf("cannot create folder %q: %v", f.Target, err)
			continue
		}
		if name != f.Target {
			renameTarget(rep, f.Target, name)
		}
		created[name] = true
		if err := ctl.Subscribe(ctx, name); err != nil && ctx.Err() != nil {
			return stopped(ctx.Err())
		}
	}

	var jobs []*job
	byTarget := make(map[string]*job)
	var total int
	var totalBytes int64
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Plan != report.DecisionUpload || m.Outcome == report.DecisionUploaded {
			continue
		}
		m.Outcome = ""
		if why := failedFolder[m.Target]; why != "" {
			m.Outcome, m.Reason = report.DecisionFailed, why
			continue
		}
		j := byTarget[m.Target]
		if j == nil {
			j = &job{target: m.Target}
			byTarget[m.Target] = j
			jobs = append(jobs, j)
		}
		j.msgs = append(j.msgs, i)
		total++
		totalBytes += m.Size
	}
	// Big folders first, so that the last connection to finish is not the
	// one that started the biggest folder last.
	sort.SliceStable(jobs, func(a, b int) bool { return len(jobs[a].msgs) > len(jobs[b].msgs) })

	prog.Start("uploading", total, totalBytes)
	defer prog.Finish()
	g, gctx := errgroup.WithContext(ctx)
	ch := make(chan *job)
	for w := 0; w < opts.Connections && w < len(jobs); w++ {
		wk := &worker{cfg: cfg, opts: &opts, rep: rep, formats: formats, prog: prog}
		g.Go(func() error {
			defer wk.close()
			for j := range ch {
				if err := wk.folder(gctx, j); err != nil {
					return err
				}
			}
			return nil
		})
	}
feed:
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-gctx.Done():
			break feed
		}
	}
	close(ch)
	err := g.Wait()
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Plan == report.DecisionUpload && m.Outcome == "" {
			m.Outcome = report.DecisionPending
		}
	}
	rep.Recount()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// createFolder creates name, or fallback when the server refuses name
// (and there is one), and returns the name created.
func createFolder(ctx context.Context, ctl Writer, name, fallback string) (string, error) {
	err := ctl.Create(ctx, name)
	var se *ServerError
	if err == nil || fallback == "" || !errors.As(err, &se) || ctx.Err() != nil {
		return name, err
	}
	if err2 := ctl.Create(ctx, fallback); err2 != nil {
		return name, err // the first refusal explains best
	}
	return fallback, nil
}

// renameTarget moves every folder and message aimed at from to to, and
// says why in the folder's reason.
func renameTarget(rep *report.Report, from, to string) {
	for i := range rep.Folders {
		f := &rep.Folders[i]
		if f.Target == from {
			f.Target, f.Fallback = to, ""
			f.Reason += " (renamed: the server refused the name " + strconv.Quote(from) + ")"
		}
	}
	for i := range rep.Messages {
		if rep.Messages[i].Target == from {
			rep.Messages[i].Target = to
		}
	}
}

type job struct {
	target string
	msgs   []int // indexes into rep.Messages, in source order
}

// worker owns one APPEND connection (and, when it must check what landed
// after a failure, one control connection).
type worker struct {
	cfg     *Config
	opts    *ExecOptions
	rep     *report.Report
	formats map[string]importers.Format
	prog    report.Progress

	conn    *appendConn
	checker *Client
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
	if w.checker != nil {
		w.checker.Close()
		w.checker = nil
	}
}

func (w *worker) drop() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

// folder uploads one folder's messages, reconnecting and checking the
// server when a connection breaks.
func (w *worker) folder(ctx context.Context, j *job) error {
	todo := j.msgs
	var unknown []int // sent on a connection that broke before the answer
	var lastErr error
	for attempt := 0; len(todo) > 0 || len(unknown) > 0; attempt++ {
		if attempt > 0 {
			giveUp := fmt.Sprintf("not uploaded: the connection kept failing (%v); rerun to retry", lastErr)
			if attempt > w.opts.Retries && len(unknown) == 0 {
				w.fail(todo, giveUp)
				return nil
			}
			if err := sleep(ctx, backoff(w.opts.Backoff, attempt)); err != nil {
				return err
			}
			// The server is asked what landed only after the pause, not
			// at once: it may still be executing the commands it had
			// received on the connection that broke.
			if len(unknown) > 0 {
				rest, err := w.landed(ctx, j.target, unknown)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					// Without knowing, sending again could duplicate:
					// leave them pending; a rerun's dedup settles them.
					w.pending(unknown, fmt.Sprintf("connection lost and the server could not be checked (%v); rerun to finish", err))
				} else {
					todo = append(todo, rest...)
					sort.Ints(todo)
				}
				unknown = nil
				if len(todo) == 0 {
					break
				}
			}
			if attempt > w.opts.Retries {
				w.fail(todo, giveUp)
				return nil
			}
		}
		if w.conn == nil {
			c, err := openAppendConn(ctx, w.cfg)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if errors.Is(err, ErrAuth) {
					return err
				}
				lastErr = err
				continue
			}
			if w.opts.Window > 0 {
				c.window = w.opts.Window
			}
			w.conn = c
		}
		if _, err := w.conn.Select(ctx, j.target); err != nil {
			var se *serverError
			if errors.As(err, &se) {
				w.fail(todo, fmt.Sprintf("cannot open folder %q: %v", j.target, err))
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			lastErr = err
			w.drop()
			continue
		}
		res := w.send(ctx, j.target, todo)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if res.overQuota != nil {
			return fmt.Errorf("%w: %v", ErrOverQuota, res.overQuota)
		}
		todo = res.resend
		if len(res.unknown) > 0 {
			lastErr = res.err
			w.drop()
			unknown = res.unknown
		} else if res.err != nil {
			lastErr = res.err
			w.drop()
		}
		if len(todo) > 0 && res.throttled {
			lastErr = errors.New("the server asked to slow down")
		}
	}
	return nil
}

// sendResult is what one pass over a folder's messages left to do.
type sendResult struct {
	unknown   []int // sent, but the connection broke before the answer
	resend    []int // not sent, or refused for now (throttled): send again
	throttled bool
	overQuota error
	err       error // the connection error, if any
}

func (w *worker) send(ctx context.Context, target string, idxs []int) sendResult {
	var mu sync.Mutex
	var res sendResult
	for k, i := range idxs {
		m := &w.rep.Messages[i]
		msg, err := importers.ReadMessage(w.formats[m.Folder], importers.Location{Path: m.Path, Offset: m.Offset, Length: m.Length, Index: m.Index}, w.opts.Import)
		if err != nil {
			w.fail([]int{i}, fmt.Sprintf("cannot read it from the source again: %v", err))
			continue
		}
		if msg.Key != m.Key {
			w.fail([]int{i}, "the source changed since it was scanned (the message there is another one now); scan and plan again")
			continue
		}
		req := appendRequest{Mailbox: target, Flags: m.Flags, Date: m.Date, Data: msg.Data, Done: func(r appendResult) {
			mu.Lock()
			defer mu.Unlock()
			var se *serverError
			switch {
			case r.Err == nil:
				m.Outcome, m.Reason, m.UIDValidity, m.UID = report.DecisionUploaded, "", r.UIDValidity, r.UID
				w.prog.Add(1, m.Size)
			case errors.Is(r.Err, errOutcomeUnknown):
				res.unknown = append(res.unknown, i)
				if res.err == nil {
					res.err = r.Err
				}
			case errors.As(r.Err, &se) && se.Code == "OVERQUOTA":
				res.overQuota = se
			case errors.As(r.Err, &se) && isThrottle(se):
				res.resend = append(res.resend, i)
				res.throttled = true
			default:
				m.Outcome, m.Reason = report.DecisionFailed, refusalText(r.Err)
				w.prog.Add(1, m.Size)
			}
		}}
		if err := w.conn.Append(ctx, req); err != nil {
			if errors.Is(err, errInvalidRequest) {
				// Not sent, and never sendable; the connection is fine.
				w.fail([]int{i}, fmt.Sprintf("cannot be sent: %v", err))
				continue
			}
			// Not sent (the connection is unusable): it is sent again
			// with the ones after it.
			mu.Lock()
			res.resend = append(res.resend, idxs[k:]...)
			if res.err == nil {
				res.err = err
			}
			mu.Unlock()
			break
		}
		mu.Lock()
		stop := res.overQuota != nil
		mu.Unlock()
		if stop {
			break
		}
	}
	if err := w.conn.Wait(ctx); err != nil {
		mu.Lock()
		if res.err == nil {
			res.err = err
		}
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Ints(res.unknown)
	sort.Ints(res.resend)
	return res
}

// landed looks in the target folder for the messages whose APPEND outcome
// is unknown, marks those found as uploaded, and returns the others.
func (w *worker) landed(ctx context.Context, target string, idxs []int) ([]int, error) {
	if w.checker == nil {
		c, err := Connect(ctx, w.cfg)
		if err != nil {
			return nil, err
		}
		w.checker = c
	}
	prints := make(map[string]bool)
	for _, i := range idxs {
		if p := w.rep.Messages[i].HeaderPrint; p != "" {
			prints[p] = true
		}
	}
	msgs, err := w.checker.Messages(ctx, target, prints)
	if err != nil {
		w.checker.Close()
		w.checker = nil
		return nil, err
	}
	have := make(map[string]uint32, len(msgs))
	for _, sm := range msgs {
		have[sm.Key] = sm.UID
	}
	var rest []int
	for _, i := range idxs {
		m := &w.rep.Messages[i]
		if uid, ok := have[m.Key]; ok {
			m.Outcome, m.UID = report.DecisionUploaded, uid
			w.prog.Add(1, m.Size)
			continue
		}
		rest = append(rest, i)
	}
	return rest, nil
}

func (w *worker) fail(idxs []int, why string) {
	for _, i := range idxs {
		m := &w.rep.Messages[i]
		m.Outcome, m.Reason = report.DecisionFailed, why
		w.prog.Add(1, m.Size)
	}
}

func (w *worker) pending(idxs []int, why string) {
	for _, i := range idxs {
		m := &w.rep.Messages[i]
		m.Outcome, m.Reason = report.DecisionPending, why
	}
}

// isThrottle reports whether a refusal means "not now" rather than "never".
// LIMIT (RFC 5530: an implementation limit was hit) is not one: Dovecot
// answers it for a message over its quota_max_mail_size, every time.
func isThrottle(se *serverError) bool {
	switch se.Code {
	case "THROTTLED", "UNAVAILABLE", "INUSE":
		return true
	}
	return false
}

// refusalText is what the report says of a refused message.
func refusalText(err error) string {
	var se *serverError
	if errors.As(err, &se) {
		if se.Code == "TOOBIG" {
			return "too large for the server: " + se.Text
		}
		if se.Code != "" {
			return fmt.Sprintf("refused by the server: [%s] %s", se.Code, se.Text)
		}
		return "refused by the server: " + se.Text
	}
	return err.Error()
}

// backoff is the pause before attempt n (n >= 1): base doubled each time,
// at most a minute, with ±50% jitter so parallel workers do not retry in
// step.
func backoff(base time.Duration, n int) time.Duration {
	d := base << (n - 1)
	if d > time.Minute || d <= 0 {
		d = time.Minute
	}
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
