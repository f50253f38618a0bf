package api

import (
	"bytes"
	"context"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ftpgw/ftpgw/ftpcore"
)

// Digests of resumable uploads (resumable.go, tus.go): RFC 9530 as the
// draft's §8 ("Integrity Digests") applies it to an upload made of pieces.
//
//   - Content-Digest is the digest of one request's content: its piece.
//     The piece is hashed as it streams and checked once the FTP server
//     has stored it. FTP cannot cut a file back, so a piece that does not
//     match discards the whole upload (400): nothing of it reaches the
//     target, and the client starts again.
//   - Repr-Digest is the digest of the whole upload. One given when the
//     upload is created is kept in its ID, as the preconditions are
//     (encodeConds), and is checked when it completes, with one the
//     completing request gives. A mismatch discards the upload (400; the
//     draft: "consider the upload failed"), the target untouched.
//   - Want-Repr-Digest, on the creation or the completing request, asks
//     for the upload's Repr-Digest in the completing answer.
//
// An upload that one request creates and completes is a PUT: hashed as it
// streams, its Repr-Digest always answered and kept for later GETs. One of
// several pieces is hashed at completion, and only when a digest is to be
// checked or was asked for: the held file is read back from the FTP server
// (RETR) before the rename, so the check covers the bytes the server
// stores, whichever replicas received the pieces. Its digest is kept for
// later GETs too (rememberUpload).

// uploadDigestID are the digest fields an upload's ID keeps of its
// creating request, normalised: only the algorithms the gateway computes.
var uploadDigestID = [...]string{"Repr-Digest", "Want-Repr-Digest"}

// creationDigests returns the normalised digest fields of the creating
// request h that its upload's ID keeps; nil if it has none. h's fields
// were parsed (parseUploadDigests) before.
func creationDigests(h http.Header) http.Header {
	var out http.Header
	set := func(k string, members []string) {
		if len(members) > 0 {
			if out == nil {
				out = http.Header{}
			}
			out[k] = []string{strings.Join(members, ", ")}
		}
	}
	if dict, err := parseDictionary(h.Values("Repr-Digest")); err == nil {
		var members []string
		for _, m := range dict {
			if a, ok := digestAlgoOf(m.key); ok && m.value.kind == sfBytes && len(m.value.bytes) == digestAlgos[a].size {
				var d digestSet
				d[a] = m.value.bytes
				members = append(members, d.field(a))
			}
		}
		set(uploadDigestID[0], members)
	}
	if want, asked := wantedDigests(h, false); asked {
		members := []string{}
		for i, a := range want {
			members = append(members, digestAlgos[a].key+"="+strconv.Itoa(10-i))
		}
		if len(want) == 0 {
			// Asked, and none acceptable: the answer has none.
			members = append(members, digestAlgos[sha256Digest].key+"=0")
		}
		set(uploadDigestID[1], members)
	}
	return out
}

// pieceDigests is what the digest fields ask of one request to a
// resumable upload, and the hashing of its piece.
type pieceDigests struct {
	// body hashes the piece as it streams; nil when nothing asks for its
	// digests. For a whole upload (whole), it is a PUT's.
	body  *uploadDigests
	whole bool
	// repr are the Repr-Digest values the completion checks: the
	// creation's and this request's.
	repr digestSet
	// want is the Repr-Digest algorithm the completing answer carries
	// (Want-Repr-Digest of this request, else of the creation); wanted
	// says whether one is asked for at all.
	want   digestAlgo
	wanted bool
}

// parsePieceDigests reads the digest fields of r, a request that appends
// to the upload id at offset; whole says that the request is the whole
// upload (it starts at 0 and completes it). A malformed field, or a
// Repr-Digest that contradicts the creation's, is 400 before anything is
// written.
func parsePieceDigests(r *http.Request, id uploadID, whole bool) (*pieceDigests, error) {
	d, err := parseUploadDigests(r.Header)
	if err != nil {
		return nil, err
	}
	pd := &pieceDigests{whole: whole}
	idh := id.conds
	if idh == nil {
		idh = http.Header{}
	}
	created, err := parseUploadDigests(http.Header{"Repr-Digest": idh.Values(uploadDigestID[0])})
	if err != nil {
		return nil, err
	}
	for a := range numDigestAlgos {
		mine, theirs := d.expect[1][a], created.expect[1][a]
		if mine != nil && theirs != nil && string(mine) != string(theirs) {
			return nil, badRequest("the Repr-Digest ("+digestAlgos[a].key+") differs from the one the upload was created with", nil)
		}
		pd.repr[a] = mine
		if mine == nil {
			pd.repr[a] = theirs
		}
	}
	want, asked := wantedDigests(r.Header, false)
	if v := idh.Values(uploadDigestID[1]); !asked && len(v) > 0 {
		want, asked = wantedDigests(http.Header{"Want-Repr-Digest": v}, false)
	}
	if len(want) > 0 {
		pd.want, pd.wanted = want[0], true
	}
	if whole {
		// A PUT's: the piece's digests are the upload's.
		d.expect[1] = pd.repr
		switch {
		case !asked:
			d.answer, d.none = sha256Digest, false
		case pd.wanted:
			d.answer, d.none = pd.want, false
		default:
			d.none = true
		}
		for a := range numDigestAlgos {
			if d.hashes[a] == nil && (pd.repr[a] != nil || !d.none && d.answer == a) {
				d.hashes[a] = digestAlgos[a].new()
			}
		}
		pd.body = d
		return pd, nil
	}
	if d.expect[0].empty() {
		return pd, nil
	}
	// Only Content-Digest is a digest of this piece.
	d.expect[1] = digestSet{}
	for a := range numDigestAlgos {
		if d.expect[0][a] == nil {
			d.hashes[a] = nil
		}
	}
	d.none = true
	pd.body = d
	return pd, nil
}

// checkFirst has a piece whose Content-Digest is to be checked, and that
// announces no more than TusMaxChecksumPiece bytes, checked before
// anything of it is appended (the draft's §8: a piece that does not match
// is "not appended"): p.verify reads it whole and checks it, and a
// mismatch is 400 with the upload as it was. A bigger piece, one of
// unknown length, or one tus's Upload-Checksum reads whole already, is
// hashed as it streams, and one that does not match discards the upload.
func (s *Server) checkFirst(w http.ResponseWriter, r *http.Request, p *piece, pd *pieceDigests) {
	d := pd.body
	if d == nil || pd.whole || p.verify != nil || r.ContentLength < 0 || r.ContentLength > s.cfg.TusMaxChecksumPiece {
		return
	}
	pd.body = nil
	p.verify = func() error {
		buf, err := s.bufferPiece(w, r)
		if err != nil {
			return err
		}
		var sums digestSet
		for a, h := range d.hashes {
			if h != nil {
				h.Write(buf)
				sums[a] = h.Sum(nil)
			}
		}
		if err := d.verify(&sums); err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(buf))
		return nil
	}
}

// needsWhole reports whether completing the upload needs the digests of
// the whole of it that the piece's hashing did not give.
func (pd *pieceDigests) needsWhole() bool {
	return !pd.whole && (!pd.repr.empty() || pd.wanted)
}

// readBack hashes the file at path on the FTP server, with each algorithm
// the completion needs: those of the Repr-Digest to check, and the one
// asked for.
func (pd *pieceDigests) readBack(ctx context.Context, c *ftpcore.Conn, path string) (digestSet, error) {
	var hashes [numDigestAlgos]hash.Hash
	var ws []io.Writer
	for a := range numDigestAlgos {
		if pd.repr[a] != nil || pd.wanted && pd.want == a {
			hashes[a] = digestAlgos[a].new()
			ws = append(ws, hashes[a])
		}
	}
	var sums digestSet
	t, err := c.Retr(ctx, path, 0, -1)
	if err != nil {
		return sums, err
	}
	_, err = io.Copy(io.MultiWriter(ws...), t)
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return sums, err
	}
	for a, h := range hashes {
		if h != nil {
			sums[a] = h.Sum(nil)
		}
	}
	return sums, nil
}

// verifyWhole compares the whole upload's sums with the Repr-Digest to
// check.
func (pd *pieceDigests) verifyWhole(sums *digestSet) error {
	for a, want := range pd.repr {
		if want != nil && string(want) != string(sums[a]) {
			return digestMismatch("Repr-Digest", digestAlgos[a].key)
		}
	}
	return nil
}

// answer is the Repr-Digest field the completing answer carries, "" for
// none: a PUT's for a whole upload, else the one asked for or, failing
// that, the one checked.
func (pd *pieceDigests) answer(sums *digestSet) string {
	if pd.whole {
		return pd.body.answerField(sums)
	}
	if pd.wanted {
		if sums[pd.want] != nil {
			return sums.field(pd.want)
		}
		return ""
	}
	for a := range numDigestAlgos {
		if pd.repr[a] != nil && sums[a] != nil {
			return sums.field(a)
		}
	}
	return ""
}

// discard deletes the held upload id, whose bytes do not match a digest
// (mismatch), and returns mismatch as the request's answer: the upload is
// gone, and no longer counts against its client.
func (s *Server) discard(ctx context.Context, conn *ftpcore.Conn, id uploadID, names uploadPaths, mismatch error) error {
	s.removeTemp(ctx, conn, names.lock)
	s.uploads.remove(id.nonce)
	if p, ok := mismatch.(*problem); ok {
		q := *p
		q.detail = strings.TrimSuffix(q.detail, "; nothing was stored") + ": the upload was discarded (start a new one)"
		return &q
	}
	return mismatch
}
