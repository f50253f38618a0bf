package httpsem

import "strings"

// PrefersHTML reports whether an Accept header (RFC 9110 §12.5.1) weighs
// text/html above application/json: for an API's answer, such as the live
// transfers, JSON unless the client prefers HTML. Each type takes the
// weight of the most specific media range that matches it ("text/html"
// over "text/*" over "*/*"); q=0 means not acceptable, and no Accept at
// all means JSON.
//
// JSON wins ties because API clients (curl, scripts) send "*/*" or nothing,
// while browsers name text/html explicitly. Media-range parameters other
// than q are ignored: the answer has no variants they could select.
// Elements that do not parse, including those with an invalid q, are
// skipped rather than failing the whole header, so one odd entry cannot
// change the answer for the rest. If the same range appears twice, the
// higher q counts.
func PrefersHTML(accept string) bool {
	html, json := weighHTMLAndJSON(accept)
	return html.q > json.q
}

// WantsJSON reports whether an Accept header asks for application/json
// over text/html explicitly, which decides how a directory listing is
// written: HTML, which browsers and the tools that mirror a tree over HTTP
// (wget, lftp, rclone) read with their defaults, unless JSON weighs more
// than HTML, or as much by a more specific range ("application/json, */*"
// names JSON and HTML only by the wildcard). No Accept, "*/*", or a tie
// between ranges as specific as each other is HTML. Ranges are weighed as
// by PrefersHTML.
func WantsJSON(accept string) bool {
	html, json := weighHTMLAndJSON(accept)
	return json.q > html.q || json.q == html.q && json.q > 0 && json.spec > html.spec
}

// weighHTMLAndJSON returns the weight accept gives text/html and
// application/json.
func weighHTMLAndJSON(accept string) (html, json mediaPref) {
	html, json = mediaPref{spec: -1}, mediaPref{spec: -1}
	for elem := range strings.SplitSeq(accept, ",") {
		rng, params, _ := strings.Cut(elem, ";")
		typ, sub, ok := strings.Cut(trimOWS(rng), "/")
		if !ok || typ == "" || sub == "" || (typ == "*" && sub != "*") {
			continue
		}
		q, ok := acceptWeight(params)
		if !ok {
			continue
		}
		html.offer(typ, sub, "text", "html", q)
		json.offer(typ, sub, "application", "json", q)
	}
	return html, json
}

// mediaPref tracks the weight the most specific matching media range gives
// one media type. spec is -1 until a range matches; q is in thousandths.
type mediaPref struct {
	spec int
	q    int
}

// offer considers the media range typ/sub with weight q for the media type
// wantTyp/wantSub, keeping it if it is more specific than what matched so far.
func (p *mediaPref) offer(typ, sub, wantTyp, wantSub string, q int) {
	var spec int
	switch {
	case typ == "*":
		spec = 0
	case !strings.EqualFold(typ, wantTyp):
		return
	case sub == "*":
		spec = 1
	case !strings.EqualFold(sub, wantSub):
		return
	default:
		spec = 2
	}
	if spec > p.spec || (spec == p.spec && q > p.q) {
		p.spec, p.q = spec, q
	}
}

// acceptWeight finds the q parameter among the ";"-separated parameters of
// a media range and returns it in thousandths; 1000 when there is none.
func acceptWeight(params string) (int, bool) {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, val, _ := strings.Cut(trimOWS(p), "=")
		if strings.EqualFold(name, "q") {
			return parseQValue(val)
		}
	}
	return 1000, true
}

// parseQValue parses a qvalue (RFC 9110 §12.4.2) into thousandths:
// "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ].
func parseQValue(s string) (int, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	if s[1] != '.' {
		return 0, false
	}
	scale := 100
	for i := 2; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}

// AcceptsGzip reports whether an Accept-Encoding header (RFC 9110
// §12.5.3) lets a response be gzip-encoded: "gzip" (or "x-gzip") with a
// weight above zero, or "*" above zero where gzip is not named. No header
// means no coding is wanted (the identity is always acceptable, and a
// compressed body is no use to a client that did not ask for one).
// Elements that do not parse are skipped.
func AcceptsGzip(header string) bool {
	gzip, star := -1, -1 // weights in thousandths; -1 when not named
	for elem := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(elem, ";")
		coding = trimOWS(coding)
		q, ok := acceptWeight(params)
		if !ok {
			continue
		}
		switch {
		case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
			gzip = max(gzip, q)
		case coding == "*":
			star = max(star, q)
		}
	}
	if gzip >= 0 {
		return gzip > 0
	}
	return star > 0
}
