package dovecottest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is the dovecot master, leader of its own process group; every
// Dovecot process it forks stays in that group.
type process struct {
	pgid    int
	exited  chan struct{} // closed when the master has been waited for
	waitErr error         // set before exited is closed
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If the test binary dies without Close (a panic, a timeout
		// kill), the master is told to shut down its instance.
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{pgid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop ends the instance: SIGTERM to the whole process group, so the master
// and its children shut down together (the master alone takes a second or
// more to wind its children down); SIGKILL for the group if the master is
// not gone after a short grace, and for any process of the group left after
// the master. It returns once no live process of the group is left.
func (p *process) stop() error {
	syscall.Kill(-p.pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(500 * time.Millisecond):
		// A throwaway instance: nothing is lost by not waiting longer.
		syscall.Kill(-p.pgid, syscall.SIGKILL)
		<-p.exited
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := groupMembers(p.pgid)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes of group %d still running after SIGKILL: %s", p.pgid, strings.Join(left, ", "))
		}
		// Orphans of the master: nobody else will stop them.
		syscall.Kill(-p.pgid, syscall.SIGKILL)
		time.Sleep(10 * time.Millisecond)
	}
}

// groupMembers lists the live (not zombie) processes of process group pgid
// as "pid name", from /proc.
func groupMembers(pgid int) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		// No /proc: fall back to asking the kernel about the group.
		if err := syscall.Kill(-pgid, 0); err == nil || !errors.Is(err, syscall.ESRCH) {
			return []string{"group " + strconv.Itoa(pgid)}
		}
		return nil
	}
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		name, state, pgrp, ok := procStat(pid)
		if ok && pgrp == pgid && state != 'Z' && state != 'X' {
			out = append(out, strconv.Itoa(pid)+" "+name)
		}
	}
	return out
}

// procStat reads the command name, state and process group of pid from
// /proc/pid/stat ("pid (comm) state ppid pgrp ...").
func procStat(pid int) (name string, state byte, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, 0, false
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, 0, false
	}
	fields := strings.Fields(s[closing+1:])
	if len(fields) < 3 || len(fields[0]) != 1 {
		return "", 0, 0, false
	}
	pgrp, err = strconv.Atoi(fields[2])
	if err != nil {
		return "", 0, 0, false
	}
	return s[open+1 : closing], fields[0][0], pgrp, true
}
