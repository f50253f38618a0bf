package clustertest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig has the kernel kill the component when the test binary
// dies, so that a test killed by its timeout leaves no control plane
// behind.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
