package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// Workload j: the big file uploaded through the gateway as a resumable
// upload (draft-ietf-httpbis-resumable-upload: an empty PUT with
// Upload-Complete: ?0 creates it, PATCHes of rsPiece bytes append, the
// last with ?1) against one plain PUT of it, by one client over a
// kept-alive connection, both read from the same file (from the page
// cache). What the resumable flow costs is a creation, and per piece a
// PATCH whose gateway takes the upload (RNFR/RNTO), checks its SIZE,
// APPEs and gives it back.
const rsPiece = 64 << 20

// resumableResult is workload j: per run, the speed of each side in bytes
// per second. digest is the resumable upload created with the file's
// Repr-Digest, which the gateway checks at completion by reading the
// upload back from the FTP server (api/uploaddigest.go).
type resumableResult struct {
	resumable, digest, put []float64
}

// measureResumable is workload j, uploading src (of r.opts.bigSize bytes)
// through gw to srv.
func measureResumable(ctx context.Context, r *results, gw *gateway, srv *realftpd.Server, src string) error {
	size := r.opts.bigSize
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return err
	}
	reprDigest := "sha-256=:" + base64.StdEncoding.EncodeToString(h.Sum(nil)) + ":"
	client := httpClient(1)
	defer client.CloseIdleConnections()
	j := &r.resumable
	logf("resumable: %d MiB as a resumable upload in pieces of %d MiB, the same with its Repr-Digest, and as one PUT", size>>20, rsPiece>>20)
	resumable := func(name string, speeds *[]float64, hdr ...string) func(i int) error {
		return func(i int) error {
			t0 := time.Now()
			if err := resumableUpload(ctx, client, gw.url("/files/"+name), f, size, hdr...); err != nil {
				return err
			}
			*speeds = append(*speeds, float64(size)/time.Since(t0).Seconds())
			logf("resumable run %d: %s %.0f MiB/s in %d pieces", i+1, name, mibs((*speeds)[i]), (size+rsPiece-1)/rsPiece)
			return removeUploaded(srv, name, size)
		}
	}
	// Three sides, each first in one run of three.
	sides := []func(i int) error{
		resumable("up-resumable.bin", &j.resumable),
		resumable("up-digest.bin", &j.digest, "Repr-Digest", reprDigest),
		func(i int) error {
			t0 := time.Now()
			code, _, err := rsSend(ctx, client, http.MethodPut, gw.url("/files/up-put.bin"), io.NewSectionReader(f, 0, size), size)
			if err != nil {
				return err
			}
			if code != http.StatusCreated && code != http.StatusNoContent {
				return fmt.Errorf("PUT: %d", code)
			}
			j.put = append(j.put, float64(size)/time.Since(t0).Seconds())
			logf("resumable run %d: one PUT %.0f MiB/s", i+1, mibs(j.put[i]))
			return removeUploaded(srv, "up-put.bin", size)
		},
	}
	for i := range r.opts.runs {
		for k := range sides {
			if err := sides[(i+k)%len(sides)](i); err != nil {
				return err
			}
		}
	}
	return nil
}

// resumableUpload uploads size bytes of f to u as a resumable upload in
// pieces of rsPiece bytes, each at the offset the last one reached; hdr
// are more header fields of the creation, as name, value pairs.
func resumableUpload(ctx context.Context, client *http.Client, u string, f *os.File, size int64, hdr ...string) error {
	code, h, err := rsSend(ctx, client, http.MethodPut, u, http.NoBody, 0, append([]string{"Upload-Complete", "?0"}, hdr...)...)
	if err != nil {
		return err
	}
	loc := h.Get("Location")
	if code != http.StatusCreated || loc == "" {
		return fmt.Errorf("resumable creation: %d, Location %q", code, loc)
	}
	base, err := url.Parse(u)
	if err != nil {
		return err
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return fmt.Errorf("resumable creation: Location %q: %v", loc, err)
	}
	loc = base.ResolveReference(ref).String()
	for off := int64(0); off < size; {
		n := min(rsPiece, size-off)
		complete := "?0"
		if off+n == size {
			complete = "?1"
		}
		code, _, err := rsSend(ctx, client, http.MethodPatch, loc, io.NewSectionReader(f, off, n), n,
			"Content-Type", "application/partial-upload", "Upload-Offset", strconv.FormatInt(off, 10), "Upload-Complete", complete)
		if err != nil {
			return err
		}
		if want := map[string]int{"?0": http.StatusNoContent, "?1": http.StatusCreated}[complete]; code != want {
			return fmt.Errorf("resumable PATCH at %d: %d, want %d", off, code, want)
		}
		off += n
	}
	return nil
}

// rsSend sends a request with a body of n bytes and the header fields
// given as name, value pairs, and returns its status and header.
func rsSend(ctx context.Context, client *http.Client, method, u string, body io.Reader, n int64, hdr ...string) (int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = n
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, err
}

// resumableAlone runs workload j on its own (-resumable-only).
func resumableAlone(ctx context.Context, r *results, srv *realftpd.Server, gws *gateways) error {
	r.resumableOnly = true
	logf("creating a %d MiB file", r.opts.bigSize>>20)
	if err := writeRandom(srv.Path("big.bin"), r.opts.bigSize); err != nil {
		return err
	}
	logf("starting the gateway")
	gw, err := gws.restart(ctx, nil)
	if err != nil {
		return err
	}
	return measureResumable(ctx, r, gw, srv, srv.Path("big.bin"))
}

// renderResumable writes workload j's rows with row.
func renderResumable(row func(cells ...string), j resumableResult, bigSize int64) {
	g, d, p := median(j.resumable), median(j.digest), median(j.put)
	row(fmt.Sprintf("j. %s resumable upload in %d MiB pieces vs one PUT, 1 client", sizeName(bigSize), rsPiece>>20), "MiB/s: resumable / one PUT",
		f0(mibs(g)), f0(mibs(p)), fmt.Sprintf("%.2fx", g/p), "report", "")
	row("j. the same, created with its Repr-Digest (checked by reading the upload back)", "MiB/s: resumable / one PUT",
		f0(mibs(d)), f0(mibs(p)), fmt.Sprintf("%.2fx", d/p), "report", "")
}

// resumableDetail is workload j's line of each run.
func resumableDetail(j resumableResult) string {
	return fmt.Sprintf("j. upload MiB/s: resumable %s; with Repr-Digest %s; one PUT %s", list(scaled(j.resumable, mibs), "%.0f"),
		list(scaled(j.digest, mibs), "%.0f"), list(scaled(j.put, mibs), "%.0f"))
}
