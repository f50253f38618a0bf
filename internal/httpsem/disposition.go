package httpsem

import "strings"

// AttachmentDisposition returns the Content-Disposition field value that
// has a user agent save a file called name rather than display it (RFC
// 6266): "attachment; filename=" a quoted ASCII fallback, and, where the
// fallback is not the name itself, "; filename*=UTF-8”" the name in RFC
// 8187's encoding, which user agents prefer over the fallback.
//
// The fallback carries printable ASCII only, with every other character
// (control characters, non-ASCII, invalid UTF-8) and the three that some
// user agents take specially in a quoted filename (the quote and the
// backslash, which RFC 6266 §4.3 warns are not escaped alike everywhere,
// and the percent sign, which some decode) each as one "_". An empty name
// is "download".
func AttachmentDisposition(name string) string {
	if name == "" {
		name = "download"
	}
	var b strings.Builder
	b.Grow(len(`attachment; filename=""`) + len(name))
	b.WriteString(`attachment; filename="`)
	exact := true
	for _, r := range name {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' || r == '%' {
			r, exact = '_', false
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	if exact {
		return b.String()
	}
	b.WriteString("; filename*=UTF-8''")
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// isAttrChar reports whether c may stand unencoded in an RFC 8187
// ext-value (attr-char of §3.2.1).
func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
