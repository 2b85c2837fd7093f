package uploader

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/internal/memimap"
)

func TestClientMessages(t *testing.T) {
	s := startServer(t, memimap.Options{})
	o := s.observer()
	d1 := time.Date(2003, 5, 6, 7, 8, 9, 0, time.FixedZone("", -7*3600))
	d2 := time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)
	withID := mail("Abc.123@Example.ORG", "With ID", "Body.")
	folded := strings.Replace(mail("", "Folded ID", "Body 2."), "Subject: Folded ID\n", "Subject: Folded ID\nMessage-ID:\n  <folded@example.org> (comment)\n", 1)
	msgs := []struct {
		data  string
		flags []imap.Flag
		date  time.Time
		key   string
	}{
		{withID, []imap.Flag{imap.FlagSeen, imap.FlagFlagged}, d1, "mid:Abc.123@Example.ORG"},
		{folded, nil, d2, "mid:folded@example.org"},                      // RFC 5322 §3.2.2 folding and a comment
		{noIDKept, []imap.Flag{imap.FlagAnswered, "$Forwarded"}, d1, ""}, // no Message-ID: no key unless its print is asked for
		{noIDOther, nil, d2, ""},
	}
	for _, m := range msgs {
		o.add("INBOX", m.data, m.flags, m.date)
	}
	cl := connect(t, s.config())
	got, err := cl.Messages(context.Background(), "INBOX", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d messages, want %d", len(got), len(msgs))
	}
	for i, m := range msgs {
		g := got[i]
		var flags []string
		for _, f := range m.flags {
			flags = append(flags, string(f))
		}
		slices.Sort(flags)
		gf := slices.Clone(g.Flags)
		slices.Sort(gf)
		if g.UID != uint32(i+1) || g.Key != m.key || !slices.Equal(gf, flags) || !g.InternalDate.Equal(m.date) || g.Size != int64(len(crlf(m.data))) {
			t.Errorf("message %d: %+v, want UID %d key %q flags %v date %s size %d", i+1, g, i+1, m.key, flags, m.date, len(crlf(m.data)))
		}
	}

	// The fingerprint key of a message without Message-ID is computed
	// only when its header print is asked for, and is the importers' key
	// of the same bytes.
	header, _ := importers.SplitHeader([]byte(noIDKept))
	got, err = cl.Messages(context.Background(), "INBOX", map[string]bool{importers.HeaderPrint(header): true})
	if err != nil {
		t.Fatal(err)
	}
	wantKey, _ := importers.KeyOf([]byte(crlf(noIDKept)))
	if !strings.HasPrefix(wantKey, "fp:") || got[2].Key != wantKey {
		t.Errorf("asked for its print: key %q, want %q", got[2].Key, wantKey)
	}
	// noIDOther has the same header print, so it is fetched too: its
	// fingerprint is its own.
	otherKey, _ := importers.KeyOf([]byte(noIDOther))
	if got[3].Key != otherKey || otherKey == wantKey {
		t.Errorf("same print, other body: key %q, want %q", got[3].Key, otherKey)
	}
	got, err = cl.Messages(context.Background(), "INBOX", map[string]bool{"0123456789abcdef": true})
	if err != nil {
		t.Fatal(err)
	}
	if got[2].Key != "" || got[3].Key != "" {
		t.Errorf("other prints asked for: keys %q %q, want none", got[2].Key, got[3].Key)
	}

	// Reading marks nothing read (EXAMINE and BODY.PEEK).
	for _, m := range o.messages("INBOX") {
		if m.UID == 2 && len(m.Flags) != 0 {
			t.Errorf("message 2 has flags %v after being read", m.Flags)
		}
	}

	if got, err := cl.Messages(context.Background(), "Drafts", nil); err != nil || len(got) != 0 {
		t.Errorf("empty mailbox: %v, %v", got, err)
	}
	_, err = cl.Messages(context.Background(), "No such folder", nil)
	var se *ServerError
	if !errors.As(err, &se) || se.Status != "NO" || !strings.Contains(se.Command, "No such folder") {
		t.Errorf("missing mailbox: %v, want a *ServerError naming it", err)
	}
}

func TestClientMailboxes(t *testing.T) {
	s := startServer(t, memimap.Options{SpecialUse: outlookFolders, Folders: []string{"Projects", "Projects/Café"}, AppendLimit: 25 << 20})
	cl := connect(t, s.config())
	boxes, err := cl.Mailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Archive": `\Archive`, "Deleted Items": `\Trash`, "Drafts": `\Drafts`, "INBOX": "",
		"Junk E-mail": `\Junk`, "Projects": "", "Projects/Café": "", "Sent Items": `\Sent`,
	}
	var names []string
	for _, b := range boxes {
		names = append(names, b.Name)
		w, ok := want[b.Name]
		if !ok {
			t.Errorf("unexpected mailbox %q", b.Name)
			continue
		}
		if b.Delim != '/' {
			t.Errorf("%s: delimiter %q", b.Name, b.Delim)
		}
		for _, su := range []string{`\Sent`, `\Drafts`, `\Trash`, `\Junk`, `\Archive`} {
			if b.HasAttr(su) != (su == w) {
				t.Errorf("%s: attributes %v, want %s", b.Name, b.Attrs, w)
			}
		}
		if w != "" && !b.HasAttr(strings.ToLower(w)) {
			t.Errorf("HasAttr is not case-insensitive")
		}
	}
	if !slices.IsSorted(names) || len(names) != len(want) {
		t.Errorf("mailboxes %v", names)
	}
	info := cl.Info()
	if info.Delim != '/' || info.Prefix != "" || info.AppendLimit != 25<<20 || info.Mechanism != MechLogin || !info.Caps.Has(imap.CapLiteralPlus) || !info.Caps.Has(imap.CapUIDPlus) {
		t.Errorf("info %+v", info)
	}
}

func TestClientCreateSubscribe(t *testing.T) {
	s := startServer(t, memimap.Options{})
	cl := connect(t, s.config())
	ctx := context.Background()
	for _, name := range []string{"Archives/2009", "Entwürfe & Notizen"} {
		if err := cl.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
		// Someone created it meanwhile: not an error.
		if err := cl.Create(ctx, name); err != nil {
			t.Errorf("CREATE of an existing folder: %v", err)
		}
		if err := cl.Subscribe(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	o := s.observer()
	if subs := o.subscribed(); !slices.Contains(subs, "Archives/2009") || !slices.Contains(subs, "Entwürfe & Notizen") {
		t.Errorf("subscribed %v", subs)
	}
	err := cl.Subscribe(ctx, "No such folder")
	var se *ServerError
	if !errors.As(err, &se) || se.Status != "NO" {
		t.Errorf("SUBSCRIBE of a missing folder: %v", err)
	}

	dry := s.config()
	dry.DryRun = true
	dc := connect(t, dry)
	if err := dc.Create(ctx, "Dry"); err == nil {
		t.Error("CREATE went through in a dry run")
	}
	if _, ok := o.list()["Dry"]; ok {
		t.Error("a dry run created a folder")
	}
}

func TestConnectErrors(t *testing.T) {
	// A port where nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// A server that is not IMAP (SMTP on the IMAP port).
	smtp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtp.Close() })
	go func() {
		for {
			c, err := smtp.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("220 mx.example.org ESMTP Postfix\r\n"))
			c.Close()
		}
	}()

	for _, tc := range []struct {
		name   string
		server memimap.Options
		cfg    func(*Config)
		is     error  // nil: success
		words  string // in the error: the server's own words, or what went wrong
		mech   string // on success
	}{
		{"LOGIN with the right password", memimap.Options{}, func(c *Config) {}, nil, "", MechLogin},
		{"wrong password: AUTHENTICATIONFAILED (RFC 5530) in the server's words", memimap.Options{},
			func(c *Config) { c.Password = "Tr0ub4dor&3-wrong" }, ErrAuth, "[AUTHENTICATIONFAILED] Authentication failed", ""},
		{"unknown user", memimap.Options{}, func(c *Config) { c.User = "nobody@example.org" }, ErrAuth, "Authentication failed", ""},
		{"AUTHENTICATE PLAIN (RFC 4616) forced", memimap.Options{}, func(c *Config) { c.Mechanism = MechPlain }, nil, "", MechPlain},
		{"AUTHENTICATE PLAIN with a wrong password", memimap.Options{},
			func(c *Config) { c.Mechanism, c.Password = MechPlain, "Tr0ub4dor&3-wrong" }, ErrAuth, "Authentication failed", ""},
		{"Microsoft 365 (basic auth disabled): a password is refused in the server's words", memimap.Options{Token: "token", OAuthOnly: true},
			func(c *Config) {}, ErrAuth, "Basic authentication is disabled", ""},
		{"OAUTHBEARER (RFC 7628) token", memimap.Options{Token: "token", OAuthOnly: true},
			func(c *Config) { c.Password, c.OAuth2Token = "", testToken }, nil, "", MechOAuthBearer},
		{"XOAUTH2 (Gmail) token", memimap.Options{Token: "token", OAuthOnly: true},
			func(c *Config) { c.Password, c.OAuth2Token, c.Mechanism = "", testToken, MechXOAuth2 }, nil, "", MechXOAuth2},
		{"OAUTHBEARER with an expired token", memimap.Options{Token: "token", OAuthOnly: true},
			func(c *Config) { c.Password, c.OAuth2Token = "", testToken+"-expired" }, ErrAuth, "[AUTHENTICATIONFAILED] Authentication failed (OAUTHBEARER authentication error (invalid_token))", ""},
		{"XOAUTH2 with an expired token", memimap.Options{Token: "token", OAuthOnly: true},
			func(c *Config) { c.Password, c.OAuth2Token, c.Mechanism = "", testToken+"-expired", MechXOAuth2 }, ErrAuth, "Authentication failed", ""},
		{"a token with a password mechanism", memimap.Options{Token: "token"},
			func(c *Config) { c.Password, c.OAuth2Token, c.Mechanism = "", testToken, MechPlain }, ErrAuth, "cannot use an OAuth2 token", ""},
		{"nothing listening", memimap.Options{}, func(c *Config) { c.Port = closedPort }, ErrConnect, "connection refused", ""},
		{"not an IMAP server", memimap.Options{}, func(c *Config) { c.Port = smtp.Addr().(*net.TCPAddr).Port }, ErrConnect, "not an IMAP server", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.server)
			cfg := s.config()
			tc.cfg(cfg)
			start := time.Now()
			cl, err := Connect(context.Background(), cfg)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Connect took %s", took)
			}
			if tc.is == nil {
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				defer cl.Close()
				if cl.Info().Mechanism != tc.mech {
					t.Errorf("mechanism %s, want %s", cl.Info().Mechanism, tc.mech)
				}
				if _, err := cl.Mailboxes(context.Background()); err != nil {
					t.Errorf("not logged in: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("Connect: %v, want an error wrapping %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.words) {
				t.Errorf("error %q does not say %q", err, tc.words)
			}
			noSecret(t, err, testPassword, "Tr0ub4dor&3-wrong", testToken)
		})
	}
}

func TestConnectCancelled(t *testing.T) {
	// A server that accepts and never greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	cfg := &Config{Host: addr.IP.String(), Port: addr.Port, TLS: TLSNone, User: testUser, Password: testPassword, Timeout: 300 * time.Millisecond}
	_, err = Connect(context.Background(), cfg)
	if !errors.Is(err, ErrConnect) || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("silent server: %v, want ErrConnect, timed out", err)
	}
}

// TestConnectBrokenDuringLogin: a connection that breaks after the
// greeting, while logging in, is ErrConnect (exit code 3, "cannot
// connect"), whatever go-imap's error wraps, never a failure of the run.
func TestConnectBrokenDuringLogin(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("* OK [CAPABILITY IMAP4rev1] ready\r\n"))
			c.Read(make([]byte, 100)) // the first command, then hang up
			c.Close()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	cfg := &Config{Host: addr.IP.String(), Port: addr.Port, TLS: TLSNone, User: testUser, Password: testPassword, Timeout: 5 * time.Second}
	_, err = Connect(context.Background(), cfg)
	if !errors.Is(err, ErrConnect) || !strings.Contains(err.Error(), cfg.Addr()) {
		t.Errorf("Connect: %v, want ErrConnect naming the server", err)
	}
	noSecret(t, err, testPassword)
}
