package dovecottest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// config is Options checked and with defaults filled in.
type config struct {
	users      []User
	storage    string
	fsync      bool
	tls        bool
	mailboxes  []specialMailbox // sorted by name
	maxConns   int
	extra      string
	defaultPwd bool
	port       int
}

type specialMailbox struct {
	name  string
	attrs []string // canonical spelling, sorted
}

// specialUseAttrs are the attributes Dovecot 2.3 accepts in special_use:
// RFC 6154's and RFC 8457's \Important.
var specialUseAttrs = []string{`\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Important`, `\Junk`, `\Sent`, `\Trash`}

// DefaultSpecialUse is the SpecialUse used when Options.SpecialUse is nil.
func DefaultSpecialUse() map[string]string {
	return map[string]string{
		`\Sent`:    "Sent",
		`\Drafts`:  "Drafts",
		`\Trash`:   "Trash",
		`\Junk`:    "Junk",
		`\Archive`: "Archive",
	}
}

func newConfig(opts Options) (config, error) {
	c := config{
		fsync:    opts.FSync,
		tls:      opts.TLS,
		maxConns: opts.MaxUserConnections,
		extra:    opts.Extra,
		port:     opts.Port,
	}

	c.users = append([]User(nil), opts.Users...)
	if len(c.users) == 0 {
		c.users = []User{{Name: "alice", Password: randomHex(12)}}
		c.defaultPwd = true
	}
	seen := map[string]bool{}
	for i, u := range c.users {
		if err := checkUserName(u.Name); err != nil {
			return c, fmt.Errorf("user %d: %w", i+1, err)
		}
		if err := checkPassword(u.Password); err != nil {
			return c, fmt.Errorf("user %q: %w", u.Name, err)
		}
		if seen[u.Name] {
			return c, fmt.Errorf("user %q is listed twice", u.Name)
		}
		seen[u.Name] = true
	}

	switch strings.ToLower(opts.Storage) {
	case "", "maildir":
		c.storage = "maildir"
	case "mdbox":
		c.storage = "mdbox"
	default:
		return c, fmt.Errorf("storage %q: want \"maildir\" or \"mdbox\"", opts.Storage)
	}

	if opts.MaxUserConnections < 0 {
		return c, fmt.Errorf("MaxUserConnections %d is negative", opts.MaxUserConnections)
	}

	special := opts.SpecialUse
	if special == nil {
		special = DefaultSpecialUse()
	}
	byName := map[string][]string{}
	for attr, name := range special {
		canon := ""
		for _, a := range specialUseAttrs {
			if strings.EqualFold(attr, a) {
				canon = a
			}
		}
		if canon == "" {
			return c, fmt.Errorf("special-use attribute %q: want one of %s", attr, strings.Join(specialUseAttrs, " "))
		}
		if err := checkMailboxName(name); err != nil {
			return c, fmt.Errorf("special-use mailbox for %s: %w", canon, err)
		}
		byName[name] = append(byName[name], canon)
	}
	for name, attrs := range byName {
		sort.Strings(attrs)
		c.mailboxes = append(c.mailboxes, specialMailbox{name: name, attrs: attrs})
	}
	sort.Slice(c.mailboxes, func(i, j int) bool { return c.mailboxes[i].name < c.mailboxes[j].name })
	return c, nil
}

func checkUserName(name string) error {
	if name == "" {
		return fmt.Errorf("empty user name")
	}
	if strings.ContainsAny(name, ":/%\\\"' \t") || hasControl(name) {
		return fmt.Errorf("user name %q: it may not contain ':', '/', '%%', quotes, backslashes, spaces or control characters", name)
	}
	return nil
}

func checkPassword(pw string) error {
	if pw == "" {
		return fmt.Errorf("empty password")
	}
	if strings.Contains(pw, ":") || hasControl(pw) {
		return fmt.Errorf("the password may not contain ':' or control characters (passwd-file format)")
	}
	return nil
}

func checkMailboxName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty mailbox name")
	case strings.ContainsAny(name, "\"\\{}*%"), hasControl(name):
		return fmt.Errorf("mailbox name %q: it may not contain quotes, backslashes, braces, wildcards or control characters", name)
	case strings.HasPrefix(name, "/"), strings.HasSuffix(name, "/"), strings.Contains(name, "//"):
		return fmt.Errorf("mailbox name %q: '/' is the hierarchy separator and cannot start, end or repeat", name)
	case strings.EqualFold(name, "INBOX"):
		return fmt.Errorf("mailbox name %q: INBOX cannot be a special-use mailbox here", name)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// renderParams are the per-start values of a configuration.
type renderParams struct {
	dir               string
	port, tlsPort     int
	certFile, keyFile string
	greeting          string
	ids               identity
}

// render writes the dovecot.conf (Dovecot 2.3 syntax) of one instance.
func (c config) render(p renderParams) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	w("# Written by archive2imap's internal/dovecottest for one test server;")
	w("# removed when the server is closed. Dovecot 2.3 syntax.")
	w("protocols = imap")
	w("listen = 127.0.0.1")
	w("base_dir = %s", filepath.Join(p.dir, "run"))
	w("state_dir = %s", filepath.Join(p.dir, "state"))
	w("instance_name = dovecottest-%d", p.port)
	w("log_path = %s", filepath.Join(p.dir, "dovecot.log"))
	w("login_greeting = %s", p.greeting)
	w("")
	w("# Who runs what.")
	if p.ids.root {
		w("mail_uid = %d", p.ids.mailUID)
		w("mail_gid = %d", p.ids.mailGID)
		w("first_valid_uid = %d", p.ids.mailUID)
		w("last_valid_uid = %d", p.ids.mailUID)
		w("first_valid_gid = 1")
		w("default_login_user = %s", p.ids.loginUser)
		w("default_internal_user = %s", p.ids.internalUser)
	} else {
		// Not root: no user switching and no chroot; every process
		// runs as the current user.
		w("first_valid_uid = %d", p.ids.mailUID)
		w("last_valid_uid = %d", p.ids.mailUID)
		w("first_valid_gid = 0")
		w("default_login_user = %s", p.ids.loginUser)
		w("default_internal_user = %s", p.ids.internalUser)
		w("default_internal_group = %s", p.ids.internalGroup)
		for _, svc := range []string{"anvil", "imap-login", "imap-urlauth-login", "ipc", "old-stats", "aggregator", "director"} {
			w("service %s {\n  chroot =\n}", svc)
		}
	}
	w("")
	w("# Authentication: plaintext on loopback, passwords {PLAIN} in a passwd-file.")
	w("auth_mechanisms = plain login")
	w("auth_verbose = yes")
	// Tests log in with wrong passwords on purpose. Dovecot delays every
	// failure (auth_failure_delay, checked every 0.5 s, unless the passdb
	// says nodelay) and adds a per-IP penalty of up to 15 s to the next
	// attempts (anvil). The first passdb only adds nodelay and hands on;
	// the passwd-file decides.
	w("auth_failure_delay = 0")
	w("service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}")
	if c.tls {
		w("ssl = yes")
		w("ssl_cert = <%s", p.certFile)
		w("ssl_key = <%s", p.keyFile)
		w("ssl_min_protocol = TLSv1.2")
	} else {
		w("ssl = no")
	}
	w("disable_plaintext_auth = no")
	w("passdb {\n  driver = static\n  args = noauthenticate nodelay=yes\n  result_success = continue\n}")
	w("passdb {\n  driver = passwd-file\n  args = %s\n}", filepath.Join(p.dir, "users"))
	w("userdb {\n  driver = passwd-file\n  args = %s\n  default_fields = home=%s/%%u\n}",
		filepath.Join(p.dir, "users"), filepath.Join(p.dir, "home"))
	w("")
	w("# Storage.")
	switch c.storage {
	case "mdbox":
		w("mail_location = mdbox:~/mdbox")
	default:
		w("mail_location = maildir:~/Maildir")
	}
	if c.fsync {
		w("mail_fsync = optimized")
	} else {
		w("mail_fsync = never")
	}
	w("namespace inbox {")
	w("  inbox = yes")
	w("  separator = /")
	w("  prefix =")
	for _, m := range c.mailboxes {
		w("  mailbox \"%s\" {", m.name)
		w("    special_use = %s", strings.Join(m.attrs, " "))
		w("    auto = subscribe")
		w("  }")
	}
	w("}")
	w("")
	w("# Listeners: IMAP on loopback only; every other service keeps to unix")
	w("# sockets in base_dir.")
	w("service imap-login {")
	w("  inet_listener imap {")
	w("    address = 127.0.0.1")
	w("    port = %d", p.port)
	w("  }")
	w("  inet_listener imaps {")
	w("    address = 127.0.0.1")
	w("    port = %d", p.tlsPort) // 0 disables it
	if p.tlsPort != 0 {
		w("    ssl = yes")
	}
	w("  }")
	w("}")
	if c.maxConns > 0 {
		w("protocol imap {\n  mail_max_userip_connections = %d\n}", c.maxConns)
	}
	if c.extra != "" {
		w("")
		w("# Options.Extra")
		w("%s", c.extra)
	}
	return b.String()
}

// makeServerDir creates the server's directory. Dovecot's unprivileged
// processes must reach into it, so it is 0755 in a directory they can
// traverse (t.TempDir's directories are 0700), and its path is short and
// plain: unix socket paths are limited to 108 bytes and paths are written
// into dovecot.conf unquoted.
func makeServerDir(ids identity) (string, error) {
	parent := os.TempDir()
	if !usableParent(parent, ids.root) {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "a2i-dovecot-")
	if err != nil {
		return "", fmt.Errorf("creating the server directory: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("creating the server directory: %w", err)
	}
	for _, sub := range []string{"state", "home"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("creating the server directory: %w", err)
		}
	}
	if ids.root {
		// The mail processes run as the mail user and create the
		// users' homes here.
		home := filepath.Join(dir, "home")
		if err := os.Chown(home, ids.mailUID, ids.mailGID); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("creating the server directory: %w", err)
		}
		if err := os.Chmod(home, 0o700); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("creating the server directory: %w", err)
		}
	}
	return dir, nil
}

// usableParent reports whether temporary server directories can go in dir.
func usableParent(dir string, root bool) bool {
	if len(dir) > 60 || !plainPath(dir) {
		return false
	}
	if !root {
		return true
	}
	// Every ancestor must be traversable by the unprivileged users.
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if filepath.Dir(d) == d {
			return true
		}
	}
}

func plainPath(p string) bool {
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-", r)) {
			return false
		}
	}
	return true
}

// writeAccounts writes the passwd-file used as passdb and userdb: the users
// with {PLAIN} passwords. As root it is readable by Dovecot's auth process
// (the internal user's group) only.
func writeAccounts(dir string, users []User, ids identity) error {
	var b strings.Builder
	for _, u := range users {
		// user:password:uid:gid:gecos:home:shell:extra; uid and gid come
		// from mail_uid/mail_gid, home from default_fields.
		fmt.Fprintf(&b, "%s:{PLAIN}%s::::::\n", u.Name, u.Password)
	}
	path := filepath.Join(dir, "users")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("writing the users file: %w", err)
	}
	if ids.root {
		if err := os.Chown(path, 0, ids.internalGID); err != nil {
			return fmt.Errorf("writing the users file: %w", err)
		}
		if err := os.Chmod(path, 0o640); err != nil {
			return fmt.Errorf("writing the users file: %w", err)
		}
	}
	return nil
}
