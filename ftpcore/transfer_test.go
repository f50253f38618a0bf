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

// spliceRecorder is an io.ReaderFrom that notes whether each source it is
// handed is the bare data connection under an *io.LimitedReader, the form
// a TCP socket's ReadFrom splices from.
type spliceRecorder struct {
	bytes.Buffer
	spliceable, other int
}

func (w *spliceRecorder) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if _, ok := lr.R.(*net.TCPConn); ok {
			w.spliceable++
		} else {
			w.other++
		}
	} else {
		w.other++
	}
	return w.Buffer.ReadFrom(r)
}

// TestTransferWriteN: WriteN copies the next n bytes and no more, so that
// one transfer serves several stretches of a file with other bytes written
// between them, each handed to the writer's ReadFrom as WriteTo hands the
// whole (spliced on plain TCP); past the end of the data it copies what
// there is, without an error; after a byte Wait had to read (TLS, or no
// peeking) it goes through Read. The session stays usable.
func TestTransferWriteN(t *testing.T) {
	const size = 3<<20 + 12345
	data := testData(size)
	s := ftptest.NewServer(t)
	s.PutFile("/f", data, time.Now())
	c := dialTest(t, s)
	stretches := []struct{ off, n int64 }{{100, 10}, {5000, transferChunk + 7}, {2<<20 + 3, 4096}}
	t.Run("stretches", func(t *testing.T) {
		tr, err := c.Retr(testCtx(t), "/f", 100, stretches[2].off+stretches[2].n-100)
		if err != nil {
			t.Fatal(err)
		}
		var w spliceRecorder
		at := int64(100)
		for _, st := range stretches {
			if n, err := tr.WriteN(io.Discard, st.off-at); n != st.off-at || err != nil {
				t.Fatalf("WriteN(gap %d) = %d, %v", st.off-at, n, err)
			}
			w.Reset()
			if n, err := tr.WriteN(&w, st.n); n != st.n || err != nil {
				t.Fatalf("WriteN(%d) = %d, %v", st.n, n, err)
			}
			if !bytes.Equal(w.Bytes(), data[st.off:st.off+st.n]) {
				t.Fatalf("stretch at %d: %d bytes, not the file's", st.off, w.Len())
			}
			if w.spliceable == 0 || w.other != 0 {
				t.Errorf("stretch at %d: %d spliceable sources, %d others; want only spliceable", st.off, w.spliceable, w.other)
			}
			at = st.off + st.n
		}
		if n, err := tr.WriteN(&w, 0); n != 0 || err != nil {
			t.Errorf("WriteN(0) = %d, %v", n, err)
		}
		if err := tr.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := c.Noop(testCtx(t)); err != nil {
			t.Fatalf("Noop: %v", err)
		}
	})
	t.Run("past the end", func(t *testing.T) {
		tr, err := c.Retr(testCtx(t), "/f", size-50, -1)
		if err != nil {
			t.Fatal(err)
		}
		var w bytes.Buffer
		if n, err := tr.WriteN(&w, 30); n != 30 || err != nil {
			t.Fatalf("WriteN(30) = %d, %v", n, err)
		}
		if n, err := tr.WriteN(&w, 100); n != 20 || err != nil {
			t.Fatalf("WriteN(100) of the last 20 = %d, %v; want 20, nil", n, err)
		}
		if !bytes.Equal(w.Bytes(), data[size-50:]) || !tr.Complete() {
			t.Errorf("%d bytes, complete %v", w.Len(), tr.Complete())
		}
		if err := tr.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
	t.Run("a byte held", func(t *testing.T) {
		tr, err := c.Retr(testCtx(t), "/f", 10, 1000)
		if err != nil {
			t.Fatal(err)
		}
		// What Wait does where it cannot peek: the first byte is read and
		// kept for the next read.
		tr.held = true
		if _, err := io.ReadFull(tr.data, tr.hold[:]); err != nil {
			t.Fatal(err)
		}
		var w bytes.Buffer
		if n, err := tr.WriteN(&w, 600); n != 600 || err != nil {
			t.Fatalf("WriteN(600) = %d, %v", n, err)
		}
		if n, err := tr.WriteN(&w, 400); n != 400 || err != nil {
			t.Fatalf("WriteN(400) = %d, %v", n, err)
		}
		if !bytes.Equal(w.Bytes(), data[10:1010]) {
			t.Fatalf("%d bytes, not the file's", w.Len())
		}
		if err := tr.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
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

// TestTransferWait: Wait returns once the data has begun or ended, without
// taking a byte from what Read and WriteTo deliver; a server that sends
// nothing gets the transfer's timeout from Wait itself, before the caller
// has committed to anything; a reset before any data is an error, not an
// empty file; and a cancelled ctx ends the wait at once. Plain TCP (Wait
// looks into the socket) and TLS (Wait reads a byte and keeps it).
func TestTransferWait(t *testing.T) {
	data := testData(100000)
	pki := newTestPKI(t)
	// retrWith answers RETR with 150, opens the data connection, lets
	// send do what it likes with it, and ends with the reply send returns.
	retrWith := func(send func(dc net.Conn) (int, string)) ftptest.Handler {
		return func(sc *ftptest.Conn, _ string) {
			sc.Reply(150, "Here it comes.")
			dc, err := sc.AcceptData()
			if err != nil {
				return
			}
			defer dc.Close()
			sc.Reply(send(dc))
		}
	}
	late := retrWith(func(dc net.Conn) (int, string) {
		time.Sleep(200 * time.Millisecond)
		dc.Write(data)
		dc.Close()
		return 226, "Transfer complete."
	})
	// Nothing until the client resets the data connection.
	silent := retrWith(func(dc net.Conn) (int, string) {
		io.Copy(io.Discard, dc)
		return 426, "Connection closed; transfer aborted."
	})
	// A reset while the client waits (at once, it could come before the
	// client's connect has completed, and fail the dial).
	reset := retrWith(func(dc net.Conn) (int, string) {
		time.Sleep(100 * time.Millisecond)
		dc.(*net.TCPConn).SetLinger(0)
		dc.Close() // RST, no data
		return 426, "Connection reset."
	})
	tests := []struct {
		name    string
		retr    ftptest.Handler
		offset  int64
		cancel  bool                 // cancel ctx 100ms into the wait
		plain   bool                 // plain TCP only
		wait    func(err error) bool // Wait's error is this one
		minWait time.Duration        // Wait returned no earlier
		want    []byte               // then delivered, in full
	}{
		{name: "data late", retr: late, wait: isNil, minWait: 200 * time.Millisecond, want: data},
		{name: "data at once", want: data, wait: isNil},
		{name: "empty rest", offset: int64(len(data)), want: []byte{}, wait: isNil},
		{name: "stalled", retr: silent, wait: IsTimeout, minWait: 300 * time.Millisecond},
		{name: "reset", retr: reset, plain: true, wait: func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }, minWait: 100 * time.Millisecond},
		{name: "cancelled", retr: silent, cancel: true, wait: func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	for _, overTLS := range []bool{false, true} {
		for _, tt := range tests {
			name := "plain/" + tt.name
			if overTLS {
				if tt.plain {
					continue
				}
				name = "TLS/" + tt.name
			}
			t.Run(name, func(t *testing.T) {
				var opts []ftptest.Option
				mods := []func(*Config){func(c *Config) { c.DataTimeout = 300 * time.Millisecond }}
				if overTLS {
					opts = append(opts, ftptest.WithExplicitTLS(pki.serverConfig(0)))
					mods = append(mods, pki.tlsClient(TLSExplicit))
				}
				s := ftptest.NewServer(t, opts...)
				s.PutFile("/f", data, time.Now())
				if tt.retr != nil {
					s.Handle("RETR", tt.retr)
				}
				c := dialTest(t, s, mods...)
				ctx, cancel := context.WithCancel(testCtx(t))
				defer cancel()
				tr, err := c.Retr(ctx, "/f", tt.offset, -1)
				if err != nil {
					t.Fatal(err)
				}
				if tt.cancel {
					time.AfterFunc(100*time.Millisecond, cancel)
				}
				start := time.Now()
				err = tr.Wait()
				took := time.Since(start)
				if !tt.wait(err) {
					t.Fatalf("Wait after %v: %v", took, err)
				}
				if took < tt.minWait || took > tt.minWait+3*time.Second {
					t.Errorf("Wait returned after %v, want from %v on (and not much later)", took, tt.minWait)
				}
				if tr.BytesRead() != 0 {
					t.Errorf("BytesRead() = %d after Wait, want 0", tr.BytesRead())
				}
				if err != nil {
					// The error is the transfer's: Read repeats it, it
					// does not see an end of data.
					if _, rerr := tr.Read(make([]byte, 10)); rerr == nil || rerr == io.EOF {
						t.Errorf("Read after Wait's %v: %v", err, rerr)
					}
					cerr := tr.Close()
					if tt.cancel && !errors.Is(cerr, context.Canceled) {
						t.Errorf("Close after the cancel: %v", cerr)
					}
					if !c.Usable() {
						t.Fatalf("the server answered the reset, yet the Conn is unusable: %v (Close: %v)", c.Err(), cerr)
					}
					if err := c.Noop(testCtx(t)); err != nil {
						t.Fatalf("Noop: %v", err)
					}
					return
				}
				if err := tr.Wait(); err != nil {
					t.Fatalf("second Wait: %v", err)
				}
				var got bytes.Buffer
				if _, err := tr.WriteTo(&got); err != nil {
					t.Fatalf("WriteTo after Wait: %v", err)
				}
				if !bytes.Equal(got.Bytes(), tt.want) || tr.BytesRead() != int64(len(tt.want)) {
					t.Fatalf("delivered %d bytes (BytesRead %d), want %d", got.Len(), tr.BytesRead(), len(tt.want))
				}
				if err := tr.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			})
		}
	}
}

func isNil(err error) bool { return err == nil }

// TestRetrExpectEnd: a Retr whose length is the rest of the file, told so
// with ExpectEnd, completes when the server closes the data connection a
// little after its last byte (no early end, so no NOOP); without it Close
// looks for a millisecond only, misses the end and ends the transfer
// early. Data that goes on past the length (the file grew since its size
// was read) is still ended early, and the Conn stays usable.
func TestRetrExpectEnd(t *testing.T) {
	const size = 100000
	data := testData(size + 1000)
	// lateEnd sends n bytes and closes the data connection 50 ms later.
	lateEnd := func(n int) ftptest.Handler {
		return func(sc *ftptest.Conn, _ string) {
			sc.Reply(150, "Here it comes.")
			dc, err := sc.AcceptData()
			if err != nil {
				return
			}
			dc.Write(data[:n])
			time.Sleep(50 * time.Millisecond)
			dc.Close()
			sc.Reply(226, "Transfer complete.")
		}
	}
	tests := []struct {
		name         string
		sent         int  // bytes the server sends
		expectEnd    bool // ExpectEnd called
		wantComplete bool
	}{
		{name: "expected end, late", sent: size, expectEnd: true, wantComplete: true},
		{name: "end not expected, late", sent: size, expectEnd: false, wantComplete: false},
		{name: "expected end, but more data", sent: size + 1000, expectEnd: true, wantComplete: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := ftptest.NewServer(t)
			s.Handle("RETR", lateEnd(tt.sent))
			c := dialTest(t, s)
			ctx := testCtx(t)
			tr, err := c.Retr(ctx, "/f.bin", 0, size)
			if err != nil {
				t.Fatalf("Retr: %v", err)
			}
			if tt.expectEnd {
				tr.ExpectEnd()
			}
			var got bytes.Buffer
			if _, err := io.Copy(&got, tr); err != nil {
				t.Fatalf("reading: %v", err)
			}
			if !bytes.Equal(got.Bytes(), data[:size]) {
				t.Fatalf("read %d bytes, want the first %d", got.Len(), size)
			}
			if err := tr.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if tr.Complete() != tt.wantComplete {
				t.Errorf("Complete() = %v, want %v", tr.Complete(), tt.wantComplete)
			}
			if err := c.Noop(ctx); err != nil {
				t.Fatalf("Noop after the transfer: %v", err)
			}
			// An early end proves the session in step with a NOOP of its
			// own, before the test's.
			cmds := s.Commands()
			after := cmds[slices.Index(cmds, "RETR /f.bin"):]
			want := 1
			if !tt.wantComplete {
				want = 2
			}
			if n := countOf(after, "NOOP"); n != want {
				t.Errorf("%d NOOPs after RETR, want %d: %q", n, want, after)
			}
		})
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
