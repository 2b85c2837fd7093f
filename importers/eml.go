package importers

import (
	"context"
	"errors"
)

// STUB: being written. Contract:

// readEML reads the message files (those sniffMessageFile accepts) directly
// inside the directory f.Path, in name order.
func readEML(ctx context.Context, f *Folder, opts *Options, h *Handler) error {
	return errors.New("eml: not implemented")
}

// readEMLMessage reads again the message file at loc, with Data.
func readEMLMessage(loc Location, opts *Options) (*Message, error) {
	return nil, errors.New("eml: not implemented")
}

// sniffMessageFile reports whether a file called name starting with head
// (up to 4 KiB) holds one RFC 5322 message.
func sniffMessageFile(name string, head []byte) bool { return false }
