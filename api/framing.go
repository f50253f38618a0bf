package api

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// Listener wraps ln so that the gateway sees how each request on a client
// connection is framed before net/http reads it; serve with it, and set
// ConnContext, as cmd/gateway does.
//
// A request with both Content-Length and Transfer-Encoding is how request
// smuggling starts: a proxy in front that frames it by Content-Length sees
// a different next request than the gateway, which frames it by
// Transfer-Encoding. RFC 9112 §6.1 lets a server refuse such a request and
// requires it to close the connection after answering. net/http (Go 1.26
// and 1.27) drops the Content-Length and keeps the connection open, so the
// handlers could neither see the conflict nor close; the framing watch
// tells them, and they answer 400 and close. The same goes for an HTTP/1.0
// request with Transfer-Encoding, whose framing RFC 9112 §6.1 calls faulty
// even with a Content-Length: net/http ignores the field, reads the chunks
// as the next request, and would keep the connection alive.
func (s *Server) Listener(ln net.Listener) net.Listener { return framingListener{ln} }

type framingListener struct{ net.Listener }

// checkFraming answers 400 to a request whose framing is faulty (a
// framingFault), and closes the connection after it. After a request
// whose framing the framer could not follow, the connection is closed too:
// net/http has already refused that request, or is about to.
func (s *Server) checkFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fc, ok := r.Context().Value(clientConnKey{}).(*framingConn)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		fault, lost := fc.takeFault()
		if fault != framingSound || lost {
			w.Header().Set("Connection", "close")
		}
		if fault != framingSound {
			s.writeError(w, r, badRequest(fault.String(), nil))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// framingFault is what makes a request's framing faulty (RFC 9112 §6.1),
// so that the gateway answers 400 and closes.
type framingFault uint8

const (
	framingSound       framingFault = iota
	framingBothLengths              // Content-Length and Transfer-Encoding
	framingChunked10                // Transfer-Encoding in an HTTP/1.0 request
)

// String is the fault as the problem document's detail says it.
func (f framingFault) String() string {
	switch f {
	case framingBothLengths:
		return "the request has both Content-Length and Transfer-Encoding (RFC 9112 §6.1)"
	case framingChunked10:
		return "an HTTP/1.0 request cannot have Transfer-Encoding (RFC 9112 §6.1)"
	}
	return "sound framing"
}

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c}, nil
}

// framingConn feeds what net/http reads from a client connection to a
// framer. net/http reads a connection from one goroutine at a time, and
// handlers ask from another, hence the lock.
type framingConn struct {
	net.Conn
	mu sync.Mutex
	f  framer
}

func (c *framingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.mu.Lock()
		c.f.feed(b[:n])
		c.mu.Unlock()
	}
	return n, err
}

// ReadFrom keeps the connection's own io.ReaderFrom, through which
// net/http's responses reach the kernel's splice.
func (c *framingConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// CloseWrite keeps the connection's half-close, with which net/http lets
// a client read an early answer (a 413, say) before it sees the close.
func (c *framingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// takeFault reports what is faulty in the framing of the request whose
// handler asks, the oldest one not yet asked for, and whether the framer
// has lost track of the connection's framing, after which the connection
// is closed rather than trusted with another request (lost).
func (c *framingConn) takeFault() (fault framingFault, lost bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.f.faults) > 0 {
		fault = c.f.faults[0]
		c.f.faults = c.f.faults[1:]
	}
	return fault, c.f.lost
}

// unwrapConn returns the TCP connection under c, if there is one.
func unwrapConn(c net.Conn) (*net.TCPConn, bool) {
	if fc, ok := c.(*framingConn); ok {
		c = fc.Conn
	}
	tc, ok := c.(*net.TCPConn)
	return tc, ok
}

// framer follows RFC 9112 message framing over the bytes of a client
// connection: request line and header fields, then a body of
// Content-Length bytes or in chunks, then the next request, as net/http
// frames them. It keeps what it needs of each line (maxFramingLine bytes,
// and the last bytes, where a request line has its version), never a
// whole body, and records for each request what is faulty in its framing.
// Anything it cannot follow (a line too long, a bad length, a transfer
// coding net/http refuses) makes it give up: lost.
type framer struct {
	state   framingState
	line    []byte                // the current line, up to maxFramingLine bytes
	long    bool                  // the current line was longer
	end     [len(http10) + 1]byte // the current line's last bytes, and its CR
	endLen  int                   // how many of end hold them
	remain  int64                 // bytes left of a body or chunk
	reqLine bool                  // the head's request line has been read
	http10  bool                  // the request line ends with http10
	hasCL   bool
	hasTE   bool
	chunked bool
	length  int64
	faults  []framingFault // one per request head, oldest first
	lost    bool
}

// http10 ends the request line of an HTTP/1.0 request (RFC 9112 §3;
// net/http takes the version in capitals only).
const http10 = " HTTP/1.0"

type framingState int

const (
	framingHead      framingState = iota // request line and header fields
	framingBody                          // remain bytes of a Content-Length body
	framingChunkSize                     // a chunk-size line
	framingChunkData                     // remain bytes of chunk data
	framingChunkEnd                      // the CRLF after chunk data
	framingTrailer                       // trailer fields, up to an empty line
)

// maxFramingLine bounds what the framer keeps of one line: enough for the
// field names and values it reads. A longer Content-Length or
// Transfer-Encoding line, or chunk-size line, is not one net/http takes.
const maxFramingLine = 256

func (f *framer) feed(b []byte) {
	for len(b) > 0 && !f.lost {
		switch f.state {
		case framingBody, framingChunkData:
			n := min(int64(len(b)), f.remain)
			f.remain -= n
			b = b[n:]
			if f.remain == 0 {
				if f.state == framingBody {
					f.startHead()
				} else {
					f.state = framingChunkEnd
				}
			}
		default:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				f.keep(b)
				return
			}
			f.keep(b[:i])
			b = b[i+1:]
			line := bytes.TrimSuffix(f.line, []byte("\r"))
			f.endLine(line, f.long)
			f.line, f.long, f.endLen = f.line[:0], false, 0
		}
	}
}

func (f *framer) keep(b []byte) {
	if len(b) >= len(f.end) {
		f.endLen = copy(f.end[:], b[len(b)-len(f.end):])
	} else {
		kept := min(f.endLen, len(f.end)-len(b))
		copy(f.end[:], f.end[f.endLen-kept:f.endLen])
		f.endLen = kept + copy(f.end[kept:], b)
	}
	room := maxFramingLine - len(f.line)
	if len(b) > room {
		b, f.long = b[:room], true
	}
	f.line = append(f.line, b...)
}

// endsHTTP10 reports whether the current line ends with http10, before
// its CR if it has one.
func (f *framer) endsHTTP10() bool {
	end := f.end[:f.endLen]
	if n := len(end); n > 0 && end[n-1] == '\r' {
		end = end[:n-1]
	}
	return len(end) >= len(http10) && string(end[len(end)-len(http10):]) == http10
}

func (f *framer) startHead() {
	f.state = framingHead
	f.reqLine, f.http10, f.hasCL, f.hasTE, f.chunked, f.length = false, false, false, false, false, 0
}

func (f *framer) endLine(line []byte, long bool) {
	switch f.state {
	case framingHead:
		f.headLine(line, long)
	case framingChunkSize:
		f.chunkSize(line, long)
	case framingChunkEnd:
		if len(line) != 0 || long {
			f.lost = true
			return
		}
		f.state = framingChunkSize
	case framingTrailer:
		if len(line) == 0 {
			f.startHead()
		}
	}
}

func (f *framer) headLine(line []byte, long bool) {
	if !f.reqLine {
		// Blank lines before a request line are skipped (RFC 9112 §2.2).
		f.reqLine = len(line) != 0
		f.http10 = f.endsHTTP10()
		return
	}
	if len(line) == 0 {
		f.endHead()
		return
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return // net/http refuses it and closes: nothing follows
	}
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		n, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64)
		if long || err != nil || n < 0 || (f.hasCL && n != f.length) {
			f.lost = true // net/http answers 400 and closes
			return
		}
		f.hasCL, f.length = true, n
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		f.hasTE = true
		f.chunked = !long && bytes.EqualFold(bytes.TrimSpace(value), []byte("chunked"))
	}
}

func (f *framer) endHead() {
	fault := framingSound
	switch {
	case f.hasTE && f.http10:
		fault = framingChunked10
	case f.hasTE && f.hasCL:
		fault = framingBothLengths
	}
	f.faults = append(f.faults, fault)
	switch {
	case f.hasTE && f.http10:
		// net/http ignores Transfer-Encoding in HTTP/1.0: the body is
		// what Content-Length says, if anything.
		if f.length > 0 {
			f.state, f.remain = framingBody, f.length
		} else {
			f.startHead()
		}
	case f.hasTE && !f.chunked:
		f.lost = true // net/http answers 501 and closes
	case f.hasTE:
		f.state = framingChunkSize
	case f.length > 0:
		f.state, f.remain = framingBody, f.length
	default:
		f.startHead()
	}
}

func (f *framer) chunkSize(line []byte, long bool) {
	size, _, _ := bytes.Cut(line, []byte(";"))
	n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
	if long || err != nil || n < 0 {
		f.lost = true
		return
	}
	if n == 0 {
		f.state = framingTrailer
		return
	}
	f.state, f.remain = framingChunkData, n
}
