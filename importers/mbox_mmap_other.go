//go:build !linux

package importers

import (
	"errors"
	"os"
)

// See mbox_mmap_unix.go: outside Linux, mbox files are read in chunks.

func mmapMbox(*os.File) ([]byte, error) { return nil, errors.ErrUnsupported }

func munmapMbox([]byte) {}

func releaseMapped([]byte) {}
