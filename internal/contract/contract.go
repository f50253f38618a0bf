// Package contract holds the gateway's responses to openapi.yaml, for
// tests: Check validates one response (status, headers both ways, body),
// and Transport checks every response a client gets from a gateway.
// Violations go to a Reporter: the *testing.T the request was made for,
// or, when none was or it has ended, the list Late returns, which a
// TestMain turns into a failed run.
package contract

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ftpgw/ftpgw"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Reporter is what violations are reported to; *testing.T is one.
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// Doc is openapi.yaml, loaded and validated once: that takes some 100 ms
// under -race, and tests check hundreds of responses, in parallel.
// Checking a response only reads it.
var Doc = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData([]byte(ftpgw.OpenAPI()))
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(context.Background())
})

// MountPaths are the spec's paths of the default mount, whose shape every
// mount has.
var MountPaths = []string{"/files", "/files/", "/files/{dir}/", "/files/{path}"}

// SpecPath is the spec's path that the URL path p stands for, on a
// backend mounted at mount; inMount says whether p is under it. The
// gateway's own paths are their own.
func SpecPath(mount, p string) (tmpl string, inMount bool) {
	switch rest, ok := strings.CutPrefix(p, mount); {
	case p == strings.TrimSuffix(mount, "/"):
		return "/files", true
	case !ok:
		return p, false
	case rest == "", rest == ".":
		return "/files/", true
	case strings.HasSuffix(rest, "/"), rest == ".", strings.HasSuffix(rest, "/."):
		// A final "." names the directory it is in, as "./" does.
		return "/files/{dir}/", true
	}
	return "/files/{path}", true
}

// transportHeaders are the response headers of HTTP itself, which the
// spec leaves to the media type and the transport.
var transportHeaders = []string{"Content-Type", "Content-Length", "Date", "Connection"}

// Check validates one response to req (sent to a backend mounted at
// mount) against openapi.yaml: its status is one its operation documents,
// every header the spec gives that status is there if required and
// matches its schema, every header the response has is in the spec (but
// those of transportHeaders), and, if withBody is set, the body matches
// its media type's schema (a body cut short is not checked), all with
// openapi3filter.ValidateResponse, which checks headers and bodies of
// other methods than HEAD and statuses but 301 and 304: those headers are
// checked here. A method a path does not document must be answered 405,
// and a path in no mount 404, as the spec's components describe them.
func Check(t Reporter, mount string, req *http.Request, status int, h http.Header, body []byte, withBody bool) {
	t.Helper()
	doc, err := Doc()
	if err != nil {
		t.Errorf("openapi.yaml: %v", err)
		return
	}
	(&contract{doc: doc}).check(t, mount, req, status, h, body, withBody)
}

// contract is openapi.yaml, loaded.
type contract struct{ doc *openapi3.T }

func (c *contract) check(t Reporter, mount string, req *http.Request, status int, h http.Header, body []byte, withBody bool) {
	t.Helper()
	where := req.Method + " " + req.URL.Path + " " + strconv.Itoa(status)
	tmpl, inMount := SpecPath(mount, req.URL.Path)
	item := c.doc.Paths.Value(tmpl)
	var op *openapi3.Operation
	if item != nil {
		op = item.GetOperation(req.Method)
	}
	if op == nil && tmpl == "/files" {
		// The mount's redirect takes every method: the others answer
		// as its GET.
		op = item.Get
	}
	var resp *openapi3.Response
	switch {
	case item == nil:
		resp = c.component(t, where, status, http.StatusNotFound, "Problem")
	case op == nil && inMount:
		resp = c.component(t, where, status, http.StatusMethodNotAllowed, "FilesMethodNotAllowed")
	case op == nil:
		resp = c.component(t, where, status, http.StatusMethodNotAllowed, "MethodNotAllowed")
	default:
		ref := op.Responses.Status(status)
		if ref == nil || ref.Value == nil {
			t.Errorf("%s: status not in the spec (%s %s)", where, req.Method, tmpl)
			return
		}
		resp = ref.Value
	}
	if resp == nil {
		return
	}
	if req.Method == http.MethodHead {
		// The GET's headers, no body.
		bodiless := *resp
		bodiless.Content = nil
		resp = &bodiless
	}
	checkHeaders(t, where, resp, h)
	// The operation as far as this status goes; the rest is not looked at.
	one := openapi3.NewOperation()
	one.Responses = openapi3.NewResponses(openapi3.WithStatus(status, &openapi3.ResponseRef{Value: resp}))
	// ValidateResponse skips HEAD whole; as a GET, the response's headers
	// are checked, and a HEAD's responses have no content to compare.
	vreq := req.Clone(context.Background())
	if vreq.Method == http.MethodHead {
		vreq.Method = http.MethodGet
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: vreq,
			Route:   &routers.Route{Spec: c.doc, Path: tmpl, PathItem: item, Method: req.Method, Operation: one},
		},
		Status:  status,
		Header:  h,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: !withBody},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s: %v", where, err)
	}
}

// component is the spec's response name, for a request the paths do not
// document, which must have got status want.
func (c *contract) component(t Reporter, where string, status, want int, name string) *openapi3.Response {
	t.Helper()
	if status != want {
		t.Errorf("%s: the spec has no such operation, and the status is not %d", where, want)
		return nil
	}
	return c.doc.Components.Responses[name].Value
}

// checkHeaders checks h against the headers resp documents, both ways.
func checkHeaders(t Reporter, where string, resp *openapi3.Response, h http.Header) {
	t.Helper()
	documented := map[string]bool{}
	for name, ref := range resp.Headers {
		documented[http.CanonicalHeaderKey(name)] = true
		spec := ref.Value
		values := h.Values(name)
		if len(values) == 0 && spec.Required {
			t.Errorf("%s: header %s missing", where, name)
		}
		for _, v := range values {
			var x any = v
			if spec.Schema.Value.Type.Is("integer") {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Errorf("%s: header %s: %q is not an integer", where, name, v)
					continue
				}
				x = float64(n)
			}
			if err := spec.Schema.Value.VisitJSON(x, openapi3.EnableJSONSchema2020()); err != nil {
				t.Errorf("%s: header %s: %q: %v", where, name, v, err)
			}
		}
	}
	var extra []string
	for name := range h {
		if !documented[name] && !slices.Contains(transportHeaders, name) {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("%s: headers not in the spec: %v", where, extra)
	}
}

// MountOf is the mount of mounts p is in, the longest; the first if none.
func MountOf(mounts []string, p string) string {
	found := ""
	for _, m := range mounts {
		if (strings.HasPrefix(p, m) || p == strings.TrimSuffix(m, "/")) && len(m) > len(found) {
			found = m
		}
	}
	if found == "" {
		return mounts[0]
	}
	return found
}
