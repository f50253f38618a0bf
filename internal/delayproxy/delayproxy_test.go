package delayproxy

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// echoServer answers each connection with what it reads, until the
// client ends its writing side; then it ends its own.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}

func startProxy(t *testing.T, target string, delay time.Duration, rate int64) *Proxy {
	t.Helper()
	p, err := Listen("127.0.0.1:0", target, delay, rate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestBytesAndHalfClose: 8 MiB through the proxy and back arrive whole
// and in order, and the client's half-close reaches the server, whose
// own reaches the client: the read ends with EOF after the last byte.
func TestBytesAndHalfClose(t *testing.T) {
	p := startProxy(t, echoServer(t), 2*time.Millisecond, 0)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 8<<20)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(data)
	go func() {
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the echo: %v after %d bytes", err, len(got))
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("the echo has %d bytes, not the %d sent", len(got), len(data))
	}
}

// TestDelay: a round trip through the proxy takes at least twice its
// delay (a lower bound only: a loaded machine may take longer).
func TestDelay(t *testing.T) {
	const delay = 25 * time.Millisecond
	p := startProxy(t, echoServer(t), delay, 0)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4)
	for i := range 3 {
		t0 := time.Now()
		c.Write([]byte("ping"))
		if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, []byte("ping")) {
			t.Fatalf("round trip %d: %q %v", i, buf, err)
		}
		if rtt := time.Since(t0); rtt < 2*delay {
			t.Fatalf("round trip %d took %v, less than twice the delay %v", i, rtt, delay)
		}
	}
}

// TestHandshake: a server that speaks first is heard no sooner than two
// round trips after the client's connect, as over a real path (SYN,
// SYN+ACK, ACK, then the first byte back); and an echo of what a client
// sends at once, no sooner than two round trips either.
func TestHandshake(t *testing.T) {
	const delay = 20 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("220 hello\r\n"))
			c.Close()
		}
	}()
	for _, target := range []string{ln.Addr().String(), echoServer(t)} {
		p := startProxy(t, target, delay, 0)
		t0 := time.Now()
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		c.Close()
		if took := time.Since(t0); took < 4*delay {
			t.Fatalf("%s: the first byte came %v after the connect, less than two round trips (%v)", target, took, 4*delay)
		}
	}
}

// TestRate: 1 MiB each way at 4 MiB/s takes at least 250 ms.
func TestRate(t *testing.T) {
	p := startProxy(t, echoServer(t), 0, 4<<20)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := bytes.Repeat([]byte("r"), 1<<20)
	t0 := time.Now()
	go func() {
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || len(got) != len(data) {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
	if took := time.Since(t0); took < 250*time.Millisecond {
		t.Fatalf("1 MiB at 4 MiB/s took %v, less than 250 ms", took)
	}
}

// TestRateReached: a capped direction passes close to Rate, not less:
// each piece's sleep overshoots, and the time lost is made up. Before,
// 128 MiB at 125 MB/s came through at 55 MB/s, and this test's 32 MiB at
// 40 MB/s at 26 MB/s.
func TestRateReached(t *testing.T) {
	const (
		size = 32 << 20
		rate = 40_000_000
	)
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
		c.Write(make([]byte, size))
	}()
	p := startProxy(t, ln.Addr().String(), 0, rate)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t0 := time.Now()
	n, err := io.Copy(io.Discard, c)
	took := time.Since(t0)
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	if got := float64(n) / took.Seconds(); got < 0.75*rate || got > 1.1*rate {
		t.Errorf("%d MiB at a cap of %d MB/s took %v: %.0f MB/s, not within 0.75 and 1.1 of the cap", size>>20, rate/1_000_000, took, got/1e6)
	}
}

// TestServerGoneAndClose: a target that is not there cuts the client's
// connection, and Close ends every connection and returns, with one
// still open and idle.
func TestServerGoneAndClose(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := ln.Addr().String()
	ln.Close()
	p := startProxy(t, gone, time.Millisecond, 0)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from a proxy whose target is gone", n)
	}
	c.Close()

	q := startProxy(t, echoServer(t), time.Millisecond, 0)
	idle, err := net.Dial("tcp", q.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.Write([]byte("x"))
	io.ReadFull(idle, make([]byte, 1))
	closed := make(chan struct{})
	go func() { q.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with a connection open")
	}
	idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection is still open after Close")
	}
}

// TestSlowStart: a fresh connection through a delay passes no more than
// its window allows in its first round trips (ten segments, then twice as
// much each round trip), so a server that could send megabytes at once
// has sent far less after one round trip; and the window opens: 8 MiB
// still pass within a bounded number of round trips.
func TestSlowStart(t *testing.T) {
	const delay = 20 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sent := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		n, _ := io.Copy(c, io.LimitReader(rand.NewChaCha8([32]byte{3}), 8<<20))
		sent <- n
	}()
	p := startProxy(t, ln.Addr().String(), delay, 0)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 1<<20)
	// The connection reaches the server after 3 delays; its first round
	// trip of data arrives by 5 delays. Count what arrived by then.
	t0 := time.Now()
	var got int
	for time.Since(t0) < 5*delay+delay/2 {
		c.SetReadDeadline(t0.Add(5*delay + delay/2))
		n, err := c.Read(buf)
		got += n
		if err != nil {
			break
		}
	}
	if got > 4*initWindow {
		t.Fatalf("%d bytes within the first round trip of data, more than a fresh window's %d", got, initWindow)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	rest, err := io.Copy(io.Discard, c)
	if err != nil || int64(got)+rest != 8<<20 {
		t.Fatalf("%d + %d bytes, %v; want 8 MiB", got, rest, err)
	}
	if took := time.Since(t0); took > 40*2*delay {
		t.Fatalf("8 MiB took %v, more than 40 round trips: the window did not open", took)
	}
}
