package bench

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// latencyProxy is a TCP proxy on 127.0.0.1 that delays every byte by
// delay in each direction, so a round trip through it takes 2*delay more,
// without limiting throughput: each direction is a pipe with timestamps.
// A chunk read at t is written at t+delay while the next chunks are read
// on; nothing waits for an answer, so a pipelined client keeps the link
// full, as on a long fat network (and unlike a proxy that serializes round
// trips).
type latencyProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
	// How late chunks were written (after their due time): on a busy
	// machine the proxy competes for the CPU and the delay grows.
	late    time.Duration
	maxLate time.Duration
	chunks  int
	// The most chunks read and not yet written at once, in one direction.
	maxQueued int
}

// MaxQueued returns the most chunks that were in transit at once in one
// direction: 1 for a proxy that waits for each chunk to be written before
// it reads the next.
func (p *latencyProxy) MaxQueued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxQueued
}

// Lateness returns the mean and largest delay beyond the configured one,
// over every chunk written so far.
func (p *latencyProxy) Lateness() (mean, most time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.chunks == 0 {
		return 0, 0
	}
	return p.late / time.Duration(p.chunks), p.maxLate
}

// proxyChunk is one read, stamped with when it may be written.
type proxyChunk struct {
	data []byte
	due  time.Time
}

// proxyQueue bounds the chunks in transit per direction. 4,096 chunks of
// up to 64 KiB is far more than any bandwidth-delay product here, so the
// queue never throttles.
const proxyQueue = 4096

func startLatencyProxy(tb testing.TB, target string, delay time.Duration) *latencyProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("proxy: %v", err)
	}
	p := &latencyProxy{ln: ln, target: target, delay: delay, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// Addr is the address clients dial.
func (p *latencyProxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines.
func (p *latencyProxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *latencyProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *latencyProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client) || !p.track(server) {
			client.Close()
			server.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			var pair sync.WaitGroup
			pair.Add(2)
			go func() { defer pair.Done(); p.pipe(server, client) }()
			go func() { defer pair.Done(); p.pipe(client, server) }()
			pair.Wait()
			client.Close()
			server.Close()
			p.mu.Lock()
			delete(p.conns, client)
			delete(p.conns, server)
			p.mu.Unlock()
		}()
	}
}

// pipe copies src to dst, each chunk delay after it was read. At src's
// end it half-closes dst once everything read has been written.
func (p *latencyProxy) pipe(dst, src net.Conn) {
	q := make(chan proxyChunk, proxyQueue)
	go func() {
		defer close(q)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				// Stamped as soon as read; a copy of what was read, so
				// that small reads (IMAP replies) do not hold 64 KiB each.
				q <- proxyChunk{data: bytes.Clone(buf[:n]), due: time.Now().Add(p.delay)}
				p.mu.Lock()
				p.maxQueued = max(p.maxQueued, len(q))
				p.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	broken := false
	for c := range q {
		if broken {
			continue // drain, so the reader is not stuck
		}
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		late := max(time.Since(c.due), 0)
		p.mu.Lock()
		p.late += late
		p.maxLate = max(p.maxLate, late)
		p.chunks++
		p.mu.Unlock()
		if _, err := dst.Write(c.data); err != nil {
			broken = true
			src.Close() // the other side is gone: stop reading
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok && !broken {
		tc.CloseWrite()
	} else {
		dst.Close()
	}
}

// echoServer answers every byte with itself.
func echoServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestLatencyProxyRoundTrip: a ping-pong through the proxy takes 2*delay
// (the delay in each direction), not more, not less.
func TestLatencyProxyRoundTrip(t *testing.T) {
	const delay = 20 * time.Millisecond
	p := startLatencyProxy(t, echoServer(t), delay)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1)
	var rtts []time.Duration
	for i := 0; i < 10; i++ {
		start := time.Now()
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		rtts = append(rtts, time.Since(start))
		if buf[0] != byte(i) {
			t.Fatalf("ping %d came back as %d", i, buf[0])
		}
	}
	for i, rtt := range rtts {
		if rtt < 2*delay {
			t.Errorf("round trip %d took %v, less than 2*%v", i, rtt, delay)
		}
	}
	// Not held much longer than the delay: a bound loose enough for a
	// busy machine's scheduling (how late the proxy writes on a loaded
	// machine is reported by the benchmarks, not tested), tight enough
	// to catch a proxy that adds a round trip of its own.
	slices.Sort(rtts)
	if med := rtts[len(rtts)/2]; med > 2*delay+time.Second {
		t.Errorf("median round trip %v, want 2*%v = %v (all: %v)", med, delay, 2*delay, rtts)
	}
}

// TestLatencyProxyKeepsThroughput: a bulk transfer through the proxy is
// not throttled to one chunk per round trip: the proxy reads on while
// earlier chunks wait for their time, so many are in transit at once (a
// proxy that serialized them would hold one). 32 MiB in 64 KiB reads is
// 512 chunks; one per round trip would take 512 * 40 ms = 20 s. The speed
// itself is not tested (a busy machine would fail it): the benchmarks
// report how late the proxy wrote.
func TestLatencyProxyKeepsThroughput(t *testing.T) {
	const delay = 20 * time.Millisecond
	p := startLatencyProxy(t, echoServer(t), delay)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 32<<20)
	rand.Read(data)
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("the echo through the proxy differs (%d bytes back of %d)", len(got), len(data))
	}
	if elapsed < 2*delay {
		t.Errorf("32 MiB echoed in %v, less than the round trip %v: the proxy does not delay", elapsed, 2*delay)
	}
	if n := p.MaxQueued(); n < 8 {
		t.Errorf("at most %d chunks in transit at once: the proxy serializes them", n)
	}
	mean, most := p.Lateness()
	t.Logf("32 MiB echoed through a %v-each-way proxy in %v; chunks late by %v on average, %v at most", delay, elapsed, mean, most)
}

// TestLatencyProxyHalfClose: when the client is done sending, the server
// still gets everything and can answer; when the server closes, the
// client sees the end.
func TestLatencyProxyHalfClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c) // until the client's half-close
		c.Write(append([]byte("got "), b...))
	}()
	p := startLatencyProxy(t, ln.Addr().String(), 5*time.Millisecond)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if string(b) != "got hello" {
		t.Errorf("got %q, want %q", b, "got hello")
	}
}
