package api

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// A held upload released to its client's retry, as tusd does it. A
// request that appends holds the upload (.part renamed to .lock,
// resumable.go) until its body ends. When the client's network dies
// without a FIN or a RST, that is when the read times out, and until then
// the client's resume (HEAD, then PATCH) would find the upload held. So
// each replica keeps the uploads its own requests hold; a HEAD or PATCH of
// one of them asks the holder to stop: its body read is interrupted (a
// read deadline in the past on its connection), its STOR aborted, what
// the FTP server stored kept and the .lock given back, as on a cut. The
// new request waits for that give-back (releaseWait at most) and goes on
// with the real offset. Of two appends, the newer takes the upload over
// and the older ends with what it had stored (409, errTakenOver): both
// come from holders of the upload's signed URL, and nothing the older
// sends reaches the file after its give-back, which comes before the
// newer's RNFR.
//
// An upload held by a request of another replica is not known here: its
// .lock answers 409 as before, until its holder ends or it is stale.

// releaseWait bounds how long a request waits for the holder it asked to
// stop: one stuck where no read deadline reaches (a slow FTP server) is
// left alone, and the request gets 409.
const releaseWait = 10 * time.Second

var errTakenOver = conflict("a newer request for this upload took it over; what this one sent until then is stored: ask the upload's offset", nil)

// holds are the uploads this replica's requests hold, by holdKey. Safe for
// concurrent use.
type holds struct {
	mu sync.Mutex
	m  map[string]*hold
}

// hold is one request's hold on an upload.
type hold struct {
	// stopped is set when another request asks this one to stop.
	stopped atomic.Bool
	// bodyDone is set once the body was read to its end: no read is
	// left to interrupt.
	bodyDone atomic.Bool
	w        http.ResponseWriter
	rc       *http.ResponseController
	// done is closed when the request has given the upload back (or
	// completed it) and ended its hold.
	done chan struct{}
}

// holdKey names an upload among a backend's: the file it is bound to (the
// path, and the user in Basic passthrough) and its nonce, which together
// name its .lock on the FTP server.
func (s *Server) holdKey(r *http.Request, clean string, id uploadID) string {
	return s.uploadBinding(r, clean) + "\x00" + id.nonce
}

// takeOver asks the request of this replica holding key, if any, to
// stop, and waits until it has ended (releaseWait at most, errUploadBusy
// after). With w not nil, the caller then holds key itself: it must call
// end once it has given the upload back. The returned hold is nil without
// w.
func (hs *holds) takeOver(ctx context.Context, key string, w http.ResponseWriter) (*hold, error) {
	timer := time.NewTimer(releaseWait)
	defer timer.Stop()
	for {
		hs.mu.Lock()
		old := hs.m[key]
		if old == nil {
			var h *hold
			if w != nil {
				h = &hold{w: w, rc: http.NewResponseController(w), done: make(chan struct{})}
				if hs.m == nil {
					hs.m = map[string]*hold{}
				}
				hs.m[key] = h
			}
			hs.mu.Unlock()
			return h, nil
		}
		// Under hs.mu: old has not ended, so its connection is still its
		// request's, not the next one's on the same connection.
		old.stop()
		hs.mu.Unlock()
		select {
		case <-old.done:
		case <-timer.C:
			return nil, errUploadBusy
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// end ends h's hold on key. A nil h is none.
func (hs *holds) end(key string, h *hold) {
	if h == nil {
		return
	}
	hs.mu.Lock()
	if hs.m[key] == h {
		delete(hs.m, key)
	}
	close(h.done)
	hs.mu.Unlock()
}

// stop asks the holder to stop: the next read of its body fails, and one
// under way is cut by a read deadline in the past.
func (h *hold) stop() {
	if h.stopped.Swap(true) || h.bodyDone.Load() {
		return
	}
	h.rc.SetReadDeadline(time.Now())
}

// body returns r's body as the holder reads it: a read after stop, or
// one that stop cut, fails with errTakenOver.
func (h *hold) body(r io.ReadCloser) io.ReadCloser { return &heldBody{ReadCloser: r, h: h} }

// outcome is the holder's answer: errTakenOver in place of the failure
// that the stop caused. The rest of such a request's body is not read:
// its connection is closed after the answer, at once (net/http would
// otherwise wait for up to 256 KiB more of a body that may never come).
func (h *hold) outcome(err error) error {
	if err == nil || !h.stopped.Load() {
		return err
	}
	h.w.Header().Set("Connection", "close")
	h.rc.SetReadDeadline(time.Now())
	return errTakenOver
}

type heldBody struct {
	io.ReadCloser
	h *hold
}

func (b *heldBody) Read(p []byte) (int, error) {
	// stop sets stopped before it moves the deadline; a read that finds
	// stopped unset started after the deadline the body reader set, so
	// stop's deadline, later, cuts it.
	if b.h.stopped.Load() {
		return 0, errTakenOver
	}
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.h.bodyDone.Store(true)
	case err != nil && b.h.stopped.Load():
		err = errTakenOver
	}
	return n, err
}
