package dovecottest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// dial connects to s (plaintext) and closes the client when the test ends.
func dial(t *testing.T, s *Server) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(s.Addr(), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", s.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login connects to s and logs in as its first user.
func login(t *testing.T, s *Server) *imapclient.Client {
	t.Helper()
	c := dial(t, s)
	u := s.Users[0]
	if err := c.Login(u.Name, u.Password).Wait(); err != nil {
		t.Fatalf("login as %s: %v", u.Name, err)
	}
	return c
}

// appendMessage APPENDs msg to mailbox and returns its UID (UIDPLUS).
func appendMessage(t *testing.T, c *imapclient.Client, mailbox string, msg []byte, opts *imap.AppendOptions) imap.UID {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(msg)), opts)
	if _, err := cmd.Write(msg); err != nil {
		t.Fatalf("append to %s: writing: %v", mailbox, err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("append to %s: closing: %v", mailbox, err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append to %s: %v", mailbox, err)
	}
	if data.UID == 0 || data.UIDValidity == 0 {
		t.Fatalf("append to %s: no APPENDUID in the answer (UID %d, UIDVALIDITY %d)", mailbox, data.UID, data.UIDValidity)
	}
	return data.UID
}

// fetchAll selects mailbox and fetches every message's full text, flags,
// INTERNALDATE and size.
func fetchAll(t *testing.T, c *imapclient.Client, mailbox string) []*imapclient.FetchMessageBuffer {
	t.Helper()
	if _, err := c.Select(mailbox, nil).Wait(); err != nil {
		t.Fatalf("select %s: %v", mailbox, err)
	}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID:          true,
		Flags:        true,
		InternalDate: true,
		RFC822Size:   true,
		BodySection:  []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatalf("fetch %s: %v", mailbox, err)
	}
	return msgs
}

// testMessage is a small RFC 5322 message with CRLF line ends.
func testMessage(subject string) []byte {
	return []byte("From: Bob <bob@example.org>\r\n" +
		"To: Alice <alice@example.org>\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: Sat, 03 Feb 2001 04:05:06 +0100\r\n" +
		"Message-ID: <" + subject + "@example.org>\r\n" +
		"\r\n" +
		"Hello, " + subject + ".\r\n")
}

// specialUseAttrSet are the attributes RFC 6154 and RFC 8457 define.
var specialUseAttrSet = map[imap.MailboxAttr]bool{
	imap.MailboxAttrAll: true, imap.MailboxAttrArchive: true, imap.MailboxAttrDrafts: true,
	imap.MailboxAttrFlagged: true, imap.MailboxAttrJunk: true, imap.MailboxAttrSent: true,
	imap.MailboxAttrTrash: true, imap.MailboxAttrImportant: true,
}

func TestSpecialUseMailboxes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		specialUse map[string]string             // Options.SpecialUse
		want       map[string][]imap.MailboxAttr // mailbox -> special-use attributes in LIST
	}{
		{
			name:       "default (Dovecot and Thunderbird names)",
			specialUse: nil,
			want: map[string][]imap.MailboxAttr{
				"Sent": {imap.MailboxAttrSent}, "Drafts": {imap.MailboxAttrDrafts}, "Trash": {imap.MailboxAttrTrash},
				"Junk": {imap.MailboxAttrJunk}, "Archive": {imap.MailboxAttrArchive},
			},
		},
		{
			name:       "Outlook and Exchange names",
			specialUse: map[string]string{`\Sent`: "Sent Items", `\Trash`: "Deleted Items", `\Junk`: "Junk E-mail", `\Drafts`: "Drafts"},
			want: map[string][]imap.MailboxAttr{
				"Sent Items": {imap.MailboxAttrSent}, "Deleted Items": {imap.MailboxAttrTrash},
				"Junk E-mail": {imap.MailboxAttrJunk}, "Drafts": {imap.MailboxAttrDrafts},
			},
		},
		{
			name: "German Outlook names (non-ASCII, modified UTF-7 on the wire, RFC 3501 5.1.3)",
			specialUse: map[string]string{
				`\Sent`: "Gesendete Elemente", `\Drafts`: "Entwürfe", `\Trash`: "Gelöschte Elemente",
			},
			want: map[string][]imap.MailboxAttr{
				"Gesendete Elemente": {imap.MailboxAttrSent}, "Entwürfe": {imap.MailboxAttrDrafts},
				"Gelöschte Elemente": {imap.MailboxAttrTrash},
			},
		},
		{
			name: "Gmail-style nested names, two attributes on one mailbox (RFC 6154 and RFC 8457)",
			specialUse: map[string]string{
				`\Sent`: "[Gmail]/Sent Mail", `\All`: "[Gmail]/All Mail", `\Archive`: "[Gmail]/All Mail",
				`\Flagged`: "[Gmail]/Starred", `\Important`: "[Gmail]/Important",
			},
			want: map[string][]imap.MailboxAttr{
				"[Gmail]/Sent Mail": {imap.MailboxAttrSent},
				"[Gmail]/All Mail":  {imap.MailboxAttrAll, imap.MailboxAttrArchive},
				"[Gmail]/Starred":   {imap.MailboxAttrFlagged},
				"[Gmail]/Important": {imap.MailboxAttrImportant},
			},
		},
		{
			name:       "none (empty map): INBOX only",
			specialUse: map[string]string{},
			want:       map[string][]imap.MailboxAttr{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, Options{SpecialUse: tc.specialUse})
			c := login(t, s)
			list, err := c.List("", "*", &imap.ListOptions{ReturnSubscribed: true, ReturnSpecialUse: true}).Collect()
			if err != nil {
				t.Fatalf("LIST: %v", err)
			}
			got := map[string][]imap.MailboxAttr{}
			subscribed := map[string]bool{}
			for _, m := range list {
				if m.Delim != '/' {
					t.Errorf("LIST %q: delimiter %q, want '/'", m.Mailbox, m.Delim)
				}
				var special []imap.MailboxAttr
				for _, a := range m.Attrs {
					if specialUseAttrSet[a] {
						special = append(special, a)
					}
					if a == imap.MailboxAttrSubscribed {
						subscribed[m.Mailbox] = true
					}
				}
				slices.Sort(special)
				got[m.Mailbox] = special
			}
			if _, ok := got["INBOX"]; !ok {
				t.Errorf("LIST has no INBOX: %v", got)
			}
			for name, attrs := range tc.want {
				slices.Sort(attrs)
				g, ok := got[name]
				if !ok {
					t.Errorf("LIST has no %q; got %v", name, got)
					continue
				}
				if !slices.Equal(g, attrs) {
					t.Errorf("LIST %q: special-use %v, want %v", name, g, attrs)
				}
				if !subscribed[name] {
					t.Errorf("LIST %q is not \\Subscribed (auto = subscribe)", name)
				}
			}
			for name, attrs := range got {
				if _, ok := tc.want[name]; ok || name == "INBOX" {
					continue
				}
				isParent := false
				for w := range tc.want {
					isParent = isParent || strings.HasPrefix(w, name+"/")
				}
				if !isParent || len(attrs) > 0 {
					t.Errorf("LIST has unexpected mailbox %q %v", name, attrs)
				}
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	c := login(t, s)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatalf("CAPABILITY: %v", err)
	}
	for _, want := range []imap.Cap{imap.CapLiteralPlus, imap.CapUIDPlus, imap.CapMultiAppend, imap.CapSpecialUse, imap.CapIMAP4rev1} {
		if _, ok := caps[want]; !ok {
			t.Errorf("CAPABILITY lacks %s: %v", want, caps)
		}
	}
	if _, ok := caps[imap.CapStartTLS]; ok {
		t.Errorf("CAPABILITY has STARTTLS without Options.TLS")
	}
}

func TestAppendAndFetchBack(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	c := login(t, s)
	msg := testMessage("append-roundtrip")
	date := time.Date(2001, 2, 3, 4, 5, 6, 0, time.FixedZone("", 3600))
	flags := []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagAnswered, "$Forwarded"}
	uid := appendMessage(t, c, "Sent", msg, &imap.AppendOptions{Flags: flags, Time: date})

	msgs := fetchAll(t, c, "Sent")
	if len(msgs) != 1 {
		t.Fatalf("Sent holds %d messages after one APPEND, want 1", len(msgs))
	}
	m := msgs[0]
	if m.UID != uid {
		t.Errorf("UID %d, APPENDUID said %d", m.UID, uid)
	}
	if len(m.BodySection) != 1 {
		t.Errorf("FETCH returned %d body sections, want 1", len(m.BodySection))
	} else if got := m.BodySection[0].Bytes; !bytes.Equal(got, msg) {
		t.Errorf("BODY[] differs from what was appended:\n got %q\nwant %q", got, msg)
	}
	if m.RFC822Size != int64(len(msg)) {
		t.Errorf("RFC822.SIZE %d, want %d", m.RFC822Size, len(msg))
	}
	var gotFlags []imap.Flag
	for _, f := range m.Flags {
		if f != `\Recent` { // set by the server, RFC 3501 2.3.2
			gotFlags = append(gotFlags, f)
		}
	}
	slices.Sort(gotFlags)
	slices.Sort(flags)
	if !slices.Equal(gotFlags, flags) {
		t.Errorf("FLAGS %v, want %v", gotFlags, flags)
	}
	if !m.InternalDate.Equal(date) {
		t.Errorf("INTERNALDATE %v, want %v", m.InternalDate, date)
	}

	// The server's own view, through doveadm, agrees.
	out, err := s.Doveadm("fetch", "-u", s.Users[0].Name, "uid flags date.received", "mailbox", "Sent")
	if err != nil {
		t.Fatalf("doveadm: %v", err)
	}
	text := string(out)
	for _, want := range []string{"uid: " + strconv.Itoa(int(uid)), `\Seen`, `\Flagged`, `\Answered`, "$Forwarded", "date.received: 2001-02-03 03:05:06"} {
		if !strings.Contains(text, want) {
			t.Errorf("doveadm fetch output lacks %q:\n%s", want, text)
		}
	}
}

func TestWrongCredentialsRefused(t *testing.T) {
	t.Parallel()
	const wrong = "wrong-Password-7c1f"
	s := Start(t, Options{Users: []User{{Name: "alice", Password: "right \"pass\\word\" é"}, {Name: "bob@example.org", Password: "bobs-password"}}})
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password (RFC 5530 AUTHENTICATIONFAILED)", "alice", wrong},
		{"another user's password", "alice", "bobs-password"},
		{"unknown user", "mallory", wrong},
		{"empty password", "alice", ""},
	} {
		c := dial(t, s)
		err := c.Login(tc.user, tc.pass).Wait()
		var ierr *imap.Error
		if !errors.As(err, &ierr) || ierr.Type != imap.StatusResponseTypeNo {
			t.Errorf("%s: LOGIN gave %v, want a tagged NO", tc.name, err)
			continue
		}
		if tc.pass != "" && ierr.Code != imap.ResponseCodeAuthenticationFailed {
			t.Errorf("%s: response code %q, want AUTHENTICATIONFAILED", tc.name, ierr.Code)
		}
	}
	// The right passwords (with quotes, a backslash, a space and UTF-8)
	// still work, at once: the helper turns off Dovecot's failure delay.
	start := time.Now()
	for _, u := range s.Users {
		c := dial(t, s)
		if err := c.Login(u.Name, u.Password).Wait(); err != nil {
			t.Errorf("login as %s after failed attempts: %v", u.Name, err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("logging in after failed attempts took %v", d)
	}
	if log := s.Log(); strings.Contains(log, wrong) || strings.Contains(log, "bobs-password") {
		t.Errorf("the Dovecot log contains a password:\n%s", log)
	} else if !strings.Contains(log, "Password mismatch") {
		t.Errorf("the Dovecot log does not record the failed logins:\n%s", log)
	}
}

func TestDefaultUserHasRandomPassword(t *testing.T) {
	t.Parallel()
	a := Start(t, Options{})
	b := Start(t, Options{})
	if len(a.Users) != 1 || a.Users[0].Name != "alice" || len(a.Users[0].Password) < 16 {
		t.Fatalf("default users %v, want alice with a long random password", a.Users)
	}
	if a.Users[0].Password == b.Users[0].Password {
		t.Errorf("two servers got the same default password %q", a.Users[0].Password)
	}
	login(t, a)
}

func TestTLS(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{TLS: true})
	if s.TLSPort == 0 || s.TLSPort == s.Port || s.CAFile == "" {
		t.Fatalf("TLS server: Port %d, TLSPort %d, CAFile %q", s.Port, s.TLSPort, s.CAFile)
	}
	pemData, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("%s holds no PEM certificate", s.CAFile)
	}
	u := s.Users[0]

	for _, serverName := range []string{"localhost", "127.0.0.1", ""} {
		opts := &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: serverName}}
		t.Run("implicit TLS (RFC 8314) verifies as "+strconv.Quote(serverName), func(t *testing.T) {
			c, err := imapclient.DialTLS(s.TLSAddr(), opts)
			if err != nil {
				t.Fatalf("imaps with the CA: %v", err)
			}
			defer c.Close()
			if err := c.Login(u.Name, u.Password).Wait(); err != nil {
				t.Fatalf("login over imaps: %v", err)
			}
		})
		t.Run("STARTTLS (RFC 3501 6.2.1) verifies as "+strconv.Quote(serverName), func(t *testing.T) {
			c, err := imapclient.DialStartTLS(s.Addr(), opts)
			if err != nil {
				t.Fatalf("STARTTLS with the CA: %v", err)
			}
			defer c.Close()
			if err := c.Login(u.Name, u.Password).Wait(); err != nil {
				t.Fatalf("login after STARTTLS: %v", err)
			}
			caps, err := c.Capability().Wait()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := caps[imap.CapStartTLS]; ok {
				t.Errorf("STARTTLS still advertised after STARTTLS")
			}
		})
	}

	t.Run("plaintext port advertises STARTTLS", func(t *testing.T) {
		c := dial(t, s)
		caps, err := c.Capability().Wait()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := caps[imap.CapStartTLS]; !ok {
			t.Errorf("no STARTTLS in %v", caps)
		}
	})

	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"system roots do not know the throwaway CA", &tls.Config{ServerName: "localhost"}},
		{"certificate is not valid for another name", &tls.Config{RootCAs: pool, ServerName: "imap.example.org"}},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			c, err := imapclient.DialTLS(s.TLSAddr(), &imapclient.Options{TLSConfig: tc.cfg})
			if err == nil {
				c.Close()
				t.Fatalf("imaps: verification passed, want a failure")
			}
			var verr *tls.CertificateVerificationError
			if !errors.As(err, &verr) {
				t.Errorf("imaps: %v, want a certificate verification error", err)
			}
			c, err = imapclient.DialStartTLS(s.Addr(), &imapclient.Options{TLSConfig: tc.cfg})
			if err == nil {
				c.Close()
				t.Fatalf("STARTTLS: verification passed, want a failure")
			}
			if !errors.As(err, &verr) {
				t.Errorf("STARTTLS: %v, want a certificate verification error", err)
			}
		})
	}
}

func TestMdboxStorage(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Storage: "mdbox"})
	c := login(t, s)
	msg := testMessage("mdbox")
	appendMessage(t, c, "INBOX", msg, nil)
	msgs := fetchAll(t, c, "INBOX")
	if len(msgs) != 1 || len(msgs[0].BodySection) != 1 || !bytes.Equal(msgs[0].BodySection[0].Bytes, msg) {
		t.Fatalf("INBOX after one APPEND: %v", msgs)
	}
	home := filepath.Join(s.Dir, "home", s.Users[0].Name)
	storage, err := filepath.Glob(filepath.Join(home, "mdbox", "storage", "m.*"))
	if err != nil || len(storage) == 0 {
		t.Errorf("no mdbox storage file under %s (err %v)", home, err)
	}
	if _, err := os.Stat(filepath.Join(home, "Maildir")); err == nil {
		t.Errorf("a Maildir exists in %s with Storage mdbox", home)
	}
}

func TestMaildirStorage(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	c := login(t, s)
	appendMessage(t, c, "INBOX", testMessage("maildir"), nil)
	files, err := filepath.Glob(filepath.Join(s.Dir, "home", s.Users[0].Name, "Maildir", "[cn][ue][rw]", "*"))
	if err != nil || len(files) != 1 {
		t.Errorf("Maildir cur/ and new/ hold %d files after one APPEND, want 1 (err %v)", len(files), err)
	}
}

func TestFSyncSetting(t *testing.T) {
	if _, err := exec.LookPath("doveconf"); err != nil {
		t.Skip("doveconf not in PATH")
	}
	t.Parallel()
	for _, tc := range []struct {
		fsync bool
		want  string
	}{{false, "never"}, {true, "optimized"}} {
		s := Start(t, Options{FSync: tc.fsync})
		out, err := exec.Command("doveconf", "-c", s.Config, "-h", "mail_fsync").CombinedOutput()
		if err != nil {
			t.Fatalf("doveconf: %v: %s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("FSync %v: mail_fsync = %q, want %q", tc.fsync, got, tc.want)
		}
	}
}

func TestMaxUserConnections(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{MaxUserConnections: 2})
	login(t, s)
	login(t, s)
	c := dial(t, s)
	err := c.Login(s.Users[0].Name, s.Users[0].Password).Wait()
	var ierr *imap.Error
	if !errors.As(err, &ierr) || ierr.Code != imap.ResponseCodeLimit {
		t.Fatalf("third session with MaxUserConnections 2: %v, want NO [LIMIT]", err)
	}
}

func TestExtraConfigQuota(t *testing.T) {
	t.Parallel()
	// Dovecot 2.3's count quota backend, as an uploader test would use
	// it to provoke OVERQUOTA (RFC 9208 5.1).
	s := Start(t, Options{Extra: `mail_plugins = $mail_plugins quota
plugin {
  quota = count:User quota
  quota_rule = *:storage=1K
  quota_vsizes = yes
}`})
	c := login(t, s)
	appendMessage(t, c, "INBOX", testMessage("fits"), nil)
	big := append(testMessage("too-big"), bytes.Repeat([]byte("0123456789abcdef\r\n"), 100)...)
	cmd := c.Append("INBOX", int64(len(big)), nil)
	cmd.Write(big)
	cmd.Close()
	_, err := cmd.Wait()
	var ierr *imap.Error
	if !errors.As(err, &ierr) || ierr.Code != imap.ResponseCodeOverQuota {
		t.Fatalf("APPEND over a 1K quota: %v, want NO [OVERQUOTA]", err)
	}
}

func TestTwoServersAtOnce(t *testing.T) {
	t.Parallel()
	a := Start(t, Options{})
	b := Start(t, Options{Storage: "mdbox"})
	if a.Port == b.Port || a.Dir == b.Dir {
		t.Fatalf("servers share a port or a directory: %s %s, %s %s", a.Addr(), a.Dir, b.Addr(), b.Dir)
	}
	ca, cb := login(t, a), login(t, b)
	appendMessage(t, ca, "INBOX", testMessage("to-a"), nil)
	appendMessage(t, cb, "INBOX", testMessage("to-b-1"), nil)
	appendMessage(t, cb, "INBOX", testMessage("to-b-2"), nil)
	if n := len(fetchAll(t, ca, "INBOX")); n != 1 {
		t.Errorf("server a holds %d messages, want 1", n)
	}
	if n := len(fetchAll(t, cb, "INBOX")); n != 2 {
		t.Errorf("server b holds %d messages, want 2", n)
	}
}

// psProc is one line of ps.
type psProc struct {
	pid, pgid  int
	user, comm string
}

// psGroup lists the live processes of process group pgid, with ps.
func psGroup(t *testing.T, pgid int) []psProc {
	t.Helper()
	out, err := exec.Command("ps", "-e", "-o", "pid=,pgid=,stat=,user:32=,comm=").Output()
	if err != nil {
		t.Fatalf("ps: %v", err)
	}
	var procs []psProc
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		pid, _ := strconv.Atoi(f[0])
		g, _ := strconv.Atoi(f[1])
		if g != pgid || strings.HasPrefix(f[2], "Z") {
			continue
		}
		procs = append(procs, psProc{pid: pid, pgid: g, user: f[3], comm: strings.Join(f[4:], " ")})
	}
	return procs
}

func TestCloseLeavesNoProcess(t *testing.T) {
	if _, err := exec.LookPath("ps"); err != nil {
		t.Skip("ps not installed")
	}
	t.Parallel()
	s := Start(t, Options{TLS: true})
	c := login(t, s) // an open session: an imap process runs
	waiting := dial(t, s)
	if err := waiting.WaitGreeting(); err != nil { // not logged in: an imap-login process runs
		t.Fatalf("greeting: %v", err)
	}
	appendMessage(t, c, "INBOX", testMessage("close"), nil)
	pgid := s.proc.pgid
	before := psGroup(t, pgid)
	comms := map[string]string{}
	for _, p := range before {
		comms[p.comm] = p.user
	}
	for _, want := range []string{"dovecot", "imap-login", "imap", "auth"} {
		if _, ok := comms[want]; !ok {
			t.Errorf("process group %d has no %s process before Close: %v", pgid, want, before)
		}
	}
	if os.Geteuid() == 0 {
		// As root, the mail is handled by the unprivileged mail user.
		if u := comms["imap"]; u != MailUser {
			t.Errorf("the imap process runs as %q, want %s", u, MailUser)
		}
		if u := comms["imap-login"]; u != "dovenull" {
			t.Errorf("imap-login runs as %q, want dovenull", u)
		}
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if after := psGroup(t, pgid); len(after) > 0 {
		t.Errorf("processes left after Close: %v", after)
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after Close (err %v)", s.Dir, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStartFailureReportsLog(t *testing.T) {
	if !Installed() {
		t.Skip("dovecot not installed")
	}
	t.Parallel()
	before := strayDirs(t)
	_, err := StartProcess(Options{Extra: "no_such_dovecot_setting = 1"})
	if err == nil {
		t.Fatal("StartProcess with an unknown setting succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"no_such_dovecot_setting", "dovecot log"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the start error lacks %q:\n%s", want, msg)
		}
	}
	// Nothing is left behind: the directory named in the error is gone.
	for d := range strayDirs(t) {
		if !before[d] && strings.Contains(msg, d) {
			t.Errorf("%s left behind by a failed start", d)
		}
	}
}

func strayDirs(t *testing.T) map[string]bool {
	dirs := map[string]bool{}
	for _, parent := range []string{os.TempDir(), "/tmp"} {
		m, _ := filepath.Glob(filepath.Join(parent, "a2i-dovecot-*"))
		for _, d := range m {
			dirs[d] = true
		}
	}
	return dirs
}

func TestStartIsQuick(t *testing.T) {
	if !Installed() {
		t.Skip("dovecot not installed")
	}
	start := time.Now()
	s, err := StartProcess(Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("start with TLS took %v, close %v", d, time.Since(start)-d)
	// A hang guard, not a speed test (a busy machine is slow to start
	// anything): Start's own wait for the port is what keeps it short.
	if d > 20*time.Second {
		t.Errorf("starting took %v", d)
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"user name with a colon breaks the passwd-file", Options{Users: []User{{Name: "a:b", Password: "x"}}}, "user name"},
		{"user name with a slash escapes the home directory", Options{Users: []User{{Name: "../x", Password: "x"}}}, "user name"},
		{"empty user name", Options{Users: []User{{Password: "x"}}}, "empty user name"},
		{"password with a colon breaks the passwd-file", Options{Users: []User{{Name: "a", Password: "p:q"}}}, "password"},
		{"password with a newline", Options{Users: []User{{Name: "a", Password: "p\nq"}}}, "password"},
		{"empty password", Options{Users: []User{{Name: "a"}}}, "empty password"},
		{"duplicate user", Options{Users: []User{{Name: "a", Password: "x"}, {Name: "a", Password: "y"}}}, "twice"},
		{"unknown storage", Options{Storage: "mbox"}, "storage"},
		{"negative connection limit", Options{MaxUserConnections: -1}, "negative"},
		{"attribute not in RFC 6154", Options{SpecialUse: map[string]string{`\Outbox`: "Outbox"}}, "special-use attribute"},
		{"attribute without backslash", Options{SpecialUse: map[string]string{`Sent`: "Sent"}}, "special-use attribute"},
		{"mailbox name with a quote breaks the config", Options{SpecialUse: map[string]string{`\Sent`: `Sent "x"`}}, "mailbox name"},
		{"mailbox name ending in the separator", Options{SpecialUse: map[string]string{`\Sent`: "Sent/"}}, "separator"},
		{"INBOX as a special-use mailbox", Options{SpecialUse: map[string]string{`\Sent`: "inbox"}}, "INBOX"},
	} {
		_, err := newConfig(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: newConfig error %v, want one mentioning %q", tc.name, err, tc.want)
		}
		// StartProcess refuses them the same way, before starting anything.
		if Installed() {
			if s, err := StartProcess(tc.opts); err == nil {
				s.Close()
				t.Errorf("%s: StartProcess succeeded", tc.name)
			}
		}
	}
	if _, err := newConfig(Options{SpecialUse: map[string]string{`\sent`: "Sent", `\JUNK`: "Spam"}}); err != nil {
		t.Errorf("attribute names are case-insensitive (RFC 3501 flags): %v", err)
	}
}
