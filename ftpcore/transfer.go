package ftpcore

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// Transfer is the data side of a RETR: an io.ReadCloser whose Close ends the
// transfer and reads the server's final reply. Closing before the end (a
// range is satisfied, the caller's ctx ended) ends the transfer early and
// leaves the Conn either verified reusable or unusable. A Transfer is not
// safe for concurrent use; after Close, do not use it.
type Transfer struct {
	c      *Conn
	ctx    context.Context
	verb   string // the transfer command; "" is RETR
	data   net.Conn
	tcp    *net.TCPConn // nil if the data connection is not plain TCP (TLS: no splice)
	stop   func() bool
	limit  int64 // bytes still allowed; < 0 means to the end
	n      int64
	eof    bool
	done   *Reply // final reply already received with the preliminary one
	err    error  // first read error
	closed bool
	held   bool    // Wait read the first byte, in hold, and it is still to deliver
	hold   [1]byte // see Wait
	// endsAtLimit: the limit is the rest of the file (ExpectEnd).
	endsAtLimit bool
	offset      int64 // REST's
	announced   struct {
		n, slack int64
		ok       bool
	} // the size the preliminary reply named (SizeChanged)

	progress func(n int64) // OnProgress
}

// Retr starts downloading path from offset (REST+RETR; no REST at 0). When
// length >= 0 the Transfer yields at most length bytes and then ends early;
// length < 0 reads to the end of the file. ctx governs the whole transfer:
// cancelling it interrupts reads at once, and Close then aborts the
// transfer with ABOR (abort.go); the Conn stays usable only if the server
// answers that within AbortTimeout as expected. Wait tells when the data
// has begun.
func (c *Conn) Retr(ctx context.Context, path string, offset, length int64) (*Transfer, error) {
	if offset < 0 {
		return nil, fmt.Errorf("ftpcore: RETR: negative offset %d", offset)
	}
	data, rep, err := c.startTransfer(ctx, "RETR", path, offset)
	if err != nil {
		return nil, err
	}
	return c.newRetr(ctx, data, rep, offset, length), nil
}

// ExpectEnd tells the Transfer that the length given to Retr is the rest of
// the file, so the data should end right after it. Close then waits for
// that end for up to DataTimeout, rather than looking for a millisecond,
// so that a server closing the data connection a little after its last
// byte completes the transfer instead of having it ended early (a NOOP
// more); data that goes on past the length (the file grew since its size
// was read) still ends it early. Call it before Close.
func (t *Transfer) ExpectEnd() { t.endsAtLimit = true }

// DataConn returns the data connection itself (a *net.TCPConn for TCP, a
// *tls.Conn under TLS), for callers that need socket-level control.
// Reading from it directly bypasses the Transfer's accounting; use WriteTo
// for zero-copy instead (plain TCP only: TLS is copied through user space).
func (t *Transfer) DataConn() net.Conn { return t.data }

// BytesRead returns the number of bytes delivered so far.
func (t *Transfer) BytesRead() int64 { return t.n }

// Complete reports whether the data connection reached its end.
func (t *Transfer) Complete() bool { return t.eof }

func (t *Transfer) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if t.limit == 0 {
		return 0, io.EOF
	}
	if t.held && len(p) > 0 {
		p[0] = t.hold[0]
		t.held = false
		t.count(1)
		return 1, nil
	}
	if t.limit > 0 && int64(len(p)) > t.limit {
		p = p[:t.limit]
	}
	n, err := t.read(p)
	t.count(int64(n))
	return n, err
}

// Wait blocks until the transfer has data to deliver or its data has
// ended, for at most DataTimeout, so that a caller can commit to an answer
// (an HTTP status) only once the server has begun sending, and can still
// report a server that sends nothing. On plain TCP it takes nothing from
// the stream: it looks (recv with MSG_PEEK, one system call when the data
// is there) and WriteTo still splices every byte. Under TLS, and where the
// platform cannot look, it reads the first byte and keeps it for the next
// Read or WriteTo. An error is the transfer's, as from Read: Close then
// ends the transfer as cut short (or aborted, after ctx ended).
func (t *Transfer) Wait() error {
	if t.err != nil || t.limit == 0 || t.eof || t.held {
		return t.err
	}
	if t.tcp != nil && canPeek {
		t.tcp.SetReadDeadline(time.Now().Add(t.c.cfg.DataTimeout))
		if err := t.cancelled(); err != nil {
			return err
		}
		end, err := waitReadable(t.tcp)
		if err != nil {
			t.err = t.dataErr(err)
		}
		if end {
			if err := t.cancelled(); err != nil {
				return err // the server may have ended the data because we left
			}
			t.eof = true
		}
		return t.err
	}
	n, err := t.read(t.hold[:])
	t.held = n == 1
	if err == io.EOF {
		return nil // an empty rest of the file is not a failure here
	}
	return err
}

// read reads from the data connection under a fresh DataTimeout deadline
// and records how the data ended; the caller counts.
func (t *Transfer) read(p []byte) (int, error) {
	t.data.SetReadDeadline(time.Now().Add(t.c.cfg.DataTimeout))
	if err := t.cancelled(); err != nil {
		return 0, err
	}
	n, err := t.data.Read(p)
	if err == io.EOF {
		if err := t.cancelled(); err != nil {
			return n, err // the server may have ended the data because we left
		}
		t.eof = true
		return n, io.EOF
	}
	if err != nil {
		t.err = t.dataErr(err)
		return n, t.err
	}
	return n, nil
}

func (t *Transfer) count(n int64) {
	t.n += n
	if t.limit > 0 {
		t.limit -= n
	}
	if t.progress != nil && n > 0 {
		t.progress(n)
	}
}

// OnProgress sets f to be called with the number of bytes delivered each
// time some are: after every Read, and in WriteTo after every spliced
// chunk (at most 1 MiB), so counting costs nothing per byte and hides
// nothing from the splice. f runs on the goroutine reading the Transfer
// and must be quick. Set it before the first read.
func (t *Transfer) OnProgress(f func(n int64)) { t.progress = f }

// transferChunk is how much WriteTo hands to io.Copy at a time. Smaller
// chunks cost CPU (measured splicing from vsftpd to a TCP socket: 16 KiB
// +72%, 64 KiB +24%, 256 KiB +13% over 1 MiB); the idle watch (idle.go)
// sees progress inside a chunk on Linux, so the chunk need not be small
// for DataTimeout to be a true idle timeout.
const transferChunk = 1 << 20

// WriteTo copies the transfer to w until the end (or the length given to
// Retr). The copy goes through io.Copy on the bare *net.TCPConn wrapped in
// an *io.LimitedReader, so when w is (or wraps, through io.ReaderFrom) a
// TCP socket, the kernel splices data socket to w without a user-space copy.
func (t *Transfer) WriteTo(w io.Writer) (int64, error) { return t.copyOut(w, -1) }

// WriteN is WriteTo for the next n bytes only: it copies n bytes to w,
// fewer where the data ends first (the error is then nil, as WriteTo's
// at the end), and splices as WriteTo does. With it one transfer can serve
// several stretches of a file with other bytes written between them (the
// parts of a multipart/byteranges response), each still spliced.
func (t *Transfer) WriteN(w io.Writer, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	return t.copyOut(w, n)
}

// copyOut copies up to n bytes of the transfer to w (n < 0: to the end).
func (t *Transfer) copyOut(w io.Writer, n int64) (int64, error) {
	if t.tcp == nil || t.held {
		// TLS; or a byte Wait could only take by reading, which is only
		// where there is no splice to keep anyway.
		if n < 0 {
			return io.Copy(w, struct{ io.Reader }{t})
		}
		m, err := io.CopyN(w, struct{ io.Reader }{t}, n)
		if err == io.EOF {
			err = nil // the data ended first
		}
		return m, err
	}
	if t.err != nil {
		return 0, t.err
	}
	// The idle watch, not a deadline per chunk, bounds a stall.
	t.tcp.SetReadDeadline(time.Time{})
	if err := t.cancelled(); err != nil {
		return 0, err
	}
	idle := startIdleWatch(t.tcp, t.c.cfg.DataTimeout)
	defer idle.stop()
	var total int64
	for t.limit != 0 && !t.eof && total != n {
		chunk := int64(transferChunk)
		if t.limit > 0 && t.limit < chunk {
			chunk = t.limit
		}
		if n >= 0 && n-total < chunk {
			chunk = n - total
		}
		lr := &io.LimitedReader{R: t.tcp, N: chunk}
		m, err := io.Copy(w, lr)
		idle.progress()
		total += m
		t.count(m)
		if err != nil {
			// From the data connection or from w: either way the transfer
			// cannot go on, and Close will end it as cut short.
			t.err = t.dataErr(err)
			return total, t.err
		}
		if m < chunk {
			if err := t.cancelled(); err != nil {
				return total, err // as in Read: not a clean end
			}
			t.eof = true
		}
	}
	return total, nil
}

// cancelled records and returns the end of t.ctx. It is called after each
// new read deadline is set: cancelling ctx sets a deadline in the past,
// which that new deadline may just have overwritten; and an end of file
// read after the cancellation must not count as the transfer's end, since
// the server may be closing the data connection because of what the
// cancellation started.
func (t *Transfer) cancelled() error {
	if t.ctx.Err() == nil {
		return nil
	}
	t.err = t.dataErr(t.ctx.Err())
	return t.err
}

func (t *Transfer) dataErr(err error) error {
	if t.ctx.Err() != nil {
		return fmt.Errorf("ftpcore: RETR data: %w", t.ctx.Err())
	}
	return fmt.Errorf("ftpcore: RETR data: %w", err)
}

// Close ends the transfer. After the whole file was read it reads the final
// reply (at most FinalReplyTimeout) and returns an *Error unless it is a
// 2yz completion (a 426 or 451 there means the data is incomplete). Closed
// early, it resets the data connection, reads the server's final reply and
// proves the control connection is in step with a NOOP; after the caller's
// ctx ended it sends ABOR first (abort.go) and returns the ctx's error.
// That exchange is bounded by AbortTimeout, and when any of it fails the
// Conn is marked unusable and Close returns why. Closing early is not
// itself an error.
func (t *Transfer) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	c := t.c
	if !t.eof && t.err == nil && t.limit == 0 {
		wait := time.Millisecond
		if t.endsAtLimit {
			wait = t.c.cfg.DataTimeout
		}
		t.probeEOF(wait)
	}
	watchedEnd := t.stop()
	if !t.eof {
		resetData(t.data) // RST: the server's next write fails at once
		// A cancellation that came after the caller had all it asked for
		// cuts nothing short.
		cancelled := (watchedEnd || t.ctx.Err() != nil) && t.limit != 0
		return t.endEarly(cancelled)
	}
	t.data.Close()
	rep := t.done
	if rep == nil {
		var err error
		// The caller's ctx may already be past its use; the transfer is
		// complete, so its final reply is read regardless.
		rep, err = c.readFinal(context.Background(), t.verbName(), c.cfg.FinalReplyTimeout)
		if err != nil {
			return err
		}
	}
	c.busy = false
	if rep.Class() != 2 {
		return unexpected(t.verbName(), rep)
	}
	return nil
}

// probeEOF looks whether the data connection ends right after the bytes
// the caller wanted: then the transfer is complete, not cut short. It waits
// for the end at most wait: a millisecond, unless ExpectEnd said the end
// is due (a range in the middle of a file must not wait for the server's
// next bytes); a missed end is handled as an early close, which keeps the
// session too, at the cost of a NOOP.
func (t *Transfer) probeEOF(wait time.Duration) {
	var b [1]byte
	t.data.SetReadDeadline(time.Now().Add(wait))
	n, err := t.data.Read(b[:])
	if n == 0 && err == io.EOF {
		t.eof = true
	}
}

// verbName is the transfer command, for errors.
func (t *Transfer) verbName() string {
	if t.verb == "" {
		return "RETR"
	}
	return t.verb
}
