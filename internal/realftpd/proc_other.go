//go:build !linux

package realftpd

import "syscall"

func unsupported() string { return "realftpd supports only Linux" }

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killTree(int) {}

func listening(int, int) bool { return false }

type proc struct{}

func descendants(int) []proc { return nil }
