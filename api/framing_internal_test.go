package api

import (
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestFramer: the framer finds each request head in a stream of pipelined
// requests, whatever the bodies hold, and flags those with both
// Content-Length and Transfer-Encoding, and HTTP/1.0 ones with
// Transfer-Encoding.
func TestFramer(t *testing.T) {
	head := func(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }
	get := head("GET /a HTTP/1.1", "Host: x")
	// A body that looks like a smuggling head must not count as one.
	fake := head("GET /b HTTP/1.1", "Content-Length: 1", "Transfer-Encoding: chunked")
	const ok, both, old = framingSound, framingBothLengths, framingChunked10
	tests := []struct {
		name   string
		in     string
		faults []framingFault
		lost   bool
	}{
		{"one GET", get, []framingFault{ok}, false},
		{"pipelined GETs, blank line before the second", get + "\r\n" + get, []framingFault{ok, ok}, false},
		{"Content-Length body holding a fake head", head("PUT /x HTTP/1.1", "Content-Length: "+strconv.Itoa(len(fake))) + fake + get, []framingFault{ok, ok}, false},
		{"chunked body holding a fake head", head("PUT /x HTTP/1.1", "transfer-encoding: Chunked") +
			strconv.FormatInt(int64(len(fake)), 16) + "\r\n" + fake + "\r\n" + "3;ext=1\r\nabc\r\n0\r\nTrailer: v\r\n\r\n" + get, []framingFault{ok, ok}, false},
		{"both, Content-Length first", head("POST /a HTTP/1.1", "Content-Length: 4", "Transfer-Encoding: chunked") + "0\r\n\r\n" + get, []framingFault{both, ok}, false},
		{"both, Transfer-Encoding first", head("POST /a HTTP/1.1", "Transfer-Encoding: chunked", "content-length: 0") + "0\r\n\r\n", []framingFault{both}, false},
		{"header names folded to any case", head("POST /a HTTP/1.1", "CONTENT-LENGTH: 5", "TRANSFER-ENCODING: chunked"), []framingFault{both}, false},
		{"same Content-Length twice", head("PUT /a HTTP/1.1", "Content-Length: 3", "Content-Length: 3") + "abc" + get, []framingFault{ok, ok}, false},
		{"two different Content-Lengths", head("PUT /a HTTP/1.1", "Content-Length: 3", "Content-Length: 4") + "abcd", nil, true},
		{"bad Content-Length", head("PUT /a HTTP/1.1", "Content-Length: -1"), nil, true},
		{"a transfer coding other than chunked", head("PUT /a HTTP/1.1", "Transfer-Encoding: gzip"), []framingFault{ok}, true},
		{"bad chunk size", head("PUT /a HTTP/1.1", "Transfer-Encoding: chunked") + "zz\r\n", []framingFault{ok}, true},
		{"chunk data without its CRLF", head("PUT /a HTTP/1.1", "Transfer-Encoding: chunked") + "1\r\naX\r\n", []framingFault{ok}, true},
		{"a long header line is fine", head("GET /a HTTP/1.1", "Cookie: "+strings.Repeat("c", 5000)) + get, []framingFault{ok, ok}, false},
		{"a long Content-Length line is not", head("PUT /a HTTP/1.1", "Content-Length: "+strings.Repeat("0", 300)+"1"), nil, true},
		// net/http ignores Transfer-Encoding in HTTP/1.0 and frames by
		// Content-Length, or reads no body: the chunks are the bytes of
		// the next request, which net/http refuses.
		{"HTTP/1.0 with Transfer-Encoding", head("PUT /a HTTP/1.0", "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n", []framingFault{old, ok}, false},
		{"HTTP/1.0 with Transfer-Encoding and Content-Length", head("PUT /a HTTP/1.0", "Transfer-Encoding: chunked", "Content-Length: 3") + "abc" + get, []framingFault{old, ok}, false},
		{"HTTP/1.0 with a coding net/http does not know", head("PUT /a HTTP/1.0", "Transfer-Encoding: gzip") + get, []framingFault{old, ok}, false},
		{"HTTP/1.0 after a request line over 256 bytes", head("PUT /"+strings.Repeat("a", 500)+" HTTP/1.0", "Transfer-Encoding: chunked"), []framingFault{old}, false},
		{"HTTP/1.0 with bare LFs", "PUT /a HTTP/1.0\nTransfer-Encoding: chunked\n\n", []framingFault{old}, false},
		{"HTTP/1.0 in the target is no version", head("PUT /a%20HTTP/1.0 HTTP/1.1", "Transfer-Encoding: chunked") + "0\r\n\r\n" + get, []framingFault{ok, ok}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, byte by byte, and in pieces of 7: the same outcome.
			for _, piece := range []int{len(tt.in), 1, 7} {
				var f framer
				for in := tt.in; len(in) > 0; {
					n := min(piece, len(in))
					f.feed([]byte(in[:n]))
					in = in[n:]
				}
				if !slices.Equal(f.faults, tt.faults) || f.lost != tt.lost {
					t.Errorf("fed in pieces of %d: faults %v, lost %v; want %v, %v", piece, f.faults, f.lost, tt.faults, tt.lost)
				}
			}
		})
	}
}

// FuzzFramer: any bytes, in any pieces, leave the framer in the same state
// as the whole, and never keep more than maxFramingLine of a line.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), uint8(3))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), uint8(5))
	f.Add([]byte("PUT / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET / HTTP/1.1\r\n\r\n"), uint8(1))
	f.Add([]byte("PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc"), uint8(4))
	f.Fuzz(func(t *testing.T, in []byte, piece uint8) {
		var whole, split framer
		whole.feed(in)
		p := int(piece%16) + 1
		for b := in; len(b) > 0; {
			n := min(p, len(b))
			split.feed(b[:n])
			b = b[n:]
			if len(split.line) > maxFramingLine {
				t.Fatalf("kept %d bytes of a line", len(split.line))
			}
		}
		if !slices.Equal(whole.faults, split.faults) || whole.lost != split.lost || whole.state != split.state || whole.remain != split.remain ||
			whole.http10 != split.http10 || whole.end != split.end || whole.endLen != split.endLen {
			t.Fatalf("whole: %v %v %v %d %v %q; in pieces of %d: %v %v %v %d %v %q",
				whole.faults, whole.lost, whole.state, whole.remain, whole.http10, whole.end[:whole.endLen],
				p, split.faults, split.lost, split.state, split.remain, split.http10, split.end[:split.endLen])
		}
	})
}

// TestFramingConnKeepsTCPMethods: net/http splices a response into the
// connection only through its io.ReaderFrom, and half-closes it before an
// early answer through CloseWrite; the wrapper must keep both.
func TestFramingConnKeepsTCPMethods(t *testing.T) {
	var c net.Conn = &framingConn{}
	if _, ok := c.(io.ReaderFrom); !ok {
		t.Error("framingConn is no io.ReaderFrom: responses would not be spliced")
	}
	if _, ok := c.(interface{ CloseWrite() error }); !ok {
		t.Error("framingConn has no CloseWrite")
	}
}
