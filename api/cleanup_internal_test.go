package api

import "testing"

func TestIsUploadTemp(t *testing.T) {
	for range 100 {
		if name := tempName(); !isUploadTemp(name) {
			t.Fatalf("isUploadTemp(%q) = false for a name tempName made", name)
		}
	}
	for _, name := range []string{
		tempPrefix + newUploadID(-1).nonce + partSuffix, // a resumable upload's
		tempPrefix + newUploadID(-1).nonce + lockSuffix, // held
	} {
		if !isUploadTemp(name) {
			t.Errorf("isUploadTemp(%q) = false", name)
		}
	}
	for _, name := range []string{
		".ftpgw-upload-0123456789abcdef0123456789abcdef.tmp",  // 32 digits, a PUT's suffix
		".ftpgw-upload-0123456789abcdef.part",                 // 16 digits, a resumable suffix
		".ftpgw-upload-0123456789abcdef0123456789abcdeF.part", // upper case
		".ftpgw-upload-0123456789abcdef0123456789abcdef.part.x",
		".ftpgw-upload-0123456789abcdef",       // no suffix
		".ftpgw-upload-0123456789abcde.tmp",    // 15 digits
		".ftpgw-upload-0123456789abcdef0.tmp",  // 17
		".ftpgw-upload-0123456789ABCDEF.tmp",   // upper-case digits
		".FTPGW-UPLOAD-0123456789abcdef.tmp",   // another case
		".ftpgw-upload-lock-0123456789ab.tmp",  // a lock's prefix
		".ftpgw-upload-0123456789abcdeg.tmp",   // not hex
		".ftpgw-upload-0123456789abcdef.TMP",   // suffix case
		"x.ftpgw-upload-0123456789abcdef.tmp",  // prefix inside
		".ftpgw-upload-0123456789abcdef.tmp/x", // a path
		"",
	} {
		if isUploadTemp(name) {
			t.Errorf("isUploadTemp(%q) = true", name)
		}
	}
}
