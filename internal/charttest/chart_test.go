package charttest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ftpgw/ftpgw/internal/realftpd"
	"go.yaml.in/yaml/v3"
)

const (
	chart  = "../../deploy/helm/ftpgw"
	allOn  = chart + "/ci/all-on-values.yaml"
	kubeV  = "1.34.0"
	tools  = "/opt/ftpgw-test-tools/bin"
	module = "../.."
)

// helmPath finds helm: the one install-test-deps builds, or one on PATH.
// Without it the tests skip, or fail under FTPGW_REQUIRE_REAL_SERVERS=1.
func helmPath(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FTPGW_TEST_TOOLS_DIR")
	if dir != "" {
		dir = filepath.Join(dir, "bin")
	} else {
		dir = tools
	}
	if p := filepath.Join(dir, "helm"); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv(realftpd.RequireEnv) == "1" {
		t.Fatalf("helm not found (%s=1, so this fails instead of skipping; scripts/install-test-deps.sh builds it)", realftpd.RequireEnv)
	}
	t.Skip("helm not found; scripts/install-test-deps.sh builds it")
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&0o111 != 0
}

func helm(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := runHelm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// helmFails runs helm, which must fail, and returns what it said (lint
// reports on stdout, template on stderr).
func helmFails(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := runHelm(t, args...)
	if err == nil {
		t.Fatalf("helm %s succeeded, want it to fail:\n%s", strings.Join(args, " "), out)
	}
	return out + stderr
}

func runHelm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var errb bytes.Buffer
	cmd := exec.Command(helmPath(t), args...)
	cmd.Stderr = &errb
	out, err := cmd.Output()
	return string(out), errb.String(), err
}

// object is one rendered manifest.
type object map[string]any

// get walks o by keys (map keys, or list indexes as numbers).
func (o object) get(path ...string) any {
	var v any = map[string]any(o)
	for _, k := range path {
		switch x := v.(type) {
		case object: // yaml.v3 decodes nested maps as the outer one's type
			v = x[k]
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func (o object) str(path ...string) string { s, _ := o.get(path...).(string); return s }

// render runs helm template with the values files and returns the
// objects by kind (each kind once, as this chart renders it).
func render(t *testing.T, values ...string) map[string]object {
	t.Helper()
	var args []string
	for _, v := range values {
		args = append(args, "-f", v)
	}
	return renderArgs(t, args...)
}

// renderArgs is render with helm template's arguments (-f, --set).
func renderArgs(t *testing.T, extra ...string) map[string]object {
	t.Helper()
	args := append([]string{"template", "rel", chart, "--namespace", "files", "--kube-version", kubeV}, extra...)
	out := helm(t, args...)
	objs := map[string]object{}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template's output: %v", err)
		}
		if o == nil {
			continue
		}
		kind := o.str("kind")
		if _, dup := objs[kind]; dup {
			t.Fatalf("two %s objects", kind)
		}
		objs[kind] = o
	}
	return objs
}

// TestChartLint: helm lint passes with the defaults and with every option
// on.
func TestChartLint(t *testing.T) {
	helm(t, "lint", "--strict", chart, "--kube-version", kubeV)
	helm(t, "lint", "--strict", chart, "--kube-version", kubeV, "-f", allOn)
	// Before 1.30 the kubelet has no preStop sleep (beta, on by default,
	// from 1.30).
	if msg := helmFails(t, "template", "rel", chart, "--kube-version", "1.29.9"); !strings.Contains(msg, "kubeVersion") {
		t.Errorf("helm template for Kubernetes 1.29 failed with %q, want the chart's kubeVersion named", msg)
	}
}

// TestChartObjects: what each values file renders, and what the
// Deployment asks of its pods.
func TestChartObjects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		kinds  []string
	}{
		{"defaults", nil, []string{"Deployment", "PodDisruptionBudget", "Secret", "Service"}},
		{"all on", []string{allOn}, []string{"Deployment", "HTTPRoute", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule", "Secret", "Service", "ServiceMonitor"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, tc.values...)
			var kinds []string
			for k := range objs {
				kinds = append(kinds, k)
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, tc.kinds) {
				t.Fatalf("kinds %q, want %q", kinds, tc.kinds)
			}
			checkDeployment(t, objs["Deployment"])
		})
	}

	objs := render(t, allOn)
	ing := objs["Ingress"]
	for k, want := range map[string]string{
		"nginx.ingress.kubernetes.io/proxy-body-size":         "0",
		"nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
		"nginx.ingress.kubernetes.io/proxy-buffering":         "off",
		"nginx.ingress.kubernetes.io/proxy-read-timeout":      "7200", // overridden
		"nginx.ingress.kubernetes.io/proxy-send-timeout":      "3600",
	} {
		if got := ing.str("metadata", "annotations", k); got != want {
			t.Errorf("Ingress annotation %s = %q, want %q", k, got, want)
		}
	}
	route := objs["HTTPRoute"]
	for _, k := range []string{"request", "backendRequest"} {
		if got := route.str("spec", "rules", "0", "timeouts", k); got != "3600s" {
			t.Errorf("HTTPRoute timeout %s = %q, want 3600s (some implementations cut at 15 s)", k, got)
		}
	}
	rule := objs["PrometheusRule"]
	if got := rule.str("metadata", "labels", "release"); got != "prometheus" {
		t.Errorf("PrometheusRule label release = %q, want prometheus (prometheusRule.labels)", got)
	}
	if got := rule.str("spec", "groups", "1", "rules", "0", "alert"); got != "FtpgwTransfersWaiting" {
		t.Errorf("PrometheusRule's second group's first alert %q, want prometheusRule.extraRules' FtpgwTransfersWaiting", got)
	}
	if objs["Deployment"].get("spec", "replicas") != nil {
		t.Error("with the autoscaler on, the Deployment sets replicas, which the autoscaler owns")
	}
}

// checkDeployment checks the pod's security, probes, rollout and life
// cycle.
func checkDeployment(t *testing.T, d object) {
	t.Helper()
	pod, _ := d.get("spec", "template", "spec").(object)
	c, _ := pod.get("containers", "0").(object)
	for _, want := range []struct {
		got  any
		want any
		what string
	}{
		{pod.get("automountServiceAccountToken"), false, "automountServiceAccountToken"},
		{pod.get("securityContext", "runAsNonRoot"), true, "pod runAsNonRoot"},
		{pod.get("securityContext", "seccompProfile", "type"), "RuntimeDefault", "seccompProfile"},
		{c.get("securityContext", "allowPrivilegeEscalation"), false, "allowPrivilegeEscalation"},
		{c.get("securityContext", "readOnlyRootFilesystem"), true, "readOnlyRootFilesystem"},
		{c.get("securityContext", "capabilities", "drop", "0"), "ALL", "capabilities dropped"},
		{c.get("startupProbe", "httpGet", "path"), "/healthz", "startup probe"},
		{c.get("livenessProbe", "httpGet", "path"), "/healthz", "liveness probe"},
		{c.get("readinessProbe", "httpGet", "path"), "/readyz", "readiness probe"},
		{d.get("spec", "strategy", "rollingUpdate", "maxUnavailable"), 0, "maxUnavailable"},
		{pod.get("topologySpreadConstraints", "0", "topologyKey"), "kubernetes.io/hostname", "topology spread"},
		{c.get("lifecycle", "preStop", "sleep", "seconds"), 5, "preStop sleep"},
	} {
		if want.got != want.want {
			t.Errorf("%s = %v, want %v", want.what, want.got, want.want)
		}
	}
	if d.str("spec", "template", "metadata", "annotations", "checksum/config") == "" {
		t.Error("no checksum/config annotation: a changed Secret would not roll the pods")
	}
	// The grace period covers the drain's pause and the requests' grace.
	args := strings.Join(anyStrings(c.get("args")), " ")
	grace, _ := pod.get("terminationGracePeriodSeconds").(int)
	if !strings.Contains(args, "--drain-pause=10s") || !strings.Contains(args, "--shutdown-timeout=60s") || grace < 70 {
		t.Errorf("args %q, terminationGracePeriodSeconds %d; want the pause and timeout passed on, and a grace of at least their 70 s", args, grace)
	}
}

func anyStrings(v any) []string {
	var out []string
	xs, _ := v.([]any)
	for _, x := range xs {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// TestChartChecksumRolls: a changed config, token or signing key changes
// the pods' checksum annotation, so that an upgrade rolls them.
func TestChartChecksumRolls(t *testing.T) {
	checksum := func(values ...string) string {
		return render(t, values...)["Deployment"].str("spec", "template", "metadata", "annotations", "checksum/config")
	}
	a := checksum(allOn)
	for name, change := range map[string]string{
		"config": "config:\n  max-sessions: 5\n  backends:\n    - {name: media, mount: /media/, upstream: \"ftp://ftp.example.com/\"}\n",
		"token":  "tokens:\n  - \"sha256:1111111111111111111111111111111111111111111111111111111111111111 scopes=read\"\n",
		"key":    "signingKeys:\n  - \"k2 ZIx0HGUhcmM5QMGC9nshVDyqkhr2ltv2qZWUc0SZc7s\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			other := filepath.Join(t.TempDir(), "other.yaml")
			if err := os.WriteFile(other, []byte(change), 0o644); err != nil {
				t.Fatal(err)
			}
			if b := checksum(allOn, other); a == "" || a == b {
				t.Errorf("checksum %q before the %s changed, %q after: want two different ones", a, name, b)
			}
		})
	}
}

// TestChartConfigAccepted: the gateway itself accepts what the chart
// renders with every option on: the config file, tokens and keys of its
// Secret, at the paths its volumes mount them, with the container's args
// and environment (--check: nothing is connected to).
func TestChartConfigAccepted(t *testing.T) {
	objs := render(t, allOn)
	root := t.TempDir()
	secret := objs["Secret"]
	mounts := map[string]string{ // the Deployment's mount paths and the Secret's keys
		"/etc/ftpgw/config/gateway.yaml":       "gateway.yaml",
		"/etc/ftpgw/tokens/tokens":             "tokens",
		"/etc/ftpgw/signing-keys/signing-keys": "signing-keys",
	}
	for path, key := range mounts {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(secret.str("stringData", key)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := objs["Deployment"].get("spec", "template", "spec", "containers", "0").(object)
	remap := func(s string) string { return strings.ReplaceAll(s, "/etc/ftpgw/", root+"/etc/ftpgw/") }
	var args []string
	for _, a := range anyStrings(c.get("args")) {
		args = append(args, remap(a))
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "MEDIA_FTP_PASSWORD=m", "ARCHIVE_FTP_PASSWORD=a"}
	envs, _ := c.get("env").([]any)
	for _, e := range envs {
		e, _ := e.(object)
		if v := e.str("value"); v != "" {
			env = append(env, e.str("name")+"="+remap(v))
		}
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	if out, err := exec.Command("go", "build", "-C", module, "-o", bin, "./cmd/gateway").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append(args, "--check")...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the gateway refuses the chart's configuration: %v\n%s", err, out)
	}
	for _, want := range []string{"configuration ok: listening on :8080", "/metrics on :9102", "/media/ -> ftpes://gateway:****@ftp.example.com:21/pub (backend media, auth token)", "/archive/ ->"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--check printed\n%s\nwant a line with %q", out, want)
		}
	}
}

// TestChartGracePeriod: terminationGracePeriodSeconds is the preStop
// sleep, the drain pause and the requests' grace after SIGTERM, and 10 s
// to spare, whatever way the durations are written; the preStop hook is
// the kubelet's sleep (the image has no sleep program), or none.
func TestChartGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		preStop, drain, shutdown string
		override                 string
		want                     int
	}{
		{"5", "10s", "60s", "", 85}, // the defaults
		{"0", "0", "90s", "", 100},
		{"3", "2m", "1m30s", "", 3 + 120 + 90 + 10},
		{"10", "1m30s", "1h", "", 10 + 90 + 3600 + 10},
		{"5", "10s", "1h2m3s", "", 5 + 10 + 3723 + 10},
		{"5", "10s", "60s", "600", 600}, // set outright
	} {
		name := fmt.Sprintf("preStop=%s,drain=%s,shutdown=%s,override=%s", tc.preStop, tc.drain, tc.shutdown, tc.override)
		t.Run(name, func(t *testing.T) {
			args := []string{"--set", "preStopSleepSeconds=" + tc.preStop, "--set", "drainPause=" + tc.drain, "--set", "shutdownTimeout=" + tc.shutdown}
			if tc.override != "" {
				args = append(args, "--set", "terminationGracePeriodSeconds="+tc.override)
			}
			pod, _ := renderArgs(t, args...)["Deployment"].get("spec", "template", "spec").(object)
			if got := pod.get("terminationGracePeriodSeconds"); got != tc.want {
				t.Errorf("terminationGracePeriodSeconds = %v, want %d", got, tc.want)
			}
			c, _ := pod.get("containers", "0").(object)
			sleep := c.get("lifecycle", "preStop", "sleep", "seconds")
			if want, _ := strconv.Atoi(tc.preStop); want == 0 && c.get("lifecycle") != nil || want != 0 && sleep != want {
				t.Errorf("lifecycle %v, want a preStop sleep of %d s (none for 0)", c.get("lifecycle"), want)
			}
			args = anyStrings(c.get("args"))
			for _, want := range []string{"--drain-pause=" + tc.drain, "--shutdown-timeout=" + tc.shutdown} {
				if !slices.Contains(args, want) {
					t.Errorf("args %q, want %s", args, want)
				}
			}
		})
	}
	// What the gateway would take but the chart cannot add up is refused.
	for _, d := range []string{"1.5m", "90", "500ms", "1d"} {
		t.Run("drainPause="+d, func(t *testing.T) {
			if msg := helmFails(t, "template", "rel", chart, "--kube-version", kubeV, "--set", "drainPause="+d); !strings.Contains(msg, "drainPause") {
				t.Errorf("helm template with drainPause=%s failed with %q, want the value named", d, msg)
			}
		})
	}
}

// TestChartNetworkPolicy: the pods may connect to the FTP servers' control
// and passive ports and to the cluster's DNS, nothing else, and be reached
// on the HTTP port and the metrics port only, each from its own peers;
// without FTP servers listed the chart refuses to render rather than cut
// the gateway off.
func TestChartNetworkPolicy(t *testing.T) {
	np := render(t, allOn)["NetworkPolicy"]
	if got := anyStrings(np.get("spec", "policyTypes")); !slices.Equal(got, []string{"Ingress", "Egress"}) {
		t.Errorf("policyTypes %q, want Ingress and Egress", got)
	}
	if got := np.get("spec", "podSelector", "matchLabels", "app.kubernetes.io/instance"); got != "rel" {
		t.Errorf("podSelector's instance %v, want the release's pods", got)
	}
	in, _ := np.get("spec", "ingress").([]any)
	if len(in) != 2 || np.get("spec", "ingress", "0", "ports", "0", "port") != "http" || len(anyStrings(np.get("spec", "ingress", "0", "from"))) != 1 ||
		np.get("spec", "ingress", "1", "ports", "0", "port") != "metrics" || len(anyStrings(np.get("spec", "ingress", "1", "from"))) != 1 {
		t.Errorf("ingress %v, want two rules: the http port from networkPolicy.ingressFrom's peer, the metrics port from metricsFrom's", in)
	}
	// ports lists an egress rule's ports as "21" or "30000-30100".
	ports := func(rule int) []string {
		var out []string
		ps, _ := np.get("spec", "egress", strconv.Itoa(rule), "ports").([]any)
		for i := range ps {
			p := func(k string) any { return np.get("spec", "egress", strconv.Itoa(rule), "ports", strconv.Itoa(i), k) }
			s := fmt.Sprintf("%v/%v", p("protocol"), p("port"))
			if e := p("endPort"); e != nil {
				s += fmt.Sprintf("-%v", e)
			}
			out = append(out, s)
		}
		return out
	}
	for i, want := range []struct {
		to    string
		ports []string
	}{
		{"192.0.2.10/32", []string{"TCP/21", "TCP/30000-30100"}},
		{"198.51.100.0/24", []string{"TCP/21", "TCP/50000-50099"}},
		{"", []string{"UDP/53", "TCP/53"}}, // DNS
		{"203.0.113.5/32", []string{"TCP/990"}},
	} {
		if got := np.str("spec", "egress", strconv.Itoa(i), "to", "0", "ipBlock", "cidr"); got != want.to {
			t.Errorf("egress rule %d to %q, want %q", i, got, want.to)
		}
		if got := ports(i); !slices.Equal(got, want.ports) {
			t.Errorf("egress rule %d ports %q, want %q", i, got, want.ports)
		}
	}
	if got := np.str("spec", "egress", "1", "to", "0", "ipBlock", "except", "0"); got != "198.51.100.128/25" {
		t.Errorf("the second FTP server's except %q, want 198.51.100.128/25", got)
	}
	dns := []string{"spec", "egress", "2", "to", "0"}
	if np.str(append(dns, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name")...) != "kube-system" || np.str(append(dns, "podSelector", "matchLabels", "k8s-app")...) != "kube-dns" {
		t.Errorf("DNS peer %v, want kube-system's kube-dns pods", np.get(dns...))
	}
	if egress, _ := np.get("spec", "egress").([]any); len(egress) != 4 {
		t.Errorf("%d egress rules, want 4: two FTP servers, DNS, extraEgress", len(egress))
	}

	// Without the DNS rule; and with no FTP server named.
	noDNS := renderArgs(t, "-f", allOn, "--set", "networkPolicy.dns.enabled=false")["NetworkPolicy"]
	if egress, _ := noDNS.get("spec", "egress").([]any); len(egress) != 3 {
		t.Errorf("with networkPolicy.dns.enabled=false, %d egress rules, want 3", len(egress))
	}
	if msg := helmFails(t, "template", "rel", chart, "--kube-version", kubeV, "--set", "networkPolicy.enabled=true"); !strings.Contains(msg, "networkPolicy.ftpServers") {
		t.Errorf("a NetworkPolicy with no FTP server failed with %q, want networkPolicy.ftpServers named", msg)
	}
}

// TestChartSchema: values.schema.json refuses a wrong type at the top and
// deeper down, and a misspelt key, in helm lint and helm template alike,
// naming the value; the defaults and every option on pass (TestChartLint).
func TestChartSchema(t *testing.T) {
	for _, tc := range []struct {
		set, want string
	}{
		{"replicaCount=two", "at '/replicaCount': got string, want integer"},
		{"replicaCont=2", "additional properties 'replicaCont' not allowed"},
		{"networkPolicy.dns.enabled=yes", "at '/networkPolicy/dns/enabled': got string, want boolean"},
		{"prometheusRule.poolSaturated.ratio=high", "at '/prometheusRule/poolSaturated/ratio'"},
		{"prometheusRule.enable=true", "additional properties 'enable' not allowed"},
		{"service.prot=80", "additional properties 'prot' not allowed"},
		{"logLevel=verbose", "at '/logLevel'"},
		{"shutdownTimeout=1.5m", "at '/shutdownTimeout'"},
		{"shutdownTimeout=0s", "at '/shutdownTimeout'"}, // the gateway wants more than 0
	} {
		t.Run(tc.set, func(t *testing.T) {
			for _, cmd := range [][]string{
				{"lint", "--strict", chart},
				{"template", "rel", chart},
			} {
				msg := helmFails(t, append(cmd, "--kube-version", kubeV, "--set", tc.set)...)
				if !strings.Contains(msg, "schema") || !strings.Contains(msg, tc.want) {
					t.Errorf("helm %s --set %s failed with\n%s\nwant a schema error with %q", cmd[0], tc.set, msg, tc.want)
				}
			}
		})
	}
	// config is the gateway's to check (--check): any key passes here.
	helm(t, "template", "rel", chart, "--kube-version", kubeV, "--set", "config.no-such-setting=1")
}

// TestChartMetricsPort: by default /metrics is served on a port of its
// own (--metrics-listen), which the Service names "metrics" and the
// ServiceMonitor scrapes, while the Ingress and the HTTPRoute route the
// http port only, where /metrics answers 404: an ingress does not publish
// it. With metrics.port 0 it is on the http port, and no metrics port
// exists.
func TestChartMetricsPort(t *testing.T) {
	// ports lists an object's port names at path.
	ports := func(o object, path ...string) []string {
		var names []string
		ps, _ := o.get(path...).([]any)
		for i := range ps {
			names = append(names, fmt.Sprint(o.get(append(path, strconv.Itoa(i), "name")...)))
		}
		return names
	}
	container := []string{"spec", "template", "spec", "containers", "0"}
	for _, tc := range []struct {
		name, set, arg, scraped string
		ports                   []string
	}{
		{"default", "metrics.port=9090", "--metrics-listen=:9090", "metrics", []string{"http", "metrics"}},
		{"other port", "metrics.port=9102", "--metrics-listen=:9102", "metrics", []string{"http", "metrics"}},
		{"on the http port", "metrics.port=0", "", "http", []string{"http"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := renderArgs(t, "-f", allOn, "--set", tc.set)
			d := objs["Deployment"]
			args := anyStrings(d.get(append(container, "args")...))
			var listen []string
			for _, a := range args {
				if strings.HasPrefix(a, "--metrics-listen") {
					listen = append(listen, a)
				}
			}
			if tc.arg == "" && len(listen) > 0 || tc.arg != "" && !slices.Equal(listen, []string{tc.arg}) {
				t.Errorf("args %q, want %q", args, tc.arg)
			}
			if got := ports(d, append(container, "ports")...); !slices.Equal(got, tc.ports) {
				t.Errorf("container ports %q, want %q", got, tc.ports)
			}
			if got := ports(objs["Service"], "spec", "ports"); !slices.Equal(got, tc.ports) {
				t.Errorf("Service ports %q, want %q", got, tc.ports)
			}
			if got := objs["ServiceMonitor"].get("spec", "endpoints", "0", "port"); got != tc.scraped {
				t.Errorf("the ServiceMonitor scrapes port %v, want %s", got, tc.scraped)
			}
			if got := objs["Ingress"].get("spec", "rules", "0", "http", "paths", "0", "backend", "service", "port", "name"); got != "http" {
				t.Errorf("the Ingress routes port %v, want http", got)
			}
		})
	}
}
