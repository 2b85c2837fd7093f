package memimap_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/archive2imap/archive2imap/internal/memimap"
)

const (
	user     = "helpdesk@example.org"
	password = "correct horse"
	token    = "ya29.test-token"
)

func start(t *testing.T, opts memimap.Options) *memimap.Server {
	t.Helper()
	if opts.User == "" {
		opts.User, opts.Password = user, password
	}
	s, err := memimap.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dial connects an imapclient without logging in.
func dial(t *testing.T, s *memimap.Server) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(s.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func login(t *testing.T, s *memimap.Server) *imapclient.Client {
	t.Helper()
	c := dial(t, s)
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	return c
}

// raw is a bare protocol connection, for what imapclient cannot send
// (pipelined non-synchronizing literals, LSUB).
type raw struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, s *memimap.Server) *raw {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := &raw{t: t, c: c, br: bufio.NewReader(c)}
	if g := r.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	r.send(fmt.Sprintf("L1 LOGIN %q %q\r\n", user, password))
	r.until("L1")
	return r
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) line() string {
	r.t.Helper()
	l, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("reading a response: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// until reads lines up to the tagged reply of tag, and returns them all
// (the tagged one last). It fails on a tagged NO or BAD of tag.
func (r *raw) until(tag string) []string {
	r.t.Helper()
	var lines []string
	for {
		l := r.line()
		lines = append(lines, l)
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				r.t.Fatalf("%s: %q", tag, l)
			}
			return lines
		}
	}
}

func TestAppendLimitAdvertised(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit uint32
		want  uint32
	}{
		// RFC 7889 §3: the limit the server enforces is the one it announces.
		{"RFC 7889: APPENDLIMIT=n announces the configured limit", 5000, 5000},
		{"no limit configured: imapserver's no-limit value", 0, 1<<32 - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, memimap.Options{AppendLimit: tc.limit})
			c := login(t, s)
			caps, err := c.Capability().Wait()
			if err != nil {
				t.Fatal(err)
			}
			lim, ok := caps.AppendLimit()
			if !ok || lim == nil || *lim != tc.want {
				t.Errorf("APPENDLIMIT in %v: got %v %v, want %d", caps, lim, ok, tc.want)
			}
		})
	}
}

// TestAppendLimitPipelined sends, in one write, an APPEND under the limit,
// one over it whose non-synchronizing literal (RFC 7888 LITERAL+) holds
// lines that look like commands, another under the limit, and a NOOP. A
// server that refuses the big one without reading its literal would run
// the lines inside it as commands (and create a folder).
func TestAppendLimitPipelined(t *testing.T) {
	s := start(t, memimap.Options{AppendLimit: 1000})
	r := dialRaw(t, s)
	small := "Subject: small\r\n\r\nhello\r\n"
	big := "Subject: big\r\n\r\n" + strings.Repeat("X1 CREATE Injected\r\nX2 NOOP\r\n", 60)
	if len(big) <= 1000 {
		t.Fatal("big message not over the limit")
	}
	r.send(fmt.Sprintf("A1 APPEND INBOX {%d+}\r\n%s\r\nA2 APPEND INBOX {%d+}\r\n%s\r\nA3 APPEND INBOX {%d+}\r\n%s\r\nA4 NOOP\r\n",
		len(small), small, len(big), big, len(small), small))
	var tagged []string
	for len(tagged) < 4 {
		l := r.line()
		if !strings.HasPrefix(l, "*") {
			tagged = append(tagged, l)
		}
	}
	want := []string{"A1 OK", "A2 NO [TOOBIG]", "A3 OK", "A4 OK"}
	for i, w := range want {
		if !strings.HasPrefix(tagged[i], w) {
			t.Errorf("reply %d = %q, want %s...", i+1, tagged[i], w)
		}
	}
	c := login(t, s)
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 2 {
		t.Errorf("INBOX holds %d messages, want the 2 small ones", sel.NumMessages)
	}
	if slices.Contains(s.Mailboxes(), "Injected") {
		t.Error("the literal of the refused APPEND was run as commands: folder Injected exists")
	}
	// The limit itself is accepted (RFC 7889: larger than the limit is refused).
	exact := "Subject: x\r\n\r\n" + strings.Repeat("y", 1000-len("Subject: x\r\n\r\n"))
	r.send(fmt.Sprintf("B1 APPEND INBOX {%d+}\r\n%s\r\n", len(exact), exact))
	r.until("B1")
}

func TestSpecialUseList(t *testing.T) {
	s := start(t, memimap.Options{
		SpecialUse: map[string]string{`\Sent`: "Sent Items", `\Trash`: "Deleted Items", `\Junk`: "Junk E-mail"},
		Folders:    []string{"Projects", "Projects/2019"},
	})
	c := login(t, s)
	for _, tc := range []struct {
		name string
		opts *imap.ListOptions
		want map[string][]imap.MailboxAttr
	}{
		{"RFC 6154 §2: LIST RETURN (SPECIAL-USE)", &imap.ListOptions{ReturnSpecialUse: true}, map[string][]imap.MailboxAttr{
			"INBOX": nil, "Sent Items": {imap.MailboxAttrSent}, "Deleted Items": {imap.MailboxAttrTrash},
			"Junk E-mail": {imap.MailboxAttrJunk}, "Projects": nil, "Projects/2019": nil,
		}},
		{"RFC 6154 §2: plain LIST also shows them (as Dovecot and Gmail do)", nil, map[string][]imap.MailboxAttr{
			"INBOX": nil, "Sent Items": {imap.MailboxAttrSent}, "Deleted Items": {imap.MailboxAttrTrash},
			"Junk E-mail": {imap.MailboxAttrJunk}, "Projects": nil, "Projects/2019": nil,
		}},
		{"RFC 6154 §3: LIST (SPECIAL-USE) selects only them", &imap.ListOptions{SelectSpecialUse: true}, map[string][]imap.MailboxAttr{
			"Sent Items": {imap.MailboxAttrSent}, "Deleted Items": {imap.MailboxAttrTrash}, "Junk E-mail": {imap.MailboxAttrJunk},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := c.List("", "*", tc.opts).Collect()
			if err != nil {
				t.Fatal(err)
			}
			got := make(map[string][]imap.MailboxAttr)
			for _, d := range data {
				if d.Delim != '/' {
					t.Errorf("%s: delimiter %q", d.Mailbox, d.Delim)
				}
				var attrs []imap.MailboxAttr
				for _, a := range d.Attrs {
					if a != imap.MailboxAttrSubscribed {
						attrs = append(attrs, a)
					}
				}
				got[d.Mailbox] = attrs
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestSubscriptions(t *testing.T) {
	s := start(t, memimap.Options{SpecialUse: map[string]string{`\Sent`: "Sent Items"}, Folders: []string{"Projects", "Other"}})
	c := login(t, s)
	if err := c.Subscribe("Projects").Wait(); err != nil {
		t.Fatal(err)
	}
	want := []string{"Projects", "Sent Items"} // special-use folders are subscribed at start
	// RFC 5258 §3: LIST (SUBSCRIBED) lists the subscribed folders, with \Subscribed.
	data, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range data {
		got = append(got, d.Mailbox)
		if !slices.Contains(d.Attrs, imap.MailboxAttrSubscribed) {
			t.Errorf("%s: no \\Subscribed in %v", d.Mailbox, d.Attrs)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("LIST (SUBSCRIBED): %v, want %v", got, want)
	}
	// RFC 3501 §6.3.9: LSUB.
	r := dialRaw(t, s)
	r.send("S1 LSUB \"\" \"*\"\r\n")
	got = nil
	for _, l := range r.until("S1") {
		if strings.HasPrefix(l, "* LSUB") {
			_, name, _ := strings.Cut(l, `"/" `)
			got = append(got, strings.Trim(name, `"`))
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("LSUB: %v, want %v", got, want)
	}
	// Plain LIST with RETURN (SUBSCRIBED) marks them and lists the others.
	data, err = c.List("", "*", &imap.ListOptions{ReturnSubscribed: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range data {
		if sub := slices.Contains(d.Attrs, imap.MailboxAttrSubscribed); sub != slices.Contains(want, d.Mailbox) {
			t.Errorf("%s: subscribed %v, want %v", d.Mailbox, sub, !sub)
		}
	}
	if err := c.Unsubscribe("Projects").Wait(); err != nil {
		t.Fatal(err)
	}
	data, _ = c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if len(data) != 1 || data[0].Mailbox != "Sent Items" {
		t.Errorf("after UNSUBSCRIBE: %v", data)
	}
}

// xoauth2 is the client side of Google's XOAUTH2, for this test.
type xoauth2 struct{ user, token string }

func (x xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}
func (x xoauth2) Next([]byte) ([]byte, error) { return []byte{}, nil }

// answerErrors answers an OAUTHBEARER error challenge with %x01, as RFC
// 7628 §3.2.2 asks, so that the server sends its tagged NO. (go-sasl's
// client returns the error instead, and imapclient then leaves the
// exchange unanswered.)
type answerErrors struct{ sasl.Client }

func (a answerErrors) Next(ch []byte) ([]byte, error) {
	resp, err := a.Client.Next(ch)
	if _, ok := err.(*sasl.OAuthBearerError); ok {
		return []byte{1}, nil
	}
	return resp, err
}

func TestOAuth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   memimap.Options
		client sasl.Client
		ok     bool
	}{
		{"RFC 7628 OAUTHBEARER with the right token", memimap.Options{Token: token},
			sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: token}), true},
		{"RFC 7628 OAUTHBEARER with a wrong token", memimap.Options{Token: token},
			sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: "expired"}), false},
		{"RFC 7628 OAUTHBEARER for another user", memimap.Options{Token: token},
			sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: "other@example.org", Token: token}), false},
		{"Gmail XOAUTH2 with the right token", memimap.Options{Token: token}, xoauth2{user, token}, true},
		{"Gmail XOAUTH2 with a wrong token", memimap.Options{Token: token}, xoauth2{user, "expired"}, false},
		{"Microsoft 365 (OAuth only): XOAUTH2 works", memimap.Options{Token: token, OAuthOnly: true}, xoauth2{user, token}, true},
		{"Microsoft 365 (OAuth only): AUTHENTICATE PLAIN refused", memimap.Options{Token: token, OAuthOnly: true}, sasl.NewPlainClient("", user, password), false},
		{"no token configured: OAUTHBEARER refused", memimap.Options{},
			sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: ""}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.User, tc.opts.Password = user, password
			s := start(t, tc.opts)
			c := dial(t, s)
			err := c.Authenticate(answerErrors{tc.client})
			if (err == nil) != tc.ok {
				t.Fatalf("AUTHENTICATE: err = %v, want success %v", err, tc.ok)
			}
			// RFC 5530: a refused login is NO [AUTHENTICATIONFAILED]; a
			// mechanism not offered is a plain NO.
			code := imap.ResponseCodeAuthenticationFailed
			if strings.Contains(tc.name, "PLAIN refused") {
				code = ""
			}
			var ie *imap.Error
			if err != nil && (!errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != code) {
				t.Errorf("AUTHENTICATE: %v, want NO [%s]", err, code)
			}
			_, lerr := c.List("", "*", nil).Collect()
			if (lerr == nil) != tc.ok {
				t.Errorf("LIST after AUTHENTICATE: err = %v, want logged in %v", lerr, tc.ok)
			}
		})
	}
	t.Run("Microsoft 365 (OAuth only): LOGIN refused with the server's words", func(t *testing.T) {
		s := start(t, memimap.Options{User: user, Password: password, Token: token, OAuthOnly: true})
		err := dial(t, s).Login(user, password).Wait()
		if err == nil || !strings.Contains(err.Error(), "Basic authentication is disabled") {
			t.Errorf("LOGIN: %v", err)
		}
	})
	t.Run("mechanisms advertised", func(t *testing.T) {
		s := start(t, memimap.Options{User: user, Password: password, Token: token})
		caps := dial(t, s).Caps()
		for _, m := range []string{"PLAIN", "OAUTHBEARER", "XOAUTH2"} {
			if !caps.Has(imap.AuthCap(m)) {
				t.Errorf("no AUTH=%s in %v", m, caps)
			}
		}
	})
}

func TestLoginWrongPassword(t *testing.T) {
	s := start(t, memimap.Options{})
	for _, pw := range []string{"wrong", ""} {
		if err := dial(t, s).Login(user, pw).Wait(); err == nil {
			t.Errorf("LOGIN with password %q succeeded", pw)
		}
	}
}

func TestRefuse(t *testing.T) {
	type call struct {
		mailbox string
		size    int64
	}
	var calls []call
	s := start(t, memimap.Options{Refuse: func(mailbox string, size int64) error {
		calls = append(calls, call{mailbox, size})
		if size > 100 {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Quota exceeded (mailbox for user is full)"}
		}
		return nil
	}})
	r := dialRaw(t, s)
	small := "Subject: a\r\n\r\nb\r\n"
	big := "Subject: a\r\n\r\n" + strings.Repeat("b", 200) + "\r\n"
	// The refused literal is read and discarded: the next command works.
	r.send(fmt.Sprintf("A1 APPEND Sent {%d+}\r\n%s\r\nA2 APPEND Sent {%d+}\r\n%s\r\nA3 NOOP\r\n", len(big), big, len(small), small))
	var tagged []string
	for len(tagged) < 3 {
		if l := r.line(); !strings.HasPrefix(l, "*") {
			tagged = append(tagged, l)
		}
	}
	if !strings.HasPrefix(tagged[0], "A1 NO [OVERQUOTA] Quota exceeded") || !strings.HasPrefix(tagged[1], "A2 OK [APPENDUID") || !strings.HasPrefix(tagged[2], "A3 OK") {
		t.Errorf("replies %q", tagged)
	}
	if len(calls) != 2 || calls[0] != (call{"Sent", int64(len(big))}) || calls[1] != (call{"Sent", int64(len(small))}) {
		t.Errorf("hook calls %v", calls)
	}
}

func TestCreateListsNewFolder(t *testing.T) {
	s := start(t, memimap.Options{})
	c := login(t, s)
	// RFC 3501 §5.1.3: names are modified UTF-7 on the wire, decoded by imapclient.
	for _, name := range []string{"Entwürfe/Alt", "Café"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Create("Café", nil).Wait(); err == nil || !strings.Contains(err.Error(), "ALREADYEXISTS") {
		t.Errorf("second CREATE: %v, want ALREADYEXISTS", err)
	}
	data, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range data {
		names = append(names, d.Mailbox)
	}
	for _, want := range []string{"Café", "Entwürfe/Alt", "INBOX"} {
		if !slices.Contains(names, want) {
			t.Errorf("LIST %v lacks %q", names, want)
		}
	}
	if !slices.Contains(s.Mailboxes(), "Café") {
		t.Errorf("Mailboxes() = %v", s.Mailboxes())
	}
}

// TestTruncatedAppend: a connection that ends inside an APPEND's literal
// leaves nothing in the mailbox (imapserver's literal reader reports no
// error then, and imapmemserver stored the truncated message).
func TestTruncatedAppend(t *testing.T) {
	s := start(t, memimap.Options{})
	r := dialRaw(t, s)
	msg := "Subject: cut\r\nMessage-ID: <cut@example.org>\r\n\r\n" + strings.Repeat("body\r\n", 100)
	r.send(fmt.Sprintf("A1 APPEND INBOX {%d+}\r\n%s", len(msg), msg[:len(msg)/2]))
	r.c.(*net.TCPConn).CloseWrite()
	for {
		if _, err := r.br.ReadString('\n'); err != nil {
			break // the server hung up
		}
	}
	c := login(t, s)
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 0 {
		t.Errorf("INBOX holds %d messages after an APPEND cut short, want 0", sel.NumMessages)
	}
}
