package api

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// TestSelectSpanSingleRangeAllocs: a GET of one range pays nothing for
// multipart/byteranges: selecting its span allocates only the
// Content-Range it sets, as before several ranges were served.
func TestSelectSpanSingleRangeAllocs(t *testing.T) {
	r, err := http.NewRequest(http.MethodGet, "/files/f.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Range", "bytes=100-199")
	h := http.Header{}
	allocs := testing.AllocsPerRun(100, func() {
		sp, err := selectSpan(h, r, httpsem.Validators{}, 1000, DefaultMaxRanges)
		if err != nil || sp.status != http.StatusPartialContent || sp.offset != 100 || sp.length != 100 {
			t.Fatalf("%+v, %v", sp, err)
		}
	})
	// The Content-Range string and Header.Set's slice; main before
	// multipart/byteranges made the same two.
	if allocs > 2 {
		t.Errorf("%v allocations to select one range, want 2", allocs)
	}
}

// TestByterangesFraming: the body newByteranges frames, written out as
// sendParts writes it, is exactly its length, parses with mime/multipart
// into the ranges with the file's type, and the boundary differs between
// two bodies of the same ranges. Runs of parts split where the gap passes
// partGap.
func TestByterangesFraming(t *testing.T) {
	const size = 1 << 20
	file := make([]byte, size)
	for i := range file {
		file[i] = byte(i * 7)
	}
	// Gaps of 9 bytes, partGap (read through), partGap+1 and some 700 KiB.
	const third, fourth = 100 + partGap, 100 + partGap + 10 + partGap + 1
	ranges := []httpsem.ByteRange{{Start: 0, End: 0}, {Start: 10, End: 99}, {Start: third, End: third + 9},
		{Start: fourth, End: 300000}, {Start: size - 5, End: size - 1}}
	b := newByteranges(ranges, "text/plain; charset=utf-8", size)
	var body bytes.Buffer
	for _, p := range b.parts {
		body.Write(p.head)
		body.Write(file[p.r.Start : p.r.End+1])
	}
	body.Write(b.closing)
	if int64(body.Len()) != b.length || b.data != 1+90+10+(300000-fourth+1)+5 {
		t.Fatalf("body %d bytes, length %d, data %d", body.Len(), b.length, b.data)
	}
	mt, params, err := mime.ParseMediaType(b.contentType)
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q: %v", b.contentType, err)
	}
	mr := multipart.NewReader(&body, params["boundary"])
	for i, r := range ranges {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		got, _ := io.ReadAll(p)
		if p.Header.Get("Content-Type") != "text/plain; charset=utf-8" || p.Header.Get("Content-Range") != r.ContentRange(size) ||
			!bytes.Equal(got, file[r.Start:r.End+1]) {
			t.Errorf("part %d: %v, %d bytes", i, p.Header, len(got))
		}
	}
	if _, err := mr.NextRawPart(); err != io.EOF {
		t.Errorf("after the parts: %v", err)
	}
	if newByteranges(ranges, "text/plain", size).contentType == b.contentType {
		t.Error("two bodies share a boundary")
	}
	var runs []int
	for _, run := range b.retrs() {
		runs = append(runs, len(run))
	}
	if fmt.Sprint(runs) != "[3 1 1]" {
		t.Errorf("runs of %v parts, want [3 1 1]: gaps up to partGap read through, longer ones split", runs)
	}
}
