package ftpcore

import (
	"context"
	"fmt"
	"strings"
)

// Checksum algorithms, named as draft-bryan-ftpext-hash names them.
const (
	HashSHA256 = "SHA-256"
	HashSHA512 = "SHA-512"
	HashSHA1   = "SHA-1"
	HashMD5    = "MD5"
	HashCRC32  = "CRC32"
)

// hashCommands are the older one-algorithm commands some servers offer
// instead of HASH, each named in FEAT.
var hashCommands = []struct{ algo, cmd string }{
	{HashSHA256, "XSHA256"},
	{HashSHA512, "XSHA512"},
	{HashSHA1, "XSHA1"},
	{HashMD5, "XMD5"},
	{HashCRC32, "XCRC"},
}

var hashHexLen = map[string]int{HashSHA256: 64, HashSHA512: 128, HashSHA1: 40, HashMD5: 32, HashCRC32: 8}

// HashAlgorithms returns the checksum algorithms the server offers, from
// FEAT: those listed by HASH (draft-bryan-ftpext-hash) and those behind the
// XSHA256, XSHA512, XSHA1, XMD5 and XCRC commands. Nil when it offers none.
func (c *Conn) HashAlgorithms() []string {
	var algos []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			algos = append(algos, a)
		}
	}
	if v, ok := c.features["HASH"]; ok {
		for _, a := range strings.Split(v, ";") {
			if a = strings.ToUpper(strings.TrimSuffix(strings.TrimSpace(a), "*")); a != "" {
				add(a)
			}
		}
	}
	for _, hc := range hashCommands {
		if c.HasFeature(hc.cmd) {
			add(hc.algo)
		}
	}
	return algos
}

// Hash returns the server's checksum of path with algo, in lower-case hex:
// with HASH when FEAT lists algo there (choosing it with OPTS HASH first
// when it is not the selected one), else with the matching X command. A
// server that offers neither gives an *Error 502 without a round trip.
func (c *Conn) Hash(ctx context.Context, path, algo string) (string, error) {
	algo = strings.ToUpper(algo)
	if v, ok := c.features["HASH"]; ok {
		current := ""
		offered := false
		for _, a := range strings.Split(v, ";") {
			a = strings.ToUpper(strings.TrimSpace(a))
			if strings.HasSuffix(a, "*") {
				a = strings.TrimSuffix(a, "*")
				current = a
			}
			offered = offered || a == algo
		}
		if c.hashAlgo != "" {
			current = c.hashAlgo
		}
		if offered {
			if current != algo {
				if _, err := c.expect(ctx, "OPTS", "HASH "+algo, StatusCommandOK); err != nil {
					return "", err
				}
				c.hashAlgo = algo
			}
			rep, err := c.expect(ctx, "HASH", path, StatusFileStatus)
			if err != nil {
				return "", err
			}
			return hashIn(rep, algo)
		}
	}
	for _, hc := range hashCommands {
		if hc.algo == algo && c.HasFeature(hc.cmd) {
			rep, err := c.expect(ctx, hc.cmd, path, StatusFileStatus, StatusRequestedFileOK)
			if err != nil {
				return "", err
			}
			return hexIn(rep, hc.cmd, algo)
		}
	}
	return "", &Error{Cmd: "HASH", Code: StatusNotImplemented, Msg: "server offers no " + algo + " checksum"}
}

// hashIn finds the digest in a reply to HASH: on the line that reads
// "<algo> <start>-<end> <hex> <path>" (the draft's §3.1; proftpd sends
// "213-Computing SHA-256 digest" before it). A reply that names another
// algorithm, whose digest may well have the same length, is a
// *ProtocolError.
func hashIn(rep *Reply, algo string) (string, error) {
	want := hashHexLen[algo]
	for _, line := range rep.Lines {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.EqualFold(f[0], algo) && (want == 0 || len(f[2]) == want) && isHex(f[2]) {
			return strings.ToLower(f[2]), nil
		}
	}
	return "", &ProtocolError{Cmd: "HASH", Msg: fmt.Sprintf("no %s digest in reply %q", algo, truncateString(rep.Msg(), 128))}
}

// hexIn finds the digest in a checksum reply: the first word of the right
// length made only of hex digits. X commands answer "250 <hex>" or "213
// <hex>" and variants.
func hexIn(rep *Reply, cmd, algo string) (string, error) {
	want := hashHexLen[algo]
	for _, line := range rep.Lines {
		for _, w := range strings.Fields(line) {
			if (want == 0 || len(w) == want) && isHex(w) {
				return strings.ToLower(w), nil
			}
		}
	}
	return "", &ProtocolError{Cmd: cmd, Msg: fmt.Sprintf("no %s digest in reply %q", algo, truncateString(rep.Msg(), 128))}
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
