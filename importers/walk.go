package importers

import (
	"context"
	"errors"
)

// STUB: being written. Contract:

// Walk reads the archive at path (a file or a directory tree, in any layout
// when opts.Format is auto) and reports its folders, messages, problems and
// ignored files to h, folders in a stable order. It returns an error
// wrapping ErrNotFound when path does not exist, ErrNotMail when it holds
// no mail at all, h's own errors, and ctx's error when cancelled; anything
// else unreadable is a Problem and reading goes on.
func Walk(ctx context.Context, path string, opts Options, h Handler) error {
	return errors.New("walk: not implemented")
}

// ReadMessage reads again the message of a folder in format f at loc, with
// Data, for uploading.
func ReadMessage(f Format, loc Location, opts Options) (*Message, error) {
	return nil, errors.New("walk: not implemented")
}
