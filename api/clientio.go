package api

import (
	"context"
	"fmt"
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

// clientLimits are what a transfer asks of its HTTP client, so that no
// client can hold an FTP session for as long as it likes: progress within
// idle; on average at least minRate bytes a second over every window in
// which the gateway waits on it (0: no such rule), which a client that
// drips a byte now and then to beat idle does not keep; and the whole
// transfer within max (0: no limit).
type clientLimits struct {
	idle    time.Duration
	minRate int64
	window  time.Duration
	max     time.Duration
}

func (s *Server) clientLimits() clientLimits {
	return clientLimits{
		idle:    s.cfg.ClientIdleTimeout,
		minRate: max(s.cfg.MinClientRate, 0),
		window:  s.cfg.MinClientRateWindow,
		max:     max(s.cfg.MaxTransferTime, 0),
	}
}

// tooSlow reports whether a client that moved n bytes while the gateway
// waited on it for waited (at least a window) broke the rate rule.
func (l clientLimits) tooSlow(n int64, waited time.Duration) bool {
	return l.minRate > 0 && float64(n) < float64(l.minRate)*waited.Seconds()
}

// clientTooSlow is a client cut for breaking a rule other than idle: its
// text says which, and becomes the problem's detail.
type clientTooSlow struct{ why string }

func (e *clientTooSlow) Error() string { return e.why }

func (l clientLimits) slowErr() error {
	return &clientTooSlow{fmt.Sprintf("the client moved fewer than %d bytes a second over %v", l.minRate, l.window)}
}

func (l clientLimits) longErr() error {
	return &clientTooSlow{fmt.Sprintf("the transfer took longer than %v", l.max)}
}

// clientWriter bounds how long a response may wait on a client that does
// not read (clientLimits).
//
// A write deadline per call cannot do it: io.Copy hands the client's socket
// whole chunks of the FTP data connection to splice (1 MiB; over FTPS the
// whole stream in one ReadFrom), and a slow but steady client, or a slow
// FTP server, would fail a deadline per chunk. So where the kernel can tell
// (sendWatch), progress is what the client acknowledges, and the watch cuts
// the response only when bytes have waited for the client too long.
// Elsewhere each write gets its own deadline and writes are kept small,
// and only idle and max are kept.
type clientWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	lim   clientLimits
	start time.Time
	watch *sendWatch   // nil: a deadline per write
	conn  *net.TCPConn // the client's connection; nil if not known
}

func newClientWriter(w http.ResponseWriter, r *http.Request, lim clientLimits) *clientWriter {
	c := &clientWriter{w: w, rc: http.NewResponseController(w), lim: lim, start: time.Now()}
	if nc, ok := r.Context().Value(clientConnKey{}).(net.Conn); ok {
		if conn, ok := unwrapConn(nc); ok {
			c.conn = conn
			c.watch = startSendWatch(conn, lim)
		}
	}
	return c
}

// clientLeft marks err as the client's doing when its connection is gone:
// an error of a splice (or a write) does not say which end broke.
func (c *clientWriter) clientLeft(err error) error {
	if err != nil && c.conn != nil && peerGone(c.conn) {
		return fmt.Errorf("%w: %w", errClientLeft, err)
	}
	return err
}

func (c *clientWriter) Write(p []byte) (int, error) {
	if c.watch != nil {
		n, err := c.w.Write(p)
		return n, c.clientLeft(c.watch.explain(err))
	}
	var n int
	for len(p) > 0 {
		chunk := p[:min(len(p), copyChunk)]
		c.rc.SetWriteDeadline(deadline(c.lim, c.start))
		m, err := c.w.Write(chunk)
		n += m
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// deadline is the next deadline of a transfer that began at start: idle
// from now, or max from start if that comes first.
func deadline(lim clientLimits, start time.Time) time.Time {
	d := time.Now().Add(lim.idle)
	if end := start.Add(lim.max); lim.max > 0 && end.Before(d) {
		return end
	}
	return d
}

// ReadFrom keeps the response writer's io.ReaderFrom while the watch runs,
// so a copy from an FTP data connection still reaches the socket's splice.
func (c *clientWriter) ReadFrom(r io.Reader) (int64, error) {
	if c.watch == nil {
		return io.CopyBuffer(writerOnly{c}, r, make([]byte, copyChunk))
	}
	if rf, ok := c.w.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(r)
		return n, c.clientLeft(c.watch.explain(err))
	}
	n, err := io.Copy(writerOnly{c.w}, r)
	return n, c.clientLeft(c.watch.explain(err))
}

// done ends the watch and clears the deadline, so that neither outlives the
// request on a kept-alive connection.
func (c *clientWriter) done() {
	if c.watch != nil {
		c.watch.stop()
	}
	c.rc.SetWriteDeadline(time.Time{})
}

// sendWatch cuts a connection, by setting a write deadline in the past,
// whose peer breaks a clientLimits rule while bytes wait for it. The
// kernel's counters (sendProgress) say both whether bytes are waiting and
// how many the peer has acknowledged, inside a splice as well as between
// writes; a response waiting on its FTP server has nothing waiting and is
// never cut, but for max. The check runs a few times per timeout, not per
// write: a short response costs a timer.
type sendWatch struct {
	conn  *net.TCPConn
	lim   clientLimits
	every time.Duration
	start time.Time

	mu       sync.Mutex
	stopped  bool
	timer    *time.Timer
	counted  bool      // acked has been read once
	acked    uint64    // the peer's acknowledged bytes at the last check
	last     time.Time // the last check
	progress time.Time // when a check last saw progress or nothing waiting
	waited   time.Duration
	moved    int64 // acknowledged while waited ran
	cut      error // why the watch cut the connection
}

// sendWatchChecks is how many checks a timeout or rate window spans: a
// stall is cut at most that fraction of it late.
const sendWatchChecks = 4

// startSendWatch returns nil where the kernel cannot report progress.
// Every stall is cut at most one check later than its rule says: the
// first check only counts.
func startSendWatch(conn *net.TCPConn, lim clientLimits) *sendWatch {
	if !canWatchSends {
		return nil
	}
	span := lim.idle
	if lim.minRate > 0 {
		span = min(span, lim.window)
	}
	if lim.max > 0 {
		span = min(span, lim.max)
	}
	now := time.Now()
	w := &sendWatch{conn: conn, lim: lim, every: span / sendWatchChecks, start: now, last: now, progress: now}
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
	if !w.counted {
		// The first check takes the count the next ones compare with,
		// and counts as progress: most responses end before any check,
		// and pay no getsockopt at all.
		w.counted, w.acked, w.last, w.progress = true, acked, now, now
		w.timer.Reset(w.every)
		return
	}
	if acked != w.acked || !waiting {
		w.progress = now
	}
	if waiting {
		w.waited += now.Sub(w.last)
		w.moved += int64(acked - w.acked)
	}
	w.acked, w.last = acked, now
	switch {
	case now.Sub(w.progress) >= w.lim.idle:
		w.cut = fmt.Errorf("the client took nothing for %v", w.lim.idle)
	case w.lim.max > 0 && now.Sub(w.start) >= w.lim.max:
		w.cut = w.lim.longErr()
	case w.lim.minRate > 0 && w.waited >= w.lim.window && w.lim.tooSlow(w.moved, w.waited):
		w.cut = w.lim.slowErr()
	}
	if w.cut != nil {
		// The bytes already in the socket's buffer go too: the close that
		// follows resets the connection rather than leave the client
		// megabytes to drain at the rate it was cut for.
		w.conn.SetLinger(0)
		w.conn.SetWriteDeadline(aLongTimeAgo)
		return
	}
	if w.waited >= w.lim.window {
		w.waited, w.moved = 0, 0
	}
	w.timer.Reset(w.every)
}

// explain adds to a write's error why the watch cut the connection, if it
// did, for the request's log line.
func (w *sendWatch) explain(err error) error {
	if err == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cut != nil {
		return fmt.Errorf("%w: %w", w.cut, err)
	}
	return err
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

// bodyReader reads a request body under clientLimits and remembers the
// body's own error, so a failing client is not blamed on the FTP server. A
// read returns as soon as any bytes arrive, so a deadline per read is an
// idle timeout, however slowly the body comes; the rate rule counts only
// the time spent waiting in reads, so an FTP server that is slow to take
// the body does not count against the client.
type bodyReader struct {
	r      io.Reader
	rc     *http.ResponseController
	lim    clientLimits
	start  time.Time
	waited time.Duration
	moved  int64
	err    error
}

func newBodyReader(w http.ResponseWriter, r io.Reader, lim clientLimits) *bodyReader {
	return &bodyReader{r: r, rc: http.NewResponseController(w), lim: lim, start: time.Now()}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(deadline(b.lim, b.start))
	t := time.Now()
	n, err := b.r.Read(p)
	b.waited += time.Since(t)
	b.moved += int64(n)
	switch {
	case err == io.EOF:
	case err != nil && b.lim.max > 0 && time.Since(b.start) >= b.lim.max:
		err = fmt.Errorf("%w: %w", b.lim.longErr(), err)
	case err == nil && b.lim.minRate > 0 && b.waited >= b.lim.window:
		if b.lim.tooSlow(b.moved, b.waited) {
			err = b.lim.slowErr()
		}
		b.waited, b.moved = 0, 0
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *bodyReader) done() { b.rc.SetReadDeadline(time.Time{}) }
