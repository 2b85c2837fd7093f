package uploader

// faultProxy: a TCP proxy between the uploader and a real IMAP server
// that breaks things the way networks and servers do, driven by a seed.
//
// Per connection (see connPlan) it may
//   - refuse the connection with a "* BYE" greeting (too many connections),
//   - cut the connection when the client's or the server's byte stream
//     reaches an offset (anywhere: in a command line, in a literal, in a
//     reply),
//   - delay the pieces it forwards,
//   - announce LITERAL- instead of LITERAL+, so that the client sends
//     literals over 4,096 bytes synchronizing (and waits for "+"),
//   - refuse an APPEND for now (NO [THROTTLED], NO [UNAVAILABLE]) or say
//     "* BYE" in place of an APPEND and hang up;
//
// and for the whole run it may play a server with a size limit (NO
// [TOOBIG] for chosen messages, every time) and an account that becomes
// full (NO [OVERQUOTA] for every APPEND after the n-th).
//
// An injected refusal is not a rewritten reply: the proxy holds each
// APPEND (MULTIAPPEND included) until its last byte, then either forwards
// it whole or answers it itself and never forwards it. So what the client
// is told always matches the server: a refused APPEND did not happen.
// The proxy answers the "+" of a synchronizing literal of an APPEND
// itself (the server does not see the command yet) and forwards the
// command with its literals made non-synchronizing (Dovecot has LITERAL+).
//
// A cut is a connection dying with commands and replies in flight:
// nothing more goes either way; the server's side is closed for writing,
// so that the server executes what it received in full (a command cut
// short is not executed) and hangs up; only then is the client hung up
// on. So when the client looks at the server after a cut, the server has
// settled, as it has after the pause a real client makes before it looks.
//
// The proxy parses the client's stream just enough to find commands: a
// command is a line, or several when a line ends with a literal {N} or
// {N+} (the N bytes that follow belong to the command). The server's
// stream is parsed the same way, so that injected lines go in between
// responses, never inside one.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/internal/dovecottest"
)

// connPlan is what the proxy does to one connection.
type connPlan struct {
	// greetBye, when set, answers the connection "* BYE <greetBye>"
	// without reaching the server.
	greetBye string
	// cutC2S / cutS2C: the connection dies when the client's / server's
	// stream reaches this many bytes (0: never).
	cutC2S, cutS2C int64
	// delayP is the chance that a piece (a line or up to 32 KiB of a
	// literal) is held up to maxDelay before it is forwarded.
	delayP   float64
	maxDelay time.Duration
	// literalMinus announces LITERAL- where the server says LITERAL+.
	literalMinus bool
	// byeAt: the byeAt-th APPEND of the connection (from 1) is answered
	// with "* BYE <byeText>" after the server answered those before it,
	// and the connection closes; 0: never.
	byeAt   int
	byeText string
	// noP is the chance that an APPEND is refused for now (THROTTLED or
	// UNAVAILABLE) instead of forwarded.
	noP float64
	// inject refuses the n-th APPEND (from 1) with this reply ("NO [X]
	// text"), for the proxy's own tests.
	inject map[int]string
}

func (p connPlan) String() string {
	var f []string
	if p.greetBye != "" {
		f = append(f, "greeting BYE")
	}
	if p.cutC2S > 0 {
		f = append(f, fmt.Sprintf("cut client->server at %d", p.cutC2S))
	}
	if p.cutS2C > 0 {
		f = append(f, fmt.Sprintf("cut server->client at %d", p.cutS2C))
	}
	if p.delayP > 0 {
		f = append(f, fmt.Sprintf("delays (%.0f%%, up to %v)", 100*p.delayP, p.maxDelay))
	}
	if p.literalMinus {
		f = append(f, "LITERAL-")
	}
	if p.byeAt > 0 {
		f = append(f, fmt.Sprintf("BYE at APPEND %d", p.byeAt))
	}
	if p.noP > 0 {
		f = append(f, fmt.Sprintf("refusals for now (%.0f%%)", 100*p.noP))
	}
	if len(f) == 0 {
		return "no faults"
	}
	return strings.Join(f, ", ")
}

// Replies and BYE texts as servers word them.
var (
	throttledReplies = []string{
		"NO [THROTTLED] Request is throttled. Suggested Backoff Time: 20 milliseconds", // Microsoft 365
		"NO [THROTTLED] Too many commands, slow down (fault proxy)",
	}
	unavailableReplies = []string{
		"NO [UNAVAILABLE] Temporary internal server error. (fault proxy)", // Dovecot
		"NO [UNAVAILABLE] Service temporarily unavailable, try again later",
	}
	byeTexts = []string{
		"Server shutting down.", // Dovecot
		"[UNAVAILABLE] Too many simultaneous connections. (Failure)", // Gmail
		"Disconnected for inactivity.",
	}
	greetByes = []string{
		"Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)", // Dovecot
		"[UNAVAILABLE] Too many connections, try again later",
	}
)

const (
	tooBigReply    = "NO [TOOBIG] Message too large for this server (fault proxy)"
	overQuotaReply = "NO [OVERQUOTA] Quota exceeded (mailbox for user is full)" // Dovecot
)

// seededPlan is the plan of connection n (from 1) of a run with this
// seed: each connection draws from its own PCG stream, so its plan does
// not depend on the order in which connections come.
func seededPlan(seed uint64, n int) connPlan {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	var p connPlan
	if r.IntN(100) < 8 {
		p.greetBye = greetByes[r.IntN(len(greetByes))]
		return p
	}
	// Cut offsets are log-uniform up to 128 KiB: some in the greeting
	// and login, most among the APPENDs and their literals.
	switch k := r.IntN(100); {
	case k < 17:
		p.cutC2S = 1 + r.Int64N(int64(1)<<(4+r.IntN(14)))
	case k < 31:
		p.cutS2C = 1 + r.Int64N(int64(1)<<(4+r.IntN(12)))
	}
	if r.IntN(100) < 25 {
		p.delayP, p.maxDelay = 0.1+0.4*r.Float64(), time.Duration(1+r.IntN(10))*time.Millisecond
	}
	p.literalMinus = r.IntN(100) < 30
	if r.IntN(100) < 12 {
		p.byeAt, p.byeText = 1+r.IntN(6), byeTexts[r.IntN(len(byeTexts))]
	}
	if r.IntN(100) < 35 {
		p.noP = 0.05 + 0.25*r.Float64()
	}
	return p
}

// faultProxy forwards TCP connections to target, breaking them as plan
// says. See the comment at the top of this file.
type faultProxy struct {
	t      testing.TB
	ln     net.Listener
	target string
	seed   uint64

	// plan says what to do to the n-th connection (from 1).
	plan func(n int) connPlan
	// tooBig, when set, says which messages the server is made to refuse
	// NO [TOOBIG], every time (a size limit the plan did not know of);
	// an APPEND holding one of them is refused whole.
	tooBig func(msg []byte) bool
	// fullAfter: once this many APPEND commands went through to the
	// server, every APPEND is refused NO [OVERQUOTA]; 0: never.
	fullAfter int64
	// budget bounds the faults that break or slow down a run (cuts, BYEs,
	// refusals for now); negative: no bound.
	budget atomic.Int64

	conns    atomic.Int32 // connections accepted
	active   sync.WaitGroup
	nActive  atomic.Int32
	appended atomic.Int64 // APPEND commands forwarded to the server
	full     atomic.Bool

	mu       sync.Mutex
	open     map[*proxyConn]bool
	events   []string
	fired    map[string]int  // faults by kind, as decided
	reached  map[string]int  // injected replies by kind, as written to the client
	bigSeen  map[string]bool // sha of messages whose NO [TOOBIG] was written to the client
	closed   bool
	acceptWG sync.WaitGroup
}

// startFaultProxy listens on loopback and forwards to target with the
// seeded plans of seed, after setup (if any) changed the proxy's settings;
// it is closed at the end of the test.
func startFaultProxy(t testing.TB, target string, seed uint64, setup ...func(*faultProxy)) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{
		t: t, ln: ln, target: target, seed: seed,
		plan:  func(n int) connPlan { return seededPlan(seed, n) },
		open:  make(map[*proxyConn]bool),
		fired: make(map[string]int), reached: make(map[string]int), bigSeen: make(map[string]bool),
	}
	p.budget.Store(-1)
	for _, f := range setup {
		f(p)
	}
	p.acceptWG.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// config is base reaching the server through the proxy.
func (p *faultProxy) config(base *Config) *Config {
	cfg := *base
	addr := p.ln.Addr().(*net.TCPAddr)
	cfg.Host, cfg.Port = addr.IP.String(), addr.Port
	return &cfg
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

// spend takes one fault from the budget; false when it is spent.
func (p *faultProxy) spend() bool {
	for {
		b := p.budget.Load()
		if b < 0 {
			return true
		}
		if b == 0 {
			return false
		}
		if p.budget.CompareAndSwap(b, b-1) {
			return true
		}
	}
}

func (p *faultProxy) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.events) < 400 {
		p.events = append(p.events, fmt.Sprintf(format, args...))
	}
}

func (p *faultProxy) fire(kind string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fired[kind]++
}

// eventLog is what the proxy did, for a failure message.
func (p *faultProxy) eventLog() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.events, "\n")
}

// counts returns copies of the fired and reached tallies.
func (p *faultProxy) counts() (fired, reached map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fired, reached = make(map[string]int), make(map[string]int)
	for k, v := range p.fired {
		fired[k] = v
	}
	for k, v := range p.reached {
		reached[k] = v
	}
	return fired, reached
}

// settle waits until every connection has ended (the server hung up),
// at most d; it reports whether they all did.
func (p *faultProxy) settle(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for p.nActive.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func (p *faultProxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.acceptWG.Wait()
	if !p.settle(5 * time.Second) {
		p.mu.Lock()
		for pc := range p.open {
			pc.client.Close()
			pc.server.Close()
		}
		p.mu.Unlock()
	}
	p.active.Wait()
}

func (p *faultProxy) serve() {
	defer p.acceptWG.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		n := int(p.conns.Add(1))
		p.active.Add(1)
		p.nActive.Add(1)
		go func() {
			defer p.active.Done()
			defer p.nActive.Add(-1)
			p.handle(c, n)
		}()
	}
}

// proxyConn is one proxied connection.
type proxyConn struct {
	p      *faultProxy
	n      int
	plan   connPlan
	client net.Conn
	server *net.TCPConn
	rc     *rand.Rand // the client->server goroutine's: delays, decisions
	rs     *rand.Rand // the server->client goroutine's: delays

	mu      sync.Mutex
	state   int         // connOpen, connCut, connBye, connClosing
	byeText string      // with connBye: said once the server hung up
	mid     bool        // the server's output is inside a response
	queue   []injection // replies waiting for the end of a response
	c2sN    int64       // bytes read from the client
	s2cN    int64       // bytes read from the server
	appends int         // APPEND commands of the connection
}

const (
	connOpen    = iota
	connCut     // dead: nothing more either way
	connBye     // the server's last replies go through, then "* BYE"
	connClosing // the client hung up
)

// injection is a reply the proxy gives in the server's place.
type injection struct {
	line string // with CRLF
	kind string // for the tallies
	sums []string
}

func (p *faultProxy) handle(client net.Conn, n int) {
	plan := p.plan(n)
	if plan.greetBye != "" && p.spend() {
		p.fire("greeting BYE")
		p.logf("conn %d: %s", n, plan)
		client.SetWriteDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(client, "* BYE "+plan.greetBye+"\r\n")
		client.Close()
		return
	}
	plan.greetBye = ""
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		p.logf("conn %d: dialing the server: %v", n, err)
		client.Close()
		return
	}
	pc := &proxyConn{
		p: p, n: n, plan: plan, client: client, server: s.(*net.TCPConn),
		rc: rand.New(rand.NewPCG(p.seed^0xc1c1c1c1, uint64(n))),
		rs: rand.New(rand.NewPCG(p.seed^0x5e5e5e5e, uint64(n))),
	}
	p.mu.Lock()
	p.open[pc] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.open, pc)
		p.mu.Unlock()
	}()
	p.logf("conn %d: %s", n, plan)
	if plan.literalMinus {
		p.fire("LITERAL-")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pc.serverToClient()
	}()
	pc.clientToServer()
	<-done
}

// Pieces of a stream: a line (up to and including LF), a part of a line
// longer than the buffer, or a chunk of a literal.
const (
	pieceLine = iota
	piecePartial
	pieceLiteral
)

// readPiece reads the next piece; litLeft > 0 means a literal of that many
// bytes is being read. The piece is only valid until the next read.
func readPiece(br *bufio.Reader, litLeft int64, buf []byte) ([]byte, int, error) {
	if litLeft > 0 {
		n := int(min(litLeft, int64(len(buf))))
		k, err := io.ReadFull(br, buf[:n])
		return buf[:k], pieceLiteral, err
	}
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return line, piecePartial, nil
	}
	return line, pieceLine, err
}

// literalAt parses the literal announced at the end of a line: "{N}" or
// "{N+}" (RFC 9051 §4.3, RFC 7888), also "~{N}" (RFC 3516).
var literalRE = regexp.MustCompile(`\{([0-9]{1,10})(\+?)\}\r?\n$`)

func literalAt(line []byte) (n int64, sync, ok bool) {
	m := literalRE.FindSubmatch(line)
	if m == nil {
		return 0, false, false
	}
	n, err := strconv.ParseInt(string(m[1]), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return n, len(m[2]) == 0, true
}

// nonSync rewrites a line's closing "{N}" to "{N+}".
func nonSync(line []byte) []byte {
	i := bytes.LastIndexByte(line, '}')
	out := append([]byte{}, line[:i]...)
	out = append(out, '+')
	return append(out, line[i:]...)
}

func (pc *proxyConn) delay(r *rand.Rand) {
	if pc.plan.delayP > 0 && r.Float64() < pc.plan.delayP {
		pc.p.fire("delay")
		time.Sleep(time.Duration(r.Int64N(int64(pc.plan.maxDelay))))
	}
}

func (pc *proxyConn) getState() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.state
}

// endLocked ends the client->server direction: the server gets EOF after
// what it received (and then hangs up); what happens to the server's
// output then depends on state. A timer closes a server that lingers.
func (pc *proxyConn) endLocked(state int) {
	if pc.state != connOpen {
		return
	}
	pc.state = state
	pc.server.CloseWrite()
	time.AfterFunc(15*time.Second, func() { pc.server.Close() })
}

// appendCmd is an APPEND being held until its last byte.
type appendCmd struct {
	tag  string
	buf  []byte   // the command as it will be forwarded
	msgs [][]byte // its messages
	cur  []byte   // the message being read
}

// clientToServer forwards the client's commands, holding APPENDs whole.
func (pc *proxyConn) clientToServer() {
	br := bufio.NewReaderSize(pc.client, 64<<10)
	chunk := make([]byte, 32<<10)
	var litLeft int64
	inCmd := false    // a command has started and not ended
	var ap *appendCmd // the APPEND being held
	for {
		piece, kind, err := readPiece(br, litLeft, chunk)
		if len(piece) > 0 {
			pc.delay(pc.rc)
			if pc.getState() != connOpen {
				return
			}
			if !inCmd {
				inCmd = true
				if f := strings.Fields(string(piece)); len(f) >= 2 && strings.EqualFold(f[1], "APPEND") && kind == pieceLine {
					ap = &appendCmd{tag: f[0]}
				}
			}
			start := pc.c2sN
			pc.c2sN += int64(len(piece))
			if cut := pc.plan.cutC2S; cut > 0 && pc.c2sN >= cut {
				pc.plan.cutC2S = 0
				if pc.p.spend() {
					pc.p.fire("cut client->server")
					out := piece[:cut-start]
					if ap != nil {
						out = append(ap.buf, out...)
					}
					pc.server.Write(out)
					pc.mu.Lock()
					pc.endLocked(connCut)
					pc.mu.Unlock()
					pc.p.logf("conn %d: cut client->server at byte %d (%d bytes of the piece went through)", pc.n, cut, cut-start)
					return
				}
			}
			var out []byte // what to forward now
			switch kind {
			case pieceLiteral:
				litLeft -= int64(len(piece))
				if ap != nil {
					ap.buf = append(ap.buf, piece...)
					ap.cur = append(ap.cur, piece...)
					if litLeft == 0 {
						ap.msgs = append(ap.msgs, ap.cur)
						ap.cur = nil
					}
				} else {
					out = piece
				}
			case piecePartial:
				if ap != nil {
					ap.buf = append(ap.buf, piece...)
				} else {
					out = piece
				}
			case pieceLine:
				n, sync, ok := literalAt(piece)
				if ok {
					litLeft = n
				}
				if ap != nil {
					line := piece
					if ok && sync {
						// The server does not see the command yet: the
						// proxy asks for the literal itself.
						line = nonSync(piece)
						pc.p.fire("synchronizing literal")
						pc.inject(injection{line: "+ Ready for literal data (fault proxy)\r\n", kind: "+"})
					}
					ap.buf = append(ap.buf, line...)
				} else {
					out = piece
				}
				if ok && n == 0 && ap != nil {
					ap.msgs = append(ap.msgs, nil)
				}
				if !ok {
					inCmd = false
					if ap != nil {
						if !pc.finishAppend(ap) {
							return
						}
						ap = nil
					}
				}
			}
			if len(out) > 0 {
				pc.server.SetWriteDeadline(time.Now().Add(15 * time.Second))
				if _, werr := pc.server.Write(out); werr != nil {
					pc.mu.Lock()
					pc.endLocked(connCut)
					pc.mu.Unlock()
					return
				}
			}
		}
		if err != nil {
			// The client hung up: the server gets EOF too, and its last
			// replies go through.
			pc.mu.Lock()
			pc.endLocked(connClosing)
			pc.mu.Unlock()
			return
		}
	}
}

// finishAppend forwards a whole APPEND, or answers it in the server's
// place. It returns false when the connection is ending.
func (pc *proxyConn) finishAppend(ap *appendCmd) bool {
	pc.appends++
	p := pc.p
	var sums []string
	for _, m := range ap.msgs {
		sums = append(sums, sha(m))
	}
	what := fmt.Sprintf("APPEND %s (%d messages: %s)", ap.tag, len(ap.msgs), strings.Join(sums, " "))
	reply, kind := "", ""
	big := false
	if p.tooBig != nil {
		for _, m := range ap.msgs {
			big = big || p.tooBig(m)
		}
	}
	switch {
	case p.full.Load():
		reply, kind = overQuotaReply, "OVERQUOTA"
	case big:
		reply, kind = tooBigReply, "TOOBIG"
	case pc.plan.inject[pc.appends] != "":
		reply = pc.plan.inject[pc.appends]
		kind = strings.Trim(strings.Fields(reply)[1], "[]")
	case pc.plan.byeAt == pc.appends && p.spend():
		p.fire("BYE")
		p.logf("conn %d: %s -> * BYE %s", pc.n, what, pc.plan.byeText)
		pc.mu.Lock()
		pc.byeText = pc.plan.byeText
		pc.endLocked(connBye)
		pc.mu.Unlock()
		return false
	case pc.plan.noP > 0 && pc.rc.Float64() < pc.plan.noP && p.spend():
		if pc.rc.IntN(2) == 0 {
			reply, kind = throttledReplies[pc.rc.IntN(len(throttledReplies))], "THROTTLED"
		} else {
			reply, kind = unavailableReplies[pc.rc.IntN(len(unavailableReplies))], "UNAVAILABLE"
		}
	}
	if reply != "" {
		p.fire(kind)
		p.logf("conn %d: %s -> %s", pc.n, what, reply)
		in := injection{line: ap.tag + " " + reply + "\r\n", kind: kind}
		if kind == "TOOBIG" {
			in.sums = sums
		}
		pc.inject(in)
		return true
	}
	pc.server.SetWriteDeadline(time.Now().Add(15 * time.Second))
	if _, err := pc.server.Write(ap.buf); err != nil {
		pc.mu.Lock()
		pc.endLocked(connCut)
		pc.mu.Unlock()
		return false
	}
	if n := p.appended.Add(1); p.fullAfter > 0 && n == p.fullAfter {
		p.full.Store(true)
		p.fire("account full")
		p.logf("conn %d: %s forwarded; the account is full from now on", pc.n, what)
	} else {
		p.logf("conn %d: %s forwarded", pc.n, what)
	}
	return true
}

// inject gives a reply in the server's place: now if the server's output
// is between responses, else as soon as the current response ends.
func (pc *proxyConn) inject(in injection) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.state == connCut {
		return
	}
	if pc.mid {
		pc.queue = append(pc.queue, in)
		return
	}
	pc.deliverLocked(in)
}

func (pc *proxyConn) deliverLocked(in injection) {
	pc.client.SetWriteDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(pc.client, in.line); err != nil {
		return
	}
	p := pc.p
	p.mu.Lock()
	p.reached[in.kind]++
	for _, s := range in.sums {
		p.bigSeen[s] = true
	}
	p.mu.Unlock()
}

// serverToClient forwards the server's output, with the injected replies
// in between responses, until the server hangs up; then it hangs up on
// the client.
func (pc *proxyConn) serverToClient() {
	defer pc.server.Close()
	defer pc.client.Close()
	br := bufio.NewReaderSize(pc.server, 64<<10)
	chunk := make([]byte, 32<<10)
	var litLeft int64
	for {
		piece, kind, err := readPiece(br, litLeft, chunk)
		if len(piece) > 0 {
			pc.delay(pc.rs)
			pc.mu.Lock()
			start := pc.s2cN
			pc.s2cN += int64(len(piece))
			if kind == pieceLine && pc.plan.literalMinus {
				// Same length: byte offsets do not move.
				piece = bytes.ReplaceAll(piece, []byte("LITERAL+"), []byte("LITERAL-"))
			}
			cut := pc.plan.cutS2C
			dying := false
			if pc.state != connCut && cut > 0 && pc.s2cN >= cut {
				pc.plan.cutS2C = 0 // once, also when over budget
				dying = pc.p.spend()
			}
			pc.client.SetWriteDeadline(time.Now().Add(15 * time.Second))
			switch {
			case pc.state == connCut:
				// Dead: read and dropped.
			case dying:
				pc.p.fire("cut server->client")
				pc.client.Write(piece[:cut-start])
				pc.endLocked(connCut)
				pc.state = connCut // also when the client had hung up already
				pc.p.logf("conn %d: cut server->client at byte %d", pc.n, cut)
			default:
				pc.client.Write(piece)
			}
			switch kind {
			case pieceLiteral:
				litLeft -= int64(len(piece))
			case pieceLine:
				if n, _, ok := literalAt(piece); ok {
					litLeft, pc.mid = n, true
				} else {
					pc.mid = false
					for len(pc.queue) > 0 && pc.state != connCut {
						in := pc.queue[0]
						pc.queue = pc.queue[1:]
						pc.deliverLocked(in)
					}
				}
			}
			pc.mu.Unlock()
		}
		if err != nil {
			break
		}
	}
	// The server hung up (after the EOF the proxy gave it, or on its own).
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.state == connCut {
		return
	}
	if !pc.mid {
		for _, in := range pc.queue {
			pc.deliverLocked(in)
		}
	}
	pc.queue = nil
	if pc.state == connBye {
		pc.deliverLocked(injection{line: "* BYE " + pc.byeText + "\r\n", kind: "BYE"})
	}
}

// ---- Tests of the proxy itself.

// stubServer accepts one connection, writes script, records every byte
// it receives until EOF, then hangs up.
func stubServer(t *testing.T, script string) (addr string, got <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, script)
		b, _ := io.ReadAll(c)
		ch <- b
	}()
	return ln.Addr().String(), ch
}

// rawDial connects to addr; the connection has a 10 s deadline.
func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// TestFaultProxyCutClientToServer: a cut at an offset of the client's
// stream lets exactly that many bytes reach the server (also in the
// middle of a line, and of an APPEND's literal, which the proxy holds),
// gives the server EOF, and then hangs up on the client.
func TestFaultProxyCutClientToServer(t *testing.T) {
	msg := strings.Repeat("0123456789", 10)
	stream := "a1 NOOP\r\na2 APPEND INBOX (\\Seen) {100+}\r\n" + msg + "\r\na3 NOOP\r\n"
	lit := strings.Index(stream, msg)
	for _, tc := range []struct {
		name string
		cut  int64
	}{
		{"in the first command line", 4},
		{"at the end of a command", 9},
		{"in the APPEND line", int64(lit - 5)},
		{"in the middle of the literal", int64(lit + 40)},
		{"at the last byte of the literal", int64(lit + len(msg))},
		{"in the command after the APPEND", int64(len(stream) - 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, got := stubServer(t, "* OK stub ready\r\n")
			p := startFaultProxy(t, addr, 1, func(p *faultProxy) {
				p.plan = func(int) connPlan { return connPlan{cutC2S: tc.cut} }
			})
			c := rawDial(t, p.addr())
			const greeting = "* OK stub ready\r\n"
			g := make([]byte, len(greeting))
			if _, err := io.ReadFull(c, g); err != nil || string(g) != greeting {
				t.Fatalf("greeting %q (%v)", g, err)
			}
			if _, err := io.WriteString(c, stream); err != nil {
				t.Fatal(err)
			}
			received := <-got
			if string(received) != stream[:tc.cut] {
				t.Errorf("the server received %q, want the first %d bytes %q", received, tc.cut, stream[:tc.cut])
			}
			// Then the client is hung up on.
			if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
				t.Errorf("the client read %q (%v), want EOF", b, err)
			}
			if f, _ := p.counts(); f["cut client->server"] != 1 {
				t.Errorf("fired %v", f)
			}
		})
	}
}

// TestFaultProxyCutServerToClient: a cut at an offset of the server's
// stream lets exactly that many bytes reach the client (also in the
// middle of a literal of a FETCH reply), and then EOF.
func TestFaultProxyCutServerToClient(t *testing.T) {
	script := "* OK [CAPABILITY IMAP4rev1 LITERAL+] stub ready\r\n* 1 FETCH (UID 7 BODY[] {12}\r\nHello world!)\r\na1 OK done\r\n* 2 EXISTS\r\n"
	lit := strings.Index(script, "Hello")
	for _, cut := range []int64{1, 20, int64(lit + 5), int64(len(script) - 2)} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			addr, got := stubServer(t, script)
			p := startFaultProxy(t, addr, 1, func(p *faultProxy) {
				p.plan = func(int) connPlan { return connPlan{cutS2C: cut, literalMinus: true} }
			})
			c := rawDial(t, p.addr())
			b, err := io.ReadAll(c)
			want := strings.Replace(script, "LITERAL+", "LITERAL-", 1)[:cut]
			if err != nil || string(b) != want {
				t.Errorf("the client read %q (%v), want %q and EOF", b, err, want)
			}
			if r := <-got; len(r) != 0 {
				t.Errorf("the server received %q", r)
			}
		})
	}
}

// rawIMAP is a minimal IMAP client on a plain socket, independent of the
// code under test: it writes what it is told and reads responses.
type rawIMAP struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawIMAP {
	c := rawDial(t, addr)
	return &rawIMAP{t: t, c: c, br: bufio.NewReader(c)}
}

// response reads one response, literals included; "" at EOF.
func (r *rawIMAP) response() string {
	r.t.Helper()
	var b strings.Builder
	for {
		line, err := r.br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String()
		}
		n, _, ok := literalAt([]byte(line))
		if !ok {
			return b.String()
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(r.br, lit); err != nil {
			r.t.Fatalf("reading a literal: %v", err)
		}
		b.Write(lit)
	}
}

func (r *rawIMAP) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

// until reads responses up to the tagged reply of tag and returns them.
func (r *rawIMAP) until(tag string) []string {
	r.t.Helper()
	var out []string
	for {
		s := r.response()
		if s == "" {
			r.t.Fatalf("EOF before the reply to %s; got %q", tag, out)
		}
		out = append(out, s)
		if strings.HasPrefix(s, tag+" ") {
			return out
		}
	}
}

// TestFaultProxyInjects: against a real Dovecot, refusals injected in
// place of APPENDs reach the client with the right tags, in between the
// server's own replies; the proxy answers the "+" of a synchronizing
// literal of an APPEND it holds; the server never sees the APPENDs the
// proxy answered (single or MULTIAPPEND), and stores the others; a BYE in
// place of an APPEND comes after the server's replies to the commands
// before it, and the connection then ends.
func TestFaultProxyInjects(t *testing.T) {
	if testing.Short() {
		t.Skip("real Dovecot: skipped with -short")
	}
	srv := dovecottest.Start(t, dovecottest.Options{Users: []dovecottest.User{{Name: testUser, Password: testPassword}}, Storage: "mdbox"})
	p := startFaultProxy(t, srv.Addr(), 1, func(p *faultProxy) {
		p.plan = func(n int) connPlan {
			if n == 1 {
				return connPlan{literalMinus: true, inject: map[int]string{2: throttledReplies[0], 3: unavailableReplies[0], 4: overQuotaReply}}
			}
			return connPlan{byeAt: 2, byeText: "Server shutting down."}
		}
	})
	body := func(i int) string {
		return crlf(mail(fmt.Sprintf("inj-%d@example.org", i), fmt.Sprintf("Injected %d", i), strings.Repeat("x", 40*i)))
	}
	r := dialRaw(t, p.addr())
	if g := r.response(); !strings.HasPrefix(g, "* OK") || strings.Contains(g, "LITERAL+") || !strings.Contains(g, "LITERAL-") {
		t.Errorf("greeting %q: want LITERAL- announced instead of LITERAL+", g)
	}
	r.send("a1 LOGIN " + testUser + " " + testPassword + "\r\n")
	if out := r.until("a1"); !strings.HasPrefix(out[len(out)-1], "a1 OK") {
		t.Fatalf("login: %q", out)
	}
	lit := func(s string, sync bool) string {
		if sync {
			return fmt.Sprintf("{%d}\r\n", len(s))
		}
		return fmt.Sprintf("{%d+}\r\n", len(s))
	}
	// a2 forwarded; a3 THROTTLED; a4 UNAVAILABLE (synchronizing: the
	// proxy says "+"); a5 a MULTIAPPEND refused OVERQUOTA; a6
	// synchronizing, forwarded.
	r.send("a2 APPEND INBOX " + lit(body(1), false) + body(1) + "\r\n")
	r.send("a3 APPEND INBOX (\\Seen) " + lit(body(2), false) + body(2) + "\r\n")
	r.send("a4 APPEND INBOX " + lit(body(3), true))
	// What to send on each continuation request: the rest of a4, a5 and
	// the start of a6; then the rest of a6.
	conts := []string{
		body(3) + "\r\n" +
			"a5 APPEND INBOX " + lit(body(4), false) + body(4) + " (\\Flagged) " + lit(body(5), false) + body(5) + "\r\n" +
			"a6 APPEND INBOX " + lit(body(6), true),
		body(6) + "\r\n",
	}
	got := map[string]string{}
	for len(got) < 5 {
		s := r.response()
		if s == "" {
			t.Fatalf("EOF; replies so far %v", got)
		}
		if strings.HasPrefix(s, "+") {
			if len(conts) == 0 {
				t.Fatalf("an unexpected continuation request %q", s)
			}
			r.send(conts[0])
			conts = conts[1:]
			continue
		}
		if f := strings.Fields(s); len(f) > 1 && f[0] != "*" {
			got[f[0]] = strings.TrimSpace(s)
		}
	}
	for tag, want := range map[string]string{"a2": "a2 OK [APPENDUID", "a3": "a3 " + throttledReplies[0], "a4": "a4 " + unavailableReplies[0], "a5": "a5 " + overQuotaReply, "a6": "a6 OK [APPENDUID"} {
		if !strings.HasPrefix(got[tag], want) {
			t.Errorf("reply %q, want it to start with %q", got[tag], want)
		}
	}
	r.send("a7 LOGOUT\r\n")
	r.until("a7")

	// Connection 2: the second APPEND is answered "* BYE" after the
	// server's reply to the first.
	r2 := dialRaw(t, p.addr())
	r2.response()
	r2.send("b1 LOGIN " + testUser + " " + testPassword + "\r\n")
	r2.until("b1")
	r2.send("b2 APPEND INBOX " + lit(body(7), false) + body(7) + "\r\n" + "b3 APPEND INBOX " + lit(body(8), false) + body(8) + "\r\n")
	var rest []string
	for s := r2.response(); s != ""; s = r2.response() {
		rest = append(rest, strings.TrimSpace(s))
	}
	if n := len(rest); n < 2 || !strings.HasPrefix(rest[n-2], "b2 OK") || rest[n-1] != "* BYE Server shutting down." {
		t.Errorf("after the BYE: %q; want b2's OK, then * BYE, then EOF", rest)
	}

	if !p.settle(5 * time.Second) {
		t.Fatal("connections still open")
	}
	o := dialObserver(t, srv.Addr())
	var sums []string
	for _, m := range o.messages("INBOX") {
		sums = append(sums, m.sum())
	}
	want := []string{sha([]byte(body(1))), sha([]byte(body(6))), sha([]byte(body(7)))}
	sort.Strings(sums)
	sort.Strings(want)
	if strings.Join(sums, " ") != strings.Join(want, " ") {
		t.Errorf("INBOX holds %v, want only the forwarded APPENDs %v", sums, want)
	}
	if _, reached := p.counts(); reached["THROTTLED"] != 1 || reached["UNAVAILABLE"] != 1 || reached["OVERQUOTA"] != 1 || reached["+"] != 2 || reached["BYE"] != 1 {
		t.Errorf("replies that reached the client: %v", reached)
	}
}

// TestFaultProxyGreetingBye: a refused connection is "* BYE" and EOF,
// and the server is not contacted.
func TestFaultProxyGreetingBye(t *testing.T) {
	addr, got := stubServer(t, "* OK stub\r\n")
	p := startFaultProxy(t, addr, 1, func(p *faultProxy) {
		p.plan = func(int) connPlan { return connPlan{greetBye: greetByes[0]} }
	})
	b, err := io.ReadAll(rawDial(t, p.addr()))
	if err != nil || string(b) != "* BYE "+greetByes[0]+"\r\n" {
		t.Errorf("read %q (%v)", b, err)
	}
	select {
	case r := <-got:
		t.Errorf("the server was contacted (%q)", r)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestFaultProxyTooBigAndFull: the size-limit model refuses every APPEND
// holding a chosen message (and records that the refusal reached the
// client); after fullAfter APPENDs every APPEND is refused OVERQUOTA.
func TestFaultProxyTooBigAndFull(t *testing.T) {
	var script strings.Builder
	script.WriteString("* OK stub\r\n")
	addr, got := stubServer(t, script.String())
	big := "a big message"
	p := startFaultProxy(t, addr, 1, func(p *faultProxy) {
		p.plan = func(int) connPlan { return connPlan{} }
		p.tooBig = func(m []byte) bool { return string(m) == big }
		p.fullAfter = 2
	})
	r := dialRaw(t, p.addr())
	r.response()
	cmds := []string{
		"a1 APPEND INBOX {5+}\r\nsmall\r\n",                      // forwarded
		"a2 APPEND INBOX {5+}\r\nsmall {13+}\r\n" + big + "\r\n", // TOOBIG: holds the big one
		"a3 APPEND INBOX {13+}\r\n" + big + "\r\n",               // TOOBIG
		"a4 APPEND INBOX {6+}\r\nsmall2\r\n",                     // forwarded: the second; full now
		"a5 APPEND INBOX {6+}\r\nsmall3\r\n",                     // OVERQUOTA
		"a6 APPEND INBOX {13+}\r\n" + big + "\r\n",               // OVERQUOTA (full comes first)
	}
	for _, c := range cmds {
		r.send(c)
	}
	want := map[string]string{"a2": "a2 " + tooBigReply, "a3": "a3 " + tooBigReply, "a5": "a5 " + overQuotaReply, "a6": "a6 " + overQuotaReply}
	for i := 0; i < len(want); i++ {
		s := strings.TrimSpace(r.response())
		tag := strings.Fields(s)[0]
		if s != want[tag] {
			t.Errorf("reply %q, want %q", s, want[tag])
		}
	}
	r.c.Close()
	if b := string(<-got); b != cmds[0]+cmds[3] {
		t.Errorf("the server received %q, want only a1 and a4", b)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.bigSeen[sha([]byte(big))] || len(p.bigSeen) != 2 {
		t.Errorf("TOOBIG recorded for %v, want the big message and the small one of its batch", p.bigSeen)
	}
}

// TestSeededPlanDeterministic: a seed gives the same plans every time, and
// different seeds different ones; over many connections every kind of
// fault is planned.
func TestSeededPlanDeterministic(t *testing.T) {
	kinds := map[string]int{}
	differ := 0
	for n := 1; n <= 500; n++ {
		a, b := seededPlan(7, n), seededPlan(7, n)
		if a.String() != b.String() {
			t.Fatalf("seed 7, connection %d: %v, then %v", n, a, b)
		}
		if a.String() != seededPlan(8, n).String() {
			differ++
		}
		for _, k := range []string{"greeting BYE", "cut client->server", "cut server->client", "delays", "LITERAL-", "BYE at", "refusals for now"} {
			if strings.Contains(a.String(), k) {
				kinds[k]++
			}
		}
	}
	if differ < 250 {
		t.Errorf("seeds 7 and 8 differ on only %d of 500 connections", differ)
	}
	if len(kinds) != 7 {
		t.Errorf("over 500 connections, planned %v", kinds)
	}
}
