package importers

import (
	"context"
	"errors"
)

// STUB: being written. Contract:

// readMbox reads the mbox file f.Path and calls h.Message for each message,
// in file order. Problems with single messages or the file go to h.Problem;
// the error is only for h's own errors and cancellation.
func readMbox(ctx context.Context, f *Folder, opts *Options, h *Handler) error {
	return errors.New("mbox: not implemented")
}

// readMboxMessage reads again the message at loc (Offset, Length as Walk
// reported them), with Data.
func readMboxMessage(loc Location, opts *Options) (*Message, error) {
	return nil, errors.New("mbox: not implemented")
}

// sniffMbox reports whether head, the first bytes of a file (up to 4 KiB),
// is the start of an mbox (or MMDF) file.
func sniffMbox(head []byte) bool { return false }
