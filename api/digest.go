package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// Digests of RFC 9530: an upload's Content-Digest and Repr-Digest are
// checked against its body before the rename, every upload is answered
// with the Repr-Digest the gateway computed while the body streamed, and a
// GET or HEAD that asks with Want-Repr-Digest gets the file's Repr-Digest
// when a source that cannot be stale has it: a digest the gateway itself
// computed of that version (digestCache), or the FTP server's HASH,
// XSHA256 or XSHA512 of a file that has not changed for
// serverDigestQuiet. A download that asks for none does no digest work.

// digestAlgo is an algorithm of the IANA registry of hash algorithms for
// HTTP digest fields that the gateway computes.
type digestAlgo int

const (
	sha256Digest digestAlgo = iota
	sha512Digest
	numDigestAlgos
)

// digestAlgos names each digestAlgo: its key in the fields, its name in
// FTP's HASH (ftpcore), its length and its hash.
var digestAlgos = [numDigestAlgos]struct {
	key, ftp string
	size     int
	new      func() hash.Hash
}{
	sha256Digest: {"sha-256", ftpcore.HashSHA256, sha256.Size, sha256.New},
	sha512Digest: {"sha-512", ftpcore.HashSHA512, sha512.Size, sha512.New},
}

func digestAlgoOf(key string) (digestAlgo, bool) {
	for a := range numDigestAlgos {
		if digestAlgos[a].key == key {
			return a, true
		}
	}
	return 0, false
}

// digestSet holds a digest of each algorithm; nil where it is not known.
type digestSet [numDigestAlgos][]byte

// empty reports whether d holds no digest.
func (d *digestSet) empty() bool {
	for _, v := range d {
		if v != nil {
			return false
		}
	}
	return true
}

// field is the member of a digest field for a's digest: sha-256=:…:.
func (d *digestSet) field(a digestAlgo) string {
	return digestAlgos[a].key + "=:" + base64.StdEncoding.EncodeToString(d[a]) + ":"
}

// The digest fields an upload may carry. Without a content coding the
// gateway would undo (it stores the bytes it is sent) and without a range,
// the content of a PUT is its representation, and both are digests of the
// body.
var uploadDigestFields = [...]string{"Content-Digest", "Repr-Digest"}

// uploadDigests is what the digest fields of an upload ask of its body, and
// the hashes computing its digests while it streams. Not safe for
// concurrent use.
type uploadDigests struct {
	// expect[i] are the digests uploadDigestFields[i] gives.
	expect [len(uploadDigestFields)]digestSet
	hashes [numDigestAlgos]hash.Hash // nil for an algorithm not computed
	// answer is the algorithm of the Repr-Digest the upload is answered
	// with; none if the client finds neither acceptable.
	answer digestAlgo
	none   bool
	// The hashing goroutine (wrap): work takes a piece read, done says
	// it is hashed; pending is a piece sent and not yet done.
	work    chan []byte
	done    chan struct{}
	pending bool
}

// parseUploadDigests reads an upload's Content-Digest and Repr-Digest (an
// RFC 8941 dictionary each; keys other than sha-256 and sha-512 are
// ignored, as RFC 9530 says) and its Want-Repr-Digest or
// Want-Content-Digest. A digest field that is no dictionary, or whose
// sha-256 or sha-512 is not a byte sequence of the algorithm's length, is
// 400. SHA-256 is always computed: the upload is answered with it, and the
// gateway keeps it for later GETs; SHA-512 when a field gives it or the
// client prefers it.
func parseUploadDigests(h http.Header) (*uploadDigests, error) {
	d := &uploadDigests{}
	for i, name := range uploadDigestFields {
		if _, ok := h[name]; !ok {
			continue
		}
		dict, err := parseDictionary(h.Values(name))
		if err != nil {
			return nil, badDigestField(name, "is not a structured-field dictionary (RFC 8941)")
		}
		for _, m := range dict {
			a, ok := digestAlgoOf(m.key)
			if !ok {
				continue
			}
			if m.value.kind != sfBytes || len(m.value.bytes) != digestAlgos[a].size {
				return nil, badDigestField(name, "gives "+m.key+" as no byte sequence of its length")
			}
			d.expect[i][a] = m.value.bytes
		}
	}
	want, asked := wantedDigests(h, true)
	switch {
	case !asked:
		d.answer = sha256Digest
	case len(want) == 0:
		d.none = true
	default:
		d.answer = want[0]
	}
	d.hashes[sha256Digest] = sha256.New()
	for a := range numDigestAlgos {
		if d.hashes[a] == nil && (!d.none && d.answer == a || d.expect[0][a] != nil || d.expect[1][a] != nil) {
			d.hashes[a] = digestAlgos[a].new()
		}
	}
	return d, nil
}

// wrap returns body with every byte read from it also hashed, on a
// goroutine of its own, so that hashing a piece overlaps sending it on to
// the FTP server: each Read waits until the piece before is hashed, since
// the caller reads the next one into the same buffer (as ftpcore's
// Upload.ReadFrom does, and io.Copy), and only reads the buffer between
// two Reads. Call stop when the body is done with.
func (d *uploadDigests) wrap(body io.ReadCloser) io.ReadCloser {
	work, done, hashes := make(chan []byte), make(chan struct{}, 1), d.hashes
	d.work, d.done = work, done
	go func() {
		for p := range work {
			for _, h := range hashes {
				if h != nil {
					h.Write(p)
				}
			}
			done <- struct{}{}
		}
	}()
	return &hashingBody{ReadCloser: body, d: d}
}

type hashingBody struct {
	io.ReadCloser
	d *uploadDigests
}

func (b *hashingBody) Read(p []byte) (int, error) {
	b.d.wait()
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.d.pending = true
		b.d.work <- p[:n]
	}
	return n, err
}

// wait returns once every byte read so far is hashed.
func (d *uploadDigests) wait() {
	if d.pending {
		<-d.done
		d.pending = false
	}
}

// stop waits for the hashing and ends its goroutine. It may be called
// again.
func (d *uploadDigests) stop() {
	if d.work != nil {
		d.wait()
		close(d.work)
		d.work = nil
	}
}

// sums returns the digests of the bytes read through wrap, once read to
// the end.
func (d *uploadDigests) sums() digestSet {
	d.stop()
	var s digestSet
	for a, h := range d.hashes {
		if h != nil {
			s[a] = h.Sum(nil)
		}
	}
	return s
}

// verify compares the body's digests with those the fields gave: the first
// that differs is 400, naming the field and the algorithm (never the
// digests: the client has them).
func (d *uploadDigests) verify(sums *digestSet) error {
	for i, exp := range d.expect {
		for a, want := range exp {
			if want != nil && !bytes.Equal(want, sums[a]) {
				return digestMismatch(uploadDigestFields[i], digestAlgos[a].key)
			}
		}
	}
	return nil
}

// answerField is the Repr-Digest field the upload is answered with, "" for
// none.
func (d *uploadDigests) answerField(sums *digestSet) string {
	if d.none || sums[d.answer] == nil {
		return ""
	}
	return sums.field(d.answer)
}

// wantedDigests returns the algorithms the request's Want-Repr-Digest (or,
// when content is set and it has none, its Want-Content-Digest) accepts,
// most preferred first (RFC 9530 §4: weights 1 to 10; 0 is "not
// acceptable"; a tie prefers SHA-256), and whether it asked at all. A
// malformed field asks nothing: it is a preference, which the gateway may
// ignore.
func wantedDigests(h http.Header, content bool) (algos []digestAlgo, asked bool) {
	vals, ok := h["Want-Repr-Digest"]
	if !ok && content {
		vals, ok = h["Want-Content-Digest"]
	}
	if !ok {
		return nil, false
	}
	dict, err := parseDictionary(vals)
	if err != nil {
		return nil, false
	}
	var weight [numDigestAlgos]int64
	for _, m := range dict {
		a, known := digestAlgoOf(m.key)
		if !known {
			continue
		}
		if m.value.kind != sfInteger || m.value.num < 0 || m.value.num > 10 {
			return nil, false
		}
		weight[a] = m.value.num
	}
	for w := int64(10); w > 0; w-- {
		for a := range numDigestAlgos {
			if weight[a] == w {
				algos = append(algos, a)
			}
		}
	}
	return algos, true
}

// digestCache keeps the digests the gateway knows of file versions it need
// not read to know them, keyed by digestKey: those of its own uploads and
// those an FTP server computed of a file that had settled. A key names
// one version of one file: a version that replaces it has another ETag
// (another size, date or unique fact) and misses. It holds
// digestCacheSize entries at most, the oldest going first. Safe for
// concurrent use.
type digestCache struct {
	mu    sync.Mutex
	m     map[string]digestSet
	order [digestCacheSize]string // a ring of the keys, oldest at next
	next  int
}

// digestCacheSize bounds digestCache: 4096 entries of some 200 bytes.
const digestCacheSize = 4096

func (c *digestCache) get(key string) digestSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key]
}

// add merges d into the entry of key.
func (c *digestCache) add(key string, d digestSet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]digestSet)
	}
	old, ok := c.m[key]
	if !ok {
		delete(c.m, c.order[c.next])
		c.order[c.next] = key
		c.next = (c.next + 1) % digestCacheSize
	}
	for a := range d {
		if d[a] != nil {
			old[a] = d[a]
		}
	}
	c.m[key] = old
}

// digestKey names the version whose strong ETag is etag of the file at
// full, as the request's FTP account sees it: in Basic passthrough each
// user's account may see another file at the same path (a chroot), so the
// user is part of the key.
func (s *Server) digestKey(r *http.Request, full, etag string) string {
	owner := ""
	if s.cfg.Users != nil {
		owner, _, _ = r.BasicAuth()
	}
	return owner + "\x00" + full + "\x00" + etag
}

// rememberUpload keeps the digests of the version an upload wrote, w as a
// look at it under the name's lock found it. Only where the FTP server
// names each file with a unique fact (MLST): a version written by another
// PUT, of any replica, came from another temporary file and has another
// one, whereas on a server without the fact another PUT of the same size
// within the same second would share the key. A version with no date (so
// no ETag) is not kept either.
func (s *Server) rememberUpload(r *http.Request, full string, w ftpcore.Entry, sums digestSet) {
	if w.Unique == "" || w.ModTime.IsZero() {
		return
	}
	s.digests.add(s.digestKey(r, full, httpsem.ETag(w.Size, w.ModTime, w.Unique)), sums)
}

// serverDigestQuiet is how long a file must have been left unchanged
// before the FTP server's digest of it is trusted. proftpd's mod_digest
// (the matrix's proftpd loads it) keeps each session's digests by path,
// modification time in whole seconds, offset and length, and serves one
// until the server's clock passes the file's modification time by
// DigestCache's maxAge, 30 s by default: a file rewritten with the same
// size within the second of the digest it had would get the old one.
// Past that age it digests the file anew; settleMargin covers the
// truncated date.
const serverDigestQuiet = 30*time.Second + settleMargin

// wantsDigest reports, allocating nothing, whether a GET or HEAD may ask
// for a digest: the one test a download that does not ask pays.
func wantsDigest(h http.Header) bool {
	_, repr := h["Want-Repr-Digest"]
	_, content := h["Want-Content-Digest"]
	return repr || content
}

// setReprDigest sets the Repr-Digest of the file e at full, whose
// validators are v, on the answer to a GET or HEAD that asks for one with
// Want-Repr-Digest (or with Want-Content-Digest, when the answer is the
// whole file, whose content is then its representation). The digest comes
// from digestCache, else from the FTP server (ftpcore.Conn.Hash) when it
// offers an acceptable algorithm and the file has been quiet for
// serverDigestQuiet; without either the answer has none. The FTP server's
// digest reads the whole file there: it takes a transfer place (slot), and
// is kept in digestCache, so that asking again costs nothing. A file that
// changed while it was digested is errFileChanged; a session the digest
// left unusable is the request's error.
func (s *Server) setReprDigest(w http.ResponseWriter, r *http.Request, c *ftpcore.Conn, full string, e ftpcore.Entry, v httpsem.Validators, whole bool, slot *transferSlot) error {
	algos, _ := wantedDigests(r.Header, whole)
	if len(algos) == 0 || v.ETag == "" {
		return nil
	}
	key := s.digestKey(r, full, v.ETag)
	known := s.digests.get(key)
	bound, _ := s.clock.now()
	quiet := !bound.Before(e.ModTime.Truncate(time.Second).Add(serverDigestQuiet))
	var offered []string
	if quiet {
		offered = c.HashAlgorithms()
	}
	for _, a := range algos {
		if known[a] != nil {
			w.Header().Set("Repr-Digest", known.field(a))
			return nil
		}
		if !slices.Contains(offered, digestAlgos[a].ftp) {
			continue
		}
		if err := s.transfers.admit(r, slot, false); err != nil {
			return err
		}
		sum, err := serverDigest(r.Context(), c, full, a)
		if err != nil {
			if !c.Usable() {
				return err
			}
			s.log.Debug("FTP server gave no digest", "backend", s.name, "algorithm", digestAlgos[a].ftp, "err", err)
			continue
		}
		now, err := s.stat(r.Context(), c, full, false)
		if err != nil {
			return err
		}
		if now.Size != e.Size || !now.ModTime.Equal(e.ModTime) || now.Unique != e.Unique {
			return errFileChanged
		}
		var d digestSet
		d[a] = sum
		s.digests.add(key, d)
		w.Header().Set("Repr-Digest", d.field(a))
		return nil
	}
	return nil
}

// serverDigest asks the FTP server for a's digest of the file at full.
func serverDigest(ctx context.Context, c *ftpcore.Conn, full string, a digestAlgo) ([]byte, error) {
	h, err := c.Hash(ctx, full, digestAlgos[a].ftp)
	if err != nil {
		return nil, err
	}
	sum, err := hex.DecodeString(h)
	if err != nil || len(sum) != digestAlgos[a].size {
		return nil, &ftpcore.ProtocolError{Cmd: "HASH", Msg: "digest of the wrong length"}
	}
	return sum, nil
}
