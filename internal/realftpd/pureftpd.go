package realftpd

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// pureFTPdHash is TestPassword in SHA-512 crypt, made with
//
//	perl -e 'print crypt("ftpgw-test-pw", q($6$ftpgwtest$))'
//
// pure-pw would hash with Argon2id at a cost that makes every login take
// seconds; pure-ftpd checks any crypt(3) hash, and this one costs about a
// millisecond. Keep it in step with TestPassword.
const pureFTPdHash = "$6$ftpgwtest$uoli2GyPc65Y7V0ogLMa4tZHfKC3.gLqZ2mgqTd7totrDMVpUcPzSgUnOcSpjN.YsSXwDCXkth.dVMOyNVBRb."

// preparePureFTPd writes the instance's user database.
//
// pure-ftpd has no option that names the login directory: a system account
// (-l unix) lands in its home from /etc/passwd, which all instances would
// share. So each instance has its own PureDB (-l puredb:FILE) holding one
// virtual user, TestUser, that runs as the test account's uid and gid with
// Root as its home. The home ends in "/./", which chroots the user to Root
// (-A would too): inside, Root is "/".
func (s *Server) preparePureFTPd(bins binaries) error {
	passwd := filepath.Join(s.dir, "pureftpd.passwd")
	// login:hash:uid:gid:gecos:home, then twelve optional limit fields.
	line := strings.Join([]string{
		s.User, pureFTPdHash, strconv.Itoa(s.uid), strconv.Itoa(s.gid), "", s.Root + "/./",
	}, ":") + strings.Repeat(":", 12) + "\n"
	if err := os.WriteFile(passwd, []byte(line), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(bins.purePW, "mkdb", s.pureDB(), "-f", passwd)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pure-pw mkdb: %v: %s", err, out)
	}
	return nil
}

func (s *Server) pureDB() string { return filepath.Join(s.dir, "pureftpd.pdb") }

// pureFTPdArgs returns the command line for port. pure-ftpd reads no
// configuration file (Debian's wrapper script, which would, is not used);
// without -B it stays in the foreground.
func (s *Server) pureFTPdArgs(port int) ([]string, error) {
	args := []string{
		"-S", s.Host + "," + strconv.Itoa(port),
		"-l", "puredb:" + s.pureDB(),
		"-p", fmt.Sprintf("%d:%d", s.PasvMinPort, s.PasvMaxPort),
		"-E", // no anonymous logins
		"-A", // chroot everyone (the "/./" in the home does already)
		"-H", // no reverse DNS of clients
		// There is no syslog here; -O keeps a transfer log of one line per
		// completed RETR or STOR (no other command is logged in any -O
		// format).
		"-f", "none",
		"-O", "clf:" + filepath.Join(s.dir, "transfer.log"),
		// Not the default /var/run/pure-ftpd.pid, which every instance
		// would fight over.
		"-g", filepath.Join(s.dir, "pure-ftpd.pid"),
		// Parallel tests all come from 127.0.0.1; the defaults (50 clients
		// in all, and as many per address) are too low for pool tests.
		"-c", "500",
		"-C", strconv.Itoa(cmp.Or(s.opts.MaxConns, 500)),
	}
	if ip := net.ParseIP(s.Host); ip.To4() != nil {
		// PASV replies carry this address.
		args = append(args, "-P", s.Host)
	}
	return args, nil
}
