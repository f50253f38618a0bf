package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

type listingDoc struct {
	Path    string         `json:"path"`
	Entries []listingEntry `json:"entries"`
	// mount is the backend's mount without its final slash, for the
	// HTML page's links.
	mount string
	// upload says whether the HTML page has the upload form (mayUpload).
	upload bool
}

type listingEntry struct {
	Name     string     `json:"name"`
	Type     string     `json:"type"`
	Size     *int64     `json:"size,omitempty"`
	Modified *time.Time `json:"modified,omitempty"`
	// ModifiedPrecision is "minute" or "day" where Modified is what a
	// LIST line said (to the minute, or the day for a file older than six
	// months), and the server's exact time was not asked for (past
	// ListingFactsCap); absent where Modified is to the second.
	ModifiedPrecision string `json:"modified_precision,omitempty"`
	Target            string `json:"target,omitempty"`
}

// ListingFactsCap is the most entries of one listing whose size and time
// the gateway asks the FTP server for (SIZE and MDTM, all in one write)
// where the listing itself is not what a HEAD of the entry would say: the
// times of a LIST (vsftpd's: minutes, days for older files), and a
// symbolic link's own size and time where a GET follows it. The first
// entries by name get them; the others keep the listing's time and say
// its precision, and a link past the cap is listed without size or time.
// A 10,000-entry directory costs one round trip more, not 10,000.
const ListingFactsCap = 128

// listDir renders a directory as JSON, or as HTML for clients that prefer
// it (or ask with ?format=), gzipped for clients that take it. HEAD opens
// no data connection.
func (s *Server) listDir(w http.ResponseWriter, r *http.Request, c *ftpcore.Conn, full, clean string) error {
	html, err := listingFormat(r)
	if err != nil {
		return err
	}
	gz := acceptsGzip(r)
	h := w.Header()
	h.Add("Vary", "Accept, Accept-Encoding") // after the Origin of CORS, if any
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", listingCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	if html {
		h.Set("Content-Type", "text/html; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/json")
	}
	if gz {
		h.Set("Content-Encoding", "gzip")
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	entries, err := c.List(r.Context(), full)
	if err != nil {
		return err
	}
	s.temps.listed(s.poolOf(r.Context()), full, entries, c.HasFeature("MLST"))
	dirPath := clean
	if dirPath != "/" {
		dirPath += "/"
	}
	doc := listingDoc{Path: dirPath, Entries: make([]listingEntry, 0, len(entries)), mount: s.mountDir, upload: html && mayUpload(r, clean)}
	kept := entries[:0]
	for _, e := range entries {
		if isTempName(e.Name) || strings.Contains(e.Name, "/") {
			continue
		}
		if e.Type == ftpcore.EntryLink && !s.listedLink(&e) {
			continue
		}
		kept = append(kept, e)
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Name < kept[j].Name })
	exact, err := s.refineListing(r, c, full, kept)
	if err != nil {
		return err
	}
	for i, e := range kept {
		le := listingEntry{Name: e.Name, Type: e.Type.String(), Target: e.Target}
		if e.Size >= 0 && e.Type != ftpcore.EntryDir {
			size := e.Size
			le.Size = &size
		}
		if !e.ModTime.IsZero() {
			mod := e.ModTime.UTC()
			le.Modified = &mod
			if !exact[i] {
				le.ModifiedPrecision = listPrecision(mod)
			}
		}
		doc.Entries = append(doc.Entries, le)
	}

	var buf bytes.Buffer
	if html {
		err = listingHTML.Execute(&buf, doc)
	} else {
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		err = enc.Encode(doc)
	}
	if err != nil {
		return err
	}
	body := buf.Bytes()
	if gz {
		body = gzipped(body)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	// A long listing outgrows the socket buffers, and the session is
	// held until the handler returns: a client that stops reading must
	// not keep it.
	cw := newClientWriter(w, r, s.clientLimits())
	_, err = cw.Write(body)
	cw.done()
	return err
}

// refineListing gives the entries (sorted by name) the sizes and times a
// HEAD of each would give, where the listing did not (ListingFactsCap
// says which, and how many): SIZE and MDTM, following links as GET does,
// all in one write. It changes the entries in place and reports which
// entries' times are to the second (all of MLSD's). A link past the cap
// loses its size and time, which are its own, not its target's. The
// server's refusal to describe an entry (gone since the listing) leaves it
// as listed.
func (s *Server) refineListing(r *http.Request, c *ftpcore.Conn, dir string, entries []ftpcore.Entry) (exact []bool, err error) {
	precise := c.HasFeature("MLST")
	exact = make([]bool, len(entries))
	for i := range exact {
		exact[i] = precise
	}
	var paths []string
	var which []int
	for i, e := range entries {
		switch {
		case e.Type == ftpcore.EntryLink && s.cfg.Links == LinksFollow:
		case e.Type == ftpcore.EntryFile && !precise:
		default:
			continue
		}
		if len(paths) == ListingFactsCap {
			if e.Type == ftpcore.EntryLink {
				entries[i].Size, entries[i].ModTime = -1, time.Time{}
			}
			continue
		}
		paths = append(paths, path.Join(dir, e.Name))
		which = append(which, i)
	}
	facts, err := c.Describe(r.Context(), paths)
	if err != nil {
		if c.Usable() {
			// A name the control channel cannot carry, or a reply that
			// does not parse: the listing as the server gave it.
			return exact, nil
		}
		return nil, err
	}
	for k, f := range facts {
		i := which[k]
		if f.Size >= 0 {
			entries[i].Size = f.Size
		}
		if !f.ModTime.IsZero() {
			entries[i].ModTime, exact[i] = f.ModTime, true
		}
	}
	return exact, nil
}

// listPrecision is the precision of a LIST line's time t: "day" for one
// at midnight (ls gives the year instead of the time of day for files
// older than six months), "minute" otherwise. A file of the last six
// months modified at midnight is said to be known to the day only, which
// is still true.
func listPrecision(t time.Time) string {
	if t.Hour() == 0 && t.Minute() == 0 {
		return "day"
	}
	return "minute"
}

// listingFormat reads ?format=json or html, which wins over Accept: html
// says whether the listing is HTML, which it is unless the client asks
// for JSON explicitly (httpsem.WantsJSON). Another value, or the
// parameter twice, is 400.
func listingFormat(r *http.Request) (html bool, err error) {
	switch v, ok := queryChoice(r, "format", "json", "html"); {
	case !ok:
		return false, badRequest(`"format" must be json or html, once`, nil)
	case v != "":
		return v == "html", nil
	}
	return !httpsem.WantsJSON(strings.Join(r.Header.Values("Accept"), ",")), nil
}

// acceptsGzip reports whether r's Accept-Encoding takes gzip.
func acceptsGzip(r *http.Request) bool {
	return httpsem.AcceptsGzip(strings.Join(r.Header.Values("Accept-Encoding"), ","))
}

// gzipped returns b compressed with gzip.
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b)/4 + 64)
	zw := gzip.NewWriter(&buf)
	zw.Write(b) // a bytes.Buffer does not fail
	zw.Close()
	return buf.Bytes()
}

// crumb is one step of the HTML listing's breadcrumbs: a directory on the
// way to the one listed.
type crumb struct{ Name, Href string }

// humanSize writes n bytes in binary units, as ls -h does: 999 B, 1.5 KiB,
// 12 MiB.
func humanSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, unit := float64(n), 0
	for v >= 1024 && unit < 6 {
		v /= 1024
		unit++
	}
	digits := 1
	if v >= 10 {
		digits = 0
	}
	return strconv.FormatFloat(v, 'f', digits, 64) + " " + "KMGTPE"[unit-1:unit] + "iB"
}

var listingHTML = template.Must(template.New("listing").Funcs(template.FuncMap{
	"href": func(e listingEntry) string {
		u := url.PathEscape(e.Name)
		if e.Type == "dir" {
			u += "/"
		}
		return "./" + u
	},
	"crumbs": func(d listingDoc) []crumb {
		cs := []crumb{{Name: d.mount + "/", Href: d.mount + "/"}}
		href := d.mount + "/"
		for seg := range strings.SplitSeq(strings.Trim(d.Path, "/"), "/") {
			if seg == "" {
				continue
			}
			href += url.PathEscape(seg) + "/"
			cs = append(cs, crumb{Name: seg + "/", Href: href})
		}
		return cs
	},
	"size": func(p *int64) string {
		if p == nil {
			return "-"
		}
		return humanSize(*p)
	},
	"bytes": func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10) + " bytes"
	},
	"datetime": func(t *time.Time) string { return t.Format(time.RFC3339) },
	"upload":   func(d listingDoc) bool { return d.upload },
	"when": func(e listingEntry) string {
		switch e.ModifiedPrecision {
		case "day":
			return e.Modified.Format("2006-01-02")
		case "minute":
			return e.Modified.Format("2006-01-02 15:04 UTC")
		}
		return e.Modified.Format("2006-01-02 15:04:05 UTC")
	},
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Index of {{.Path}}</title>
<style>body{font-family:sans-serif}td,th{padding:0 1em;text-align:left}td.n{text-align:right}nav a{text-decoration:none}</style></head>
<body><h1>Index of <nav>{{range crumbs .}}<a href="{{.Href}}">{{.Name}}</a>{{end}}</nav></h1>
<table><thead><tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr></thead><tbody>
{{if ne .Path "/"}}<tr><td><a href="../">../</a></td><td class="n">-</td><td>-</td></tr>
{{end}}{{range .Entries}}<tr><td><a href="{{href .}}">{{.Name}}{{if eq .Type "dir"}}/{{end}}</a></td><td class="n"{{with bytes .Size}} title="{{.}}"{{end}}>{{size .Size}}</td><td>{{if .Modified}}<time datetime="{{datetime .Modified}}">{{when .}}</time>{{else}}-{{end}}</td></tr>
{{end}}</tbody></table>
{{if upload .}}<form method="post" enctype="multipart/form-data" action="./"><p><label>Upload files here: <input type="file" name="file" multiple required></label> <button type="submit">Upload</button> (a name that exists is refused, not replaced)</p></form>
{{end}}</body></html>
`))
