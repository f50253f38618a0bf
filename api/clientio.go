package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// clientConnKey is the context key under which ConnContext keeps the
// client's connection.
type clientConnKey struct{}

// ConnContext records the client's connection in the context of the
// requests it carries; set it as http.Server.ConnContext. With it, on
// Linux, Config.ClientIdleTimeout is a true idle timeout for responses: a
// transfer is cut only when the client has taken none of the bytes waiting
// for it for that long, however slowly it reads and however large the
// chunks the kernel splices. Without it the timeout bounds each write of at
// most 32 KiB, and responses are copied rather than spliced.
func (s *Server) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, clientConnKey{}, c)
}

// copyChunk is the most one write carries when the timeout is a deadline
// per write: the size of io.Copy's buffer.
const copyChunk = 32 << 10

// clientWriter bounds how long a response may wait on a client that does
// not read, so that such a client cannot hold an FTP session forever.
//
// A write deadline per call cannot do it: io.Copy hands the client's socket
// whole chunks of the FTP data connection to splice (1 MiB; over FTPS the
// whole stream in one ReadFrom), and a slow but steady client, or a slow
// FTP server, would fail a deadline per chunk. So where the kernel can tell
// (sendWatch), progress is what the client acknowledges, and the watch cuts
// the response only when bytes have waited for the client for the whole
// timeout. Elsewhere each write gets its own deadline and writes are kept
// small.
type clientWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	idle  time.Duration
	watch *sendWatch // nil: a deadline per write
}

func newClientWriter(w http.ResponseWriter, r *http.Request, idle time.Duration) *clientWriter {
	c := &clientWriter{w: w, rc: http.NewResponseController(w), idle: idle}
	if nc, ok := r.Context().Value(clientConnKey{}).(net.Conn); ok {
		if conn, ok := unwrapConn(nc); ok {
			c.watch = startSendWatch(conn, idle)
		}
	}
	return c
}

func (c *clientWriter) Write(p []byte) (int, error) {
	if c.watch != nil {
		return c.w.Write(p)
	}
	var n int
	for len(p) > 0 {
		chunk := p[:min(len(p), copyChunk)]
		c.rc.SetWriteDeadline(time.Now().Add(c.idle))
		m, err := c.w.Write(chunk)
		n += m
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// ReadFrom keeps the response writer's io.ReaderFrom while the watch runs,
// so a copy from an FTP data connection still reaches the socket's splice.
func (c *clientWriter) ReadFrom(r io.Reader) (int64, error) {
	if c.watch == nil {
		return io.CopyBuffer(writerOnly{c}, r, make([]byte, copyChunk))
	}
	if rf, ok := c.w.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.w}, r)
}

// done ends the watch and clears the deadline, so that neither outlives the
// request on a kept-alive connection.
func (c *clientWriter) done() {
	if c.watch != nil {
		c.watch.stop()
	}
	c.rc.SetWriteDeadline(time.Time{})
}

// sendWatch cuts a connection whose peer has acknowledged none of the bytes
// waiting for it for a timeout, by setting a write deadline in the past.
// The kernel's counters (sendProgress) say both whether bytes are waiting
// and how many the peer has acknowledged, inside a splice as well as
// between writes; a response waiting on its FTP server has nothing waiting
// and is never cut. The check runs a few times per timeout, not per write:
// a short response costs a timer and one getsockopt.
type sendWatch struct {
	conn    *net.TCPConn
	timeout time.Duration
	every   time.Duration

	mu       sync.Mutex
	stopped  bool
	timer    *time.Timer
	acked    uint64    // the peer's acknowledged bytes at the last check
	progress time.Time // when a check last saw progress or nothing waiting
}

// sendWatchChecks is how many checks a timeout spans: a stall is cut at
// most timeout/sendWatchChecks after it reaches the timeout.
const sendWatchChecks = 4

// startSendWatch returns nil where the kernel cannot report progress.
func startSendWatch(conn *net.TCPConn, timeout time.Duration) *sendWatch {
	acked, _, ok := sendProgress(conn)
	if !ok {
		return nil
	}
	w := &sendWatch{conn: conn, timeout: timeout, every: timeout / sendWatchChecks, acked: acked, progress: time.Now()}
	w.mu.Lock()
	w.timer = time.AfterFunc(w.every, w.check)
	w.mu.Unlock()
	return w
}

func (w *sendWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	now := time.Now()
	acked, waiting, ok := sendProgress(w.conn)
	if !ok {
		return // the connection is gone: its writes fail without us
	}
	if acked != w.acked || !waiting {
		w.acked = acked
		w.progress = now
	}
	if now.Sub(w.progress) >= w.timeout {
		w.conn.SetWriteDeadline(aLongTimeAgo)
		return
	}
	w.timer.Reset(w.every)
}

func (w *sendWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	w.timer.Stop()
	w.mu.Unlock()
}

// aLongTimeAgo is a deadline in the past: setting it fails a blocked write
// at once.
var aLongTimeAgo = time.Unix(1, 0)

// bodyReader reads a request body with an idle deadline per read and
// remembers the body's own error, so a failing client is not blamed on the
// FTP server. A read returns as soon as any bytes arrive, so a deadline per
// read is already an idle timeout, however slowly the body comes.
type bodyReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	err  error
}

func newBodyReader(w http.ResponseWriter, r io.Reader, idle time.Duration) *bodyReader {
	return &bodyReader{r: r, rc: http.NewResponseController(w), idle: idle}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *bodyReader) done() { b.rc.SetReadDeadline(time.Time{}) }
