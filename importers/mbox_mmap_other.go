//go:build !(linux || darwin || freebsd)

package importers

import (
	"errors"
	"os"
)

// Mapping files is not used here: the parallel scan's workers read them.

func mboxMap(*os.File, int64, int64) ([]byte, error) {
	return nil, errors.New("not mapped on this system")
}

func mboxUnmap([]byte) {}

func mboxDrop([]byte) {}

func mboxMapFast(*os.File, int64) bool { return false }
