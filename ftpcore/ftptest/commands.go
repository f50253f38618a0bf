package ftptest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Default runs the built-in behaviour for cmd (case-insensitive), including
// the login check, so that a Handler can delay, count or reply first and
// then delegate. Unknown commands answer 502. Call it only from a Handler.
func (c *Conn) Default(cmd, arg string) {
	cmd = upper(cmd)
	fn := c.builtin(cmd)
	if fn == nil {
		c.Reply(502, "Command not implemented.")
		return
	}
	if !c.loggedIn {
		switch cmd {
		case "USER", "PASS", "ACCT", "FEAT", "QUIT", "NOOP", "AUTH", "PBSZ", "PROT":
		default:
			c.Reply(530, "Please login with USER and PASS.")
			return
		}
	}
	if c.refuseInClear(cmd) {
		return
	}
	fn(arg)
}

func (c *Conn) builtin(cmd string) func(arg string) {
	switch cmd {
	case "USER":
		return c.cmdUSER
	case "PASS":
		return c.cmdPASS
	case "ACCT":
		return c.cmdACCT
	case "FEAT":
		return c.cmdFEAT
	case "OPTS":
		return c.cmdOPTS
	case "TYPE":
		return c.cmdTYPE
	case "MODE":
		return c.only(200, "S", "Mode set to S.")
	case "STRU":
		return c.only(200, "F", "Structure set to F.")
	case "SYST":
		return func(string) { c.Reply(215, "UNIX Type: L8") }
	case "NOOP":
		return func(string) { c.Reply(200, "NOOP ok.") }
	case "ALLO":
		return func(string) { c.Reply(202, "ALLO command ignored.") }
	case "QUIT":
		return func(string) {
			c.Reply(221, "Goodbye.")
			c.Close()
		}
	case "PWD", "XPWD":
		return func(string) { c.Reply(257, quote(c.cwd)+" is the current directory.") }
	case "CWD", "XCWD":
		return c.cmdCWD
	case "CDUP", "XCUP":
		return func(string) { c.cmdCWD("..") }
	case "EPSV":
		return c.cmdEPSV
	case "PASV":
		return c.cmdPASV
	case "REST":
		return c.cmdREST
	case "SIZE":
		return c.cmdSIZE
	case "MDTM":
		return c.cmdMDTM
	case "MLST":
		return c.cmdMLST
	case "MLSD":
		return func(arg string) { c.listing(arg, listMLSD) }
	case "STAT":
		return c.cmdSTAT
	case "LIST":
		return func(arg string) { c.listing(arg, listLIST) }
	case "NLST":
		return func(arg string) { c.listing(arg, listNLST) }
	case "RETR":
		return c.cmdRETR
	case "STOR":
		return func(arg string) { c.store(arg, false) }
	case "APPE":
		return func(arg string) { c.store(arg, true) }
	case "DELE":
		return c.cmdDELE
	case "MKD", "XMKD":
		return c.cmdMKD
	case "RMD", "XRMD":
		return c.cmdRMD
	case "RNFR":
		return c.cmdRNFR
	case "RNTO":
		return c.cmdRNTO
	case "ABOR":
		return func(string) {
			// A running transfer is aborted in transfer; reaching here
			// means there is none.
			c.closePasv()
			c.Reply(225, "No transfer to abort.")
		}
	}
	if fn := c.hashBuiltin(cmd); fn != nil {
		return fn
	}
	return c.extBuiltin(cmd)
}

// only accepts exactly one argument value, as for MODE S and STRU F.
func (c *Conn) only(code int, want, text string) func(string) {
	return func(arg string) {
		if !strings.EqualFold(strings.TrimSpace(arg), want) {
			c.Reply(504, "Command not implemented for that parameter.")
			return
		}
		c.Reply(code, text)
	}
}

// quote renders p as an RFC 959 PWD/MKD path: in double quotes, with quotes
// inside doubled.
func quote(p string) string {
	return `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
}

func (c *Conn) cmdUSER(arg string) {
	c.loggedIn, c.needAcct = false, false
	c.user, c.gotUser = arg, true
	c.Reply(331, "Password required.")
}

func (c *Conn) cmdPASS(arg string) {
	if !c.gotUser {
		c.Reply(503, "Login with USER first.")
		return
	}
	c.gotUser = false
	if pw, ok := c.s.more[c.user]; (c.user != c.s.user || arg != c.s.pass) && (!ok || arg != pw) {
		c.Reply(530, "Login incorrect.")
		return
	}
	if c.s.acct != "" {
		c.needAcct = true
		c.Reply(332, "Need account for login.")
		return
	}
	c.login()
}

func (c *Conn) cmdACCT(arg string) {
	if !c.needAcct {
		c.Reply(503, "Login with USER and PASS first.")
		return
	}
	c.needAcct = false
	if arg != c.s.acct {
		c.Reply(530, "Login incorrect.")
		return
	}
	c.login()
}

func (c *Conn) login() {
	c.loggedIn = true
	c.cwd = c.s.loginDir
	c.s.mu.Lock()
	c.s.logins++
	c.s.mu.Unlock()
	c.Reply(230, "Login successful.")
}

func (c *Conn) cmdFEAT(string) {
	if c.s.noFeat {
		c.Reply(502, "Command not implemented.")
		return
	}
	lines := []string{"Features:"}
	for _, f := range c.s.features {
		lines = append(lines, " "+f)
	}
	c.ReplyLines(211, append(lines, "End")...)
}

func (c *Conn) cmdOPTS(arg string) {
	if upper(strings.TrimSpace(arg)) == "UTF8 ON" {
		c.Reply(200, "Always in UTF8 mode.")
		return
	}
	if c.optsHASH(arg) {
		return
	}
	c.Reply(501, "Option not understood.")
}

func (c *Conn) cmdTYPE(arg string) {
	switch upper(strings.TrimSpace(arg)) {
	case "I", "L 8":
		c.Reply(200, "Switching to Binary mode.")
	case "A", "A N":
		c.Reply(200, "Switching to ASCII mode.")
	default:
		c.Reply(504, "Command not implemented for that parameter.")
	}
}

func (c *Conn) cmdCWD(arg string) {
	p := c.abs(arg)
	if !c.s.isDir(p) {
		c.Reply(550, "Failed to change directory.")
		return
	}
	c.cwd = p
	c.Reply(250, "Directory successfully changed.")
}

func (c *Conn) cmdEPSV(arg string) {
	if c.s.noEPSV {
		c.Reply(500, "EPSV not understood.")
		return
	}
	switch upper(strings.TrimSpace(arg)) {
	case "", "1":
	case "ALL":
		c.Reply(200, "EPSV ALL ok.")
		return
	default:
		c.Reply(522, "Network protocol not supported, use (1).")
		return
	}
	port, err := c.listenData()
	if err != nil {
		c.Reply(425, "Can't open passive connection.")
		return
	}
	c.Reply(229, fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", port))
}

func (c *Conn) cmdPASV(string) {
	port, err := c.listenData()
	if err != nil {
		c.Reply(425, "Can't open passive connection.")
		return
	}
	host := "127,0,0,1"
	if ip := c.s.faults().pasvIP; ip != "" {
		if v4 := net.ParseIP(ip).To4(); v4 != nil {
			host = fmt.Sprintf("%d,%d,%d,%d", v4[0], v4[1], v4[2], v4[3])
		} else {
			host = strings.ReplaceAll(ip, ".", ",")
		}
	}
	c.Reply(227, fmt.Sprintf("Entering Passive Mode (%s,%d,%d).", host, port>>8, port&0xff))
}

func (c *Conn) cmdREST(arg string) {
	n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
	if err != nil || n < 0 {
		c.Reply(501, "Invalid REST argument.")
		return
	}
	c.rest = n
	c.Reply(350, fmt.Sprintf("Restarting at %d. Send STOR or RETR.", n))
}

// takeRest returns the REST offset and clears it: it applies to one
// transfer command only.
func (c *Conn) takeRest() int64 {
	n := c.rest
	c.rest = 0
	return n
}

func (c *Conn) cmdSIZE(arg string) {
	n, ok := c.s.stat(c.abs(arg))
	if !ok || n.dir {
		c.Reply(550, "Could not get file size.")
		return
	}
	c.Reply(213, strconv.Itoa(len(n.data)))
}

func (c *Conn) cmdMDTM(arg string) {
	n, ok := c.s.stat(c.abs(arg))
	if !ok || n.dir {
		c.Reply(550, "Could not get file modification time.")
		return
	}
	c.Reply(213, n.mod.UTC().Format("20060102150405"))
}

// facts renders the RFC 3659 facts advertised in the default FEAT.
func facts(n node) string {
	mod := n.mod.UTC().Format("20060102150405")
	if n.dir {
		return "type=dir;modify=" + mod + ";"
	}
	return fmt.Sprintf("type=file;size=%d;modify=%s;", len(n.data), mod)
}

func (c *Conn) cmdMLST(arg string) {
	p := c.abs(arg)
	n, ok := c.s.stat(p)
	if !ok {
		c.Reply(550, "No such file or directory.")
		return
	}
	c.ReplyLines(250, "Listing "+p, " "+facts(n)+" "+p, "End")
}

type listKind int

const (
	listLIST listKind = iota
	listNLST
	listMLSD
)

func (c *Conn) listing(arg string, kind listKind) {
	c.takeRest()
	if kind == listLIST {
		// Clients send ls options ("LIST -la"); they change nothing here.
		for strings.HasPrefix(arg, "-") {
			_, arg, _ = strings.Cut(arg, " ")
		}
	}
	p := c.abs(arg)
	type entry struct {
		name string
		node
	}
	var entries []entry
	c.s.mu.Lock()
	n := c.s.files[p]
	switch {
	case n == nil:
	case n.dir:
		for _, name := range c.s.childrenLocked(p) {
			e := c.s.files[path.Join(p, name)]
			entries = append(entries, entry{name, node{dir: e.dir, data: e.data, mod: e.mod}})
		}
	default:
		// Like ls, a file operand is listed under the name it was given.
		entries = append(entries, entry{arg, node{data: n.data, mod: n.mod}})
	}
	c.s.mu.Unlock()
	switch {
	case n == nil:
		c.closePasv()
		c.Reply(550, "No such file or directory.")
		return
	case kind == listMLSD && !n.dir:
		c.closePasv()
		c.Reply(501, "Not a directory.")
		return
	}

	var b bytes.Buffer
	now := time.Now()
	for _, e := range entries {
		switch kind {
		case listLIST:
			b.WriteString(lsLine(e.name, e.node, now))
		case listNLST:
			b.WriteString(e.name)
		case listMLSD:
			b.WriteString(facts(e.node) + " " + e.name)
		}
		b.WriteString("\r\n")
	}
	dc := c.openData("Here comes the directory listing.")
	if dc == nil {
		return
	}
	data := b.Bytes()
	c.finish(c.transfer(dc, func(abort <-chan struct{}) error {
		return c.send(dc, data, defaultChunk, 0, abort)
	}))
}

// cmdSTAT answers STAT (RFC 959 §4.1.3). With a path it is LIST on the
// control connection, in a 213 framed as vsftpd frames it: a file's line,
// under the name it was given (as proftpd and pure-ftpd print it), or a
// directory's content; nothing, still a 213, for a missing path. Without
// one it is the server's status, a 211.
func (c *Conn) cmdSTAT(arg string) {
	if arg == "" {
		c.ReplyLines(211, "ftptest status:", " Logged in as "+c.user, "End of status")
		return
	}
	p := c.abs(arg)
	lines := []string{"Status follows:"}
	now := time.Now()
	c.s.mu.Lock()
	switch n := c.s.files[p]; {
	case n == nil:
	case n.dir:
		for _, name := range c.s.childrenLocked(p) {
			lines = append(lines, lsLine(name, *c.s.files[path.Join(p, name)], now))
		}
	default:
		lines = append(lines, lsLine(arg, *n, now))
	}
	c.s.mu.Unlock()
	c.ReplyLines(213, append(lines, "End of status")...)
}

// lsLine renders one entry like GNU ls -l, the format most LIST parsers
// expect: the time of day for the last six months, the year otherwise.
func lsLine(name string, n node, now time.Time) string {
	mode, size := "-rw-r--r--", len(n.data)
	if n.dir {
		mode, size = "drwxr-xr-x", 4096
	}
	mod := n.mod.UTC()
	stamp := mod.Format("Jan _2  2006")
	if mod.After(now.AddDate(0, -6, 0)) && !mod.After(now) {
		stamp = mod.Format("Jan _2 15:04")
	}
	return fmt.Sprintf("%s %4d %-8s %-8s %8d %s %s", mode, 1, "0", "0", size, stamp, name)
}

func (c *Conn) cmdRETR(arg string) {
	off := c.takeRest()
	p := c.abs(arg)
	data, ok := c.s.File(p)
	if !ok {
		c.closePasv()
		c.Reply(550, "Failed to open file.")
		return
	}
	// Like a seek past the end: nothing is sent, and that is not an error.
	off = min(off, int64(len(data)))
	dc := c.openData(fmt.Sprintf("Opening BINARY mode data connection for %s (%d bytes).", p, len(data)))
	if dc == nil {
		return
	}
	f := c.s.faults()
	rest := data[off:]
	c.finish(c.transfer(dc, func(abort <-chan struct{}) error {
		return c.send(dc, rest, f.slowChunk, f.slowEvery, abort)
	}))
}

// store runs STOR (with REST: keep the first REST bytes of the existing file,
// replace the rest) and APPE.
func (c *Conn) store(arg string, appendMode bool) {
	off := c.takeRest()
	p := c.abs(arg)
	c.s.mu.Lock()
	parent, n := c.s.files[path.Dir(p)], c.s.files[p]
	var prefix []byte
	if n != nil && !n.dir {
		prefix = slices.Clone(n.data)
	}
	c.s.mu.Unlock()
	switch {
	case p == "/" || parent == nil || !parent.dir || (n != nil && n.dir):
		c.closePasv()
		c.Reply(553, "Could not create file.")
		return
	case !appendMode && off > int64(len(prefix)):
		c.closePasv()
		c.Reply(554, "Restart point beyond end of file.")
		return
	case !appendMode:
		prefix = prefix[:off]
	}
	dc := c.openData("Ok to send data.")
	if dc == nil {
		return
	}
	var got bytes.Buffer
	res := c.transfer(dc, func(<-chan struct{}) error {
		defer dc.Close()
		_, err := io.Copy(&got, dc)
		return uploadEnd(dc, err)
	})
	// A reset or aborted upload keeps what arrived, as a disk-backed
	// server would; tests check that clients do not report it as success.
	c.s.mu.Lock()
	if d := c.s.files[path.Dir(p)]; d != nil && d.dir {
		c.s.files[p] = &node{data: append(prefix, got.Bytes()...), mod: time.Now().UTC().Truncate(time.Second)}
	}
	c.s.mu.Unlock()
	c.finish(res)
}

func (c *Conn) cmdDELE(arg string) {
	p := c.abs(arg)
	c.s.mu.Lock()
	n := c.s.files[p]
	ok := n != nil && !n.dir
	if ok {
		delete(c.s.files, p)
	}
	c.s.mu.Unlock()
	if !ok {
		c.Reply(550, "Delete operation failed.")
		return
	}
	c.Reply(250, "Delete operation successful.")
}

func (c *Conn) cmdMKD(arg string) {
	p := c.abs(arg)
	c.s.mu.Lock()
	parent := c.s.files[path.Dir(p)]
	ok := c.s.files[p] == nil && parent != nil && parent.dir
	if ok {
		c.s.files[p] = &node{dir: true, mod: time.Now().UTC().Truncate(time.Second)}
	}
	c.s.mu.Unlock()
	if !ok {
		c.Reply(550, "Create directory operation failed.")
		return
	}
	c.Reply(257, quote(p)+" created.")
}

func (c *Conn) cmdRMD(arg string) {
	p := c.abs(arg)
	c.s.mu.Lock()
	n := c.s.files[p]
	ok := p != "/" && n != nil && n.dir && len(c.s.childrenLocked(p)) == 0
	if ok {
		delete(c.s.files, p)
	}
	c.s.mu.Unlock()
	if !ok {
		c.Reply(550, "Remove directory operation failed.")
		return
	}
	c.Reply(250, "Remove directory operation successful.")
}

func (c *Conn) cmdRNFR(arg string) {
	p := c.abs(arg)
	if p == "/" || !c.s.Exists(p) {
		c.Reply(550, "RNFR command failed.")
		return
	}
	c.rnfr = p
	c.Reply(350, "Ready for RNTO.")
}

func (c *Conn) cmdRNTO(arg string) {
	src := c.rnfr
	c.rnfr = ""
	if src == "" {
		c.Reply(503, "RNFR required first.")
		return
	}
	if !c.s.rename(src, c.abs(arg)) {
		c.Reply(550, "Rename failed.")
		return
	}
	c.Reply(250, "Rename successful.")
}
