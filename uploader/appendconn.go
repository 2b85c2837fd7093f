package uploader

// The APPEND connection.
//
// The uploader uses go-imap's imapclient for everything (LIST, CREATE,
// FETCH...) except APPEND, which goes through the small dedicated
// connection in this file. The reason is speed: go-imap v2.0.0-beta.8
// waits for the server's continuation request on every literal over 4,096
// bytes even when the server offers LITERAL+ (commandEncoder.Literal in
// imapclient/client.go only checks LITERAL-), and it holds its command
// encoder lock while it waits, so APPENDs cannot be pipelined: over a
// 40 ms link that is one round trip per message, 31 messages/s instead of
// about 800. Measured on loopback Dovecot, a minimal client that SELECTs
// the target and then sends APPENDs as non-synchronizing literals with 64
// in flight does 2,247 messages/s; go-imap's Append 977.
//
// appendConn dials with dial (so TLS and the wire guard are those of every
// other connection), logs in, SELECTs the target mailbox (appending into
// the selected mailbox is cheaper for servers, and SELECT changes nothing
// but session state) and sends APPENDs with up to window commands in
// flight, their literals non-synchronizing where the server allows it
// (LITERAL+ for any size, LITERAL- up to 4,096 bytes, RFC 7888). One
// reader goroutine reads every response and reports each APPEND's result,
// in request order, through the request's Done callback.

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
)

const (
	// defaultAppendWindow is how many commands may be in flight.
	defaultAppendWindow = 128
	// maxNonSyncMinus is the largest non-synchronizing literal LITERAL-
	// allows (RFC 7888 §5).
	maxNonSyncMinus = 4096
	// maxQuotedAString is the longest string sent quoted; longer ones go as
	// literals.
	maxQuotedAString = 1024
	// writeChunk is how much of a literal is written between two deadline
	// refreshes.
	writeChunk = 64 << 10
	// logoutTimeout bounds the LOGOUT of Close.
	logoutTimeout = 2 * time.Second
)

// errServerBye is wrapped when the server ended the connection with an
// untagged BYE (RFC 9051 §7.1.5): shutting down, or sending this client
// away. The executor slows the run down when it sees one.
var errServerBye = errors.New("the server said BYE")

// errOutcomeUnknown is wrapped in appendResult.Err when the connection
// ended (it broke, timed out, its context ended, or the server said BYE)
// after an APPEND was sent and before its tagged reply came: the message
// may or may not have been appended, and the caller must look at the
// server before retrying it.
var errOutcomeUnknown = errors.New("the connection ended before the server answered, so the message may or may not have been appended")

// errConnClosed is wrapped by the errors of an APPEND connection that can
// no longer be used.
var errConnClosed = errors.New("the APPEND connection is closed")

// errInvalidRequest is wrapped by Append's error for a request that cannot
// be encoded (a flag that is not an IMAP atom, a date out of range).
var errInvalidRequest = errors.New("invalid APPEND request")

// serverError is a NO or BAD tagged reply.
type serverError struct {
	Status string // NO or BAD
	// Code is the response code (TOOBIG, OVERQUOTA, LIMIT, THROTTLED,
	// UNAVAILABLE, TRYCREATE...), upper case, or "".
	Code string
	Text string
}

func (e *serverError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("server refused: [%s] %s", e.Code, e.Text)
	}
	return "server refused: " + e.Text
}

// appendRequest is one message to append.
type appendRequest struct {
	Mailbox string // UTF-8; encoded to modified UTF-7 on the wire
	// Flags are system flags ("\Seen") and keywords ("$Forwarded"); each
	// must be an IMAP atom. \Recent cannot be set by APPEND and is left out.
	Flags []string
	Date  time.Time // INTERNALDATE; zero lets the server use its clock
	Data  []byte    // the message, CRLF line endings; dropped once written
	// Done receives the result. See appendConn.Append.
	Done func(appendResult)
}

// appendResult is the outcome of one APPEND.
type appendResult struct {
	// UIDValidity and UID come from the APPENDUID response code (RFC 4315,
	// UIDPLUS); both are 0 when the server sent none.
	UIDValidity, UID uint32
	// Err is nil when the server appended the message; a *serverError
	// when it refused it; an error wrapping errOutcomeUnknown when the
	// connection ended before it answered.
	Err error
}

// selectInfo is what SELECT reports about a mailbox.
type selectInfo struct {
	UIDValidity uint32
	UIDNext     uint32
	Exists      uint32
}

// pendingCmd is a command sent and not yet answered, or answered but not
// yet reported (an earlier command is still waiting for its reply).
type pendingCmd struct {
	tag      string
	isAppend bool
	mailbox  string             // APPEND only, for its result
	done     func(appendResult) // APPEND only; may be nil
	// batch holds the Done of each message of a MULTIAPPEND, in order
	// (done is nil then).
	batch    []func(appendResult)
	resp     *response     // the tagged reply, once it came
	err      error         // set instead of resp when the connection ended
	answered chan struct{} // closed once reported
}

// contMsg is what the reader hands the writer waiting for a continuation
// request: the request's text, or rejected when the command got its
// tagged reply instead.
type contMsg struct {
	text     string
	rejected bool
}

// appendConn is a pipelined APPEND connection; see the comment at the top
// of this file. Append, Select, Wait and Close are meant to be called from
// one goroutine (the executor's worker); the results come on the reader
// goroutine.
type appendConn struct {
	cfg *Config
	cn  *conn
	br  *bufio.Reader
	bw  *bufio.Writer
	// window is how many APPENDs may be in flight (default 128); it may be
	// changed after openAppendConn, before the first Append.
	window int
	slots  chan struct{} // one token per APPEND in flight; made by windowSlots

	// wmu is held while a command is being written, and by the reader
	// before it fails the pending commands, so that a write in progress
	// ends first.
	wmu sync.Mutex

	mu       sync.Mutex
	tagN     uint64
	queue    []*pendingCmd // sent, in order, not yet reported
	byTag    map[string]*pendingCmd
	inflight int           // registered and not yet reported
	idle     chan struct{} // closed when inflight drops to 0
	caps     imap.CapSet
	capsSeen bool // a CAPABILITY came since capsSeen was cleared
	sel      selectInfo
	bye      string // the text of an untagged BYE
	cause    error  // why the connection ended, when it was ended here
	broken   bool   // the reader has stopped
	closed   bool   // the pending commands were failed: register refuses
	wantCont *pendingCmd
	cont     chan contMsg
	brokenCh chan struct{} // closed when the reader stops reading
	dead     chan struct{} // closed when the reader goroutine has returned

	stopCtx   func() bool
	closeOnce sync.Once
}

// openAppendConn dials, logs in and reads the capabilities. Errors wrap
// ErrConnect (network, TLS) or ErrAuth (the server refused the login).
func openAppendConn(ctx context.Context, cfg *Config) (*appendConn, error) {
	cn, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &appendConn{
		cfg:      cfg,
		cn:       cn,
		bw:       bufio.NewWriterSize(cn, 32<<10),
		window:   defaultAppendWindow,
		byTag:    map[string]*pendingCmd{},
		caps:     imap.CapSet{},
		cont:     make(chan contMsg, 1),
		brokenCh: make(chan struct{}),
		dead:     make(chan struct{}),
	}
	a.br = bufio.NewReaderSize(appendConnReader{a}, 32<<10)
	a.stopCtx = context.AfterFunc(ctx, func() { a.abort(context.Cause(ctx)) })
	go a.readLoop()
	fail := func(err error) (*appendConn, error) {
		a.abort(errors.New("login failed"))
		<-a.dead
		a.stopCtx()
		return nil, err
	}
	if err := a.refreshCaps(ctx); err != nil {
		return fail(a.connectErr(ctx, "CAPABILITY", err))
	}
	if !cn.preauth {
		if err := a.login(ctx); err != nil {
			return fail(err)
		}
	}
	a.mu.Lock()
	seen := a.capsSeen
	a.mu.Unlock()
	if !seen {
		if err := a.refreshCaps(ctx); err != nil {
			return fail(a.connectErr(ctx, "CAPABILITY", err))
		}
	}
	return a, nil
}

// refreshCaps sends CAPABILITY.
func (a *appendConn) refreshCaps(ctx context.Context) error {
	resp, err := a.command(ctx, textPart("CAPABILITY"))
	if err != nil {
		return err
	}
	if resp.status != "OK" {
		return &serverError{Status: resp.status, Code: resp.code, Text: resp.text}
	}
	return nil
}

// connectErr makes an error of openAppendConn wrap ErrConnect, and says
// why without any secret.
func (a *appendConn) connectErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w to %s: %s: %w", ErrConnect, a.cfg.Addr(), what, ctx.Err())
	}
	return fmt.Errorf("%w to %s: %s: %w", ErrConnect, a.cfg.Addr(), what, err)
}

// login logs in as chooseMech says. It never puts the password or token
// in an error.
func (a *appendConn) login(ctx context.Context) error {
	a.mu.Lock()
	caps := a.caps
	a.capsSeen = false
	a.mu.Unlock()
	mech, err := chooseMech(a.cfg, caps)
	if err != nil {
		return err
	}
	var resp *response
	var saslErr error
	if mech == MechLogin {
		resp, err = a.command(ctx, textPart("LOGIN "), astringPart(a.cfg.User), textPart(" "), astringPart(a.cfg.Password))
	} else {
		resp, saslErr, err = a.authenticate(ctx, saslClient(a.cfg, mech), caps.Has(imap.CapSASLIR))
	}
	if err != nil {
		return a.connectErr(ctx, "login", err)
	}
	if resp.status != "OK" {
		text := resp.text
		if resp.code != "" {
			text = "[" + resp.code + "] " + text
		}
		if saslErr != nil {
			text += " (" + saslErr.Error() + ")"
		}
		if busy(resp.code, resp.text) {
			// Too many connections, throttled: not a wrong password.
			return markBusy(fmt.Errorf("%w to %s: login as %s refused for now: %s", ErrConnect, a.cfg.Addr(), a.cfg.User, text), resp.code, resp.text)
		}
		return fmt.Errorf("%w as %s on %s with %s: the server said: %s", ErrAuth, a.cfg.User, a.cfg.Addr(), mech, text)
	}
	return nil
}

// authenticate runs AUTHENTICATE (RFC 9051 §6.2.2), with the initial
// response on the command line when the server has SASL-IR (RFC 4959).
// saslErr is the client mechanism's own error about a challenge (for
// OAUTHBEARER, the server's JSON status).
func (a *appendConn) authenticate(ctx context.Context, client sasl.Client, saslIR bool) (resp *response, saslErr error, err error) {
	mech, ir, err := client.Start()
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { a.abort(context.Cause(ctx)) })
	defer stop()
	line := "AUTHENTICATE " + mech
	if ir != nil && saslIR {
		line += " " + encodeSASL(ir)
		ir = nil
	}
	a.wmu.Lock()
	c, err := a.register(false, "", nil)
	if err != nil {
		a.wmu.Unlock()
		return nil, nil, err
	}
	a.expectCont(c)
	err = a.writeLine(c.tag + " " + line + "\r\n")
	for err == nil {
		var msg contMsg
		select {
		case msg = <-a.cont:
		case <-a.brokenCh:
			err = a.endCause()
			continue
		}
		if msg.rejected {
			break
		}
		var out []byte
		switch {
		case msg.text == "" && ir != nil:
			out, ir = ir, nil
		default:
			challenge, derr := decodeSASL(msg.text)
			if derr == nil {
				out, derr = client.Next(challenge)
			}
			if derr != nil {
				saslErr = derr
				out = nil
			}
		}
		if !a.expectCont(c) {
			break
		}
		switch {
		case saslErr == nil:
			err = a.writeLine(encodeSASL(out) + "\r\n")
		case errors.As(saslErr, new(*sasl.OAuthBearerError)):
			// RFC 7628 §3.2.2: answer the error with %x01; the server
			// then fails the exchange with its tagged NO.
			err = a.writeLine("AQ==\r\n")
		default:
			err = a.writeLine("*\r\n") // cancel (RFC 9051 §6.2.2)
		}
	}
	a.mu.Lock()
	if a.wantCont == c {
		a.wantCont = nil
	}
	a.mu.Unlock()
	a.wmu.Unlock()
	// On a write error the connection was aborted: the reader reports c.
	resp, err = a.await(c)
	return resp, saslErr, err
}

func encodeSASL(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

func decodeSASL(s string) ([]byte, error) {
	if s == "=" || s == "" {
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("the server's SASL challenge is not base64")
	}
	return b, nil
}

// Caps returns the capabilities the server announced after login.
func (a *appendConn) Caps() imap.CapSet {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.caps.Copy()
}

// Select selects mailbox (UTF-8) once every APPEND in flight has its
// result, and waits for the tagged reply. A NO is a *serverError.
func (a *appendConn) Select(ctx context.Context, mailbox string) (selectInfo, error) {
	if err := a.Wait(ctx); err != nil {
		return selectInfo{}, err
	}
	a.mu.Lock()
	a.sel = selectInfo{}
	a.mu.Unlock()
	resp, err := a.command(ctx, textPart("SELECT "), astringPart(mutf7Encode(mailbox)))
	if err != nil {
		return selectInfo{}, fmt.Errorf("SELECT %q: %w", mailbox, err)
	}
	if resp.status != "OK" {
		return selectInfo{}, fmt.Errorf("SELECT %q: %w", mailbox, &serverError{Status: resp.status, Code: resp.code, Text: resp.text})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sel, nil
}

// Append sends one APPEND. It blocks while window commands are in flight.
//
// It returns an error only when it did not send the request: the
// connection is unusable (the error wraps errConnClosed; the guard's
// ErrRefusedCommand in a dry run) or the request cannot be encoded
// (errInvalidRequest). Otherwise req.Done is called exactly once with the
// result, in request order, on the connection's reader goroutine, and never
// after Close or Wait returns: Done must be quick and must not call the
// appendConn's methods. req.Data is not referenced once written.
func (a *appendConn) Append(ctx context.Context, req appendRequest) error {
	parts, err := appendParts(req)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { a.abort(context.Cause(ctx)) })
	defer stop()
	slots := a.windowSlots()
	select {
	case slots <- struct{}{}:
	case <-a.brokenCh:
		return a.unusable()
	}
	a.wmu.Lock()
	defer a.wmu.Unlock()
	c, err := a.register(true, req.Mailbox, req.Done)
	if err != nil {
		<-a.slots
		return err
	}
	req.Data = nil
	err = a.send(c, parts)
	parts = nil
	if errors.Is(err, ErrRefusedCommand) {
		// The guard refused the command line before any of it reached the
		// wire: the request was not sent. It is the last one registered,
		// and the reader cannot have failed it (it waits for wmu).
		a.unregister(c)
		<-a.slots
		return fmt.Errorf("APPEND to %q: %w", req.Mailbox, err)
	}
	// Any other write error ends the connection; the reader reports this
	// request (outcome unknown) with the others.
	return nil
}

// AppendBatch sends reqs, all to the same mailbox, as one MULTIAPPEND
// command (RFC 3502), which the server stores in one transaction: much
// less work per message than one APPEND each (measured on Dovecot: 8,400
// messages/s in batches of 32 against 2,500 one by one). The server takes
// all of them or none: a refusal refuses every message of the batch (the
// caller may send them again one by one to learn which one it was). Each
// Done is called once, in order. It must only be used when Caps has
// MULTIAPPEND. The batch takes one place in the window.
func (a *appendConn) AppendBatch(ctx context.Context, reqs []appendRequest) error {
	if len(reqs) == 1 {
		return a.Append(ctx, reqs[0])
	}
	var parts []wirePart
	dones := make([]func(appendResult), len(reqs))
	for i, req := range reqs {
		if req.Mailbox != reqs[0].Mailbox {
			return fmt.Errorf("%w: a MULTIAPPEND goes to one mailbox", errInvalidRequest)
		}
		p, err := appendParts(req)
		if err != nil {
			return err
		}
		if i > 0 {
			p = p[2:] // "APPEND " and the mailbox come once
		}
		parts = append(parts, p...)
		dones[i] = req.Done
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { a.abort(context.Cause(ctx)) })
	defer stop()
	slots := a.windowSlots()
	select {
	case slots <- struct{}{}:
	case <-a.brokenCh:
		return a.unusable()
	}
	a.wmu.Lock()
	defer a.wmu.Unlock()
	c, err := a.register(true, reqs[0].Mailbox, nil)
	if err != nil {
		<-a.slots
		return err
	}
	a.mu.Lock()
	c.batch = dones
	a.mu.Unlock()
	err = a.send(c, parts)
	parts = nil
	if errors.Is(err, ErrRefusedCommand) {
		a.unregister(c)
		<-a.slots
		return fmt.Errorf("APPEND to %q: %w", reqs[0].Mailbox, err)
	}
	return nil
}

// windowSlots returns the semaphore of APPENDs in flight, made on first
// use so that the window field can be set after openAppendConn.
func (a *appendConn) windowSlots() chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.slots == nil {
		a.slots = make(chan struct{}, max(a.window, 1))
	}
	return a.slots
}

// Wait returns once every APPEND sent has its result (its Done has
// returned). It returns nil when the connection is still usable, else why
// it ended (the results say which messages are in doubt); ctx ending ends
// the connection.
func (a *appendConn) Wait(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { a.abort(context.Cause(ctx)) })
	defer stop()
	a.mu.Lock()
	idle := a.idle
	a.mu.Unlock()
	if idle != nil {
		<-idle // closed by the reader, also when the connection ends
	}
	if a.isBroken() {
		return a.unusable()
	}
	return nil
}

// Close logs out (waiting at most a couple of seconds) and closes the
// connection. Requests still in flight then get errOutcomeUnknown. Every
// Done has returned when Close returns.
func (a *appendConn) Close() error {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		usable := !a.broken && a.bye == ""
		a.mu.Unlock()
		if usable {
			ctx, cancel := context.WithTimeout(context.Background(), logoutTimeout)
			a.command(ctx, textPart("LOGOUT"))
			cancel()
		}
		a.abort(errors.New("closed"))
		<-a.dead
		a.stopCtx()
	})
	return nil
}

// command sends a command other than APPEND and waits for its tagged
// reply. A NO or BAD is not an error: the caller looks at resp.status.
func (a *appendConn) command(ctx context.Context, parts ...wirePart) (*response, error) {
	stop := context.AfterFunc(ctx, func() { a.abort(context.Cause(ctx)) })
	defer stop()
	a.wmu.Lock()
	c, err := a.register(false, "", nil)
	if err != nil {
		a.wmu.Unlock()
		return nil, err
	}
	a.send(c, parts) // on error, the connection was aborted and c is failed
	a.wmu.Unlock()
	return a.await(c)
}

// await waits until c is reported.
func (a *appendConn) await(c *pendingCmd) (*response, error) {
	<-c.answered
	if c.resp == nil {
		return nil, fmt.Errorf("%w: %w", errConnClosed, c.err)
	}
	return c.resp, nil
}

// register assigns the next tag and queues c; the caller holds wmu.
func (a *appendConn) register(isAppend bool, mailbox string, done func(appendResult)) (*pendingCmd, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.broken {
		return nil, a.unusableLocked()
	}
	if a.bye != "" {
		return nil, fmt.Errorf("%w: the server is closing it: %s", errConnClosed, a.bye)
	}
	a.tagN++
	c := &pendingCmd{
		tag:      "A" + strconv.FormatUint(a.tagN, 10),
		isAppend: isAppend,
		mailbox:  mailbox,
		done:     done,
		answered: make(chan struct{}),
	}
	a.queue = append(a.queue, c)
	a.byTag[c.tag] = c
	if a.inflight == 0 {
		a.idle = make(chan struct{})
	}
	a.inflight++
	a.cn.SetReadDeadline(time.Now().Add(a.cfg.timeout()))
	return c, nil
}

// unregister takes back c, which was registered last and never sent.
func (a *appendConn) unregister(c *pendingCmd) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.queue); n > 0 && a.queue[n-1] == c {
		a.queue = a.queue[:n-1]
	}
	delete(a.byTag, c.tag)
	a.inflight--
	if a.inflight == 0 && a.idle != nil {
		close(a.idle)
		a.idle = nil
	}
}

// expectCont tells the reader that c waits for a continuation request. It
// returns false when c already has its tagged reply.
func (a *appendConn) expectCont(c *pendingCmd) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.resp != nil || a.broken {
		return false
	}
	a.wantCont = c
	select {
	case <-a.cont: // a stale message for an earlier wait
	default:
	}
	return true
}

// send writes c's command: its tag, its parts (waiting for the server's
// continuation request before a synchronizing literal) and CRLF, then
// flushes. It returns nil without writing the rest when the server
// answered the command instead of asking for a literal.
// A write error (or the guard's refusal) aborts the connection.
func (a *appendConn) send(c *pendingCmd, parts []wirePart) (err error) {
	defer func() {
		if err != nil {
			a.abort(describeWriteErr(err))
		}
	}()
	a.touch()
	a.bw.WriteString(c.tag)
	a.bw.WriteByte(' ')
	for _, p := range parts {
		if !p.isLit {
			a.bw.WriteString(p.text)
			continue
		}
		n := len(p.lit)
		a.mu.Lock()
		caps := a.caps
		a.mu.Unlock()
		if caps.Has(imap.CapLiteralPlus) || (caps.Has(imap.CapLiteralMinus) && n <= maxNonSyncMinus) {
			fmt.Fprintf(a.bw, "{%d+}\r\n", n)
		} else {
			fmt.Fprintf(a.bw, "{%d}\r\n", n)
			if !a.expectCont(c) {
				if a.isBroken() {
					return a.endCause()
				}
				// Answered already: the server considers the command
				// done; what is left of it must not be sent.
				a.bw.Reset(a.cn)
				return nil
			}
			if err := a.flush(); err != nil {
				return err
			}
			select {
			case msg := <-a.cont:
				if msg.rejected {
					return nil
				}
			case <-a.brokenCh:
				return a.endCause()
			}
		}
		if err := a.writeData(p.lit); err != nil {
			return err
		}
	}
	a.bw.WriteString("\r\n")
	return a.flush()
}

// writeLine writes one line (a SASL response) and flushes.
func (a *appendConn) writeLine(s string) error {
	a.touch()
	a.bw.WriteString(s)
	return a.flush()
}

// writeData writes a literal in chunks, refreshing the deadlines between
// them, so that a large message on a slow link is progress, not a timeout.
func (a *appendConn) writeData(p []byte) error {
	for len(p) > 0 {
		n := min(len(p), writeChunk)
		a.touch()
		if _, err := a.bw.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

func (a *appendConn) flush() error {
	a.touch()
	return a.bw.Flush()
}

// touch pushes the write deadline, and the read deadline when a reply is
// awaited: the timeout counts time without progress either way.
func (a *appendConn) touch() {
	t := time.Now().Add(a.cfg.timeout())
	a.cn.SetWriteDeadline(t)
	a.mu.Lock()
	if a.inflight > 0 {
		a.cn.SetReadDeadline(t)
	}
	a.mu.Unlock()
}

// appendConnReader sets the read deadline before each read: the timeout
// while a reply is awaited, none while the connection is idle.
type appendConnReader struct{ a *appendConn }

func (r appendConnReader) Read(p []byte) (int, error) {
	a := r.a
	a.mu.Lock()
	if a.inflight > 0 {
		a.cn.SetReadDeadline(time.Now().Add(a.cfg.timeout()))
	} else {
		a.cn.SetReadDeadline(time.Time{})
	}
	a.mu.Unlock()
	return a.cn.Read(p)
}

// abort ends the connection; cause says why (it wins over the read error
// that closing causes).
func (a *appendConn) abort(cause error) {
	a.mu.Lock()
	if a.cause == nil {
		a.cause = cause
	}
	a.mu.Unlock()
	a.cn.Close()
}

// readLoop reads responses until the connection ends, then reports every
// command still pending.
func (a *appendConn) readLoop() {
	defer close(a.dead)
	err := a.readResponses()
	readErr := a.describeReadErr(err)

	a.mu.Lock()
	if a.cause == nil {
		a.cause = readErr
	}
	a.broken = true
	close(a.brokenCh)
	a.mu.Unlock()
	a.cn.Close()

	a.wmu.Lock() // a write in progress fails (the connection is closed) and returns
	a.mu.Lock()
	a.closed = true
	queue := a.queue
	a.queue = nil
	a.byTag = nil
	a.wantCont = nil
	cause := a.cause
	a.mu.Unlock()
	a.wmu.Unlock()

	for _, c := range queue {
		if c.resp == nil {
			c.err = cause
		}
	}
	a.report(queue)
}

// describeReadErr says why reading stopped.
func (a *appendConn) describeReadErr(err error) error {
	a.mu.Lock()
	bye := a.bye
	a.mu.Unlock()
	switch {
	case bye != "":
		return markBusy(fmt.Errorf("%w: %s", errServerBye, bye), "", bye)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("no answer from the server for %s", a.cfg.timeout())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the server closed the connection")
	case errors.Is(err, errProtocol):
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return errors.New(cleanNetErr(err))
	}
	return err
}

func (a *appendConn) readResponses() error {
	for {
		r, err := readResponse(a.br)
		if err != nil {
			return err
		}
		switch r.kind {
		case respContinuation:
			a.mu.Lock()
			if a.wantCont != nil {
				a.wantCont = nil
				a.cont <- contMsg{text: r.text}
			}
			a.mu.Unlock()
		case respUntagged:
			a.untagged(r)
		case respTagged:
			a.tagged(r)
		}
	}
}

// untagged records what the connection needs of untagged responses:
// capabilities, SELECT data, BYE. The rest is ignored.
func (a *appendConn) untagged(r *response) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch r.status {
	case "BYE":
		a.bye = r.text
		if a.bye == "" {
			a.bye = "(no text)"
		}
	case "OK":
		switch r.code {
		case "CAPABILITY":
			a.caps, a.capsSeen = parseCaps(r.codeArgs), true
		case "UIDVALIDITY", "UIDNEXT":
			n, err := strconv.ParseUint(strings.TrimSpace(r.codeArgs), 10, 32)
			if err == nil && r.code == "UIDVALIDITY" {
				a.sel.UIDValidity = uint32(n)
			} else if err == nil {
				a.sel.UIDNext = uint32(n)
			}
		}
	case "":
		name, rest, _ := strings.Cut(r.data, " ")
		if strings.EqualFold(name, "CAPABILITY") {
			a.caps, a.capsSeen = parseCaps(rest), true
			return
		}
		if n, what, ok := parseNumberData(r.data); ok && what == "EXISTS" {
			a.sel.Exists = n
		}
	}
}

// tagged records a command's reply and reports, in order, the commands
// at the head of the queue that have theirs.
func (a *appendConn) tagged(r *response) {
	a.mu.Lock()
	c := a.byTag[r.tag]
	if c == nil {
		a.mu.Unlock()
		return // not ours (no such tag was sent): ignore
	}
	delete(a.byTag, r.tag)
	c.resp = r
	if r.status == "OK" && r.code == "CAPABILITY" {
		a.caps, a.capsSeen = parseCaps(r.codeArgs), true
	}
	if a.wantCont == c {
		// Answered instead of asked for its literal (a NO [TOOBIG] for a
		// synchronizing literal, or the end of AUTHENTICATE).
		a.wantCont = nil
		a.cont <- contMsg{rejected: true}
	}
	var ready []*pendingCmd
	for len(a.queue) > 0 && a.queue[0].resp != nil {
		ready = append(ready, a.queue[0])
		a.queue[0] = nil
		a.queue = a.queue[1:]
	}
	a.mu.Unlock()
	a.report(ready)
}

// report calls Done of the APPENDs among cmds and wakes the other
// commands' waiters, in order.
func (a *appendConn) report(cmds []*pendingCmd) {
	if len(cmds) == 0 {
		return
	}
	for _, c := range cmds {
		if c.isAppend {
			<-a.slots
			if c.done != nil {
				c.done(c.result())
			}
			if c.batch != nil {
				for i, r := range c.batchResults() {
					if c.batch[i] != nil {
						c.batch[i](r)
					}
				}
			}
		}
		close(c.answered)
	}
	a.mu.Lock()
	a.inflight -= len(cmds)
	if a.inflight == 0 && a.idle != nil {
		close(a.idle)
		a.idle = nil
	}
	a.mu.Unlock()
}

// result is an APPEND's outcome.
func (c *pendingCmd) result() appendResult {
	if c.resp == nil {
		return appendResult{Err: fmt.Errorf("APPEND to %q: %w (%w)", c.mailbox, errOutcomeUnknown, c.err)}
	}
	switch c.resp.status {
	case "OK":
		var res appendResult
		if c.resp.code == "APPENDUID" {
			res.UIDValidity, res.UID, _ = parseAppendUID(c.resp.codeArgs)
		}
		return res
	}
	return appendResult{Err: &serverError{Status: c.resp.status, Code: c.resp.code, Text: c.resp.text}}
}

// batchResults are the outcomes of the messages of a MULTIAPPEND: all
// appended (with the UIDs of its APPENDUID), all refused, or all unknown.
func (c *pendingCmd) batchResults() []appendResult {
	out := make([]appendResult, len(c.batch))
	r := c.result()
	if r.Err != nil || c.resp.code != "APPENDUID" {
		for i := range out {
			out[i] = appendResult{Err: r.Err}
		}
		return out
	}
	validity, uids := parseAppendUIDSet(c.resp.codeArgs, len(c.batch))
	for i := range out {
		if uids != nil {
			out[i] = appendResult{UIDValidity: validity, UID: uids[i]}
		}
	}
	return out
}

func (a *appendConn) isBroken() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.broken
}

// describeWriteErr says why a write failed, without the noise of
// *net.OpError.
func describeWriteErr(err error) error {
	var ne net.Error
	if errors.Is(err, ErrRefusedCommand) || errors.Is(err, errConnClosed) || !errors.As(err, &ne) {
		return err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errors.New("the server accepted no data for the timeout")
	}
	return errors.New(cleanNetErr(err))
}

// endCause is why the connection ended, for a writer that saw brokenCh.
func (a *appendConn) endCause() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.unusableLocked()
}

func (a *appendConn) unusable() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.unusableLocked()
}

func (a *appendConn) unusableLocked() error {
	if a.cause != nil {
		return fmt.Errorf("%w: %w", errConnClosed, a.cause)
	}
	return errConnClosed
}

// wirePart is a piece of a command: text, or a literal.
type wirePart struct {
	text  string
	lit   []byte
	isLit bool
}

func textPart(s string) wirePart { return wirePart{text: s} }

func literalPart(b []byte) wirePart { return wirePart{lit: b, isLit: true} }

// astringPart encodes s as an IMAP astring (RFC 9051 §9): an atom when it
// is one, a quoted string when it can be, a literal when it has CR, LF,
// NUL or 8-bit bytes or is long.
func astringPart(s string) wirePart {
	if s == "" {
		return textPart(`""`)
	}
	atom := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0 || c == '\r' || c == '\n' || c >= 0x80:
			return literalPart([]byte(s))
		case c < ' ' || c == 0x7f || strings.IndexByte(` (){%*"\`, c) >= 0:
			atom = false
		}
	}
	if len(s) > maxQuotedAString {
		return literalPart([]byte(s))
	}
	if atom {
		return textPart(s)
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return textPart(b.String())
}

// isFlag reports whether f can be sent in an APPEND flag list: a keyword
// atom, or "\" and an atom (RFC 9051 §9 flag).
func isFlag(f string) bool {
	f = strings.TrimPrefix(f, `\`)
	if f == "" {
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// appendDateLayout is IMAP's date-time (RFC 9051 §9).
const appendDateLayout = `"02-Jan-2006 15:04:05 -0700"`

// appendParts encodes an APPEND's arguments: mailbox, flags, date and the
// message literal.
func appendParts(req appendRequest) ([]wirePart, error) {
	var b strings.Builder
	var flags []string
	for _, f := range req.Flags {
		if strings.EqualFold(f, `\Recent`) {
			continue // session state; APPEND cannot set it
		}
		if !isFlag(f) {
			return nil, fmt.Errorf("%w: flag %q is not an IMAP atom", errInvalidRequest, f)
		}
		flags = append(flags, f)
	}
	if len(flags) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(flags, " "))
		b.WriteByte(')')
	}
	if !req.Date.IsZero() {
		if y := req.Date.Year(); y < 1 || y > 9999 {
			return nil, fmt.Errorf("%w: date %s is out of range", errInvalidRequest, req.Date.Format(time.RFC3339))
		}
		b.WriteByte(' ')
		b.WriteString(req.Date.Format(appendDateLayout))
	}
	b.WriteByte(' ')
	return []wirePart{
		textPart("APPEND "),
		astringPart(mutf7Encode(req.Mailbox)),
		textPart(b.String()),
		literalPart(req.Data),
	}, nil
}
