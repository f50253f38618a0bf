package clustertest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/internal/testpki"
	"go.yaml.in/yaml/v3"
)

// kubeVersion is the control plane install-test-deps builds (its
// KUBE_VERSION), in a folder of that name.
const kubeVersion = "v1.37.2"

// nodes are the simulated nodes, each with its own hostname label, so that
// the chart's topology spread has somewhere to spread to.
var nodes = []string{"kwok-a", "kwok-b", "kwok-c"}

// crdFiles are the CRDs of the chart's optional objects.
var crdFiles = []string{
	"monitoring.coreos.com_servicemonitors.yaml",
	"monitoring.coreos.com_prometheusrules.yaml",
	"gateway.networking.k8s.io_httproutes.yaml",
}

// stageFiles are kwok's stages: nodes become Ready and keep a lease, pods
// become Running and Ready, and deleted pods go at once.
var stageFiles = []string{
	"node-initialize.yaml",
	"node-heartbeat-with-lease.yaml",
	"pod-ready.yaml",
	"pod-delete.yaml",
}

// shared is the package's control plane, started by the first test that
// asks for it and stopped by TestMain.
var shared struct {
	once    sync.Once
	c       *cluster
	missing string // the tools not installed
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.c != nil {
		shared.c.stop()
	}
	os.Exit(code)
}

// controlPlane returns the shared control plane, started on first use.
// Without the tools the test skips, or fails under
// FTPGW_REQUIRE_REAL_SERVERS=1. A failed test prints the end of every
// component's log.
func controlPlane(t *testing.T) *cluster {
	t.Helper()
	shared.once.Do(func() {
		tl, missing := findTools()
		if missing != "" {
			shared.missing = missing
			return
		}
		shared.c, shared.err = start(tl)
	})
	if shared.missing != "" {
		if os.Getenv(realftpd.RequireEnv) == "1" {
			t.Fatalf("cannot start the control plane: %s (%s=1, so this fails instead of skipping; scripts/install-test-deps.sh installs them)", shared.missing, realftpd.RequireEnv)
		}
		t.Skipf("%s; scripts/install-test-deps.sh installs them", shared.missing)
	}
	if shared.err != nil {
		t.Fatalf("starting the control plane: %v", shared.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(shared.c.logs())
		}
	})
	return shared.c
}

// tools are the programs and files the control plane needs.
type tools struct {
	apiserver, controllerManager, scheduler string
	etcd, kwok, helm                        string
	stages, crds                            []string
}

// findTools finds what install-test-deps installs, and says what is
// missing.
func findTools() (tools, string) {
	dir := os.Getenv("FTPGW_TEST_TOOLS_DIR")
	if dir == "" {
		dir = "/opt/ftpgw-test-tools"
	}
	kube := filepath.Join(dir, "kube-"+kubeVersion)
	var missing []string
	file := func(p string) string {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
		return p
	}
	program := func(name, dir string) string {
		if dir != "" {
			if p := filepath.Join(dir, name); isExecutable(p) {
				return p
			}
		}
		p, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name)
		}
		return p
	}
	tl := tools{
		apiserver:         file(filepath.Join(kube, "kube-apiserver")),
		controllerManager: file(filepath.Join(kube, "kube-controller-manager")),
		scheduler:         file(filepath.Join(kube, "kube-scheduler")),
		etcd:              program("etcd", ""),
		kwok:              program("kwok", filepath.Join(dir, "bin")),
		helm:              program("helm", filepath.Join(dir, "bin")),
	}
	for _, s := range stageFiles {
		tl.stages = append(tl.stages, file(filepath.Join(kube, "kwok-stages", s)))
	}
	for _, c := range crdFiles {
		tl.crds = append(tl.crds, file(filepath.Join(kube, "crds", c)))
	}
	if len(missing) > 0 {
		return tl, "not installed: " + strings.Join(missing, ", ")
	}
	return tl, ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// cluster is a running control plane. Its methods are safe for concurrent
// use by parallel tests.
type cluster struct {
	dir        string
	server     string // https://127.0.0.1:port
	token      string // the admin's, in system:masters
	kubeconfig string // the admin's, for helm
	helmPath   string
	http       *http.Client
	procs      []*proc
}

// proc is one component. Its output is kept for a failed test's log.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *tail
	done chan struct{} // closed when the process has exited
	err  error         // Wait's, after done
}

// tail keeps the last tailSize bytes written to it.
type tail struct {
	mu sync.Mutex
	b  []byte
}

const tailSize = 64 << 10

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if over := len(w.b) - tailSize; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
	return len(p), nil
}

func (w *tail) last(n int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b[max(0, len(w.b)-n):])
}

// start brings up etcd, the API server, the controller manager, the
// scheduler and kwok, installs the CRDs and creates the nodes. On error
// it stops what it started.
func start(tl tools) (c *cluster, err error) {
	dir, err := os.MkdirTemp("", "ftpgw-cluster-")
	if err != nil {
		return nil, err
	}
	c = &cluster{dir: dir, helmPath: tl.helm}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.logs())
			c.stop()
			c = nil
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return c, err
	}
	etcdURL := "http://127.0.0.1:" + ports[0]
	peerURL := "http://127.0.0.1:" + ports[1]
	c.server = "https://127.0.0.1:" + ports[2]

	pki, err := c.writeCerts()
	if err != nil {
		return c, err
	}
	caFile := filepath.Join(dir, "ca.crt")
	users := []struct{ name, groups string }{
		{"admin", "system:masters"},
		{"system:kube-controller-manager", ""},
		{"system:kube-scheduler", ""},
		{"kwok", "system:masters"},
	}
	var tokens bytes.Buffer
	kubeconfigs := map[string]string{}
	for _, u := range users {
		tok := randomHex(16)
		fmt.Fprintf(&tokens, "%s,%s,%s", tok, u.name, u.name)
		if u.groups != "" {
			fmt.Fprintf(&tokens, ",%q", u.groups)
		}
		tokens.WriteString("\n")
		kubeconfigs[u.name], err = c.writeKubeconfig(u.name, tok, caFile)
		if err != nil {
			return c, err
		}
		if u.name == "admin" {
			c.token = tok
		}
	}
	c.kubeconfig = kubeconfigs["admin"]
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), tokens.Bytes(), 0o600); err != nil {
		return c, err
	}
	saKey, saPub, err := c.writeServiceAccountKeys()
	if err != nil {
		return c, err
	}
	c.http = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Roots}},
	}

	c.run("etcd", tl.etcd,
		"--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--logger=zap", "--log-level=warn")
	if err := c.poll(60*time.Second, func() string {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return "etcd: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"health":"true"`)) {
			return fmt.Sprintf("etcd's health: %s %s", resp.Status, b)
		}
		return ""
	}); err != nil {
		return c, err
	}

	// --endpoint-reconciler-type=none: the API server refuses to advertise
	// a loopback address otherwise.
	c.run("kube-apiserver", tl.apiserver,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--secure-port="+ports[2], "--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file="+filepath.Join(dir, "serving.crt"), "--tls-private-key-file="+filepath.Join(dir, "serving.key"),
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saPub, "--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range=10.96.0.0/24",
		"--profiling=false",
		// Debian's etcd (3.4.23) is older than the 3.4.31 that watch-list
		// streams need (RequestWatchProgress), so the API server refuses
		// them; kwok's informers keep asking, and see changes only when they
		// relist, seconds late (a roll of two pods took 30 s). With the gate
		// off the request itself is refused, and clients list and watch.
		"--feature-gates=WatchList=false")
	if err := c.poll(60*time.Second, func() string {
		if _, err := c.do(http.MethodGet, "/readyz", nil, nil); err != nil {
			return "kube-apiserver: " + err.Error()
		}
		return ""
	}); err != nil {
		return c, err
	}

	c.run("kube-controller-manager", tl.controllerManager,
		"--kubeconfig="+kubeconfigs["system:kube-controller-manager"],
		"--leader-elect=false", "--secure-port=0",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+saKey,
		"--root-ca-file="+caFile,
		// The HPA acts within a second, not the default fifteen.
		"--horizontal-pod-autoscaler-sync-period=1s",
		"--kube-api-qps=100", "--kube-api-burst=200")
	c.run("kube-scheduler", tl.scheduler,
		"--kubeconfig="+kubeconfigs["system:kube-scheduler"],
		"--leader-elect=false", "--secure-port=0")
	kwokArgs := []string{
		"--kubeconfig=" + kubeconfigs["kwok"],
		"--manage-all-nodes",
		"--node-lease-duration-seconds=40",
	}
	for _, s := range tl.stages {
		kwokArgs = append(kwokArgs, "--config="+s)
	}
	c.run("kwok", tl.kwok, kwokArgs...)

	if err := c.installCRDs(tl.crds); err != nil {
		return c, err
	}
	return c, c.createNodes()
}

// run starts a component, its output kept, killed if the test binary dies.
func (c *cluster) run(name, path string, args ...string) {
	p := &proc{name: name, out: &tail{}, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	// HOME: kwok reads ~/.kwok/kwok.yaml when there is one.
	p.cmd.Env = append(os.Environ(), "HOME="+filepath.Join(c.dir, "home"))
	setPdeathsig(p.cmd)
	c.procs = append(c.procs, p)
	if err := p.cmd.Start(); err != nil {
		p.err = err
		close(p.done)
		return
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
}

// exited says which component has exited, if one has.
func (c *cluster) exited() error {
	for _, p := range c.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		default:
		}
	}
	return nil
}

// stop kills every component, newest first, and waits for each to exit.
func (c *cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Kill()
		}
		<-p.done
	}
	_ = os.RemoveAll(c.dir)
}

// logs is the end of every component's output.
func (c *cluster) logs() string {
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "--- %s (end of its output) ---\n%s\n", p.name, p.out.last(6<<10))
	}
	return b.String()
}

// writeCerts writes the API server's certificate for 127.0.0.1 with its
// chain (serving.crt), its key (serving.key) and the CA that clients trust
// (ca.crt).
func (c *cluster) writeCerts() (*testpki.PKI, error) {
	pki, err := testpki.New("ftpgw-test-cluster-ca")
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		pem  []byte
	}{
		{"ca.crt", pki.CAPEM},
		{"serving.crt", slices.Concat(pki.CertPEM, pki.CAPEM)},
		{"serving.key", pki.KeyPEM},
	} {
		if err := os.WriteFile(filepath.Join(c.dir, f.name), f.pem, 0o600); err != nil {
			return nil, err
		}
	}
	return pki, nil
}

// writeServiceAccountKeys writes the key that signs service-account tokens
// and its public half.
func (c *cluster) writeServiceAccountKeys() (priv, pub string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	priv, pub = filepath.Join(c.dir, "sa.key"), filepath.Join(c.dir, "sa.pub")
	if err := writePEM(priv, "PRIVATE KEY", privDER); err != nil {
		return "", "", err
	}
	return priv, pub, writePEM(pub, "PUBLIC KEY", pubDER)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// writeKubeconfig writes a kubeconfig for a user with a token (JSON, which
// is YAML).
func (c *cluster) writeKubeconfig(user, token, caFile string) (string, error) {
	cfg := map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters": []any{map[string]any{"name": "test", "cluster": map[string]any{
			"server": c.server, "certificate-authority": caFile}}},
		"users":           []any{map[string]any{"name": user, "user": map[string]any{"token": token}}},
		"contexts":        []any{map[string]any{"name": "test", "context": map[string]any{"cluster": "test", "user": user}}},
		"current-context": "test",
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	p := filepath.Join(c.dir, strings.ReplaceAll(user, ":", "-")+".kubeconfig")
	return p, os.WriteFile(p, b, 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePorts finds n free ports on 127.0.0.1.
func freePorts(n int) ([]string, error) {
	var ports []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

// installCRDs creates the CRDs and waits until the API server serves
// them.
func (c *cluster) installCRDs(files []string) error {
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var crd obj
		if err := yaml.Unmarshal(b, &crd); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		if code, err := c.do(http.MethodPost, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd, nil); err != nil {
			return fmt.Errorf("creating the CRD in %s: %d %v", filepath.Base(f), code, err)
		}
		names = append(names, crd.str("metadata", "name"))
	}
	return c.poll(60*time.Second, func() string {
		for _, n := range names {
			var crd obj
			if _, err := c.do(http.MethodGet, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+n, nil, &crd); err != nil {
				return err.Error()
			}
			if condition(crd, "Established") != "True" {
				return fmt.Sprintf("CRD %s not Established: %v", n, crd.get("status", "conditions"))
			}
		}
		return ""
	})
}

// createNodes creates the simulated nodes and waits until kwok has made
// them Ready.
func (c *cluster) createNodes() error {
	for _, n := range nodes {
		node := obj{
			"apiVersion": "v1", "kind": "Node",
			"metadata": obj{"name": n, "labels": obj{
				"kubernetes.io/hostname": n, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"}},
		}
		if code, err := c.do(http.MethodPost, "/api/v1/nodes", node, nil); err != nil {
			return fmt.Errorf("creating node %s: %d %v", n, code, err)
		}
	}
	return c.poll(60*time.Second, func() string {
		for _, n := range nodes {
			var node obj
			if _, err := c.do(http.MethodGet, "/api/v1/nodes/"+n, nil, &node); err != nil {
				return err.Error()
			}
			if condition(node, "Ready") != "True" {
				return fmt.Sprintf("node %s not Ready: %v", n, node.get("status", "conditions"))
			}
		}
		return ""
	})
}

// poll calls check until it returns "" (all is as wanted) or d passes;
// then the error is check's last answer, which says what is not. A
// component that has exited is an error at once.
func (c *cluster) poll(d time.Duration, check func() string) error {
	deadline := time.Now().Add(d)
	for {
		why := check()
		if why == "" {
			return nil
		}
		if err := c.exited(); err != nil {
			return fmt.Errorf("%v (while waiting: %s)", err, why)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %s", d, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// errNotFound is what do returns for a 404.
var errNotFound = errors.New("not found")

// do sends a request to the API server as the admin; body, when not nil,
// goes as JSON, and out, when not nil, gets the JSON answer. A status
// other than 2xx is an error with the server's message.
func (c *cluster) do(method, path string, body, out any) (int, error) {
	return c.send(method, path, "application/json", body, out)
}

// send is do with the body's content type (JSON all the same).
func (c *cluster) send(method, path, contentType string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.server+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, errNotFound)
	case resp.StatusCode/100 != 2:
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// helm runs the helm CLI against the cluster, with its own home, and
// returns what it printed.
func (c *cluster) helm(args ...string) (string, error) {
	cmd := exec.Command(c.helmPath, args...)
	home := filepath.Join(c.dir, "home")
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+c.kubeconfig,
		"HOME="+home,
		"HELM_CACHE_HOME="+filepath.Join(home, "helm-cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "helm-config"),
		"HELM_DATA_HOME="+filepath.Join(home, "helm-data"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// obj is a Kubernetes object as JSON gives it.
type obj map[string]any

// get walks o by keys (map keys, or list indexes as numbers).
func (o obj) get(path ...string) any {
	var v any = map[string]any(o)
	for _, k := range path {
		switch x := v.(type) {
		case obj:
			v = x[k]
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func (o obj) str(path ...string) string { s, _ := o.get(path...).(string); return s }

// num is a number field as an int; -1 when absent.
func (o obj) num(path ...string) int {
	switch n := o.get(path...).(type) {
	case float64:
		return int(n)
	case int:
		return n
	}
	return -1
}

// items is a list's objects.
func (o obj) items() []obj { return anys(o.get("items")) }

// condition is the status of the object's condition of that type.
func condition(o obj, typ string) string {
	for _, c := range anys(o.get("status", "conditions")) {
		if c.str("type") == typ {
			return c.str("status")
		}
	}
	return ""
}

// anys is a list's objects.
func anys(v any) []obj {
	var out []obj
	xs, _ := v.([]any)
	for _, x := range xs {
		out = append(out, asMap(x))
	}
	return out
}

// asMap is a JSON or YAML object as an obj (yaml.v3 decodes an obj's
// nested maps as obj, JSON as map[string]any); nil if it is not one.
func asMap(v any) obj {
	switch m := v.(type) {
	case obj:
		return m
	case map[string]any:
		return m
	}
	return nil
}
