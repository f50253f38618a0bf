package ftptest

import (
	"cmp"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"slices"
	"strconv"
	"strings"
)

// The checksum commands: HASH and OPTS HASH of draft-bryan-ftpext-hash,
// and the older XSHA256 and XSHA512, each answered with the real digest
// of a file only where FEAT lists it, as a server with proftpd's
// mod_digest does: WithFeatures(..., "HASH SHA-256*;SHA-512", "XSHA256")
// offers HASH with SHA-256 selected, and XSHA256. A Handler scripts
// anything else (450, 501, 502, a reply with no digest).

var hashFuncs = map[string]func() hash.Hash{"SHA-256": sha256.New, "SHA-512": sha512.New}

// hashFeature returns the algorithms FEAT's HASH line lists and the one it
// marks selected; ok is false without such a line.
func (s *Server) hashFeature() (algos []string, selected string, ok bool) {
	for _, f := range s.features {
		v, found := strings.CutPrefix(f, "HASH ")
		if !found {
			continue
		}
		for _, a := range strings.Split(v, ";") {
			a = strings.TrimSpace(a)
			if strings.HasSuffix(a, "*") {
				a = strings.TrimSuffix(a, "*")
				selected = a
			}
			if a != "" {
				algos = append(algos, a)
			}
		}
		return algos, selected, true
	}
	return nil, "", false
}

func (c *Conn) hashBuiltin(cmd string) func(arg string) {
	switch cmd {
	case "HASH":
		if _, _, ok := c.s.hashFeature(); ok {
			return c.cmdHASH
		}
	case "XSHA256", "XSHA512":
		if slices.Contains(c.s.features, cmd) {
			algo := "SHA-" + strings.TrimPrefix(cmd, "XSHA")
			return func(arg string) {
				if sum, ok := c.digest(algo, arg); ok {
					c.Reply(250, sum)
				}
			}
		}
	}
	return nil
}

// optsHASH selects the algorithm of this session's HASH; it reports
// whether arg was an OPTS HASH at all.
func (c *Conn) optsHASH(arg string) bool {
	name, algo, _ := strings.Cut(strings.TrimSpace(arg), " ")
	if upper(name) != "HASH" {
		return false
	}
	algos, selected, ok := c.s.hashFeature()
	switch {
	case !ok:
		return false
	case algo == "":
		c.Reply(200, cmp.Or(c.hashAlgo, selected))
	case !slices.ContainsFunc(algos, func(a string) bool { return strings.EqualFold(a, algo) }) || hashFuncs[upper(algo)] == nil:
		c.Reply(501, "Unknown algorithm, current selection not changed.")
	default:
		c.hashAlgo = upper(algo)
		c.Reply(200, c.hashAlgo)
	}
	return true
}

func (c *Conn) cmdHASH(arg string) {
	_, selected, _ := c.s.hashFeature()
	algo := cmp.Or(c.hashAlgo, selected)
	if sum, ok := c.digest(algo, arg); ok {
		n, _ := c.s.stat(c.abs(arg))
		c.Reply(213, algo+" 0-"+strconv.Itoa(len(n.data))+" "+sum+" "+arg)
	}
}

// digest returns algo's digest of the file at p in lower-case hex, or
// replies 550 (no such file) or 504 (an algorithm it cannot compute).
func (c *Conn) digest(algo, p string) (string, bool) {
	n, ok := c.s.stat(c.abs(p))
	if !ok || n.dir {
		c.Reply(550, "No such file.")
		return "", false
	}
	f := hashFuncs[algo]
	if f == nil {
		c.Reply(504, "Algorithm not implemented.")
		return "", false
	}
	h := f()
	h.Write(n.data)
	return hex.EncodeToString(h.Sum(nil)), true
}
