//go:build unix

package realftpd

import (
	"os"
	"syscall"
)

// fileUID returns the owner of fi, if the platform says.
func fileUID(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
