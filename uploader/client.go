package uploader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/archive2imap/archive2imap/importers"
)

// Mailbox is a folder on the server.
type Mailbox struct {
	Name  string // decoded (UTF-8), full path with the server's delimiter
	Delim rune   // 0 when the server has no hierarchy
	// Attrs are the LIST attributes: special-use ones (\Sent, \Drafts,
	// \Trash, \Junk, \Archive, \All, \Flagged) and others (\Noselect,
	// \HasChildren).
	Attrs []string
}

// HasAttr reports whether the mailbox has attribute a (case-insensitive).
func (m *Mailbox) HasAttr(a string) bool {
	for _, x := range m.Attrs {
		if strings.EqualFold(x, a) {
			return true
		}
	}
	return false
}

// ServerInfo is what the uploader learned about the server at login.
type ServerInfo struct {
	Caps imap.CapSet
	// Delim is the hierarchy delimiter of the personal namespace.
	Delim rune
	// Prefix is the personal namespace prefix ("INBOX." on Courier and
	// old Cyrus, "" on Dovecot and Gmail).
	Prefix string
	// AppendLimit is the largest message the server accepts (APPENDLIMIT,
	// RFC 7889); 0 when it says nothing.
	AppendLimit int64
	// Mechanism is how the user logged in.
	Mechanism string
}

// ServerMessage is a message found on the server.
type ServerMessage struct {
	UID          uint32
	Key          string
	Flags        []string
	InternalDate time.Time
	Size         int64
}

// Reader is what planning and verifying need from the server: reads only.
type Reader interface {
	Info() ServerInfo
	Mailboxes(ctx context.Context) ([]Mailbox, error)
	// Messages returns the keys (and flags, dates, sizes) of the messages
	// in a mailbox. The server messages without a Message-ID get a
	// fingerprint key only when their header print (importers.HeaderPrint)
	// is in prints: computing it means fetching the whole message.
	Messages(ctx context.Context, mailbox string, prints map[string]bool) ([]ServerMessage, error)
	// KnownMessages is Messages using what a ledger knows of the mailbox
	// to fetch less; see Client.KnownMessages.
	KnownMessages(ctx context.Context, mailbox string, prints map[string]bool, known KnownKeys) ([]ServerMessage, error)
}

// Writer is what executing a plan needs besides APPEND: creating folders.
type Writer interface {
	Create(ctx context.Context, name string) error
	Subscribe(ctx context.Context, name string) error
}

// Client is the control connection: go-imap's imapclient behind the guard.
type Client struct {
	cfg  *Config
	c    *imapclient.Client
	info ServerInfo
	stop func() bool
}

var (
	_ Reader = (*Client)(nil)
	_ Writer = (*Client)(nil)
)

// Connect dials, logs in and learns the server's capabilities, delimiter
// and namespace. Errors wrap ErrConnect or ErrAuth.
func Connect(ctx context.Context, cfg *Config) (*Client, error) {
	cn, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ic := imapclient.New(cn.replayGreeting(), &imapclient.Options{
		WordDecoder: nil,
	})
	cl := &Client{cfg: cfg, c: ic}
	cl.stop = context.AfterFunc(ctx, func() { ic.Close() })
	if err := ic.WaitGreeting(); err != nil {
		cl.Close()
		return nil, fmt.Errorf("%w to %s: %v", ErrConnect, cfg.Addr(), cleanNetErr(err))
	}
	if !cn.preauth {
		if err := cl.login(); err != nil {
			cl.Close()
			return nil, loginErr(cfg, err)
		}
	}
	if err := cl.learn(); err != nil {
		cl.Close()
		return nil, loginErr(cfg, err)
	}
	return cl, nil
}

// loginErr makes an error of Connect wrap ErrConnect when it wraps
// neither ErrConnect nor ErrAuth: a connection that broke while logging
// in (go-imap's "in response: unexpected EOF" wraps nothing) is a
// connection failure, not a failure of the run.
func loginErr(cfg *Config, err error) error {
	if errors.Is(err, ErrConnect) || errors.Is(err, ErrAuth) {
		return err
	}
	return fmt.Errorf("%w to %s: %w", ErrConnect, cfg.Addr(), err)
}

func (cl *Client) login() error {
	caps, err := cl.c.Capability().Wait()
	if err != nil {
		return cl.connErr("CAPABILITY", err)
	}
	mech, err := chooseMech(cl.cfg, caps)
	if err != nil {
		return err
	}
	cl.info.Mechanism = mech
	sc := &saslErrorReply{}
	if mech == MechLogin {
		err = cl.c.Login(cl.cfg.User, cl.cfg.Password).Wait()
	} else {
		sc.Client = saslClient(cl.cfg, mech)
		err = cl.c.Authenticate(sc)
	}
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) {
			text := serverText(ie)
			if sc.err != nil {
				text += " (" + sc.err.Error() + ")"
			}
			if busy(string(ie.Code), ie.Text) {
				return markBusy(fmt.Errorf("%w to %s: login as %s refused for now: %s", ErrConnect, cl.cfg.Addr(), cl.cfg.User, text), string(ie.Code), ie.Text)
			}
			return fmt.Errorf("%w as %s on %s: the server said: %s", ErrAuth, cl.cfg.User, cl.cfg.Addr(), text)
		}
		return cl.connErr("login", err)
	}
	return nil
}

// saslErrorReply answers an OAUTHBEARER error challenge (the server's
// JSON status) with %x01, as RFC 7628 §3.2.2 asks, so that the server ends
// the exchange with its tagged NO. go-sasl's client returns the error
// instead, and imapclient then returns it without answering, leaving the
// server waiting for a reply: the login failure was not an ErrAuth and
// closing the connection waited for the LOGOUT timeout.
type saslErrorReply struct {
	sasl.Client
	err error // the mechanism's own error about the challenge
}

func (c *saslErrorReply) Next(challenge []byte) ([]byte, error) {
	resp, err := c.Client.Next(challenge)
	var oe *sasl.OAuthBearerError
	if errors.As(err, &oe) {
		c.err = oe
		return []byte{1}, nil
	}
	return resp, err
}

// learn reads capabilities, namespace and delimiter after login.
func (cl *Client) learn() error {
	caps, err := cl.c.Capability().Wait()
	if err != nil {
		return cl.connErr("CAPABILITY", err)
	}
	cl.info.Caps = caps
	if lim, ok := caps.AppendLimit(); ok && lim != nil {
		cl.info.AppendLimit = int64(*lim)
	}
	if caps.Has(imap.CapNamespace) {
		ns, err := cl.c.Namespace().Wait()
		if err == nil && len(ns.Personal) > 0 {
			cl.info.Prefix = ns.Personal[0].Prefix
			cl.info.Delim = ns.Personal[0].Delim
		}
	}
	if cl.info.Delim == 0 {
		// LIST "" "" returns the delimiter (RFC 9051 §6.3.9).
		data, err := cl.c.List("", "", nil).Collect()
		if err != nil {
			return cl.connErr("LIST", err)
		}
		if len(data) > 0 {
			cl.info.Delim = data[0].Delim
		}
	}
	return nil
}

// Info returns what was learned at login.
func (cl *Client) Info() ServerInfo { return cl.info }

// Close logs out (briefly) and closes the connection.
func (cl *Client) Close() error {
	if cl.stop != nil {
		cl.stop()
	}
	done := make(chan struct{})
	go func() {
		cl.c.Logout().Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return cl.c.Close()
}

// Mailboxes lists every mailbox with its attributes, asking for
// special-use attributes when the server knows them (RFC 6154).
func (cl *Client) Mailboxes(ctx context.Context) ([]Mailbox, error) {
	var opts *imap.ListOptions
	if cl.info.Caps.Has(imap.CapSpecialUse) && cl.info.Caps.Has(imap.CapListExtended) {
		opts = &imap.ListOptions{ReturnSpecialUse: true}
	}
	data, err := cl.c.List("", "*", opts).Collect()
	if err != nil {
		return nil, cl.ctxErr(ctx, "LIST", err)
	}
	out := make([]Mailbox, 0, len(data))
	for _, d := range data {
		m := Mailbox{Name: d.Mailbox, Delim: d.Delim}
		for _, a := range d.Attrs {
			m.Attrs = append(m.Attrs, string(a))
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// fingerprintFields are what a fingerprint's header print needs.
var fingerprintFields = append([]string{"Message-ID"}, importers.FingerprintFields...)

// Messages fetches the keys of the messages in mailbox, read-only (EXAMINE
// and BODY.PEEK: nothing is marked read).
func (cl *Client) Messages(ctx context.Context, mailbox string, prints map[string]bool) ([]ServerMessage, error) {
	sel, err := cl.c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, cl.ctxErr(ctx, "EXAMINE "+mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	all := imap.SeqSet{}
	all.AddRange(1, 0) // 1:*
	return cl.fetchKeys(ctx, all, int(sel.NumMessages), nil, prints)
}

// fetchKeys fetches the keys (with flags, dates and sizes) of the
// messages in set of the selected mailbox, appending them to out.
func (cl *Client) fetchKeys(ctx context.Context, set imap.NumSet, n int, out []ServerMessage, prints map[string]bool) ([]ServerMessage, error) {
	cmd := cl.c.Fetch(set, &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}},
	})
	out = slices.Grow(out, n)
	var noID []int // indexes into out of messages without a Message-ID
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		sm, err := readServerMessage(msg)
		if err != nil {
			cmd.Close()
			return nil, cl.ctxErr(ctx, "FETCH", err)
		}
		if sm.Key == "" {
			noID = append(noID, len(out))
		}
		out = append(out, sm)
	}
	if err := cmd.Close(); err != nil {
		return nil, cl.ctxErr(ctx, "FETCH", err)
	}
	if len(noID) > 0 && len(prints) > 0 {
		if err := cl.fingerprint(ctx, out, noID, prints); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// KnownKeys returns the key the ledger recorded for the message with a
// UID in a mailbox of a UIDVALIDITY, if it did.
type KnownKeys func(uidValidity, uid uint32) (key string, ok bool)

// ledgerSample is how many of the messages a ledger knows are checked
// against the server before the ledger is used for a mailbox.
const ledgerSample = 16

// KnownMessages is Messages for a mailbox whose messages a ledger of
// earlier runs partly knows: the server is asked which UIDs the mailbox
// holds (a cheap UID SEARCH), and only the messages the ledger does not
// know are fetched. A UID names the same message for as long as the
// mailbox's UIDVALIDITY stays (RFC 9051 §2.3.1.1), so a UID on the server
// that the ledger recorded is the message the ledger says; the server
// still decides which UIDs exist. A sample of the known messages is
// fetched anyway, and if one of them is not what the ledger says, the
// ledger is ignored for this mailbox. Messages from the ledger have a key
// and UID only (no flags, date or size).
func (cl *Client) KnownMessages(ctx context.Context, mailbox string, prints map[string]bool, known KnownKeys) ([]ServerMessage, error) {
	if known == nil {
		return cl.Messages(ctx, mailbox, prints)
	}
	sel, err := cl.c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, cl.ctxErr(ctx, "EXAMINE "+mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	var opts *imap.SearchOptions
	if cl.info.Caps.Has(imap.CapESearch) || cl.info.Caps.Has(imap.CapIMAP4rev2) {
		opts = &imap.SearchOptions{ReturnAll: true}
	}
	data, err := cl.c.UIDSearch(&imap.SearchCriteria{}, opts).Wait()
	if err != nil {
		return nil, cl.ctxErr(ctx, "UID SEARCH", err)
	}
	var out []ServerMessage
	var unknown, sample imap.UIDSet
	nUnknown, nSample := 0, 0
	for _, uid := range data.AllUIDs() {
		key, ok := known(sel.UIDValidity, uint32(uid))
		if !ok {
			unknown.AddNum(uid)
			nUnknown++
			continue
		}
		out = append(out, ServerMessage{UID: uint32(uid), Key: key})
		if nSample < ledgerSample && strings.HasPrefix(key, "mid:") {
			sample.AddNum(uid)
			nSample++
		}
	}
	if nSample > 0 {
		got, err := cl.fetchKeys(ctx, sample, nSample, nil, nil)
		if err != nil {
			return nil, err
		}
		for _, sm := range got {
			if k, _ := known(sel.UIDValidity, sm.UID); k != sm.Key {
				// Not the ledger of this account, or edited: the server
				// alone decides.
				return cl.Messages(ctx, mailbox, prints)
			}
		}
	}
	if nUnknown > 0 {
		return cl.fetchKeys(ctx, unknown, nUnknown, out, prints)
	}
	return out, nil
}

// fingerprint computes the fp: keys of the messages out[noID...] whose
// header print is wanted, in two steps: their fingerprint header fields,
// then, for those that match a source message, the whole message.
func (cl *Client) fingerprint(ctx context.Context, out []ServerMessage, noID []int, prints map[string]bool) error {
	byUID := make(map[uint32]int, len(noID))
	uids := imap.UIDSet{}
	for _, i := range noID {
		byUID[out[i].UID] = i
		uids.AddNum(imap.UID(out[i].UID))
	}
	cmd := cl.c.Fetch(uids, &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, HeaderFields: importers.FingerprintFields, Peek: true}},
	})
	want := imap.UIDSet{}
	nwant := 0
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err != nil {
			cmd.Close()
			return cl.ctxErr(ctx, "FETCH", err)
		}
		var hdr []byte
		for _, b := range buf.BodySection {
			hdr = b.Bytes
		}
		if prints[importers.HeaderPrint(hdr)] {
			want.AddNum(buf.UID)
			nwant++
		}
	}
	if err := cmd.Close(); err != nil {
		return cl.ctxErr(ctx, "FETCH", err)
	}
	if nwant == 0 {
		return nil
	}
	cmd = cl.c.Fetch(want, &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err != nil {
			cmd.Close()
			return cl.ctxErr(ctx, "FETCH", err)
		}
		for _, b := range buf.BodySection {
			key, _ := importers.KeyOf(b.Bytes)
			if i, ok := byUID[uint32(buf.UID)]; ok {
				out[i].Key = key
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return cl.ctxErr(ctx, "FETCH", err)
	}
	return nil
}

// readServerMessage reads one FETCH response of Messages.
func readServerMessage(msg *imapclient.FetchMessageData) (ServerMessage, error) {
	var sm ServerMessage
	for {
		item := msg.Next()
		if item == nil {
			break
		}
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			sm.UID = uint32(it.UID)
		case imapclient.FetchItemDataFlags:
			for _, f := range it.Flags {
				sm.Flags = append(sm.Flags, string(f))
			}
		case imapclient.FetchItemDataInternalDate:
			sm.InternalDate = it.Time
		case imapclient.FetchItemDataRFC822Size:
			sm.Size = it.Size
		case imapclient.FetchItemDataBodySection:
			b, err := io.ReadAll(it.Literal)
			if err != nil {
				return sm, err
			}
			header, _ := importers.SplitHeader(b)
			sm.Key = messageIDKey(header)
		}
	}
	return sm, nil
}

// messageIDKey returns the mid: key of a header block holding (at most)
// the Message-ID field, or "".
func messageIDKey(header []byte) string {
	key, id := importers.KeyOf(append(header, "\r\n"...))
	if id == "" {
		return ""
	}
	return key
}

// Create creates a mailbox. An ALREADYEXISTS answer (someone created it
// meanwhile) is not an error.
func (cl *Client) Create(ctx context.Context, name string) error {
	err := cl.c.Create(name, nil).Wait()
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	if err != nil {
		return cl.ctxErr(ctx, "CREATE "+name, err)
	}
	return nil
}

// Subscribe subscribes a mailbox, so that mail clients show it.
func (cl *Client) Subscribe(ctx context.Context, name string) error {
	if err := cl.c.Subscribe(name).Wait(); err != nil {
		return cl.ctxErr(ctx, "SUBSCRIBE "+name, err)
	}
	return nil
}

// ctxErr prefers the context's error (the connection was closed because
// ctx ended) over the error that closing caused.
func (cl *Client) ctxErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		return &ServerError{Command: what, Status: string(ie.Type), Code: string(ie.Code), Text: ie.Text}
	}
	return cl.connErr(what, err)
}

func (cl *Client) connErr(what string, err error) error {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s on %s: %v: %w", ErrConnectionLost, what, cl.cfg.Addr(), cleanNetErr(err), err)
	}
	return fmt.Errorf("%s on %s: %w", what, cl.cfg.Addr(), err)
}

// ServerError is a NO or BAD answer to a command.
type ServerError struct {
	Command string
	Status  string // NO or BAD
	Code    string // response code (TOOBIG, OVERQUOTA, TRYCREATE...), or ""
	Text    string
}

func (e *ServerError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s: the server said %s [%s] %s", e.Command, e.Status, e.Code, e.Text)
	}
	return fmt.Sprintf("%s: the server said %s %s", e.Command, e.Status, e.Text)
}

// ErrConnectionLost is wrapped by errors of a connection that broke after
// it was established.
var ErrConnectionLost = errors.New("connection lost")

func serverText(ie *imap.Error) string {
	if ie.Code != "" {
		return "[" + string(ie.Code) + "] " + ie.Text
	}
	return ie.Text
}

// Noop checks that the connection still works (NOOP), for a connection
// that sat idle while the archives were read.
func (cl *Client) Noop(ctx context.Context) error {
	if err := cl.c.Noop().Wait(); err != nil {
		return cl.ctxErr(ctx, "NOOP", err)
	}
	return nil
}
