package importers

import (
	"context"
	"errors"
)

// STUB: being written. Contract:

// readEmlx reads the Apple Mail store folder f.Path (the directory that holds
// Messages/*.emlx, and Attachments/ for .partial.emlx files).
func readEmlx(ctx context.Context, f *Folder, opts *Options, h *Handler) error {
	return errors.New("emlx: not implemented")
}

// readEmlxMessage reads again the .emlx file at loc, with Data.
func readEmlxMessage(loc Location, opts *Options) (*Message, error) {
	return nil, errors.New("emlx: not implemented")
}
