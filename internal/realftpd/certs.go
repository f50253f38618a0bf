package realftpd

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/ftpgw/ftpgw/internal/testpki"
)

// ServerName is the DNS name in the FTPS servers' certificate. It also
// carries the IP addresses 127.0.0.1 and ::1.
const ServerName = testpki.ServerName

// testPKI is made once per test process: key generation is cheap, but
// there is no reason to repeat it for every instance.
var testPKI = sync.OnceValues(func() (*testpki.PKI, error) { return testpki.New("ftpgw realftpd test CA") })

// tlsFiles holds the paths of the PEM files written for one instance.
type tlsFiles struct {
	ca, cert, key string
}

// writeTLSFiles writes the CA certificate, the server certificate and its
// key into dir. The server reads them as root before it drops privileges,
// so the key can stay private to root.
func writeTLSFiles(dir string) (*testpki.PKI, tlsFiles, error) {
	p, err := testPKI()
	if err != nil {
		return nil, tlsFiles{}, fmt.Errorf("generating test certificates: %w", err)
	}
	f := tlsFiles{
		ca:   filepath.Join(dir, "ca.pem"),
		cert: filepath.Join(dir, "server.pem"),
		key:  filepath.Join(dir, "server.key"),
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.ca, p.CAPEM, 0o644},
		{f.cert, p.CertPEM, 0o644},
		{f.key, p.KeyPEM, 0o600},
	} {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return nil, tlsFiles{}, err
		}
	}
	return p, f, nil
}
