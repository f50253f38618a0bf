package api

import (
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/ftpgw/ftpgw/auth"
)

// The HTML listing's upload form: a page a person reads in a browser can
// upload into the directory it lists. A form can only POST
// multipart/form-data, so a POST of that type to a directory's URL (one
// without Tus-Resumable, which is tus's creation) stores each file of the
// form's "file" field in the directory, one after the other, each as an
// atomic create-only PUT of its own (putFile with If-None-Match: *: a form
// does not replace a file by accident), and answers 303 to the listing.
//
// A form is the one request another site can make a browser send without
// asking first (no CORS preflight), with the browser's Basic credentials:
// a POST whose Origin is another host, or whose Sec-Fetch-Site says it
// came from another site, is 403 before anything is read. The listing's
// Content-Security-Policy lets its form post to the gateway only
// (form-action 'self').

// maxFormFiles bounds the files of one form upload.
const maxFormFiles = 64

// mayUpload reports whether the HTML listing of the directory clean shows
// the upload form: where the request's token may write there, or with no
// token at all (no authentication, or Basic passthrough, where the FTP
// server decides); never through a signed URL.
func mayUpload(r *http.Request, clean string) bool {
	info := requestInfoFrom(r.Context())
	switch {
	case info == nil:
		return true
	case info.signedKey != "":
		return false
	case info.tok != nil:
		return info.tok.Allows(auth.Write, clean)
	}
	return true
}

// maxFormField bounds a form field that is no file, which is read and
// dropped.
const maxFormField = 64 << 10

// isFormUpload reports whether r is a form's upload: a POST of
// multipart/form-data that is not tus's.
func isFormUpload(r *http.Request) bool {
	return r.Method == http.MethodPost && !isTus(r) && mediaType(r) == "multipart/form-data"
}

// formUploadOr routes a form's upload to formUpload and any other POST to
// next.
func (s *Server) formUploadOr(next func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if isFormUpload(r) {
			return s.formUpload(w, r)
		}
		return next(w, r)
	}
}

// formUpload stores the files of a form posted to a directory's URL.
// Files stored before one that fails stay, each whole.
func (s *Server) formUpload(w http.ResponseWriter, r *http.Request) error {
	if err := sameOrigin(r); err != nil {
		return err
	}
	clean, dir, err := s.requestPath(r)
	if err != nil {
		return err
	}
	if !dir {
		return badRequest("a form uploads into a directory: post it to the directory's URL, ending in /", nil)
	}
	if info := requestInfoFrom(r.Context()); info != nil && info.signedKey != "" {
		return denied("a signed URL names one file and method; a form cannot upload through it", nil)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("the form is not multipart/form-data with a boundary", err)
	}
	stored := 0
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return badRequest("the form's body is not a well-formed multipart body", err)
		}
		if part.FormName() != "file" || part.FileName() == "" {
			// Another field, or the file field with no file chosen.
			if n, err := io.CopyN(io.Discard, part, maxFormField+1); err != nil && !errors.Is(err, io.EOF) {
				return badRequest("the form's body could not be read", err)
			} else if n > maxFormField {
				return badRequest("a form field that is no file may have 64 KiB at most", nil)
			}
			continue
		}
		if stored == maxFormFiles {
			return badRequest("a form may upload 64 files at most", nil)
		}
		if err := s.storeFormFile(w, r, clean, part); err != nil {
			return err
		}
		stored++
	}
	if stored == 0 {
		return badRequest(`the form has no file in its "file" field`, nil)
	}
	w.Header().Set("Location", (&url.URL{Path: strings.TrimSuffix(s.mountDir+clean, "/") + "/"}).EscapedPath())
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// storeFormFile stores part, a file of a form posted to the directory
// dir, as a create-only PUT of dir plus its file name.
func (s *Server) storeFormFile(w http.ResponseWriter, r *http.Request, dir string, part *multipart.Part) error {
	name := part.FileName()
	if name == "." || name == ".." || strings.ContainsAny(name, "/\\") || strings.IndexFunc(name, isControl) >= 0 {
		return badRequest("a file name of a form may not be . or .., nor hold a slash, a backslash or a control character", nil)
	}
	put := r.Clone(r.Context())
	put.Method = http.MethodPut
	put.URL = &url.URL{Path: s.mountDir + path.Join(dir, name)}
	put.Header = http.Header{"If-None-Match": {"*"}}
	for _, k := range []string{"Authorization", "Accept-Encoding"} {
		if v := r.Header.Values(k); len(v) > 0 {
			put.Header[k] = v
		}
	}
	put.Body = io.NopCloser(part)
	put.ContentLength = -1
	return s.putFile(&discardAnswer{ResponseWriter: w, header: http.Header{}}, put)
}

// isControl reports whether c is a control character.
func isControl(c rune) bool { return c < 0x20 || c == 0x7f }

// discardAnswer is the ResponseWriter of one file of a form: its answer
// is dropped (the form's is 303), while the client's connection stays
// reachable for the body's deadlines (Unwrap, http.ResponseController).
type discardAnswer struct {
	http.ResponseWriter
	header http.Header
}

func (d *discardAnswer) Header() http.Header         { return d.header }
func (d *discardAnswer) WriteHeader(int)             {}
func (d *discardAnswer) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardAnswer) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// sameOrigin refuses a request that a page of another site made the
// browser send: an Origin whose host is not the request's, or a
// Sec-Fetch-Site other than same-origin (or none, a person's own
// navigation). A client that sends neither is no browser, and passes.
func sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return denied("a form may upload only from the gateway's own pages (Sec-Fetch-Site: "+site+")", nil)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return denied("a form may upload only from the gateway's own pages, not from "+o, nil)
		}
	}
	return nil
}
