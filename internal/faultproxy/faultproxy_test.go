package faultproxy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/faultproxy"
	"go.uber.org/goleak"
)

// Every test closes its proxies, which must leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// target is a server for the proxy to forward to: each connection is
// sent send and has what it receives recorded on got.
type target struct {
	ln  net.Listener
	got chan []byte
}

func startTarget(t *testing.T, addr string, send []byte) *target {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{ln: ln, got: make(chan []byte, 10)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write(send)
				c.(*net.TCPConn).CloseWrite()
				b, _ := io.ReadAll(c)
				tg.got <- b
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return tg
}

func listen(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Listen("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.TCPConn)
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// TestForwardsBothWays: without faults the bytes and the end of data go
// through unchanged, both ways.
func TestForwardsBothWays(t *testing.T) {
	down := payload(300 << 10)
	tg := startTarget(t, "127.0.0.1:0", down)
	p := listen(t, tg.ln.Addr().String())
	c := dial(t, p.Addr())
	up := payload(200 << 10)[1:]
	go func() {
		c.Write(up)
		c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, down) {
		t.Fatalf("to client: %d bytes (equal %v), err %v; want the %d sent", len(got), bytes.Equal(got, down), err, len(down))
	}
	if b := <-tg.got; !bytes.Equal(b, up) {
		t.Fatalf("to target: %d bytes, want the %d sent", len(b), len(up))
	}
	if accepted, _ := p.Counts(); accepted != 1 {
		t.Errorf("%d connections accepted, want 1", accepted)
	}
}

// TestCloseAndResetAfter: the client gets exactly After bytes, then an
// end of data (Close) or a reset (Reset); the next connection, armed with
// nothing, is whole again.
func TestCloseAndResetAfter(t *testing.T) {
	const after = 100_000
	down := payload(1 << 20)
	for _, a := range []faultproxy.Action{faultproxy.Close, faultproxy.Reset} {
		t.Run(strconv.Itoa(int(a)), func(t *testing.T) {
			tg := startTarget(t, "127.0.0.1:0", down)
			p := listen(t, tg.ln.Addr().String())
			if err := p.Arm(faultproxy.Fault{Dir: faultproxy.ToClient, After: after, Action: a}); err != nil {
				t.Fatal(err)
			}
			var got []byte
			c, err := net.Dial("tcp", p.Addr())
			if err == nil {
				// With Reset, the dial itself may already see the reset.
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				got, err = io.ReadAll(c)
			}
			switch a {
			case faultproxy.Close:
				if err != nil || len(got) != after {
					t.Fatalf("read %d bytes, err %v; want %d and the end of data", len(got), err, after)
				}
			case faultproxy.Reset:
				// Bytes that arrive before the reset are readable, but
				// the reset may overtake some.
				if !errors.Is(err, syscall.ECONNRESET) || len(got) > after {
					t.Fatalf("read %d bytes, err %v; want at most %d and a reset", len(got), err, after)
				}
			}
			if !bytes.Equal(got, down[:len(got)]) {
				t.Fatal("the bytes before the fault differ from those sent")
			}
			c2 := dial(t, p.Addr())
			c2.CloseWrite()
			if all, err := io.ReadAll(c2); err != nil || !bytes.Equal(all, down) {
				t.Fatalf("next connection: %d bytes, %v; want all %d", len(all), err, len(down))
			}
		})
	}
}

// TestStallThenApplyReset: a stalled direction forwards After bytes and
// then nothing, the connection open, until Apply resets it.
func TestStallThenApplyReset(t *testing.T) {
	tg := startTarget(t, "127.0.0.1:0", payload(1<<20))
	p := listen(t, tg.ln.Addr().String())
	p.Arm(faultproxy.Fault{Dir: faultproxy.ToClient, After: 1000, Action: faultproxy.Stall})
	c := dial(t, p.Addr())
	if _, err := io.ReadFull(c, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 10)); !errors.Is(err, syscall.EAGAIN) && !isTimeout(err) {
		t.Fatalf("read %d bytes past the stall, err %v; want a timeout", n, err)
	}
	if _, open := p.Counts(); open != 1 {
		t.Fatalf("%d connections open during the stall, want 1", open)
	}
	p.Apply(faultproxy.Fault{Dir: faultproxy.ToClient, Action: faultproxy.Reset})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after Apply(Reset): %v, want a reset", err)
	}
	if _, open := p.Counts(); open != 0 {
		t.Errorf("%d connections open after the reset, want 0", open)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestDrip: 10 chunks of 100 bytes, one every 20 ms, take at least 180 ms
// and arrive whole.
func TestDrip(t *testing.T) {
	down := payload(1000)
	tg := startTarget(t, "127.0.0.1:0", down)
	p := listen(t, tg.ln.Addr().String())
	p.Arm(faultproxy.Fault{Dir: faultproxy.ToClient, Action: faultproxy.Drip, Chunk: 100, Every: 20 * time.Millisecond})
	start := time.Now()
	c := dial(t, p.Addr())
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, down) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	if d := time.Since(start); d < 180*time.Millisecond {
		t.Errorf("dripped 1000 bytes at 100 per 20 ms in %v", d)
	}
}

// TestRefuse: a refusing proxy's port refuses connections, and takes them
// again once told to.
func TestRefuse(t *testing.T) {
	tg := startTarget(t, "127.0.0.1:0", []byte("x"))
	p := listen(t, tg.ln.Addr().String())
	if err := p.Refuse(true); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", p.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial while refusing: %v, want connection refused", err)
	}
	if err := p.Refuse(false); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	c.CloseWrite()
	if b, err := io.ReadAll(c); err != nil || string(b) != "x" {
		t.Fatalf("after Refuse(false): %q, %v", b, err)
	}
}

// TestListenPorts: each port of the range forwards to the same port of
// the target host.
func TestListenPorts(t *testing.T) {
	var tgs []*target
	for range 3 {
		tgs = append(tgs, startTarget(t, "127.0.0.1:0", nil))
	}
	// Three ports, not necessarily adjacent: proxy the span between the
	// lowest and the highest on another loopback address.
	lo, hi := 65535, 0
	for _, tg := range tgs {
		port := tg.ln.Addr().(*net.TCPAddr).Port
		lo, hi = min(lo, port), max(hi, port)
	}
	if hi-lo > 2000 {
		t.Skipf("ports %d-%d too far apart for one test range", lo, hi)
	}
	p, err := faultproxy.ListenPorts("127.77.0.1", lo, hi, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i, tg := range tgs {
		port := tg.ln.Addr().(*net.TCPAddr).Port
		c := dial(t, net.JoinHostPort("127.77.0.1", strconv.Itoa(port)))
		msg := []byte("port " + strconv.Itoa(i))
		c.Write(msg)
		c.CloseWrite()
		io.ReadAll(c)
		if b := <-tg.got; !bytes.Equal(b, msg) {
			t.Errorf("target %d got %q, want %q", i, b, msg)
		}
	}
}

// TestListenFTP: the control proxy forwards to the control port, and a
// connection to the control proxy's host at a passive port reaches the
// same port of the server.
func TestListenFTP(t *testing.T) {
	ctlTarget := startTarget(t, "127.0.0.1:0", []byte("220 ready\r\n"))
	pasvTarget := startTarget(t, "127.0.0.1:0", []byte("data"))
	port := pasvTarget.ln.Addr().(*net.TCPAddr).Port
	ctl, data, err := faultproxy.ListenFTP(ctlTarget.ln.Addr().String(), port, port)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	defer data.Close()
	host, _, _ := net.SplitHostPort(ctl.Addr())
	if host == "127.0.0.1" || !strings.HasPrefix(host, "127.") {
		t.Fatalf("control proxy on %s, want a loopback address of its own", ctl.Addr())
	}
	for addr, want := range map[string]string{
		ctl.Addr(): "220 ready\r\n",
		net.JoinHostPort(host, strconv.Itoa(port)): "data",
	} {
		c := dial(t, addr)
		c.CloseWrite()
		if b, err := io.ReadAll(c); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", addr, b, err, want)
		}
	}
}

// TestBadFaults are refused, not half applied.
func TestBadFaults(t *testing.T) {
	tg := startTarget(t, "127.0.0.1:0", nil)
	p := listen(t, tg.ln.Addr().String())
	for _, fs := range [][]faultproxy.Fault{
		{{Action: faultproxy.Drip}},
		{{Action: 0}},
		{{Dir: 5, Action: faultproxy.Close}},
		{{After: -1, Action: faultproxy.Close}},
		{{Action: faultproxy.Close}, {Action: faultproxy.Reset}},
	} {
		if err := p.Arm(fs...); err == nil {
			t.Errorf("Arm(%+v) = nil, want an error", fs)
		}
	}
}
