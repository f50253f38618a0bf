package ftpcore

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Upload is the data side of a STOR: an io.WriteCloser whose Close ends the
// data connection and reads the server's final reply. Abort ends it so the
// server sees a reset rather than a clean end of file, and a failed Write
// ends it as Abort does. An Upload is not safe for concurrent use; after
// Close or Abort, do not use it.
type Upload struct {
	c      *Conn
	ctx    context.Context
	verb   string
	data   net.Conn
	plain  bool // data is a *net.TCPConn: see Write
	stop   func() bool
	n      int64
	done   *Reply
	prelim *Reply // the reply that opened the transfer (STOU names the file in it)
	err    error  // why a Write failed; the upload has ended (fail)
	closed bool

	progress func(n int64) // OnProgress
}

// Stor starts uploading to path: STOR, with REST offset first when offset >
// 0 (resuming). ctx governs the whole upload.
func (c *Conn) Stor(ctx context.Context, path string, offset int64) (*Upload, error) {
	return c.store(ctx, "STOR", path, offset)
}

// Appe starts appending to path (APPE).
func (c *Conn) Appe(ctx context.Context, path string) (*Upload, error) {
	return c.store(ctx, "APPE", path, 0)
}

// Stou starts an upload to a name the server chooses, unique in the working
// directory (STOU, RFC 959 §4.1.3) — the login directory, for a session
// nobody moved. The chosen name is Upload.Name, read from the server's
// preliminary reply ("150 FILE: name", RFC 1123 §4.1.2.9).
func (c *Conn) Stou(ctx context.Context) (*Upload, error) {
	return c.store(ctx, "STOU", "", 0)
}

func (c *Conn) store(ctx context.Context, verb, path string, offset int64) (*Upload, error) {
	if offset < 0 {
		return nil, fmt.Errorf("ftpcore: %s: negative offset %d", verb, offset)
	}
	data, rep, err := c.startTransfer(ctx, verb, path, offset)
	if err != nil {
		return nil, err
	}
	_, plain := data.(*net.TCPConn)
	u := &Upload{c: c, ctx: ctx, verb: verb, data: data, plain: plain, prelim: rep}
	if rep.Class() == 2 {
		u.done = rep
	}
	u.stop = watchData(ctx, data)
	return u, nil
}

// Name returns the file name a STOU upload was given by the server, as its
// preliminary reply stated it ("150 FILE: name"), or "".
func (u *Upload) Name() string {
	if u.prelim == nil || u.verb != "STOU" {
		return ""
	}
	msg := u.prelim.Msg()
	i := strings.Index(strings.ToUpper(msg), "FILE:")
	if i < 0 {
		return ""
	}
	name := strings.TrimSpace(msg[i+len("FILE:"):])
	if j := strings.IndexByte(name, '\n'); j >= 0 {
		name = strings.TrimSpace(name[:j])
	}
	return name
}

// BytesWritten returns the number of bytes sent so far.
func (u *Upload) BytesWritten() int64 { return u.n }

// Write sends p on the data connection. It fails when the server takes
// nothing of it for DataTimeout, however long a server that keeps taking
// it needs for all of p: on plain TCP a write that moved bytes before its
// deadline goes on with a new one (so a stall is found within one to two
// DataTimeouts), and under TLS, where a write that timed out leaves the
// connection unusable, p goes one record (16 KiB) at a time, each with
// its own deadline. A failed Write ends the upload as Abort does (a reset,
// then the final reply within AbortTimeout), and when the server ended the
// transfer first (the data connection was reset or closed under the
// write, not cut by DataTimeout or ctx) its 4yz or 5yz final reply is in
// the error as an *Error: that reply says why.
func (u *Upload) Write(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	if u.closed {
		return 0, fmt.Errorf("ftpcore: %s data: %w", u.verb, net.ErrClosed)
	}
	var n int
	for len(p) > 0 {
		chunk := p
		if !u.plain {
			chunk = p[:min(len(p), tlsRecord)]
		}
		u.data.SetWriteDeadline(time.Now().Add(u.c.cfg.DataTimeout))
		if err := u.ctx.Err(); err != nil {
			// As in Transfer.cancelled: the deadline just set may have
			// replaced the one cancelling ctx set, and the write would go
			// into the socket buffer as if nothing had happened.
			return n, u.fail(err)
		}
		m, err := u.data.Write(chunk)
		n += m
		p = p[m:]
		u.n += int64(m)
		if u.progress != nil && m > 0 {
			u.progress(int64(m))
		}
		switch {
		case err == nil:
		case u.ctx.Err() != nil:
			return n, u.fail(u.ctx.Err())
		case u.plain && m > 0 && IsTimeout(err):
			// Slow, not stalled: the server took some within the
			// deadline.
		default:
			return n, u.fail(err)
		}
	}
	return n, nil
}

// tlsRecord is the most plaintext one TLS record carries (RFC 8446 §5.1).
const tlsRecord = 16 << 10

// fail ends the upload after Write failed with err. A server that refuses
// an upload under way (552, 452, 451) replies and closes or resets the
// data connection, in either order: the write fails with a reset or a
// broken pipe, and the final reply, already sent or on its way, is the
// reason. A write that failed on our own DataTimeout or ctx keeps its
// error: the reply that follows only answers our reset (426 from vsftpd
// and proftpd, 451 from pure-ftpd, TestRealStorCancel).
func (u *Upload) fail(err error) error {
	u.stop()
	serverEnded := u.ctx.Err() == nil && !IsTimeout(err)
	rep, ferr := u.abort(fmt.Errorf("ftpcore: %s data: %w", u.verb, err))
	if serverEnded && rep != nil && rep.Class() >= 4 {
		ferr = fmt.Errorf("%w (%w)", unexpected(u.verb, rep), ferr)
	}
	u.err = ferr
	return ferr
}

// OnProgress sets f to be called with the number of bytes written to the
// data connection after every write (at most 256 KiB through ReadFrom).
// f runs on the goroutine writing the Upload and must be quick. Set it
// before the first write.
func (u *Upload) OnProgress(f func(n int64)) { u.progress = f }

// uploadBuffer is the size of the buffer ReadFrom copies through.
const uploadBuffer = 256 << 10

// ReadFrom copies r into the upload until r's EOF. Errors from r are
// returned as they are, so the caller can tell a failing source from a
// failing server.
func (u *Upload) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, uploadBuffer)
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			w, werr := u.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// Close ends the data connection cleanly (the server sees end of file) and
// returns nil only if the server's final reply, awaited at most
// FinalReplyTimeout, is a 2yz completion. With the ctx ended it aborts
// instead, as Abort does, and returns the ctx's error. After a failed Write,
// which has ended the upload already, it returns that Write's error.
func (u *Upload) Close() error {
	if u.closed {
		return nil
	}
	u.closed = true
	if u.err != nil {
		return u.err
	}
	watchedEnd := u.stop()
	if err := u.ctx.Err(); err != nil || watchedEnd {
		// A clean end of file would tell the server it has the whole
		// file; after a cancellation it has not.
		_, err := u.abort(fmt.Errorf("ftpcore: %s: %w", u.verb, u.ctx.Err()))
		return err
	}
	closeData(u.data, u.c.cfg.DataTimeout) // close_notify first under TLS
	return u.finish()
}

// Abort ends the upload so the server does not take it for complete: the
// data connection is reset, not closed. It reads the server's final reply,
// at most AbortTimeout, so the Conn stays usable (abort.go); cause is
// returned if the Conn is still usable, or cause and the reason it is not.
// After a failed Write, which has ended the upload already, it returns that
// Write's error instead of cause.
func (u *Upload) Abort(cause error) error {
	if u.closed {
		return nil
	}
	u.closed = true
	if u.err != nil {
		return u.err
	}
	u.stop()
	_, err := u.abort(cause)
	return err
}

// abort resets the data connection and reads the final reply
// (endCutShort). It returns that reply, and cause, with the reason the
// Conn is no longer usable if it is not.
func (u *Upload) abort(cause error) (*Reply, error) {
	resetData(u.data) // RST, and under TLS no close_notify
	rep, err := u.endCutShort()
	if err != nil {
		if cause == nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w (abort: %w)", cause, err)
	}
	return rep, cause
}

func (u *Upload) finish() error {
	c := u.c
	rep := u.done
	if rep == nil {
		var err error
		// The caller's ctx may end now; the upload is complete, so its
		// final reply is read regardless.
		rep, err = c.readFinal(context.Background(), u.verb, c.cfg.FinalReplyTimeout)
		if err != nil {
			return err
		}
	}
	c.busy = false
	if rep.Class() != 2 {
		return unexpected(u.verb, rep)
	}
	return nil
}
