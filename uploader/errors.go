// Package uploader talks IMAP: it connects and authenticates, resolves
// source folders to server folders, fetches what the account already has
// to deduplicate, APPENDs the rest, and verifies the result.
//
// uploader never deletes, expunges, renames, moves or changes anything on
// the server: the only writes it can send are CREATE, SUBSCRIBE and APPEND,
// and a guard on every connection refuses any other write command before it
// reaches the wire (and, in a dry run, those three as well).
package uploader

import "errors"

// ErrConnect is wrapped by errors about reaching the server: DNS, TCP,
// TLS handshake and certificate verification, a greeting that never came.
var ErrConnect = errors.New("cannot connect")

// ErrAuth is wrapped by errors about logging in: wrong password or token,
// no acceptable mechanism.
var ErrAuth = errors.New("cannot log in")
