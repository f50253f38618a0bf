package ftpcore

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// idleWatch ends a copy from a data connection that has received nothing
// for a timeout, where a read deadline per call cannot: WriteTo hands the
// socket to io.Copy in large chunks so that the kernel can splice them,
// and a deadline per chunk would fail a slow but steady transfer (or one
// whose writer is slow) whose chunk takes longer than the timeout.
//
// Progress is the later of the last chunk the copy finished and, on Linux,
// the last data the kernel received on the socket (TCP_INFO
// tcpi_last_data_recv), which moves while a splice is under way; data
// waiting unread in the socket counts as progress now, since then the
// copy's writer is behind, not the server (recvIdle). Only when both are
// older than the timeout does the watch set a read deadline in the past.
// The check runs once per timeout, not per chunk: the copy pays one atomic
// store per chunk.
type idleWatch struct {
	conn    net.Conn
	timeout time.Duration
	last    atomic.Int64 // UnixNano of the last progress the copy saw
	fired   atomic.Bool

	mu      sync.Mutex
	stopped bool
	timer   *time.Timer
}

func startIdleWatch(conn net.Conn, timeout time.Duration) *idleWatch {
	w := &idleWatch{conn: conn, timeout: timeout}
	w.last.Store(time.Now().UnixNano())
	w.mu.Lock()
	w.timer = time.AfterFunc(timeout, w.check)
	w.mu.Unlock()
	return w
}

// progress records that the copy moved data just now.
func (w *idleWatch) progress() { w.last.Store(time.Now().UnixNano()) }

func (w *idleWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	idle := time.Since(time.Unix(0, w.last.Load()))
	if k, ok := recvIdle(w.conn); ok && k < idle {
		idle = k
	}
	if idle < w.timeout {
		w.timer.Reset(w.timeout - idle)
		return
	}
	w.fired.Store(true)
	w.conn.SetReadDeadline(aLongTimeAgo)
}

// stop ends the watch; after it returns the watch sets no deadline. It
// reports whether the watch had found the connection idle.
func (w *idleWatch) stop() bool {
	w.mu.Lock()
	w.stopped = true
	w.timer.Stop()
	w.mu.Unlock()
	return w.fired.Load()
}
