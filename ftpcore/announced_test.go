package ftpcore

import "testing"

func TestAnnouncedSize(t *testing.T) {
	tests := []struct {
		name     string
		lines    []string
		n, slack int64
		ok       bool
	}{
		{"vsftpd", []string{"Opening BINARY mode data connection for f.bin (123456 bytes)."}, 123456, 0, true},
		{"proftpd", []string{"Opening BINARY mode data connection for f.bin (122456 bytes)"}, 122456, 0, true},
		{"a name with parentheses", []string{"Opening BINARY mode data connection for (7 bytes) (12 bytes)."}, 12, 0, true},
		{"pure-ftpd", []string{"Accepted data connection", "119.6 kbytes to download"}, 122470, 52, true},
		{"pure-ftpd, empty", []string{"Accepted data connection", "0.0 kbytes to download"}, 0, 52, true},
		{"none", []string{"Here comes the data."}, 0, 0, false},
		{"junk count", []string{"Opening data connection for f (many bytes)."}, 0, 0, false},
		{"negative", []string{"Opening data connection for f (-5 bytes)."}, 0, 0, false},
		{"overflow", []string{"Opening data connection for f (99999999999999999999 bytes)."}, 0, 0, false},
		{"kbytes junk", []string{"NaN kbytes to download"}, 0, 0, false},
		{"kbytes exponent", []string{"1e30 kbytes to download"}, 0, 0, false},
		{"kbytes negative", []string{"-1.0 kbytes to download"}, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, slack, ok := announcedSize(&Reply{Code: 150, Lines: tt.lines})
			if n != tt.n || slack != tt.slack || ok != tt.ok {
				t.Errorf("announcedSize(%q) = %d, %d, %v; want %d, %d, %v", tt.lines, n, slack, ok, tt.n, tt.slack, tt.ok)
			}
		})
	}
}

func TestSizeChanged(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		offset int64
		size   int64
		want   bool
	}{
		{"vsftpd, same", "data connection for f (1000 bytes).", 0, 1000, false},
		{"vsftpd, same, from an offset", "data connection for f (1000 bytes).", 100, 1000, false},
		{"vsftpd, grown", "data connection for f (1001 bytes).", 100, 1000, true},
		{"vsftpd, shrunk", "data connection for f (10 bytes).", 0, 1000, true},
		{"proftpd, the rest", "data connection for f (900 bytes)", 100, 1000, false},
		{"proftpd, changed", "data connection for f (950 bytes)", 100, 1000, true},
		{"pure-ftpd, same", "119.6 kbytes to download", 1000, 123456, false},
		{"pure-ftpd, a few bytes more is within a tenth", "119.6 kbytes to download", 1000, 123456 + 20, false},
		{"pure-ftpd, changed", "119.6 kbytes to download", 1000, 123456 + 200, true},
		{"no size named", "Here comes the data.", 0, 1000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &Transfer{offset: tt.offset}
			a := &tr.announced
			a.n, a.slack, a.ok = announcedSize(&Reply{Code: 150, Lines: []string{tt.line}})
			if got := tr.SizeChanged(tt.size); got != tt.want {
				t.Errorf("SizeChanged(%d) after %q from %d = %v, want %v", tt.size, tt.line, tt.offset, got, tt.want)
			}
		})
	}
}
