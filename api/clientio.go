package api

import (
	"io"
	"net/http"
	"time"
)

// clientWriter sets a write deadline on the client connection before each
// chunk, so a client that stops reading cannot hold a transfer forever. It
// keeps io.ReaderFrom, so the copy still reaches the socket's splice.
type clientWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func newClientWriter(w http.ResponseWriter, r *http.Request, idle time.Duration) *clientWriter {
	return &clientWriter{w: w, rc: http.NewResponseController(w), idle: idle}
}

func (c *clientWriter) Write(p []byte) (int, error) {
	c.rc.SetWriteDeadline(time.Now().Add(c.idle))
	return c.w.Write(p)
}

func (c *clientWriter) ReadFrom(r io.Reader) (int64, error) {
	c.rc.SetWriteDeadline(time.Now().Add(c.idle))
	if rf, ok := c.w.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.w}, r)
}

// done clears the deadline so it cannot outlive the request on a kept-alive
// connection.
func (c *clientWriter) done() { c.rc.SetWriteDeadline(time.Time{}) }

// bodyReader reads a request body with an idle deadline per read and
// remembers the body's own error, so a failing client is not blamed on the
// FTP server.
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
