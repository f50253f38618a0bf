//go:build !linux

package clustertest

import "os/exec"

func setPdeathsig(*exec.Cmd) {}
