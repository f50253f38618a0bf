package api

import (
	"net/http"
	"path"
	"strings"

	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// Uploaded files are served so that none can run script on the gateway's
// origin, where it could act with the rights of whoever opens it (read,
// write and delete files through the gateway). Three layers, each enough
// for most browsers alone:
//
//   - X-Content-Type-Options: nosniff, so that the type the extension gives
//     is the type the browser uses: a .txt holding markup stays text.
//   - fileCSP, a Content-Security-Policy with sandbox: whatever a browser
//     renders from a file runs in a unique opaque origin with script,
//     forms, plugins and popups off, and may load nothing but images and
//     media from the gateway.
//   - activeTypes are served as attachments (saved, never displayed)
//     unless Config.TrustedContent says the backend's files are trusted.

// fileCSP is the Content-Security-Policy of every file response (and of
// problem documents). default-src 'none' with sandbox is the policy of
// hosts of user content that browsers already meet for raw files;
// style-src 'unsafe-inline' lets browsers style their own views of an
// image, a video or plain text, and img-src and media-src 'self' let
// them load the file they display (an image or a video opened on its own
// becomes a document that loads it). None of these runs script. A PDF is
// not displayed under sandbox by Chrome or Firefox, one more reason it is
// an active type (served as an attachment).
const fileCSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"

// listingCSP is the Content-Security-Policy of a listing. The HTML one has
// one inline stylesheet and links, and nothing else: no script, no base
// or form to redirect. It has no sandbox, under which a browser blocks
// the downloads the listing's links start.
const listingCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'"

// activeTypes are the media types a browser, shown a file of that type
// on its own, turns into a document that can run script, or hands to a
// viewer that runs the file's own script:
//
//   - text/html and application/xhtml+xml: pages.
//   - image/svg+xml: an SVG opened on its own is a document with script
//     (only as an <img> is it inert).
//   - text/xml, application/xml, text/xsl and every */*+xml (RSS, Atom,
//     MathML, XSLT...): an XML document may hold elements of the XHTML
//     namespace, <script> too, or call an XSLT stylesheet that makes a
//     page.
//   - text/javascript and its older names (application/javascript,
//     application/x-javascript, application/ecmascript,
//     text/ecmascript): a browser shows a script opened on its own as
//     text and runs it only for a page that loads it, which the rules
//     above keep off the gateway's origin; saved all the same, so that
//     no layer alone stands between a script and a worker of the origin.
//   - application/pdf: PDF has its own JavaScript and forms, which some
//     viewers run with the origin's cookies; and the sandbox keeps Chrome
//     and Firefox from displaying it anyway, so it is better saved.
//
// Not active, and so served inline: text/css (no browser runs script
// from a stylesheet since IE's expression() and Firefox's -moz-binding
// went; nosniff keeps other types from being used as one), text/plain,
// application/json and images other than SVG, audio and video (displayed
// by the browser's own viewers), and application/octet-stream (the type of
// an unknown extension, which browsers save anyway).
var activeTypes = map[string]bool{
	"text/html":                true,
	"application/xhtml+xml":    true,
	"image/svg+xml":            true,
	"text/xml":                 true,
	"application/xml":          true,
	"text/xsl":                 true,
	"text/javascript":          true,
	"application/javascript":   true,
	"application/x-javascript": true,
	"application/ecmascript":   true,
	"text/ecmascript":          true,
	"application/pdf":          true,
}

// isActiveType reports whether the Content-Type ct (with or without
// parameters, in any case) is one of activeTypes or an XML type.
func isActiveType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return activeTypes[mt] || strings.HasSuffix(mt, "+xml")
}

// errBadDownload is a download parameter that is neither 1 nor 0.
var errBadDownload = badRequest("the download parameter must be 1 (save the file) or 0 (the default for its type)", nil)

// wantsDownload reads the query parameter download of a GET or HEAD: 1
// asks for an attachment, whatever the type; 0, or no parameter, leaves
// it to the type. Any other value (one that does not decode too), or the
// parameter twice, is an error: the client meant something the gateway
// would not do. Other parameters are ignored, as before there was this
// one.
func wantsDownload(r *http.Request) (bool, error) {
	v, ok := queryChoice(r, "download", "0", "1")
	if !ok {
		return false, errBadDownload
	}
	return v == "1", nil
}

// setFileSafety sets the headers of a file response (200, 206, HEAD, 304)
// that decide what a browser may do with it: the type clean's extension
// gives, nosniff, fileCSP, and Content-Disposition: attachment when the
// client asked for a download or the type is active and the backend's
// content is not trusted.
func (s *Server) setFileSafety(h http.Header, clean, ctype string, download bool) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", fileCSP)
	if download || (!s.cfg.TrustedContent && isActiveType(ctype)) {
		h.Set("Content-Disposition", httpsem.AttachmentDisposition(path.Base(clean)))
	}
}
