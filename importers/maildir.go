package importers

import (
	"context"
	"errors"
)

// STUB: being written. Contract:

// readMaildir reads the Maildir folder directory f.Path (cur/ and new/).
func readMaildir(ctx context.Context, f *Folder, opts *Options, h *Handler) error {
	return errors.New("maildir: not implemented")
}

// readMaildirMessage reads again the message file at loc, with Data.
func readMaildirMessage(loc Location, opts *Options) (*Message, error) {
	return nil, errors.New("maildir: not implemented")
}
