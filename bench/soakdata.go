package main

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
)

// The soak's files carry their own description, so that any body, any
// range of one and any file left on the server can be checked without
// remembering what was sent: a version's content is a sequence of records
// of soakRecord bytes,
//
//	"f07.bin v1234 8192 300544 " + filler + "\n"
//
// naming the file, the version, the record's offset and the version's
// size; the filler is letters that depend on the version and the position.
// A body that mixes two versions, or whose bytes moved, or was cut, fails
// the check; so does a file on the server that is not a complete version.
const (
	soakRecord = 128
	// soakHeaderMax bounds a record's header: every record, the last
	// (partial) one too, holds at least that many bytes (fileVersion.size).
	soakHeaderMax = 64
)

// fileVersion is version v (1, 2, ...) of the soak file called name (a base
// name without spaces).
type fileVersion struct {
	name string
	v    int64
}

// size is the length of the version's content, drawn from the version: nine
// in ten between 256 B and 256 KiB (log-uniform), one in ten between 1 and
// 8 MiB, so that a client can leave in the middle of a transfer. It is
// never less than two records, and a partial last record holds a whole
// header.
func (fv fileVersion) size() int64 {
	h := fnv.New64a()
	io.WriteString(h, fv.name)
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(fv.v)))
	var n int64
	if rng.IntN(10) == 0 {
		n = 1<<20 + rng.Int64N(7<<20)
	} else {
		n = int64(256 * math.Exp2(rng.Float64()*10))
	}
	if rem := n % soakRecord; rem != 0 && rem < soakHeaderMax {
		n += soakHeaderMax - rem
	}
	return n
}

// record writes record i of the version into rec (soakRecord bytes).
func (fv fileVersion) record(i int64, size int64, rec []byte) {
	b := append(rec[:0], fv.name...)
	b = append(b, " v"...)
	b = strconv.AppendInt(b, fv.v, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, i*soakRecord, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, size, 10)
	b = append(b, ' ')
	for j := len(b); j < soakRecord-1; j++ {
		b = append(b, byte('a'+(fv.v+i+int64(j))%26))
	}
	b = append(b, '\n')
	if len(b) != soakRecord {
		panic("soak: a record's header does not fit: " + fv.name)
	}
}

// fill writes the version's bytes from offset off into p; size is
// fv.size(), passed in so that a caller filling many buffers computes it
// once.
func (fv fileVersion) fill(off, size int64, p []byte) {
	var rec [soakRecord]byte
	for len(p) > 0 {
		i, in := off/soakRecord, off%soakRecord
		fv.record(i, size, rec[:])
		n := copy(p, rec[in:])
		p, off = p[n:], off+int64(n)
	}
}

// parseRecord reads the header of a record: the file's name, the version,
// the record's offset and the version's size.
func parseRecord(b []byte) (fv fileVersion, off, size int64, ok bool) {
	f := bytes.SplitN(b[:min(len(b), soakHeaderMax)], []byte(" "), 5)
	if len(f) < 5 || len(f[1]) < 2 || f[1][0] != 'v' {
		return fv, 0, 0, false
	}
	v, err1 := strconv.ParseInt(string(f[1][1:]), 10, 64)
	off, err2 := strconv.ParseInt(string(f[2]), 10, 64)
	size, err3 := strconv.ParseInt(string(f[3]), 10, 64)
	if errors.Join(err1, err2, err3) != nil || v < 1 {
		return fv, 0, 0, false
	}
	return fileVersion{string(f[0]), v}, off, size, true
}

// checked is what verify found in a body.
type checked struct {
	fv   fileVersion // the version the body's first record names
	n    int64       // bytes read
	bad  string      // why the bytes are not the version's; "" if they are
	read error       // why reading stopped, if not at the body's end
}

// verify reads r to its end and checks that its bytes are those of one
// version of file name, from offset off (a multiple of soakRecord), within
// the version's size; whether the body covers as much of the version as it
// should is the caller's to check. buf is a scratch buffer of at least two
// records. The bytes read before a read error are checked too.
func verify(r io.Reader, name string, off int64, buf []byte) checked {
	var c checked
	half := len(buf) / 2
	got, want := buf[:half], buf[half:2*half]
	// The first record's header says which version to compare with.
	pending, err := readSome(r, got[:soakHeaderMax])
	c.n = int64(pending)
	fv, recOff, size, ok := parseRecord(got[:pending])
	switch {
	case !ok && err != nil && err != io.EOF:
		c.read = err
		return c
	case pending == 0:
		c.bad = "empty body"
		return c
	case !ok:
		c.bad = "no record header at its start"
		return c
	case fv.name != name:
		c.bad = "a record of another file"
		return c
	case recOff != off:
		c.bad = "a record from another offset"
		return c
	case size != fv.size():
		c.bad = "a record with a size its version does not have"
		return c
	}
	c.fv = fv
	pos := off
	for {
		if pos+int64(pending) > size {
			c.bad = "longer than its version"
			return c
		}
		fv.fill(pos, size, want[:pending])
		if !bytes.Equal(got[:pending], want[:pending]) {
			i := 0
			for got[i] == want[i] {
				i++
			}
			c.bad = fmt.Sprintf("bytes from %d on differ from version %d's", pos+int64(i), fv.v)
			return c
		}
		pos += int64(pending)
		if err != nil {
			if err != io.EOF {
				c.read = err
			}
			return c
		}
		pending, err = readSome(r, got)
		c.n += int64(pending)
	}
}

// readSome reads into p until it is full or r fails, and returns r's own
// error (io.EOF at the end), where io.ReadFull would turn a body cut short
// into io.ErrUnexpectedEOF like an end that comes early.
func readSome(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// versionReader is a body of fv's content, from its start; if cut is below
// the size, reading stops there with errCut, as a client that leaves in
// the middle of an upload.
type versionReader struct {
	fv        fileVersion
	size, off int64
	cut       int64
}

var errCut = errors.New("the client left in the middle of its upload")

func newVersionReader(fv fileVersion, cut int64) *versionReader {
	size := fv.size()
	return &versionReader{fv: fv, size: size, cut: min(cut, size)}
}

func (r *versionReader) Read(p []byte) (int, error) {
	if r.off >= r.cut {
		if r.cut < r.size {
			return 0, errCut
		}
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.cut-r.off)]
	r.fv.fill(r.off, r.size, p)
	r.off += int64(len(p))
	return len(p), nil
}
