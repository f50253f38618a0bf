package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// A GET of several ranges is answered with 206 and a multipart/byteranges
// body (RFC 9110 §14.6), from the one session that looked at the file:
// httpsem.ParseRange has sorted the ranges and coalesced those that
// overlap or touch, so the file is read forward, each part by a REST+RETR
// that stops after its bytes as a single range's does, and parts close
// together by one RETR that reads the few bytes between them and throws
// them away. Each part's bytes are spliced as a single range's are; the
// framing around them is written in between.

// partGap is the most bytes between two parts that one RETR reads through
// rather than start another. A RETR ended early costs REST, EPSV, RETR,
// a data connection, the abort's reply and a NOOP, five round trips or
// so: bench's workload i measured 0.4–0.5 ms on loopback with vsftpd, the
// time the gateway reads about 180 KiB of a file; over a network each
// round trip costs more, and bandwidth rarely grows in step. Reading
// through a gap of at most a third of that always gains. It also bounds
// what a request can make the gateway read and not send: at most partGap
// for each of Config.MaxRanges parts.
const partGap = 64 << 10

// byteranges is the multipart/byteranges body of a response: its parts,
// their framing, and its length, all known before the first byte is sent,
// so that Content-Length is exact. Not safe for concurrent use.
type byteranges struct {
	contentType string // multipart/byteranges; boundary=…
	parts       []part
	closing     []byte // the close delimiter, after the last part
	length      int64  // of the whole body, framing included
	data        int64  // of the file's bytes in it
}

// part is one range of the body and the framing written before it.
type part struct {
	r    httpsem.ByteRange
	head []byte
}

// newByteranges frames ranges (sorted, disjoint) of a file of size bytes
// whose own Content-Type is ctype, under a boundary drawn afresh: a file's
// content cannot be made to hold it, so no file can forge a part.
func newByteranges(ranges []httpsem.ByteRange, ctype string, size int64) *byteranges {
	boundary := rand.Text()
	b := &byteranges{
		contentType: "multipart/byteranges; boundary=" + boundary,
		parts:       make([]part, len(ranges)),
		closing:     []byte("\r\n--" + boundary + "--\r\n"),
	}
	for i, r := range ranges {
		// The first delimiter needs no CRLF before it: there is no
		// preamble. Each later one's CRLF ends the part before it.
		head := "\r\n--" + boundary + "\r\nContent-Type: " + ctype + "\r\nContent-Range: " + r.ContentRange(size) + "\r\n\r\n"
		if i == 0 {
			head = head[2:]
		}
		b.parts[i] = part{r: r, head: []byte(head)}
		b.length += int64(len(head)) + r.Length()
		b.data += r.Length()
	}
	b.length += int64(len(b.closing))
	return b
}

// retrs returns the parts each RETR serves, in order: runs of parts whose
// gaps are at most partGap.
func (b *byteranges) retrs() [][]part {
	var runs [][]part
	first := 0
	for i := 1; i <= len(b.parts); i++ {
		if i == len(b.parts) || b.parts[i].r.Start-b.parts[i-1].r.End-1 > partGap {
			runs = append(runs, b.parts[first:i])
			first = i
		}
	}
	return runs
}

// sendParts streams the body b of a 206 from the file at full (clean
// under the mount), of size bytes, and writes the status line once the
// first part's data has begun, so that until then a failure is still a
// problem document and a file that changed is looked at again (getOnce).
// After that, whatever stops a part (a RETR refused, data that ends
// early, a file whose size changed, a session lost) cuts the response:
// it is never finished as if complete.
func (s *Server) sendParts(w http.ResponseWriter, r *http.Request, c *ftpcore.Conn, full, clean string, b *byteranges, size int64) error {
	ctx := r.Context()
	runs := b.retrs()
	tr, err := startRun(ctx, c, full, runs[0], size)
	if err != nil {
		return whyRefused(ctx, c, refusedRead, full, err)
	}
	w.WriteHeader(http.StatusPartialContent)
	live := s.beginLive(r, clean, b.data)
	defer s.live.end(live)
	// The bytes read between the parts of a run are not sent: they are
	// not counted as moved.
	count, between := s.metrics.bytesCounter(s.name, "download", live), false
	progress := func(n int64) {
		if !between {
			count(n)
		}
	}
	cw := newClientWriter(w, r, s.clientLimits())
	defer cw.done()
	for i, run := range runs {
		if i > 0 {
			if tr, err = startRun(ctx, c, full, run, size); err != nil {
				return err // headers are out: writeError cuts the response
			}
		}
		tr.OnProgress(progress)
		if err := sendRun(tr, cw, run, &between); err != nil {
			tr.Close()
			return err
		}
		cerr := tr.Close()
		if i < len(runs)-1 && cerr != nil {
			// The session is lost, with parts still to send.
			return cerr
		}
		s.complainedAtEnd(r, cerr)
	}
	_, err = cw.Write(b.closing)
	return err
}

// sendRun writes the parts of run to w from tr, which starts at the first
// part's first byte: each part's framing, then its bytes. The bytes
// between two parts are read and dropped, with *between set meanwhile.
func sendRun(tr *ftpcore.Transfer, w io.Writer, run []part, between *bool) error {
	for j, p := range run {
		if j > 0 {
			prev := run[j-1].r.End
			*between = true
			err := copyPart(tr, io.Discard, prev+1, p.r.Start-prev-1)
			*between = false
			if err != nil {
				return err
			}
		}
		if _, err := w.Write(p.head); err != nil {
			return err
		}
		if err := copyPart(tr, w, p.r.Start, p.r.Length()); err != nil {
			return err
		}
	}
	return nil
}

// startRun starts the RETR of a run of parts (startRetr).
func startRun(ctx context.Context, c *ftpcore.Conn, full string, run []part, size int64) (*ftpcore.Transfer, error) {
	start, end := run[0].r.Start, run[len(run)-1].r.End
	return startRetr(ctx, c, full, start, end-start+1, size)
}

// copyPart copies the next n bytes of tr, which are those from offset on,
// to w; data that ends before them is an error.
func copyPart(tr *ftpcore.Transfer, w io.Writer, offset, n int64) error {
	m, err := tr.WriteN(w, n)
	if err == nil && m != n {
		err = fmt.Errorf("FTP data ended after %d of the %d bytes from %d", m, n, offset)
	}
	return err
}
