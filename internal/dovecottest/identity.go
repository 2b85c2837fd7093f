package dovecottest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
)

// MailUser is the system user that owns the test servers' mail when the
// helper runs as root. It is created (as a system user without home or
// login shell) when missing.
const MailUser = "a2imail"

// identity says which users Dovecot's processes run as.
type identity struct {
	root         bool
	mailUID      int // owner of the mail: MailUser as root, else the current user
	mailGID      int
	loginUser    string // default_login_user
	internalUser string // default_internal_user
	internalGID  int    // primary group of internalUser (reads the users file)
	// internalGroup is default_internal_group when not root (the current
	// group); as root Dovecot's default ("dovecot") is kept.
	internalGroup string
}

var (
	identityOnce sync.Once
	identityVal  identity
	identityErr  error
)

// resolveIdentity works out (once per process) the users Dovecot runs as,
// creating MailUser when running as root and it does not exist.
func resolveIdentity() (identity, error) {
	identityOnce.Do(func() { identityVal, identityErr = lookupIdentity() })
	return identityVal, identityErr
}

func lookupIdentity() (identity, error) {
	if os.Geteuid() != 0 {
		cur, err := user.Current()
		if err != nil {
			return identity{}, fmt.Errorf("looking up the current user: %w", err)
		}
		uid, gid := os.Geteuid(), os.Getegid()
		group, err := user.LookupGroupId(strconv.Itoa(gid))
		if err != nil {
			return identity{}, fmt.Errorf("looking up the current group: %w", err)
		}
		return identity{
			mailUID:       uid,
			mailGID:       gid,
			loginUser:     cur.Username,
			internalUser:  cur.Username,
			internalGID:   gid,
			internalGroup: group.Name,
		}, nil
	}

	id := identity{root: true, loginUser: "dovenull", internalUser: "dovecot"}
	mail, err := ensureMailUser()
	if err != nil {
		return identity{}, err
	}
	if id.mailUID, id.mailGID, err = ids(mail); err != nil {
		return identity{}, err
	}
	if _, err := user.Lookup(id.loginUser); err != nil {
		return identity{}, fmt.Errorf("user %s (from the Dovecot package) is missing: %w", id.loginUser, err)
	}
	internal, err := user.Lookup(id.internalUser)
	if err != nil {
		return identity{}, fmt.Errorf("user %s (from the Dovecot package) is missing: %w", id.internalUser, err)
	}
	if _, id.internalGID, err = ids(internal); err != nil {
		return identity{}, err
	}
	return id, nil
}

// ensureMailUser returns MailUser, creating it first if needed. Only called
// as root.
func ensureMailUser() (*user.User, error) {
	if u, err := user.Lookup(MailUser); err == nil {
		return u, nil
	}
	useradd, err := exec.LookPath("useradd")
	if err != nil {
		useradd = "/usr/sbin/useradd"
	}
	cmd := exec.Command(useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", MailUser)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	runErr := cmd.Run()
	// Another test process may have created it at the same time: look
	// again before reporting the failure.
	u, err := user.Lookup(MailUser)
	if err == nil {
		return u, nil
	}
	if runErr != nil {
		return nil, fmt.Errorf("creating the mail user %s: %w: %s", MailUser, runErr, strings.TrimSpace(out.String()))
	}
	return nil, fmt.Errorf("creating the mail user %s: %w", MailUser, err)
}

func ids(u *user.User) (uid, gid int, err error) {
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, fmt.Errorf("user %s: uid %q: %w", u.Username, u.Uid, err)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, fmt.Errorf("user %s: gid %q: %w", u.Username, u.Gid, err)
	}
	if uid == 0 {
		return 0, 0, fmt.Errorf("user %s has uid 0; Dovecot needs a non-root mail user", u.Username)
	}
	return uid, gid, nil
}
