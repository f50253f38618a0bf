package api

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
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
}

type listingEntry struct {
	Name     string     `json:"name"`
	Type     string     `json:"type"`
	Size     *int64     `json:"size,omitempty"`
	Modified *time.Time `json:"modified,omitempty"`
	Target   string     `json:"target,omitempty"`
}

// listDir renders a directory as JSON, or as HTML for clients that prefer
// it. HEAD opens no data connection.
func (s *Server) listDir(w http.ResponseWriter, r *http.Request, c *ftpcore.Conn, full, clean string) error {
	html := httpsem.PrefersHTML(strings.Join(r.Header.Values("Accept"), ","))
	h := w.Header()
	h.Add("Vary", "Accept") // after the Origin of CORS, if any
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", listingCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	if html {
		h.Set("Content-Type", "text/html; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/json")
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
	doc := listingDoc{Path: dirPath, Entries: make([]listingEntry, 0, len(entries))}
	for _, e := range entries {
		if isTempName(e.Name) || strings.Contains(e.Name, "/") {
			continue
		}
		if e.Type == ftpcore.EntryLink && !s.listedLink(&e) {
			continue
		}
		le := listingEntry{Name: e.Name, Type: e.Type.String(), Target: e.Target}
		if e.Size >= 0 && e.Type != ftpcore.EntryDir {
			size := e.Size
			le.Size = &size
		}
		if !e.ModTime.IsZero() {
			mod := e.ModTime.UTC()
			le.Modified = &mod
		}
		doc.Entries = append(doc.Entries, le)
	}
	sort.Slice(doc.Entries, func(i, j int) bool { return doc.Entries[i].Name < doc.Entries[j].Name })

	var buf bytes.Buffer
	if html {
		if err := listingHTML.Execute(&buf, doc); err != nil {
			return err
		}
	} else {
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return err
		}
	}
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	// A long listing outgrows the socket buffers, and the session is
	// held until the handler returns: a client that stops reading must
	// not keep it.
	cw := newClientWriter(w, r, s.clientLimits())
	_, err = cw.Write(buf.Bytes())
	cw.done()
	return err
}

var listingHTML = template.Must(template.New("listing").Funcs(template.FuncMap{
	"href": func(e listingEntry) string {
		u := url.PathEscape(e.Name)
		if e.Type == "dir" {
			u += "/"
		}
		return "./" + u
	},
	"size": func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	},
	"when": func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format(time.RFC3339)
	},
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Index of {{.Path}}</title>
<style>body{font-family:sans-serif}td,th{padding:0 1em;text-align:left}td.n{text-align:right}</style></head>
<body><h1>Index of {{.Path}}</h1>
<table><thead><tr><th>Name</th><th>Size</th><th>Modified</th></tr></thead><tbody>
{{if ne .Path "/"}}<tr><td><a href="../">../</a></td><td class="n">-</td><td>-</td></tr>
{{end}}{{range .Entries}}<tr><td><a href="{{href .}}">{{.Name}}{{if eq .Type "dir"}}/{{end}}</a></td><td class="n">{{size .Size}}</td><td>{{when .Modified}}</td></tr>
{{end}}</tbody></table></body></html>
`))
