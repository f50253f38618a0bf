package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// TestResumableSurvivesCuts is issue 12's "done means" for resumable
// uploads, in both dialects the gateway speaks (resumeProtocols: the IETF
// draft's and tus 1.0's): on every server of the matrix, FTPS included, a
// big upload is cut three times at random points and completes
// byte-identical (SHA-256):
//
//	(a) the client killed mid-body: its connection closed without a reset
//	    (a FIN, as the kernel closes a dead process's sockets);
//	(b) the connection reset mid-body (SetLinger(0), then Close: a RST);
//	(c) the gateway restarted between two pieces: a new instance with the
//	    same --upload-key-file continues the upload.
//
// Each resume starts from the server's offset (HEAD's Upload-Offset),
// which must have moved forward and never past the bytes sent; the target's
// old content stays until the completing PATCH; no temporary file is left.
// The upload is created with its Repr-Digest (RFC 9530), which the gateway
// checks at completion by reading the whole upload back from the FTP
// server, and answers with.
//
// The body comes from a ChaCha8 stream (never held in memory) seeded from
// the clock, as are the cut points: the seed is logged, and
// FTPGW_RESUME_SEED=N replays it, for both dialects. 1 GiB on each server
// in each dialect: the whole matrix takes some 160 s under -race on two
// cores (10 s a plain server, 14 to 19 an FTPS one, each dialect);
// FTPGW_RESUME_MIB=N sets another size.
func TestResumableSurvivesCuts(t *testing.T) {
	if testing.Short() {
		t.Skip("moves gigabytes")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FTPGW_RESUME_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FTPGW_RESUME_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d (replay with FTPGW_RESUME_SEED=%d)", seed, seed)
	size := int64(1 << 30)
	if s := os.Getenv("FTPGW_RESUME_MIB"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 3 {
			t.Fatalf("FTPGW_RESUME_MIB=%q: want 3 or more", s)
		}
		size = n << 20
	}

	tokens := writeTokensFile(t, tokenLine(t, testToken, auth.All))
	keyFile := filepath.Join(t.TempDir(), "upload-key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("cut-resume", 4)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, kind := range realftpd.Matrix {
		t.Run(string(kind), func(t *testing.T) {
			ftpd := realftpd.Start(t, kind)
			args := append(upstreamArgs(t, ftpd), "--tokens-file", tokens, "--upload-key-file", keyFile)
			for j, proto := range resumeProtocols {
				t.Run(proto.name, func(t *testing.T) {
					// The draft's streams are those of the seed before tus
					// was added: an old seed replays as it did.
					rng := rand.New(rand.NewPCG(seed, uint64(j*len(realftpd.Matrix)+i)))
					resumeThroughCuts(t, proto, ftpd, args, rng, size)
				})
			}
		})
	}
}

// resumeThroughCuts uploads size bytes to big.bin on ftpd through a
// gateway started with args, in the dialect proto, and cuts it three
// times, at points drawn from rng.
func resumeThroughCuts(t *testing.T, proto resumeProtocol, ftpd *realftpd.Server, args []string, rng *rand.Rand, size int64) {
	dataSeed := rng.Uint64()
	old := []byte("the old content, kept until the upload completes\n")
	if err := os.WriteFile(ftpd.Path("big.bin"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	targetUntouched := func(when string) {
		t.Helper()
		if got, err := os.ReadFile(ftpd.Path("big.bin")); err != nil || !bytes.Equal(got, old) {
			t.Fatalf("after %s the target has %d bytes (%v), want its old %d", when, len(got), err, len(old))
		}
	}
	// Cut points: (a) in the first third, (b) in the second, the
	// restart (c) at a piece's end in the last.
	third := size / 3
	cutA := third/8 + rng.Int64N(third*3/4)
	cutB := third + third/8 + rng.Int64N(third*3/4)
	pieceC := 2*third + third/8 + rng.Int64N(third*3/4)
	t.Logf("%d bytes, data seed %d, cuts near %d (FIN), %d (RST), restart after %d", size, dataSeed, cutA, cutB, pieceC)

	want := sha256.New()
	io.Copy(want, resumeData(dataSeed, 0, size))
	reprDigest := "sha-256=:" + base64.StdEncoding.EncodeToString(want.Sum(nil)) + ":"

	base, stop := startGateway(t, args)
	defer func() { stop() }()
	first := int64(1 << 20)
	loc := resumeCreate(t, proto, base, dataSeed, first, size, reprDigest)

	offset := first
	for _, cut := range []struct {
		name  string
		at    int64
		reset bool
	}{{"(a) the client killed", cutA, false}, {"(b) the connection reset", cutB, true}} {
		sent := resumeCut(t, proto, base, loc, dataSeed, offset, size, cut.at-offset, cut.reset)
		got := resumeOffset(t, proto, base, loc)
		t.Logf("%s after %d bytes from %d: the server kept up to %d", cut.name, sent, offset, got)
		if got <= offset || got > offset+sent {
			t.Fatalf("%s: offset %d, want past %d and at most the %d sent", cut.name, got, offset, offset+sent)
		}
		targetUntouched(cut.name)
		offset = got
	}

	if code := resumePatch(t, proto, base, loc, dataSeed, offset, pieceC, false); code != http.StatusNoContent {
		t.Fatalf("PATCH %d-%d: %d, want 204", offset, pieceC, code)
	}
	stop()
	base, stop = startGateway(t, args)
	if got := resumeOffset(t, proto, base, loc); got != pieceC {
		t.Fatalf("(c) after the restart the offset is %d, want %d", got, pieceC)
	}
	targetUntouched("(c) the restart")
	resp, b := resumeDo(t, http.MethodPatch, base+loc, proto.appendAt(pieceC, true), dataSeed, pieceC, size)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Repr-Digest") != reprDigest {
		t.Fatalf("the completing PATCH: %d, Repr-Digest %q %s; want 204 (the target replaced) and %q", resp.StatusCode, resp.Header.Get("Repr-Digest"), b, reprDigest)
	}

	f, err := os.Open(ftpd.Path("big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := sha256.New()
	n, err := io.Copy(got, f)
	if err != nil {
		t.Fatal(err)
	}
	if n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("the file has %d bytes, SHA-256 %x; want %d, %x", n, got.Sum(nil), size, want.Sum(nil))
	}
	entries, err := os.ReadDir(ftpd.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "big.bin" {
			t.Errorf("left on the server: %s", e.Name())
		}
	}
}

// resumeProtocol is a dialect of resumable uploads, as the requests of
// TestResumableSurvivesCuts speak it.
type resumeProtocol struct {
	name string
	// create is the request that creates the upload of big.bin, size
	// bytes long, with a first piece that does not complete it.
	create func(size int64) (method, path string, h http.Header)
	// appendAt is the fields of a PATCH at offset from; complete says
	// whether it brings the rest (tus completes at Upload-Length).
	appendAt func(from int64, complete bool) http.Header
	// head is the fields of the HEAD that asks for the offset.
	head http.Header
}

var resumeProtocols = []resumeProtocol{{
	name: "ietf",
	create: func(int64) (string, string, http.Header) {
		return http.MethodPut, "/files/big.bin", http.Header{"Upload-Complete": {"?0"}}
	},
	appendAt: func(from int64, complete bool) http.Header {
		return http.Header{
			"Content-Type":    {"application/partial-upload"},
			"Upload-Offset":   {strconv.FormatInt(from, 10)},
			"Upload-Complete": {map[bool]string{false: "?0", true: "?1"}[complete]},
		}
	},
}, {
	// tus creates at the directory's URL, the file named in
	// Upload-Metadata, with its first piece (creation-with-upload).
	name: "tus",
	create: func(size int64) (string, string, http.Header) {
		return http.MethodPost, "/files/", http.Header{
			"Tus-Resumable":   {"1.0.0"},
			"Upload-Length":   {strconv.FormatInt(size, 10)},
			"Upload-Metadata": {"filename " + base64.StdEncoding.EncodeToString([]byte("big.bin"))},
			"Content-Type":    {"application/offset+octet-stream"},
		}
	},
	appendAt: func(from int64, _ bool) http.Header {
		return http.Header{
			"Tus-Resumable": {"1.0.0"},
			"Content-Type":  {"application/offset+octet-stream"},
			"Upload-Offset": {strconv.FormatInt(from, 10)},
		}
	},
	head: http.Header{"Tus-Resumable": {"1.0.0"}},
}}

// resumeData is the upload's bytes [from, to): a ChaCha8 stream of seed,
// generated from its start and the first from bytes dropped, so that no
// piece is held in memory.
func resumeData(seed uint64, from, to int64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	r := rand.NewChaCha8(key)
	if _, err := io.CopyN(io.Discard, r, from); err != nil {
		panic(err) // a ChaCha8 stream does not end
	}
	return io.LimitReader(r, to-from)
}

// resumeBearer is the header of the tests' token, which has every scope.
var resumeBearer = "Bearer " + testToken

// resumeDo sends a request with the fields h and the upload's bytes
// [from, to) as its body (none for HEAD), and returns the response and its
// body. A tus request's every answer says Tus-Resumable.
func resumeDo(t *testing.T, method, url string, h http.Header, seed uint64, from, to int64) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if method != http.MethodHead {
		body = resumeData(seed, from, to)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = to - from
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", resumeBearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if tus := h.Get("Tus-Resumable"); tus != "" && resp.Header.Get("Tus-Resumable") != tus {
		t.Errorf("%s %s: %d with Tus-Resumable %q, want %q", method, url, resp.StatusCode, resp.Header.Get("Tus-Resumable"), tus)
	}
	return resp, b
}

// resumeCreate creates the upload of big.bin, size bytes long, with its
// first n bytes and the whole upload's Repr-Digest, and returns its
// Location.
func resumeCreate(t *testing.T, proto resumeProtocol, base string, seed uint64, n, size int64, reprDigest string) string {
	t.Helper()
	method, path, h := proto.create(size)
	h.Set("Repr-Digest", reprDigest)
	resp, b := resumeDo(t, method, base+path, h, seed, 0, n)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		t.Fatalf("creation: %d %q: %s", resp.StatusCode, loc, b)
	}
	return loc
}

// resumePatch appends [from, to) in one PATCH and returns its status.
func resumePatch(t *testing.T, proto resumeProtocol, base, loc string, seed uint64, from, to int64, complete bool) int {
	t.Helper()
	resp, b := resumeDo(t, http.MethodPatch, base+loc, proto.appendAt(from, complete), seed, from, to)
	if resp.StatusCode/100 != 2 {
		t.Logf("PATCH %d-%d: %d %s", from, to, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// resumeCut sends a PATCH that announces the rest of the upload, [from,
// size), writes n bytes of it and cuts the connection: closed (a FIN) or
// reset. It returns the bytes written (into the kernel: with a reset,
// fewer reach the gateway).
func resumeCut(t *testing.T, proto resumeProtocol, base, loc string, seed uint64, from, size, n int64, reset bool) int64 {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(conn, 64<<10)
	fmt.Fprintf(w, "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: %d\r\n", loc, resumeBearer, size-from)
	proto.appendAt(from, true).Write(w)
	io.WriteString(w, "\r\n")
	sent, err := io.Copy(w, resumeData(seed, from, from+n))
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		t.Fatalf("the PATCH to cut: %v after %d bytes", err, sent)
	}
	if reset {
		// At once: what the gateway has not read yet is lost with the
		// reset, and the server keeps fewer bytes than were sent.
		conn.(*net.TCPConn).SetLinger(0)
	} else {
		// A killed client's kernel sends what it holds before its FIN.
		time.Sleep(100 * time.Millisecond)
	}
	conn.Close()
	return n
}

// resumeOffset polls HEAD until the request that was cut has given the
// upload back (409 until then) and returns its Upload-Offset.
func resumeOffset(t *testing.T, proto resumeProtocol, base, loc string) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, _ := resumeDo(t, http.MethodHead, base+loc, proto.head, 0, 0, 0)
		if resp.StatusCode == http.StatusNoContent {
			n, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
			if err != nil {
				t.Fatalf("HEAD: Upload-Offset %q", resp.Header.Get("Upload-Offset"))
			}
			return n
		}
		if resp.StatusCode != http.StatusConflict || time.Now().After(deadline) {
			t.Fatalf("HEAD %s: %d", loc, resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
