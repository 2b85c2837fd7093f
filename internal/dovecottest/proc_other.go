//go:build !linux

package dovecottest

import (
	"errors"
	"os/exec"
)

// process is not implemented off Linux: Debian's Dovecot is what the tests
// run against.
type process struct {
	exited  chan struct{}
	waitErr error
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	return nil, errors.New("dovecottest runs Dovecot on Linux only")
}

func (p *process) stop() error { return nil }
