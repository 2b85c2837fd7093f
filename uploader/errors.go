// Package uploader talks IMAP: it connects and authenticates, resolves
// source folders to server folders, fetches what the account already has
// to deduplicate, APPENDs the rest, and verifies the result.
//
// uploader never deletes, expunges, renames, moves or changes anything on
// the server: the only writes it can send are CREATE, SUBSCRIBE and APPEND,
// and a guard on every connection refuses any other write command before it
// reaches the wire (and, in a dry run, those three as well).
package uploader

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrConnect is wrapped by errors about reaching the server: DNS, TCP,
// TLS handshake and certificate verification, a greeting that never came.
var ErrConnect = errors.New("cannot connect")

// ErrAuth is wrapped by errors about logging in: wrong password or token,
// no acceptable mechanism.
var ErrAuth = errors.New("cannot log in")

// ErrServerBusy is wrapped (with ErrConnect) by errors of a server that
// refuses another connection or login for now: too many connections,
// throttling, temporarily unavailable. During a run it slows the run down
// instead of stopping it.
var ErrServerBusy = errors.New("the server is busy")

// busy reports whether a server's refusal (response code and text) means
// "not now" rather than "never": RFC 5530 UNAVAILABLE and INUSE, the
// THROTTLED code of Gmail and Microsoft 365, LIMIT when it is not about a
// message's size, and the texts servers use for too many connections
// (Dovecot "Maximum number of connections from user+IP exceeded", Gmail
// "Too many simultaneous connections").
func busy(code, text string) bool {
	code = strings.ToUpper(code)
	t := strings.ToLower(text)
	switch code {
	case "THROTTLED", "UNAVAILABLE", "INUSE":
		return true
	case "LIMIT":
		return !strings.Contains(t, "size") && !strings.Contains(t, "large") && !strings.Contains(t, "big")
	}
	for _, s := range []string{"too many", "simultaneous connections", "maximum number of connections", "try again later", "throttl", "rate limit", "server busy", "temporarily unavailable"} {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}

// backoffHint returns the pause a server suggests in its text, as
// Microsoft 365 does ("Suggested Backoff Time: 2389 milliseconds"), or 0.
func backoffHint(text string) time.Duration {
	i := strings.Index(strings.ToLower(text), "suggested backoff time:")
	if i < 0 {
		return 0
	}
	f := strings.Fields(text[i+len("suggested backoff time:"):])
	if len(f) == 0 {
		return 0
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 {
		return 0
	}
	unit := time.Millisecond
	if len(f) > 1 && strings.HasPrefix(strings.ToLower(f[1]), "sec") {
		unit = time.Second
	}
	d := time.Duration(n) * unit
	if d > 10*time.Minute {
		d = 10 * time.Minute
	}
	return d
}

// busyError marks an error as ErrServerBusy without changing its text.
type busyError struct{ err error }

func (e *busyError) Error() string   { return e.err.Error() }
func (e *busyError) Unwrap() []error { return []error{e.err, ErrServerBusy} }

// markBusy marks err as ErrServerBusy when the server's code and text say
// "not now".
func markBusy(err error, code, text string) error {
	if err == nil || !busy(code, text) {
		return err
	}
	return &busyError{err}
}
