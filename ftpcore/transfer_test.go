package ftpcore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// testData returns n reproducible pseudo-random bytes.
func testData(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 42))
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n:n]
}

// readRangesClosedEarly reads n ranges of 4096 bytes of path, the i-th at
// i*stride, checks each against data and closes each as soon as it is read
// (an early close). after, if not nil, runs after each Close; trace, if not
// nil, is shown with a Close error.
func readRangesClosedEarly(t *testing.T, c *Conn, path string, data []byte, n int, stride int64, after func(i int), trace func() string) {
	t.Helper()
	ctx := testCtx(t)
	for i := range n {
		off := int64(i) * stride
		tr, err := c.Retr(ctx, path, off, 4096)
		if err != nil {
			t.Fatalf("Retr %d: %v", i, err)
		}
		got, err := io.ReadAll(tr)
		if err != nil || !bytes.Equal(got, data[off:off+4096]) {
			t.Fatalf("Retr %d: %d bytes, %v", i, len(got), err)
		}
		if err := tr.Close(); err != nil {
			msg := ""
			if trace != nil {
				msg = "\ntrace:\n" + trace()
			}
			t.Fatalf("Close %d: %v%s", i, err, msg)
		}
		if after != nil {
			after(i)
		}
	}
}

// noopAfter returns an after func for readRangesClosedEarly that proves the
// Conn in step with NOOP.
func noopAfter(t *testing.T, c *Conn) func(int) {
	return func(i int) {
		t.Helper()
		if err := c.Noop(testCtx(t)); err != nil {
			t.Fatalf("Noop %d: %v", i, err)
		}
	}
}

// loopbackOnly is a Dialer that records every address dialled and refuses
// any that is not loopback, so no test can reach off the host.
type loopbackOnly struct {
	mu     sync.Mutex
	dialed []string
}

func (l *loopbackOnly) dialer() *net.Dialer {
	return &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		l.mu.Lock()
		l.dialed = append(l.dialed, address)
		l.mu.Unlock()
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("test refuses to dial %s", address)
		}
		return nil
	}}
}

func (l *loopbackOnly) addresses() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.dialed)
}

// waitUnusable waits until c is marked unusable, as a context's AfterFunc
// does on its own goroutine.
func waitUnusable(t *testing.T, c *Conn) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); c.Usable(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Conn still usable 5s after its context ended")
		}
	}
}

func TestRetr(t *testing.T) {
	const size = 8 << 20 // more than loopback socket buffers hold
	data := testData(size)
	tests := []struct {
		name           string
		offset, length int64
		want           []byte
		wantComplete   bool
	}{
		{name: "whole file", offset: 0, length: -1, want: data, wantComplete: true},
		{name: "from an offset", offset: 1000, length: -1, want: data[1000:], wantComplete: true},
		{name: "offset past the end", offset: size + 10, length: -1, want: nil, wantComplete: true},
		{name: "range, closed early", offset: 1000, length: 5000, want: data[1000:6000]},
		{name: "first byte only", offset: 0, length: 1, want: data[:1]},
		{name: "range to the end exactly", offset: size - 100, length: 100, want: data[size-100:]},
		{name: "range beyond the end", offset: size - 100, length: 1000, want: data[size-100:], wantComplete: true},
		{name: "length 0", offset: 10, length: 0, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t)
			s.PutFile("/dir/f.bin", data, time.Now())
			var log traceLog
			c := dialTest(t, s, func(c *Config) { c.Logger = log.logger() })
			ctx := testCtx(t)
			before := len(s.Commands())
			tr, err := c.Retr(ctx, "/dir/f.bin", tt.offset, tt.length)
			if err != nil {
				t.Fatalf("Retr: %v", err)
			}
			got, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("read %d bytes, want %d (equal prefix: %v)", len(got), len(tt.want), bytes.HasPrefix(tt.want, got))
			}
			if tr.BytesRead() != int64(len(tt.want)) {
				t.Errorf("BytesRead() = %d", tr.BytesRead())
			}
			if tt.wantComplete && !tr.Complete() {
				t.Error("Complete() = false after the whole file")
			}
			if err := tr.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := tr.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if !c.Usable() {
				t.Fatalf("Conn unusable: %v", c.Err())
			}
			cmds := s.Commands()[before:]
			wantRest := fmt.Sprintf("REST %d", tt.offset)
			if got := slices.Contains(cmds, wantRest); got != (tt.offset > 0) {
				t.Errorf("server saw %q; %s sent = %v", cmds, wantRest, got)
			}
			if !slices.Contains(cmds, "RETR /dir/f.bin") {
				t.Errorf("server saw %q", cmds)
			}
			if !tr.Complete() {
				// Cut short: the server's final reply was read (426 if it
				// was still sending, 226 if it had sent everything)...
				if !log.received("426") && !log.received("226") {
					t.Errorf("no final reply in the trace:\n%s", log.String())
				}
			}
			n, err := c.Size(ctx, "/dir/f.bin")
			if err != nil || n != size {
				t.Fatalf("Size after the transfer = %d, %v", n, err)
			}
			if !tr.Complete() {
				// ... and a NOOP, sent ahead of the next command, proved
				// the control connection in step.
				cmds := s.Commands()[before:]
				i := slices.Index(cmds, "RETR /dir/f.bin")
				if j := slices.Index(cmds[i:], "NOOP"); j < 0 || !slices.Contains(cmds[i+j:], "SIZE /dir/f.bin") {
					t.Errorf("no NOOP between an early close and the next command: %q", cmds)
				}
			}
		})
	}
}

// TestRetrEarlyCloseRepeated closes ranges early many times on one Conn;
// each must leave the control connection in step for the next.
func TestRetrEarlyCloseRepeated(t *testing.T) {
	data := testData(4 << 20)
	s := ftptest.NewServer(t)
	s.PutFile("/f", data, time.Now())
	c := dialTest(t, s)
	readRangesClosedEarly(t, c, "/f", data, 10, 1000, noopAfter(t, c), nil)
}

func TestRetrRefused(t *testing.T) {
	tests := []struct {
		name     string
		opts     []ftptest.Option
		path     string
		wantCode int
	}{
		{name: "missing file", path: "/nope", wantCode: 550},
		{name: "a directory", path: "/dir", wantCode: 550},
		{name: "no data connection", opts: []ftptest.Option{ftptest.WithNoDataConn425()}, path: "/dir/f", wantCode: 425},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			s.PutFile("/dir/f", []byte("data"), time.Now())
			c := dialTest(t, s)
			ctx := testCtx(t)
			tr, err := c.Retr(ctx, tt.path, 0, -1)
			if err == nil {
				tr.Close()
				t.Fatal("Retr succeeded")
			}
			var fe *Error
			if !errors.As(err, &fe) || fe.Code != tt.wantCode || fe.Cmd != "RETR" {
				t.Fatalf("Retr error %v, want RETR *Error %d", err, tt.wantCode)
			}
			if !c.Usable() {
				t.Fatalf("Conn unusable after a refused RETR: %v", c.Err())
			}
			if err := c.Noop(ctx); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	}
}

func TestPassiveFallback(t *testing.T) {
	tests := []struct {
		name      string
		opts      []ftptest.Option
		cfg       func(*Config)
		wantEPSV  int
		wantPASV  int
		transfers int
	}{
		{name: "EPSV", wantEPSV: 2, transfers: 2},
		{name: "EPSV refused, PASV remembered", opts: []ftptest.Option{ftptest.WithoutEPSV()}, wantEPSV: 1, wantPASV: 2, transfers: 2},
		{name: "EPSV disabled", cfg: func(c *Config) { c.DisableEPSV = true }, wantPASV: 2, transfers: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			data := testData(100 << 10)
			s.PutFile("/f", data, time.Now())
			var guard loopbackOnly
			mods := []func(*Config){func(c *Config) { c.Dialer = guard.dialer() }}
			if tt.cfg != nil {
				mods = append(mods, tt.cfg)
			}
			c := dialTest(t, s, mods...)
			for range tt.transfers {
				retrAll(t, c, "/f", data)
			}
			cmds := s.Commands()
			if verbs(cmds, "EPSV") != tt.wantEPSV || verbs(cmds, "PASV") != tt.wantPASV {
				t.Errorf("server saw %q; want %d EPSV and %d PASV", cmds, tt.wantEPSV, tt.wantPASV)
			}
		})
	}
}

// TestPASVAddressIgnored announces an address off the host in the 227
// reply. By default the client ignores it and connects to the control
// connection's peer; the Dialer guard proves nothing else was dialled.
func TestPASVAddressIgnored(t *testing.T) {
	s := ftptest.NewServer(t, ftptest.WithoutEPSV(), ftptest.WithPASVAddress("10.1.2.3"))
	data := testData(10 << 10)
	s.PutFile("/f", data, time.Now())
	var guard loopbackOnly
	c := dialTest(t, s, func(c *Config) { c.Dialer = guard.dialer() })
	retrAll(t, c, "/f", data)
	got := guard.addresses()
	if len(got) != 2 {
		t.Fatalf("dialled %q, want the control and one data connection", got)
	}
	for _, a := range got {
		if host, _, _ := net.SplitHostPort(a); host != "127.0.0.1" {
			t.Errorf("dialled %s", a)
		}
	}
}

// TestPASVAddressOptIn checks which host passive() picks, without dialling
// it: with UsePASVAddress the announced address is used unless it is
// unspecified.
func TestPASVAddressOptIn(t *testing.T) {
	tests := []struct {
		name     string
		announce string
		optIn    bool
		wantHost string
	}{
		{name: "ignored by default", announce: "10.1.2.3", wantHost: "127.0.0.1"},
		{name: "used when opted in", announce: "10.1.2.3", optIn: true, wantHost: "10.1.2.3"},
		{name: "unspecified is the peer", announce: "0.0.0.0", optIn: true, wantHost: "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, ftptest.WithoutEPSV(), ftptest.WithPASVAddress(tt.announce))
			var guard loopbackOnly
			c := dialTest(t, s, func(c *Config) {
				c.UsePASVAddress = tt.optIn
				c.Dialer = guard.dialer()
			})
			ctx := testCtx(t)
			port, host, err := c.passive(ctx)
			if err != nil {
				t.Fatalf("passive: %v", err)
			}
			if host != tt.wantHost || port < 1 || port > 65535 {
				t.Fatalf("passive = %s port %d, want host %s", host, port, tt.wantHost)
			}
			if n := len(guard.addresses()); n != 1 {
				t.Fatalf("dialled %q, want only the control connection", guard.addresses())
			}
			if err := c.Noop(ctx); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	}
}

func TestPassiveMalformed(t *testing.T) {
	tests := []struct {
		name    string
		opts    []ftptest.Option
		handler map[string]ftptest.Handler
	}{
		{
			name:    "EPSV port 0",
			handler: map[string]ftptest.Handler{"EPSV": func(sc *ftptest.Conn, _ string) { sc.Reply(229, "Entering Extended Passive Mode (|||0|)") }},
		},
		{
			name:    "EPSV without parentheses",
			handler: map[string]ftptest.Handler{"EPSV": func(sc *ftptest.Conn, _ string) { sc.Reply(229, "Entering Extended Passive Mode") }},
		},
		{
			name: "PASV with five numbers",
			opts: []ftptest.Option{ftptest.WithoutEPSV(), ftptest.WithPASVAddress("1.2.3")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			s.PutFile("/f", []byte("x"), time.Now())
			for cmd, h := range tt.handler {
				s.Handle(cmd, h)
			}
			c := dialTest(t, s)
			tr, err := c.Retr(testCtx(t), "/f", 0, -1)
			if err == nil {
				tr.Close()
				t.Fatal("Retr succeeded")
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) || c.Usable() {
				t.Fatalf("Retr error %v, usable %v; want *ProtocolError and unusable", err, c.Usable())
			}
		})
	}
}

// TestRetrDataTimeout stalls the data connection for longer than the data
// timeout. Read times out; Close then resets the data connection and, as
// documented, leaves the Conn usable if the server answers in time (a
// NOOP proves it) and unusable if it does not.
func TestRetrDataTimeout(t *testing.T) {
	data := testData(20000)
	tests := []struct {
		name       string
		slow       bool            // WithSlowData: ftptest answers 426 once reset
		retr       ftptest.Handler // a RETR that never sends its final reply
		wantUsable bool
	}{
		{name: "server answers", slow: true, wantUsable: true},
		{
			name: "server silent",
			retr: func(sc *ftptest.Conn, _ string) {
				sc.Reply(150, "Here it comes.")
				dc, err := sc.AcceptData()
				if err != nil {
					return
				}
				dc.Write(data[:1000])
				<-sc.Done()
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []ftptest.Option
			if tt.slow {
				opts = append(opts, ftptest.WithSlowData(1000, 10*time.Second))
			}
			s := ftptest.NewServer(t, opts...)
			s.PutFile("/f", data, time.Now())
			if tt.retr != nil {
				s.Handle("RETR", tt.retr)
			}
			c := dialTest(t, s, func(c *Config) {
				c.DataTimeout = 300 * time.Millisecond
				c.CommandTimeout = 2 * time.Second
				c.AbortTimeout = 2 * time.Second
			})
			ctx := testCtx(t)
			tr, err := c.Retr(ctx, "/f", 0, -1)
			if err != nil {
				t.Fatalf("Retr: %v", err)
			}
			start := time.Now()
			got, err := io.ReadAll(tr)
			if !IsTimeout(err) {
				t.Fatalf("read %d bytes, error %v; want a timeout", len(got), err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("read took %v with a 300ms data timeout", d)
			}
			if !bytes.Equal(got, data[:len(got)]) || len(got) == 0 {
				t.Fatalf("read %d bytes before the stall, not a prefix", len(got))
			}
			if _, err := tr.Read(make([]byte, 10)); !IsTimeout(err) {
				t.Errorf("Read after the timeout: %v, want the same error", err)
			}
			err = tr.Close()
			if c.Usable() != tt.wantUsable {
				t.Fatalf("after Close (%v): Usable = %v, want %v", err, c.Usable(), tt.wantUsable)
			}
			if tt.wantUsable {
				if err != nil {
					t.Fatalf("Close: %v; closing early is not an error", err)
				}
				if err := c.Noop(ctx); err != nil {
					t.Fatalf("Noop: %v", err)
				}
			} else if !IsTimeout(err) {
				t.Fatalf("Close: %v, want the final reply's timeout", err)
			}
		})
	}
}

func TestTransferWriteTo(t *testing.T) {
	const size = 3<<20 + 12345 // more than one transferChunk
	data := testData(size)
	tcpSink := func(t *testing.T) (io.Writer, func() []byte) {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		got := make(chan []byte, 1)
		go func() {
			// Close the listener only once the connection is accepted:
			// closed earlier, it resets one still in the backlog.
			nc, err := ln.Accept()
			ln.Close()
			if err != nil {
				got <- nil
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(testTimeout))
			b, _ := io.ReadAll(nc)
			got <- b
		}()
		dst, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dst.Close() })
		return dst.(*net.TCPConn), func() []byte { dst.Close(); return <-got }
	}
	bufSink := func(*testing.T) (io.Writer, func() []byte) {
		var b bytes.Buffer
		return &b, b.Bytes
	}
	plainSink := func(*testing.T) (io.Writer, func() []byte) {
		var b bytes.Buffer
		return struct{ io.Writer }{&b}, b.Bytes
	}
	sinks := map[string]func(*testing.T) (io.Writer, func() []byte){
		"bytes.Buffer":     bufSink,
		"*net.TCPConn":     tcpSink,
		"plain io.Writer":  plainSink,
		"after some Reads": bufSink,
	}
	ranges := []struct {
		name           string
		offset, length int64
	}{
		{"whole", 0, -1},
		{"range", 100, 2<<20 + 7},
		{"one chunk exactly", 0, transferChunk},
	}
	for sinkName, sink := range sinks {
		for _, r := range ranges {
			t.Run(sinkName+"/"+r.name, func(t *testing.T) {
				s := ftptest.NewServer(t)
				s.PutFile("/f", data, time.Now())
				c := dialTest(t, s)
				tr, err := c.Retr(testCtx(t), "/f", r.offset, r.length)
				if err != nil {
					t.Fatal(err)
				}
				want := data[r.offset:]
				if r.length >= 0 {
					want = want[:r.length]
				}
				var head []byte
				if sinkName == "after some Reads" {
					head = make([]byte, 1000)
					if _, err := io.ReadFull(tr, head); err != nil {
						t.Fatal(err)
					}
				}
				w, result := sink(t)
				n, err := tr.WriteTo(w)
				if err != nil {
					t.Fatalf("WriteTo: %v", err)
				}
				if n != int64(len(want)-len(head)) {
					t.Errorf("WriteTo = %d, want %d", n, len(want)-len(head))
				}
				if err := tr.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if got := append(head, result()...); !bytes.Equal(got, want) {
					t.Fatalf("got %d bytes, want %d", len(got), len(want))
				}
				if tr.BytesRead() != int64(len(want)) {
					t.Errorf("BytesRead() = %d", tr.BytesRead())
				}
				if err := c.Noop(testCtx(t)); err != nil {
					t.Fatalf("Noop: %v", err)
				}
			})
		}
	}
}

// failingWriter fails after n bytes, as an HTTP client that goes away.
type failingWriter struct{ n int }

var errClientGone = errors.New("client went away")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, errClientGone
	}
	w.n -= len(p)
	return len(p), nil
}

func TestTransferWriteToFailingWriter(t *testing.T) {
	s := ftptest.NewServer(t)
	s.PutFile("/f", testData(4<<20), time.Now())
	c := dialTest(t, s)
	tr, err := c.Retr(testCtx(t), "/f", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	n, err := tr.WriteTo(&failingWriter{n: 100000})
	if !errors.Is(err, errClientGone) || n != 100000 {
		t.Fatalf("WriteTo = %d, %v; want 100000, errClientGone", n, err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Noop(testCtx(t)); err != nil {
		t.Fatalf("Noop: %v", err)
	}
}

// TestRetrCancel cancels the context of a running download. The call
// blocked at the time, or the next one, returns at once with the
// cancellation; Close reports it after aborting the transfer with ABOR,
// which ftptest answers with 426 and 226, so the Conn stays usable.
func TestRetrCancel(t *testing.T) {
	tests := []struct {
		name string
		// read runs after the cancel; blocked says whether it already
		// runs when the context is cancelled.
		read    func(tr *Transfer) error
		blocked bool
	}{
		{name: "Read blocked", read: func(tr *Transfer) error { _, err := tr.Read(make([]byte, 4096)); return err }, blocked: true},
		{name: "Read after", read: func(tr *Transfer) error { _, err := tr.Read(make([]byte, 4096)); return err }},
		{name: "WriteTo blocked", read: func(tr *Transfer) error { _, err := tr.WriteTo(io.Discard); return err }, blocked: true},
		{name: "WriteTo after", read: func(tr *Transfer) error { _, err := tr.WriteTo(io.Discard); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One chunk, then a pause far longer than the test: only the
			// context can end the wait.
			s := ftptest.NewServer(t, ftptest.WithSlowData(1000, time.Minute))
			s.PutFile("/f", testData(100000), time.Now())
			c := dialTest(t, s, func(c *Config) { c.DataTimeout, c.CommandTimeout = time.Minute, time.Minute })
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			tr, err := c.Retr(ctx, "/f", 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(tr, make([]byte, 1000)); err != nil {
				t.Fatalf("first chunk: %v", err)
			}
			done := make(chan error, 1)
			start := time.Now()
			if tt.blocked {
				go func() { done <- tt.read(tr) }()
				time.Sleep(50 * time.Millisecond) // let it block; the result does not depend on it
				cancel()
			} else {
				cancel()
				// Give the AfterFunc the time to set its deadline, so a
				// Read that overwrites it is caught.
				time.Sleep(10 * time.Millisecond)
				start = time.Now()
				go func() { done <- tt.read(tr) }()
			}
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("error %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("still blocked 5s after the cancel")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("returned %v after the cancel", d)
			}
			if err := tr.Close(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Close: %v, want context.Canceled", err)
			}
			if !c.Usable() {
				t.Fatalf("Conn unusable after an aborted transfer: %v", c.Err())
			}
			if cmds := s.Commands(); !slices.Contains(cmds, "ABOR") {
				t.Errorf("server saw %q, want ABOR", cmds)
			}
			if err := c.Noop(testCtx(t)); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	}
}

func TestStor(t *testing.T) {
	big := testData(3 << 20)
	tests := []struct {
		name     string
		existing []byte // nil: no file before
		offset   int64
		appe     bool
		data     []byte
		want     []byte
		wantCmd  string
	}{
		{name: "new file", data: big, want: big, wantCmd: "STOR /d/f"},
		{name: "replace", existing: []byte("old contents"), data: []byte("new"), want: []byte("new"), wantCmd: "STOR /d/f"},
		{name: "empty", existing: []byte("old"), data: nil, want: []byte{}, wantCmd: "STOR /d/f"},
		{name: "resume with REST", existing: []byte("hello world"), offset: 6, data: []byte("there"), want: []byte("hello there"), wantCmd: "REST 6"},
		{name: "append", existing: []byte("abc"), appe: true, data: []byte("def"), want: []byte("abcdef"), wantCmd: "APPE /d/f"},
		{name: "append to nothing", appe: true, data: []byte("def"), want: []byte("def"), wantCmd: "APPE /d/f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t)
			s.Mkdir("/d")
			if tt.existing != nil {
				s.PutFile("/d/f", tt.existing, time.Now())
			}
			c := dialTest(t, s)
			ctx := testCtx(t)
			var u *Upload
			var err error
			if tt.appe {
				u, err = c.Appe(ctx, "/d/f")
			} else {
				u, err = c.Stor(ctx, "/d/f", tt.offset)
			}
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			n, err := io.Copy(u, bytes.NewReader(tt.data)) // through Upload.ReadFrom
			if err != nil || n != int64(len(tt.data)) || u.BytesWritten() != n {
				t.Fatalf("copy = %d, %v; BytesWritten %d", n, err, u.BytesWritten())
			}
			if err := u.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := u.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			got, ok := s.File("/d/f")
			if !ok || !bytes.Equal(got, tt.want) {
				t.Fatalf("server has %d bytes (%v), want %d", len(got), ok, len(tt.want))
			}
			if !slices.Contains(s.Commands(), tt.wantCmd) {
				t.Errorf("server saw %q, want %q", s.Commands(), tt.wantCmd)
			}
			if err := c.Noop(ctx); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	}
}

func TestStorRefused(t *testing.T) {
	tests := []struct {
		name     string
		opts     []ftptest.Option
		path     string
		offset   int64
		wantCode int
	}{
		{name: "missing directory", path: "/nope/f", wantCode: 553},
		{name: "onto a directory", path: "/d", wantCode: 553},
		{name: "REST past the end", path: "/d/f", offset: 100, wantCode: 554},
		{name: "no data connection", opts: []ftptest.Option{ftptest.WithNoDataConn425()}, path: "/d/f", wantCode: 425},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			s.PutFile("/d/f", []byte("short"), time.Now())
			c := dialTest(t, s)
			u, err := c.Stor(testCtx(t), tt.path, tt.offset)
			if err == nil {
				u.Abort(nil)
				t.Fatal("Stor succeeded")
			}
			if ReplyCode(err) != tt.wantCode || !c.Usable() {
				t.Fatalf("Stor error %v, usable %v; want %d and usable", err, c.Usable(), tt.wantCode)
			}
			if err := c.Noop(testCtx(t)); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	}
}

func TestUploadAbort(t *testing.T) {
	s := ftptest.NewServer(t)
	data := testData(1 << 20)
	var log traceLog
	c := dialTest(t, s, func(c *Config) { c.Logger = log.logger() })
	ctx := testCtx(t)
	u, err := c.Stor(ctx, "/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(data[:100<<10]); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("the source failed")
	if err := u.Abort(cause); err != cause {
		t.Fatalf("Abort = %v, want the cause itself", err)
	}
	if !c.Usable() {
		t.Fatalf("Conn unusable after Abort: %v", c.Err())
	}
	if !log.received("426") {
		t.Errorf("server did not answer 426:\n%s", log.String())
	}
	if err := c.Noop(ctx); err != nil {
		t.Fatalf("Noop: %v", err)
	}
	// ftptest keeps what arrived before the reset, as a disk-backed
	// server does: only a prefix of what was written.
	if got, ok := s.File("/f"); !ok || len(got) > 100<<10 || !bytes.Equal(got, data[:len(got)]) {
		t.Errorf("server kept %d bytes (%v)", len(got), ok)
	}
	if err := u.Close(); err != nil {
		t.Errorf("Close after Abort: %v", err)
	}
}

// TestUploadEnd checks how the server sees the end of an upload, with a STOR
// handler that reports how its read of the data connection ended: a clean
// end of file only for Close, a reset for Abort, a failed Write and a
// cancelled context, so that no truncated file is taken for complete. The
// handler answers the reset with 426, which keeps the Conn usable.
func TestUploadEnd(t *testing.T) {
	tests := []struct {
		name       string
		end        func(t *testing.T, c *Conn, u *Upload, cancel context.CancelFunc) error
		wantEOF    bool // the server read a clean end of file
		wantUsable bool
	}{
		{
			name:       "Close",
			end:        func(t *testing.T, c *Conn, u *Upload, _ context.CancelFunc) error { return u.Close() },
			wantEOF:    true,
			wantUsable: true,
		},
		{
			name: "Abort",
			end: func(t *testing.T, c *Conn, u *Upload, _ context.CancelFunc) error {
				if err := u.Abort(errClientGone); err != errClientGone {
					return err
				}
				return nil
			},
			wantUsable: true,
		},
		{
			name: "cancel then Close",
			end: func(t *testing.T, c *Conn, u *Upload, cancel context.CancelFunc) error {
				cancel()
				if err := u.Close(); !errors.Is(err, context.Canceled) {
					return fmt.Errorf("Close after cancel: %v, want context.Canceled", err)
				}
				return nil
			},
			wantUsable: true,
		},
		{
			name: "cancel then Write",
			end: func(t *testing.T, c *Conn, u *Upload, cancel context.CancelFunc) error {
				cancel()
				time.Sleep(10 * time.Millisecond) // let the AfterFunc set its deadline
				if _, err := u.Write([]byte("more")); !errors.Is(err, context.Canceled) {
					return fmt.Errorf("Write after cancel: %v, want context.Canceled", err)
				}
				if err := u.Close(); !errors.Is(err, context.Canceled) {
					return fmt.Errorf("Close after cancel: %v, want context.Canceled", err)
				}
				return nil
			},
			wantUsable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t)
			readErr := make(chan error, 1)
			s.Handle("STOR", func(sc *ftptest.Conn, _ string) {
				sc.Reply(150, "Ok to send data.")
				dc, err := sc.AcceptData()
				if err != nil {
					sc.Reply(425, "No data connection.")
					return
				}
				dc.SetDeadline(time.Now().Add(testTimeout))
				_, err = io.Copy(io.Discard, dc)
				dc.Close()
				readErr <- err
				if err != nil {
					sc.Reply(426, "Connection reset; transfer aborted.")
					return
				}
				sc.Reply(226, "Transfer complete.")
			})
			c := dialTest(t, s)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			u, err := c.Stor(ctx, "/f", 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Write(testData(10000)); err != nil {
				t.Fatal(err)
			}
			if err := tt.end(t, c, u, cancel); err != nil {
				t.Fatal(err)
			}
			var got error
			select {
			case got = <-readErr:
			case <-time.After(10 * time.Second):
				t.Fatal("the server's read did not end")
			}
			if (got == nil) != tt.wantEOF {
				t.Fatalf("server read ended with %v; want a clean EOF: %v", got, tt.wantEOF)
			}
			if c.Usable() != tt.wantUsable {
				t.Fatalf("Usable = %v, want %v (%v)", c.Usable(), tt.wantUsable, c.Err())
			}
		})
	}
}

func TestUploadWriteAfterServerGone(t *testing.T) {
	s := ftptest.NewServer(t)
	s.Handle("STOR", func(sc *ftptest.Conn, _ string) {
		sc.Reply(150, "Ok to send data.")
		dc, err := sc.AcceptData()
		if err != nil {
			return
		}
		// The first bytes, before the reset: a reset sent at once can
		// reach the client before its connect has completed, and fail
		// the dial instead of the writes.
		dc.SetReadDeadline(time.Now().Add(5 * time.Second))
		dc.Read(make([]byte, 1))
		dc.(*net.TCPConn).SetLinger(0)
		dc.Close()
		sc.Reply(426, "Failure reading network stream.")
	})
	c := dialTest(t, s)
	u, err := c.Stor(testCtx(t), "/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	chunk := testData(64 << 10)
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ {
		_, werr = u.Write(chunk)
	}
	if werr == nil {
		t.Fatal("writes into a reset data connection kept succeeding")
	}
	// Close sees the failed write and aborts: the cause comes back, and
	// the 426 keeps the Conn in step.
	err = u.Close()
	if err == nil || !strings.Contains(err.Error(), "STOR data") {
		t.Fatalf("Close: %v, want the write error", err)
	}
	if !c.Usable() {
		t.Fatalf("Conn unusable: %v", c.Err())
	}
	if err := c.Noop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// retrAll downloads path and checks it equals want.
func retrAll(t *testing.T, c *Conn, path string, want []byte) {
	t.Helper()
	tr, err := c.Retr(testCtx(t), path, 0, -1)
	if err != nil {
		t.Fatalf("Retr: %v", err)
	}
	got, err := io.ReadAll(tr)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
}
