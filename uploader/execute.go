package uploader

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/sync/errgroup"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/report"
)

// DefaultConnections is the number of parallel APPEND connections when
// ExecOptions.Connections is 0. Measured (bench/README.md): on a tree of
// folders, two connections upload 25-40% faster than one, on loopback and
// over a 40 ms link; four are no faster than two.
const DefaultConnections = 2

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
	// Window is the number of APPENDs in flight per connection; 0: 128 (message data is dropped once written, so a wide window costs no memory: it keeps a long link busy).
	Window int
	// Retries is how many times a folder's connection is reopened after it
	// breaks before its remaining messages are given up; 0: 5.
	Retries int
	// Backoff is the first pause before reconnecting; it doubles each time
	// (with jitter) up to a minute. 0: one second.
	Backoff time.Duration
	// Grace is how long an interrupted run waits for the answers to the
	// APPENDs already sent before it closes the connections; 0: 10 s.
	Grace time.Duration
	// ThrottleGiveUp is how long a folder may make no progress while the
	// server keeps asking to slow down before its remaining messages are
	// given up (a rerun takes them); 0: one hour.
	ThrottleGiveUp time.Duration
	// Batch is how many messages go in one MULTIAPPEND command (RFC 3502)
	// when the server offers it; 0: up to 32 (and 1 MB); 1: one APPEND
	// per message.
	Batch int
	// Ledger, when set, records every message uploaded.
	Ledger *Ledger
	// Budget, when set, paces the sending (its rate) and counts every
	// message sent against its daily allowance: when a message does not
	// fit, the run stops sending (what is in flight is answered and
	// recorded) and Execute returns a *BudgetError, or, with Budget.Wait,
	// it waits until the allowance frees up. nil: no budget.
	Budget *Budget
	// Import says how to read the sources again (as when they were scanned).
	Import importers.Options
	// Progress receives upload progress.
	Progress report.Progress
}

// Execute uploads the messages rep plans for upload: it creates the
// missing target folders and subscribes every target folder, then APPENDs each folder's
// messages in source order on pipelined connections, recording in rep
// each message's outcome (uploaded with its UID, failed with the server's
// words). A message whose outcome is unknown because a connection broke is
// looked for on the server before it is sent again, so a retry never
// duplicates it. Execute returns ctx's error when interrupted (messages
// not done are left pending), ErrOverQuota when the account is full, a
// *BudgetError (ErrBudgetReached) when the daily upload budget is reached
// (messages not sent are left pending), and login errors; everything
// else is recorded per message.
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
	if opts.Grace <= 0 {
		opts.Grace = 10 * time.Second
	}
	if opts.ThrottleGiveUp <= 0 {
		opts.ThrottleGiveUp = time.Hour
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
	// The targets that exist already are subscribed too: an earlier run
	// may have created one and been stopped (Ctrl-C, a broken connection)
	// before it subscribed it, and a rerun finds it existing. INBOX is
	// always shown.
	subscribed := make(map[string]bool)
	for _, f := range rep.Folders {
		name := f.Target
		if name == "" || strings.EqualFold(name, "INBOX") || created[name] || subscribed[name] || failedFolder[name] != "" {
			continue
		}
		if ctx.Err() != nil {
			return stopped(ctx.Err())
		}
		subscribed[name] = true
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
	// An interrupt (ctx ending) stops the sending at once; the answers to
	// what was sent are still awaited for the grace period, so that the
	// report knows what landed. hard ends after that grace, or when a
	// worker fails (then the others stop at once).
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	gov := newGovernor(opts.Connections, opts.Backoff)
	g, gctx := errgroup.WithContext(ctx)
	// gctx also ends when a worker stops the run (account full, login
	// refused): the others stop sending, and get their answers too.
	stopGrace := context.AfterFunc(gctx, func() { time.AfterFunc(opts.Grace, cancelHard) })
	defer stopGrace()
	ch := make(chan *job)
	for w := 0; w < opts.Connections && w < len(jobs); w++ {
		wk := &worker{id: w, cfg: cfg, opts: &opts, rep: rep, formats: formats, prog: prog, gov: gov, single: make(map[int]bool)}
		g.Go(func() error {
			defer gov.retire(wk.id)
			defer wk.close()
			for j := range ch {
				if err := wk.folder(gctx, hard, j); err != nil {
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
	id      int
	cfg     *Config
	opts    *ExecOptions
	rep     *report.Report
	formats map[string]importers.Format
	prog    report.Progress
	gov     *governor

	conn    *appendConn
	checker *Client
	// single marks the messages of a refused batch: they are sent one by
	// one, to learn which one the server refuses.
	single map[int]bool
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
// server when a connection breaks, and waiting when the server asks to
// slow down. ctx ending means "stop sending" (an interrupt); hard ending
// means "stop waiting for answers too" (the grace period is over).
func (w *worker) folder(ctx, hard context.Context, j *job) error {
	todo := j.msgs
	var unknown []int // sent on a connection that broke before the answer
	var lastErr error
	failures := 0 // connection failures since the last pass that went through
	progress := time.Now()
	for len(todo) > 0 || len(unknown) > 0 {
		if ctx.Err() != nil {
			w.pending(unknown, "interrupted before the server answered; a rerun looks for it on the server first")
			return ctx.Err()
		}
		if failures > 0 {
			giveUp := fmt.Sprintf("not uploaded: the connection kept failing (%v); rerun to retry", lastErr)
			if failures > w.opts.Retries && len(unknown) == 0 {
				w.fail(todo, giveUp)
				return nil
			}
			if err := sleep(ctx, backoff(w.opts.Backoff, failures)); err != nil {
				w.pending(unknown, "interrupted before the server answered; a rerun looks for it on the server first")
				return err
			}
			// The server is asked what landed only after the pause, not
			// at once: it may still be executing the commands it had
			// received on the connection that broke.
			if len(unknown) > 0 {
				rest, err := w.landed(ctx, j.target, unknown)
				if err != nil {
					if ctx.Err() != nil {
						w.pending(unknown, "interrupted before the server answered; a rerun looks for it on the server first")
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
			if failures > w.opts.Retries {
				w.fail(todo, giveUp)
				return nil
			}
		}
		if w.opts.ThrottleGiveUp > 0 && time.Since(progress) > w.opts.ThrottleGiveUp {
			w.fail(todo, fmt.Sprintf("not uploaded: the server kept asking to slow down for %s (%v); rerun later", w.opts.ThrottleGiveUp, lastErr))
			return nil
		}
		// Wait for this worker's turn when the server asked to slow down
		// (its connection is closed meanwhile: fewer connections).
		if err := w.gov.admit(ctx, w.id, w.drop); err != nil {
			return err
		}
		if w.conn == nil {
			// The connection lives until hard ends (it is tied to the
			// context it is opened with), so that an interrupt still
			// gets the answers to what was sent.
			c, err := openAppendConn(hard, w.cfg)
			switch {
			case err == nil && ctx.Err() != nil:
				c.Close()
				return ctx.Err()
			case err == nil:
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.Is(err, ErrServerBusy):
				// "Too many connections": one fewer, and a pause.
				lastErr = err
				w.gov.slowDown(backoffHint(err.Error()))
				continue
			case errors.Is(err, ErrAuth):
				return err
			default:
				lastErr = err
				failures++
				continue
			}
			if w.opts.Window > 0 {
				c.window = w.opts.Window
			}
			w.conn = c
		}
		if _, err := w.conn.Select(hard, j.target); err != nil {
			var se *serverError
			if errors.As(err, &se) && !busy(se.Code, se.Text) {
				w.fail(todo, fmt.Sprintf("cannot open folder %q: %v", j.target, err))
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			lastErr = err
			w.drop()
			if se != nil || errors.Is(err, ErrServerBusy) || errors.Is(err, errServerBye) {
				w.gov.slowDown(backoffHint(err.Error()))
			} else {
				failures++
			}
			continue
		}
		res := w.send(ctx, hard, j.target, todo)
		if res.overQuota != nil && bandwidthExceeded(res.overQuota.Text) {
			// Gmail's "[OVERQUOTA] Account exceeded command or
			// bandwidth limits": its daily budget, not a full account.
			w.pending(res.unknown, "the run stopped (the server's upload limit) before the server answered; a rerun looks for it on the server first")
			return &BudgetError{ServerText: res.overQuota.Text, Used: w.opts.Budget.Used()}
		}
		if res.overQuota != nil {
			w.pending(res.unknown, "the run stopped (account full) before the server answered")
			return fmt.Errorf("%w: %v", ErrOverQuota, res.overQuota)
		}
		if res.budget != nil && !w.opts.Budget.Wait {
			w.pending(res.unknown, "the run stopped at the daily upload budget before the server answered; a rerun looks for it on the server first")
			return res.budget
		}
		if res.sent > 0 {
			progress = time.Now()
		}
		todo = res.resend
		switch {
		case len(res.unknown) > 0 || res.err != nil:
			lastErr = res.err
			w.drop()
			unknown = res.unknown
			if errors.Is(res.err, ErrServerBusy) || errors.Is(res.err, errServerBye) {
				// Sent away (BYE, too many connections): slow down.
				w.gov.slowDown(backoffHint(res.err.Error()))
			}
			failures++
		case res.throttled != nil:
			lastErr = res.throttled
			w.gov.slowDown(backoffHint(res.throttled.Text))
		default:
			failures = 0
		}
		if res.budget != nil {
			// --budget-wait: no connection is held while the allowance
			// frees up (it can take hours); the wait is not a server
			// that makes no progress.
			w.drop()
			if err := w.opts.Budget.waitForRoom(ctx, res.budgetNeed); err != nil {
				w.pending(unknown, "interrupted before the server answered; a rerun looks for it on the server first")
				return err
			}
			progress = time.Now()
		}
	}
	return nil
}

// sendResult is what one pass over a folder's messages left to do.
type sendResult struct {
	sent      int   // messages the server accepted or refused for good
	unknown   []int // sent, but the connection broke before the answer
	resend    []int // not sent, or refused for now (throttled): send again
	throttled *serverError
	overQuota *serverError
	// budget is set when the next message did not fit in the daily
	// allowance: nothing more was sent; budgetNeed is its size.
	budget     *BudgetError
	budgetNeed int64
	err        error // the connection error, if any
}

// Batches: with MULTIAPPEND, consecutive messages go in one command of
// at most batchMax messages and batchBytes bytes (a bigger message goes
// alone), so memory stays at about a batch per connection.
const (
	batchMax   = 32
	batchBytes = 1 << 20
)

// send appends idxs in order on the worker's connection until they are all
// sent, the server asks to slow down or says the account is full, or ctx
// ends (an interrupt: nothing more is sent, and the answers to what was
// sent are awaited until hard ends). With MULTIAPPEND, messages go in
// batches; the messages of a refused batch are sent again one by one, so
// that only the refused message fails.
func (w *worker) send(ctx, hard context.Context, target string, idxs []int) sendResult {
	var mu sync.Mutex
	var res sendResult
	multi := w.opts.Batch != 1 && w.conn.Caps().Has(imap.CapMultiAppend)
	limit := w.opts.Batch
	if limit <= 0 {
		limit = batchMax
	}
	stopped := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return res.overQuota != nil || res.throttled != nil
	}
	var batch []appendRequest
	var batchIdx []int
	var batchSize int
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		var err error
		if len(batch) == 1 {
			err = w.conn.Append(hard, batch[0])
		} else {
			err = w.conn.AppendBatch(hard, batch)
		}
		sent := batchIdx
		batch, batchIdx, batchSize = batch[:0], nil, 0
		if err == nil {
			return true
		}
		if errors.Is(err, errInvalidRequest) && len(sent) == 1 {
			// Not sent, and never sendable; the connection is fine.
			w.fail(sent, fmt.Sprintf("cannot be sent: %v", err))
			return true
		}
		if errors.Is(err, errInvalidRequest) {
			mu.Lock()
			for _, i := range sent {
				w.single[i] = true
			}
			res.resend = append(res.resend, sent...)
			mu.Unlock()
			return true
		}
		// Not sent (the connection is unusable): sent again later.
		mu.Lock()
		res.resend = append(res.resend, sent...)
		if res.err == nil {
			res.err = err
		}
		mu.Unlock()
		return false
	}
	for k, i := range idxs {
		if stopped() || ctx.Err() != nil {
			mu.Lock()
			res.resend = append(res.resend, batchIdx...)
			res.resend = append(res.resend, idxs[k:]...)
			mu.Unlock()
			batch, batchIdx = nil, nil
			break
		}
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
		if !w.admitBytes(ctx, int64(len(msg.Data)), flush, &res, &mu) {
			mu.Lock()
			res.resend = append(res.resend, idxs[k:]...)
			mu.Unlock()
			break
		}
		// w.single is written by the replies' callbacks, under mu.
		mu.Lock()
		single := w.single[i]
		mu.Unlock()
		alone := !multi || single || len(msg.Data) >= batchBytes
		req := appendRequest{Mailbox: target, Flags: m.Flags, Date: m.Date, Data: msg.Data}
		req.Done = func(r appendResult) {
			mu.Lock()
			defer mu.Unlock()
			var se *serverError
			switch {
			case r.Err == nil:
				m.Outcome, m.Reason, m.UIDValidity, m.UID = report.DecisionUploaded, "", r.UIDValidity, r.UID
				res.sent++
				w.prog.Add(1, m.Size)
				w.record(m)
			case errors.Is(r.Err, errOutcomeUnknown):
				res.unknown = append(res.unknown, i)
				if res.err == nil {
					res.err = r.Err
				}
			case errors.As(r.Err, &se) && busy(se.Code, se.Text):
				res.resend = append(res.resend, i)
				if res.throttled == nil {
					res.throttled = se
				}
			case !alone:
				// The batch was refused: which message? Each is sent
				// again on its own. (Also when the account is full: a
				// batch is all or nothing, and some of its messages may
				// still fit.)
				w.single[i] = true
				res.resend = append(res.resend, i)
			case errors.As(r.Err, &se) && se.Code == "OVERQUOTA":
				res.overQuota = se
				res.resend = append(res.resend, i)
			default:
				m.Outcome, m.Reason = report.DecisionFailed, refusalText(r.Err)
				res.sent++
				w.prog.Add(1, m.Size)
			}
		}
		if alone {
			if !flush() {
				mu.Lock()
				res.resend = append(res.resend, idxs[k:]...)
				mu.Unlock()
				break
			}
			batch, batchIdx = append(batch, req), append(batchIdx, i)
			if !flush() {
				mu.Lock()
				res.resend = append(res.resend, idxs[k+1:]...)
				mu.Unlock()
				break
			}
			continue
		}
		if len(batch) > 0 && (len(batch) >= limit || batchSize+len(msg.Data) > batchBytes) {
			if !flush() {
				mu.Lock()
				res.resend = append(res.resend, idxs[k:]...)
				mu.Unlock()
				break
			}
		}
		batch, batchIdx = append(batch, req), append(batchIdx, i)
		batchSize += len(msg.Data)
	}
	if len(batch) > 0 && !stopped() && ctx.Err() == nil {
		flush()
	} else if len(batchIdx) > 0 {
		mu.Lock()
		res.resend = append(res.resend, batchIdx...)
		mu.Unlock()
	}
	if err := w.conn.Wait(hard); err != nil {
		mu.Lock()
		if res.err == nil {
			res.err = err
		}
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Ints(res.unknown)
	res.resend = uniqueSorted(res.resend)
	return res
}

// admitBytes counts n bytes about to be sent against the budget: false
// when they do not fit in the daily allowance (res.budget says so), or
// when the pause the rate asks for was cut short (ctx ended) or the
// batch sent before it could not be. What is batched goes before the
// pause, which is this message's.
func (w *worker) admitBytes(ctx context.Context, n int64, flush func() bool, res *sendResult, mu *sync.Mutex) bool {
	b := w.opts.Budget
	if b == nil {
		return true
	}
	if be := b.spend(n); be != nil {
		mu.Lock()
		res.budget, res.budgetNeed = be, n
		mu.Unlock()
		return false
	}
	d := b.pace(n)
	if d <= 0 {
		return true
	}
	return flush() && b.wait(ctx, d) == nil
}

// uniqueSorted sorts xs and drops repeats.
func uniqueSorted(xs []int) []int {
	sort.Ints(xs)
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
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
			w.record(m)
			continue
		}
		rest = append(rest, i)
	}
	return rest, nil
}

// record writes an uploaded message to the ledger.
func (w *worker) record(m *report.Message) {
	w.opts.Ledger.Record(LedgerEntry{
		Time: time.Now().UTC(), Folder: m.Folder, Path: m.Path, Offset: m.Offset, Index: m.Index,
		Key: m.Key, Target: m.Target, UIDValidity: m.UIDValidity, UID: m.UID, Size: m.Size,
	})
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
