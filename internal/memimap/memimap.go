// Package memimap runs an in-process IMAP server on loopback, built on
// go-imap's imapserver and imapmemserver, for the demo command and for
// tests. It adds to imapmemserver what a migration target has and it
// lacks: special-use folders (RFC 6154), an APPENDLIMIT, OAuth2 logins
// (OAUTHBEARER and XOAUTH2), and a hook to refuse APPENDs the way real
// servers do (NO [TOOBIG], [OVERQUOTA], [THROTTLED]). Its options also
// let a test imitate a provider's quirks: the greeting text, extra
// capabilities (X-GM-EXT-1), container folders listed \Noselect
// (Gmail's "[Gmail]"), folders that exist but are not listed (Microsoft
// 365's "Files"), and the refusal of a password login.
package memimap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

// Options configure a Server.
type Options struct {
	User     string
	Password string
	// Token, when set, is accepted by OAUTHBEARER and XOAUTH2 for User.
	Token string
	// OAuthOnly refuses LOGIN and PLAIN (Microsoft 365 style).
	OAuthOnly bool
	// OfferPlain advertises AUTH=PLAIN even with OAuthOnly, and refuses
	// it, as Microsoft 365 does.
	OfferPlain bool
	// LoginRefusal, when set, is the answer to LOGIN and AUTHENTICATE
	// PLAIN under OAuthOnly (Microsoft 365 answers "NO LOGIN failed.");
	// nil: NO [AUTHENTICATIONFAILED] with a text about OAuth2.
	LoginRefusal *imap.Error
	// Greeting, when set, replaces the text of the greeting line: the
	// server then greets with "* OK <Greeting>" and no capabilities, as
	// Gmail ("Gimap ready for requests from ...") and Microsoft 365 ("The
	// Microsoft Exchange IMAP4 service is ready.") do.
	Greeting string
	// NoSelect are container folders, created at start, that LIST shows
	// as \Noselect \HasChildren and that hold no mail: they cannot be
	// selected or appended to, and CREATE answers NO [ALREADYEXISTS]
	// (Gmail's "[Gmail]").
	NoSelect []string
	// Hidden are folders created at start that exist (APPEND works,
	// CREATE answers ALREADYEXISTS) but LIST does not show, as Microsoft
	// 365's reserved "Files" folder.
	Hidden []string
	// SpecialUse maps special-use attributes to folder names, created at
	// start: {`\Sent`: "Sent Items"}. Nil: Sent, Drafts, Trash, Junk,
	// Archive under their usual names.
	SpecialUse map[string]string
	// Folders are other folders created at start.
	Folders []string
	// Caps overrides the advertised capabilities. Nil: IMAP4rev1,
	// LITERAL+, UIDPLUS, SPECIAL-USE, LIST-EXTENDED, NAMESPACE, SASL-IR,
	// MOVE, UNSELECT. imapserver advertises only those it knows.
	Caps imap.CapSet
	// ExtraCaps are added to every capability list the server sends:
	// capabilities imapserver does not know, such as Gmail's X-GM-EXT-1
	// or Exchange Online's CLIENTACCESSRULES. They announce nothing the
	// server does.
	ExtraCaps []string
	// HideAppendLimit advertises no APPENDLIMIT (imapserver always
	// advertises one, 4294967295 without a limit), as Exchange Online;
	// AppendLimit is still enforced.
	HideAppendLimit bool
	// AppendLimit is advertised as APPENDLIMIT and enforced; 0: none.
	AppendLimit uint32
	// Refuse, when set, is asked before each APPEND; an error it returns
	// (an *imap.Error) is the server's answer.
	Refuse func(mailbox string, size int64) error
	// Logger receives the server's error messages; nil discards them.
	Logger *log.Logger
}

// DefaultSpecialUse are the special-use folders of a fresh account.
var DefaultSpecialUse = map[string]string{
	`\Sent`: "Sent", `\Drafts`: "Drafts", `\Trash`: "Trash", `\Junk`: "Junk", `\Archive`: "Archive",
}

// Server is a running in-process IMAP server.
type Server struct {
	// Addr is the loopback address it listens on.
	Addr string

	srv  *imapserver.Server
	ln   net.Listener
	user *imapmemserver.User
	opts Options

	mu       sync.Mutex
	boxes    map[string][]imap.MailboxAttr // name -> special-use attributes
	noSelect map[string]bool               // Options.NoSelect
	hidden   map[string]bool               // Options.Hidden
	subs     map[string]bool               // subscribed names
	closed   bool
	done     chan struct{}
}

// Start starts a server on 127.0.0.1 with a free port.
func Start(opts Options) (*Server, error) {
	if opts.User == "" {
		return nil, errors.New("memimap: no user")
	}
	if opts.SpecialUse == nil {
		opts.SpecialUse = DefaultSpecialUse
	}
	s := &Server{opts: opts, boxes: make(map[string][]imap.MailboxAttr), subs: make(map[string]bool), done: make(chan struct{}),
		noSelect: make(map[string]bool), hidden: make(map[string]bool)}
	s.user = imapmemserver.NewUser(opts.User, opts.Password)
	if err := s.create("INBOX", nil); err != nil {
		return nil, err
	}
	for attr, name := range opts.SpecialUse {
		if err := s.create(name, []imap.MailboxAttr{imap.MailboxAttr(attr)}); err != nil {
			return nil, err
		}
		s.user.Subscribe(name)
		s.subs[name] = true
	}
	for _, name := range opts.Folders {
		if err := s.create(name, nil); err != nil {
			return nil, err
		}
	}
	for _, name := range opts.NoSelect {
		s.noSelect[name] = true
		s.boxes[name] = []imap.MailboxAttr{imap.MailboxAttrNoSelect, imap.MailboxAttrHasChildren}
	}
	for _, name := range opts.Hidden {
		if err := s.user.Create(name, nil); err != nil {
			return nil, err
		}
		s.hidden[name] = true
	}
	caps := opts.Caps
	if caps == nil {
		caps = imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapLiteralPlus: {}, imap.CapUIDPlus: {}, imap.CapSpecialUse: {},
			imap.CapListExtended: {}, imap.CapNamespace: {}, imap.CapSASLIR: {}, imap.CapMove: {}, imap.CapUnselect: {},
		}
	}
	if opts.AppendLimit > 0 {
		caps[imap.Cap(fmt.Sprintf("APPENDLIMIT=%d", opts.AppendLimit))] = struct{}{}
	}
	logger := opts.Logger
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &session{s: s}, nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       logger,
	})
	var ln net.Listener
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if opts.Greeting != "" || len(opts.ExtraCaps) > 0 || opts.HideAppendLimit {
		ln = &rewriteListener{Listener: ln, opts: &s.opts}
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

func (s *Server) create(name string, attrs []imap.MailboxAttr) error {
	if err := s.user.Create(name, nil); err != nil {
		var ie *imap.Error
		if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAlreadyExists {
			return err
		}
	}
	s.mu.Lock()
	s.boxes[name] = attrs
	s.mu.Unlock()
	return nil
}

// Host and Port split Addr.
func (s *Server) Host() string { h, _, _ := net.SplitHostPort(s.Addr); return h }

// Port is the port the server listens on.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	var n int
	fmt.Sscanf(p, "%d", &n)
	return n
}

// User returns the in-memory user, for tests that look at mailboxes
// directly.
func (s *Server) User() *imapmemserver.User { return s.user }

// Mailboxes lists the folder names.
func (s *Server) Mailboxes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.boxes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Close stops the server and closes every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.srv.Close()
	<-s.done
	return err
}

// session wraps imapmemserver's session with what a migration target has.
type session struct {
	*imapmemserver.UserSession
	s *Server
}

var (
	_ imapserver.Session            = (*session)(nil)
	_ imapserver.SessionSASL        = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

func (sess *session) Close() error {
	if sess.UserSession != nil {
		return sess.UserSession.Close()
	}
	return nil
}

func (sess *session) Login(username, password string) error {
	if sess.s.opts.OAuthOnly {
		if r := sess.s.opts.LoginRefusal; r != nil {
			refusal := *r
			return &refusal
		}
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Basic authentication is disabled; use OAuth2"}
	}
	if username != sess.s.opts.User || password != sess.s.opts.Password || password == "" {
		return imapserver.ErrAuthFailed
	}
	sess.UserSession = imapmemserver.NewUserSession(sess.s.user)
	return nil
}

func (sess *session) AuthenticateMechanisms() []string {
	var m []string
	if !sess.s.opts.OAuthOnly || sess.s.opts.OfferPlain {
		m = append(m, sasl.Plain)
	}
	if sess.s.opts.Token != "" {
		m = append(m, sasl.OAuthBearer, "XOAUTH2")
	}
	return m
}

func (sess *session) Authenticate(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		if sess.s.opts.OAuthOnly && !sess.s.opts.OfferPlain {
			break
		}
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return errors.New("identities not supported")
			}
			return sess.Login(username, password)
		}), nil
	case sasl.OAuthBearer:
		return authFailed{sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if err := sess.tokenLogin(o.Username, o.Token); err != nil {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			return nil
		})}, nil
	case "XOAUTH2":
		return &xoauth2Server{sess: sess}, nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported mechanism"}
}

// authFailed makes the failure of a SASL exchange the tagged NO
// [AUTHENTICATIONFAILED] real servers send: go-sasl's OAUTHBEARER server
// ends a failed exchange with its *sasl.OAuthBearerError, which imapserver
// would answer with NO [SERVERBUG] Internal server error.
type authFailed struct{ sasl.Server }

func (a authFailed) Next(resp []byte) ([]byte, bool, error) {
	challenge, done, err := a.Server.Next(resp)
	var ie *imap.Error
	if err != nil && !errors.As(err, &ie) {
		err = imapserver.ErrAuthFailed
	}
	return challenge, done, err
}

func (sess *session) tokenLogin(user, token string) error {
	if sess.s.opts.Token == "" || user != sess.s.opts.User || token != sess.s.opts.Token {
		return imapserver.ErrAuthFailed
	}
	sess.UserSession = imapmemserver.NewUserSession(sess.s.user)
	return nil
}

// xoauth2Server checks an XOAUTH2 initial response
// ("user=U\x01auth=Bearer T\x01\x01").
type xoauth2Server struct {
	sess *session
	done bool
}

func (x *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if x.done {
		return nil, true, imapserver.ErrAuthFailed
	}
	if resp == nil {
		return []byte{}, false, nil
	}
	x.done = true
	var user, token string
	for _, part := range bytes.Split(resp, []byte{1}) {
		k, v, _ := strings.Cut(string(part), "=")
		switch k {
		case "user":
			user = v
		case "auth":
			token = strings.TrimPrefix(v, "Bearer ")
		}
	}
	if err := x.sess.tokenLogin(user, token); err != nil {
		return nil, true, imapserver.ErrAuthFailed
	}
	return nil, true, nil
}

// AppendLimit is asked by imapserver for two things: the APPENDLIMIT=n it
// advertises in CAPABILITY, and the check it makes before it reads an
// APPEND's literal. That check answers NO without reading a
// non-synchronizing literal, which desynchronizes the connection (the
// literal is then read as commands); real servers read and discard it. So
// the configured limit is what CAPABILITY advertises, no limit is what
// handleAppend checks, and Append enforces the limit after the literal is
// read. (Returning no limit to both, as before, advertised
// APPENDLIMIT=4294967295 and clients never learnt the real one.)
func (sess *session) AppendLimit() uint32 {
	if lim := sess.s.opts.AppendLimit; lim > 0 && !calledFromAppend() {
		return lim
	}
	return 1<<32 - 1
}

// calledFromAppend reports whether imapserver's APPEND handler is asking.
func calledFromAppend() bool {
	pc := make([]uintptr, 16)
	frames := runtime.CallersFrames(pc[:runtime.Callers(3, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, ".handleAppend") {
			return true
		}
		if !more {
			return false
		}
	}
}

func (sess *session) Create(name string, options *imap.CreateOptions) error {
	sess.s.mu.Lock()
	container := sess.s.noSelect[strings.TrimRight(name, "/")]
	sess.s.mu.Unlock()
	if container {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Duplicate folder name " + name + " (Failure)"}
	}
	if err := sess.UserSession.Create(name, options); err != nil {
		return err
	}
	name = strings.TrimRight(name, "/")
	sess.s.mu.Lock()
	if _, ok := sess.s.boxes[name]; !ok {
		sess.s.boxes[name] = nil
	}
	sess.s.mu.Unlock()
	return nil
}

func (sess *session) Delete(name string) error {
	if err := sess.UserSession.Delete(name); err != nil {
		return err
	}
	sess.s.mu.Lock()
	delete(sess.s.boxes, name)
	sess.s.mu.Unlock()
	return nil
}

func (sess *session) Rename(old, new string, options *imap.RenameOptions) error {
	if err := sess.UserSession.Rename(old, new, options); err != nil {
		return err
	}
	sess.s.mu.Lock()
	sess.s.boxes[new] = sess.s.boxes[old]
	delete(sess.s.boxes, old)
	sess.s.mu.Unlock()
	return nil
}

// Subscribe and Unsubscribe keep the subscriptions List needs (it
// replaces imapmemserver's, which knew them).
func (sess *session) Subscribe(name string) error {
	if err := sess.UserSession.Subscribe(name); err != nil {
		return err
	}
	sess.s.mu.Lock()
	sess.s.subs[name] = true
	sess.s.mu.Unlock()
	return nil
}

func (sess *session) Unsubscribe(name string) error {
	if err := sess.UserSession.Unsubscribe(name); err != nil {
		return err
	}
	sess.s.mu.Lock()
	delete(sess.s.subs, name)
	sess.s.mu.Unlock()
	return nil
}

// List lists the mailboxes with their special-use attributes, which
// imapmemserver cannot hold, and their subscriptions: LSUB and LIST
// (SUBSCRIBED) list only the subscribed ones (RFC 3501 §6.3.9, RFC 5258
// §3), with \Subscribed when asked (RETURN (SUBSCRIBED)).
func (sess *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 || (len(patterns) == 1 && patterns[0] == "") {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: '/'})
	}
	names := sess.s.Mailboxes()
	for _, name := range names {
		match := false
		for _, p := range patterns {
			if imapserver.MatchList(name, '/', ref, p) {
				match = true
				break
			}
		}
		if !match {
			continue
		}
		sess.s.mu.Lock()
		special := sess.s.boxes[name]
		subscribed := sess.s.subs[name]
		container := sess.s.noSelect[name]
		sess.s.mu.Unlock()
		if options.SelectSpecialUse && (len(special) == 0 || container) {
			continue
		}
		if options.SelectSubscribed && !subscribed {
			continue
		}
		data := &imap.ListData{Mailbox: name, Delim: '/'}
		if subscribed && (options.SelectSubscribed || options.ReturnSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		// Special-use attributes are sent whether or not RETURN
		// (SPECIAL-USE) was asked, as Dovecot and Gmail do.
		data.Attrs = append(data.Attrs, special...)
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// Select refuses the NoSelect containers, which imapmemserver does not
// hold anyway; it is here so that the refusal reads as a real server's.
func (sess *session) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	if sess.s.isNoSelect(mailbox) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "Unknown Mailbox: " + mailbox + " (Failure)"}
	}
	return sess.UserSession.Select(mailbox, options)
}

func (s *Server) isNoSelect(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.noSelect[name]
}

func (sess *session) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	if sess.s.isNoSelect(mailbox) {
		io.Copy(io.Discard, r)
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "Unknown Mailbox: " + mailbox + " (Failure)"}
	}
	if lim := sess.s.opts.AppendLimit; lim > 0 && r.Size() > int64(lim) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: fmt.Sprintf("Message too large (limit %d bytes)", lim)}
	}
	if f := sess.s.opts.Refuse; f != nil {
		if err := f(mailbox, r.Size()); err != nil {
			io.Copy(io.Discard, r)
			return nil, err
		}
	}
	// imapserver's literal reader ends without an error when the
	// connection ends inside the literal, and imapmemserver would store
	// the truncated message; a real server discards an APPEND cut short.
	b, err := io.ReadAll(r)
	if err != nil || int64(len(b)) != r.Size() {
		return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: fmt.Sprintf("Literal cut short (%d of %d bytes)", len(b), r.Size())}
	}
	return sess.UserSession.Append(mailbox, &literal{bytes.NewReader(b)}, options)
}

// literal is a whole APPEND literal read in memory.
type literal struct{ *bytes.Reader }

func (l *literal) Size() int64 { return l.Reader.Size() }

// rewriteListener wraps each connection in a rewriteConn.
type rewriteListener struct {
	net.Listener
	opts *Options
}

func (l *rewriteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rw := &rewriter{extra: l.opts.ExtraCaps, hideLimit: l.opts.HideAppendLimit}
	if l.opts.Greeting != "" {
		rw.greeting = "* OK " + l.opts.Greeting + "\r\n"
	}
	return &rewriteConn{Conn: c, rw: rw}, nil
}

// rewriteConn edits what imapserver writes, where its options cannot say
// what a provider does: the greeting line, and the capability lists
// (CAPABILITY responses and [CAPABILITY ...] codes), which imapserver
// limits to the capabilities it knows. It reads the responses line by
// line and passes literals through untouched.
type rewriteConn struct {
	net.Conn
	mu sync.Mutex
	rw *rewriter
}

func (c *rewriteConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if out := c.rw.feed(p); len(out) > 0 {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

type rewriter struct {
	greeting  string // replaces the first line; "": kept
	extra     []string
	hideLimit bool
	started   bool   // the first line was seen
	line      []byte // the line so far
	lit       int64  // literal bytes still to pass through
}

// feed returns what to write for p: the complete lines rewritten, the
// literals as they are; an incomplete line waits for the rest.
func (r *rewriter) feed(p []byte) []byte {
	var out []byte
	for len(p) > 0 {
		if r.lit > 0 {
			n := min(int64(len(p)), r.lit)
			out = append(out, p[:n]...)
			p, r.lit = p[n:], r.lit-n
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.line = append(r.line, p...)
			break
		}
		r.line = append(r.line, p[:i+1]...)
		p = p[i+1:]
		out = append(out, r.rewrite(string(r.line))...)
		r.lit = literalLen(r.line)
		r.line = r.line[:0]
	}
	return out
}

func (r *rewriter) rewrite(line string) string {
	if !r.started {
		r.started = true
		if r.greeting != "" {
			return r.greeting
		}
	}
	body := strings.TrimRight(line, "\r\n")
	if rest, ok := strings.CutPrefix(body, "* CAPABILITY "); ok {
		return "* CAPABILITY " + r.caps(rest) + "\r\n"
	}
	if i := strings.Index(body, "[CAPABILITY "); i >= 0 {
		if j := strings.IndexByte(body[i:], ']'); j > 0 {
			list := body[i+len("[CAPABILITY ") : i+j]
			return body[:i] + "[CAPABILITY " + r.caps(list) + body[i+j:] + "\r\n"
		}
	}
	return line
}

// caps edits a space-separated capability list.
func (r *rewriter) caps(list string) string {
	var out []string
	for _, c := range strings.Fields(list) {
		if r.hideLimit && strings.HasPrefix(strings.ToUpper(c), "APPENDLIMIT") {
			continue
		}
		out = append(out, c)
	}
	return strings.Join(append(out, r.extra...), " ")
}

// literalLen is the size of the literal a response line announces at its
// end ("{123}"), or 0.
func literalLen(line []byte) int64 {
	l := bytes.TrimRight(line, "\r\n")
	if len(l) < 3 || l[len(l)-1] != '}' {
		return 0
	}
	i := bytes.LastIndexByte(l, '{')
	if i < 0 {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(string(l[i+1:len(l)-1]), "+"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
