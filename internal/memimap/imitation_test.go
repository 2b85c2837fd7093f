package memimap_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"

	"github.com/archive2imap/archive2imap/internal/memimap"
)

// Tests of the options that imitate a provider's quirks.

// greetingLine reads the first line the server sends.
func greetingLine(t *testing.T, s *memimap.Server) string {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestGreeting(t *testing.T) {
	for _, tc := range []struct {
		name, greeting, want string
	}{
		{"Gmail greets with Gimap and no capabilities", "Gimap ready for requests from 127.0.0.1 x1mb", "* OK Gimap ready for requests from 127.0.0.1 x1mb\r\n"},
		{"Microsoft 365 greets as Exchange", "The Microsoft Exchange IMAP4 service is ready.", "* OK The Microsoft Exchange IMAP4 service is ready.\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, memimap.Options{Greeting: tc.greeting})
			if got := greetingLine(t, s); got != tc.want {
				t.Errorf("greeting %q, want %q", got, tc.want)
			}
			// The session goes on as usual after the replaced line.
			c := login(t, s)
			if _, err := c.List("", "*", nil).Collect(); err != nil {
				t.Errorf("LIST after the custom greeting: %v", err)
			}
		})
	}
	t.Run("default: imapserver's greeting with its capabilities", func(t *testing.T) {
		s := start(t, memimap.Options{})
		if got := greetingLine(t, s); !strings.HasPrefix(got, "* OK [CAPABILITY ") {
			t.Errorf("greeting %q", got)
		}
	})
}

// gmailLayout is Gmail's folder list (LIST "" "*" on a fresh account).
var gmailLayout = memimap.Options{
	SpecialUse: map[string]string{
		`\Sent`: "[Gmail]/Sent Mail", `\All`: "[Gmail]/All Mail", `\Junk`: "[Gmail]/Spam",
		`\Trash`: "[Gmail]/Trash", `\Drafts`: "[Gmail]/Drafts", `\Flagged`: "[Gmail]/Starred",
	},
	NoSelect: []string{"[Gmail]"},
}

func TestNoSelectContainer(t *testing.T) {
	s := start(t, gmailLayout)
	c := login(t, s)
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var attrs []imap.MailboxAttr
	found := false
	for _, b := range boxes {
		if b.Mailbox == "[Gmail]" {
			found, attrs = true, b.Attrs
		}
	}
	// RFC 3501 §7.2.2: \Noselect, it is not possible to use this name as a
	// selectable mailbox.
	if !found || !hasAttr(attrs, imap.MailboxAttrNoSelect) {
		t.Fatalf("[Gmail] listed %v (found %v), want \\Noselect", attrs, found)
	}
	if _, err := c.Select("[Gmail]", nil).Wait(); !isNo(err, imap.ResponseCodeNonExistent) {
		t.Errorf("SELECT [Gmail]: %v, want NO [NONEXISTENT]", err)
	}
	if err := c.Create("[Gmail]", nil).Wait(); !isNo(err, imap.ResponseCodeAlreadyExists) {
		t.Errorf("CREATE [Gmail]: %v, want NO [ALREADYEXISTS]", err)
	}
	msg := "Subject: x\r\n\r\ny\r\n"
	ac := c.Append("[Gmail]", int64(len(msg)), nil)
	ac.Write([]byte(msg))
	ac.Close()
	if _, err := ac.Wait(); !isNo(err, imap.ResponseCodeNonExistent) {
		t.Errorf("APPEND [Gmail]: %v, want NO [NONEXISTENT]", err)
	}
	// RFC 6154 §5.2: LIST (SPECIAL-USE) lists only the special-use folders.
	su, err := c.List("", "*", &imap.ListOptions{SelectSpecialUse: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range su {
		if b.Mailbox == "[Gmail]" {
			t.Error("LIST (SPECIAL-USE) lists the [Gmail] container")
		}
	}
}

func TestHiddenFolder(t *testing.T) {
	s := start(t, memimap.Options{Hidden: []string{"Files"}})
	c := login(t, s)
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range boxes {
		if b.Mailbox == "Files" {
			t.Error("LIST shows the hidden folder Files")
		}
	}
	if err := c.Create("Files", nil).Wait(); !isNo(err, imap.ResponseCodeAlreadyExists) {
		t.Errorf("CREATE Files: %v, want NO [ALREADYEXISTS]", err)
	}
	// Mail appended there lands where no folder list shows it.
	msg := "Subject: x\r\n\r\ny\r\n"
	ac := c.Append("Files", int64(len(msg)), nil)
	ac.Write([]byte(msg))
	ac.Close()
	if _, err := ac.Wait(); err != nil {
		t.Fatalf("APPEND Files: %v", err)
	}
	st, err := c.Status("Files", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || st.NumMessages == nil || *st.NumMessages != 1 {
		t.Errorf("STATUS Files: %v %v", st, err)
	}
}

func TestMicrosoftLoginRefusal(t *testing.T) {
	refusal := &imap.Error{Type: imap.StatusResponseTypeNo, Text: "LOGIN failed."}
	s := start(t, memimap.Options{User: user, Password: password, Token: token, OAuthOnly: true, OfferPlain: true, LoginRefusal: refusal})
	c := dial(t, s)
	// Microsoft 365 advertises AUTH=PLAIN and refuses it.
	if !c.Caps().Has(imap.AuthCap(sasl.Plain)) || !c.Caps().Has(imap.AuthCap("XOAUTH2")) {
		t.Errorf("capabilities %v, want AUTH=PLAIN and AUTH=XOAUTH2", c.Caps())
	}
	err := c.Login(user, password).Wait()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Text != "LOGIN failed." {
		t.Errorf("LOGIN: %v, want NO LOGIN failed.", err)
	}
	err = dial(t, s).Authenticate(sasl.NewPlainClient("", user, password))
	if !errors.As(err, &ie) || ie.Text != "LOGIN failed." {
		t.Errorf("AUTHENTICATE PLAIN: %v, want NO LOGIN failed.", err)
	}
	if err := dial(t, s).Authenticate(xoauth2{user, token}); err != nil {
		t.Errorf("XOAUTH2: %v", err)
	}
}

// TestRefuseBad: Microsoft 365 throttles with a tagged BAD and no response
// code ("BAD Request is throttled. Suggested Backoff Time: N
// milliseconds"); the hook's BAD reaches the wire as BAD.
func TestRefuseBad(t *testing.T) {
	s := start(t, memimap.Options{Refuse: func(string, int64) error {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Request is throttled. Suggested Backoff Time: 50 milliseconds"}
	}})
	r := dialRaw(t, s)
	msg := "Subject: a\r\n\r\nb\r\n"
	r.send(fmt.Sprintf("A1 APPEND INBOX {%d+}\r\n%s\r\nA2 NOOP\r\n", len(msg), msg))
	var tagged []string
	for len(tagged) < 2 {
		if l := r.line(); !strings.HasPrefix(l, "*") {
			tagged = append(tagged, l)
		}
	}
	if tagged[0] != "A1 BAD Request is throttled. Suggested Backoff Time: 50 milliseconds" || !strings.HasPrefix(tagged[1], "A2 OK") {
		t.Errorf("replies %q", tagged)
	}
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

func isNo(err error, code imap.ResponseCode) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo && ie.Code == code
}

func TestExtraCapsAndHiddenAppendLimit(t *testing.T) {
	s := start(t, memimap.Options{ExtraCaps: []string{"X-GM-EXT-1"}, HideAppendLimit: true, AppendLimit: 100,
		Greeting: "Gimap ready for requests from 127.0.0.1"})
	c := login(t, s)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Has("X-GM-EXT-1") {
		t.Errorf("no X-GM-EXT-1 in %v", caps)
	}
	if _, ok := caps.AppendLimit(); ok {
		t.Errorf("APPENDLIMIT advertised in %v", caps)
	}
	// A message whose body holds lines that look like capability
	// responses comes back byte for byte: literals are not rewritten.
	msg := "Subject: tricky\r\n\r\n* CAPABILITY IMAP4rev1\r\nA1 OK [CAPABILITY IMAP4rev1] x\r\n"
	ac := c.Append("INBOX", int64(len(msg)), nil)
	ac.Write([]byte(msg))
	ac.Close()
	if _, err := ac.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	bufs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(bufs) != 1 {
		t.Fatalf("FETCH: %v %v", bufs, err)
	}
	for _, b := range bufs[0].BodySection {
		if string(b.Bytes) != msg {
			t.Errorf("FETCH returned %q, want %q", b.Bytes, msg)
		}
	}
	// The hidden limit is still enforced.
	big := "Subject: big\r\n\r\n" + strings.Repeat("x", 200) + "\r\n"
	ac = c.Append("INBOX", int64(len(big)), nil)
	ac.Write([]byte(big))
	ac.Close()
	if _, err := ac.Wait(); !isNo(err, imap.ResponseCodeTooBig) {
		t.Errorf("APPEND over the hidden limit: %v, want NO [TOOBIG]", err)
	}
}
