package api

import "testing"

func TestHasTempSegment(t *testing.T) {
	tests := []struct {
		clean string
		want  bool
	}{
		{"/", false},
		{"/a.txt", false},
		{"/.ftpgw-upload-0123.tmp", true},
		{"/d/.ftpgw-upload-0123.tmp", true},
		{"/.ftpgw-upload-d/f.txt", true},
		{"/d/.FTPGW-Upload-x", true},
		{"/.ftpgw-upload-", true},
		{"/.ftpgw-upload", false},
		{"/x.ftpgw-upload-0123.tmp", false},
		{"/d/x.ftpgw-upload-/f", false},
		{"/ftpgw-upload-0123.tmp", false},
	}
	for _, tt := range tests {
		if got := hasTempSegment(tt.clean); got != tt.want {
			t.Errorf("hasTempSegment(%q) = %v, want %v", tt.clean, got, tt.want)
		}
	}
	// Every request path goes through it.
	if n := testing.AllocsPerRun(100, func() { hasTempSegment("/some/deep/dir/file.bin") }); n != 0 {
		t.Errorf("hasTempSegment allocates %v times a call", n)
	}
}
