package clustertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	chart = "../../deploy/helm/ftpgw"
	allOn = chart + "/ci/all-on-values.yaml"
	// rollout bounds every wait for the cluster to act (helm's --wait too).
	rollout = 90 * time.Second
)

// tokenLine is a line of the tokens file (the defaults need one: without
// a token the gateway refuses to start beyond loopback).
func tokenLine(digit byte) string {
	return "sha256:" + strings.Repeat(string(digit), 64) + " scopes=read"
}

// valuesFile writes a values file.
func valuesFile(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInstallDefaults: the chart with its default values (and a token)
// becomes a ReplicaSet of Running, Ready pods on the nodes, hardened as
// the chart says, behind a Service whose endpoints are those pods, with a
// PodDisruptionBudget the disruption controller has computed.
func TestInstallDefaults(t *testing.T) {
	c := controlPlane(t)
	t.Parallel()
	ns := c.namespace(t, "defaults")
	c.install(t, "install", ns, "files", chart, "-f", valuesFile(t, "tokens:\n  - "+tokenLine('1')+"\n"))
	objs := c.checkManifest(t, ns, "files", "Deployment", "Service", "Secret", "PodDisruptionBudget")

	d := objs["Deployment"]
	r := c.rolledOut(t, ns, d.str("metadata", "name"), d.num("spec", "replicas"))
	checkHardening(t, r.pods)
	c.checkPDB(t, ns, objs["PodDisruptionBudget"].str("metadata", "name"), len(r.pods))
	c.checkEndpoints(t, ns, objs["Service"].str("metadata", "name"), r.pods)
}

// TestInstallAllOn: with every option on, the CRD-backed objects are
// accepted, the HPA brings the Deployment to its minReplicas (it does so
// without metrics), the pods spread over the nodes, and the PDB counts
// them.
func TestInstallAllOn(t *testing.T) {
	c := controlPlane(t)
	t.Parallel()
	ns := c.namespace(t, "all-on")
	// The Secret extraEnv's secretKeyRefs name.
	c.create(t, "/api/v1/namespaces/"+ns+"/secrets", obj{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   obj{"name": "ftp-passwords"},
		"stringData": obj{"media": "m", "archive": "a"},
	})
	c.install(t, "install", ns, "files", chart, "-f", allOn)
	objs := c.checkManifest(t, ns, "files", append([]string{"Deployment", "Service", "Secret"}, switchedOn(t, allOn)...)...)

	d, hpa := objs["Deployment"], objs["HorizontalPodAutoscaler"]
	if d.get("spec", "replicas") != nil {
		t.Error("with the autoscaler on, the Deployment sets replicas, which the autoscaler owns")
	}
	minReplicas := hpa.num("spec", "minReplicas")
	r := c.rolledOut(t, ns, d.str("metadata", "name"), minReplicas)
	checkHardening(t, r.pods)
	on := map[string]bool{}
	for _, p := range r.pods {
		on[p.str("spec", "nodeName")] = true
	}
	if want := min(len(nodes), minReplicas); len(on) != want {
		t.Errorf("%d pods on %d nodes (%v), want them spread over %d", len(r.pods), len(on), on, want)
	}
	c.checkPDB(t, ns, objs["PodDisruptionBudget"].str("metadata", "name"), minReplicas)
	c.checkEndpoints(t, ns, objs["Service"].str("metadata", "name"), r.pods)
	checkSelectors(t, objs, r.pods)
	c.eventually(t, "the HPA's status", func() string {
		var h obj
		if err := c.getObj("/apis/autoscaling/v2/namespaces/"+ns+"/horizontalpodautoscalers/"+hpa.str("metadata", "name"), &h); err != nil {
			return err.Error()
		}
		if h.num("status", "currentReplicas") != minReplicas || h.num("status", "desiredReplicas") != minReplicas {
			return fmt.Sprintf("HPA status %v, want %d replicas current and desired", h.get("status"), minReplicas)
		}
		return ""
	})
}

// TestInvalidChartRejected: the harness is strict. A copy of the chart
// whose Deployment has a misspelt field, or a field of the wrong type,
// renders (helm template has no schema for it) but does not install, and
// the error names the field; the unchanged copy installs.
func TestInvalidChartRejected(t *testing.T) {
	c := controlPlane(t)
	t.Parallel()
	ns := c.namespace(t, "invalid")
	vals := valuesFile(t, "tokens:\n  - "+tokenLine('2')+"\n")
	for _, tc := range []struct {
		name     string
		old, new string   // in templates/deployment.yaml
		want     []string // in helm's error; none: it installs
	}{
		{"unchanged", "", "", nil},
		{"misspelt field", "  revisionHistoryLimit:", "  replicaz: 2\n  revisionHistoryLimit:", []string{".spec.replicaz: field not declared in schema"}},
		{"wrong type", "containerPort: 8080", `containerPort: "http"`, []string{".containerPort: expected numeric (int or float), got string"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ftpgw")
			if err := os.CopyFS(dir, os.DirFS(chart)); err != nil {
				t.Fatal(err)
			}
			if tc.old != "" {
				p := filepath.Join(dir, "templates", "deployment.yaml")
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(b), tc.old) {
					t.Fatalf("the chart's deployment.yaml has no %q to change any more", tc.old)
				}
				if err := os.WriteFile(p, []byte(strings.Replace(string(b), tc.old, tc.new, 1)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			release := "bad-" + strings.ReplaceAll(tc.name, " ", "-")
			deploy := renderedDeployment(t, c, release, ns, dir, vals)
			out, err := c.tryInstall("install", ns, release, dir, "-f", vals)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("the unchanged copy of the chart does not install: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("installed; want it refused naming %q\n%s", tc.want, out)
			}
			msg := err.Error() + "\n" + out
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the install failed with\n%s\nwant it to say %q", msg, w)
				}
			}
			err = c.getObj("/apis/apps/v1/namespaces/"+ns+"/deployments/"+deploy, nil)
			if !errors.Is(err, errNotFound) {
				t.Errorf("the refused Deployment %s: %v, want it not found", deploy, err)
			}
		})
	}
}

// optional are the chart's optional objects: the value whose enabled
// turns each on, and its kind.
var optional = []struct{ value, kind string }{
	{"ingress", "Ingress"},
	{"httpRoute", "HTTPRoute"},
	{"autoscaling", "HorizontalPodAutoscaler"},
	{"podDisruptionBudget", "PodDisruptionBudget"},
	{"serviceMonitor", "ServiceMonitor"},
	{"prometheusRule", "PrometheusRule"},
	{"networkPolicy", "NetworkPolicy"},
}

// switchedOn is the kinds of the optional objects a values file turns on.
func switchedOn(t *testing.T, values string) []string {
	t.Helper()
	b, err := os.ReadFile(values)
	if err != nil {
		t.Fatal(err)
	}
	var v obj
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", values, err)
	}
	var kinds []string
	for _, o := range optional {
		if v.get(o.value, "enabled") == true {
			kinds = append(kinds, o.kind)
		}
	}
	return kinds
}

// renderedDeployment renders a chart with helm template (which passes:
// nothing checks the fields client-side) and returns its Deployment's
// name.
func renderedDeployment(t *testing.T, c *cluster, release, ns, dir, vals string) string {
	t.Helper()
	out, err := c.helm("template", release, dir, "--namespace", ns, "-f", vals)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	objs, err := decodeManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.str("kind") == "Deployment" {
			return o.str("metadata", "name")
		}
	}
	t.Fatalf("helm template rendered no Deployment:\n%s", out)
	return ""
}

// TestUpgradeRollsPods: an upgrade with the same values changes nothing;
// one with another token rolls the pods through the checksum annotation:
// a new ReplicaSet, the old one at zero, every pod new and Ready.
func TestUpgradeRollsPods(t *testing.T) {
	c := controlPlane(t)
	t.Parallel()
	ns := c.namespace(t, "upgrade")
	first := valuesFile(t, "tokens:\n  - "+tokenLine('3')+"\n")
	c.install(t, "install", ns, "files", chart, "-f", first)
	objs := c.checkManifest(t, ns, "files", "Deployment")
	d := objs["Deployment"]
	name, replicas := d.str("metadata", "name"), d.num("spec", "replicas")
	before := c.rolledOut(t, ns, name, replicas)

	c.install(t, "upgrade", ns, "files", chart, "-f", first)
	same := c.rolledOut(t, ns, name, replicas)
	if g, h := same.deploy.num("metadata", "generation"), before.deploy.num("metadata", "generation"); g != h {
		t.Errorf("an upgrade with unchanged values took the Deployment from generation %d to %d", h, g)
	}
	if len(same.sets) != 1 || same.rs.str("metadata", "name") != before.rs.str("metadata", "name") {
		t.Errorf("an upgrade with unchanged values: ReplicaSets %v, want only %s", names(same.sets), before.rs.str("metadata", "name"))
	}

	// While the pods roll, the Deployment never has fewer available than
	// it wants (maxUnavailable 0): watched as often as the API answers.
	stop, lowest := c.watchAvailable(ns, name)
	c.install(t, "upgrade", ns, "files", chart, "-f", valuesFile(t, "tokens:\n  - "+tokenLine('4')+"\n"))
	after := c.rolledOut(t, ns, name, replicas)
	stop()
	if low := <-lowest; low < replicas {
		t.Errorf("during the roll the Deployment had %d pods available, want never fewer than its %d replicas", low, replicas)
	}
	const sum = "checksum/config"
	if a, b := before.deploy.str("spec", "template", "metadata", "annotations", sum), after.deploy.str("spec", "template", "metadata", "annotations", sum); a == "" || a == b {
		t.Errorf("%s %q before the new token, %q after: want it changed", sum, a, b)
	}
	oldHash := before.rs.str("metadata", "labels", "pod-template-hash")
	newHash := after.rs.str("metadata", "labels", "pod-template-hash")
	if newHash == oldHash || len(after.sets) != 2 {
		t.Fatalf("after the new token: ReplicaSets %v (current %s), want a new one beside %s", names(after.sets), after.rs.str("metadata", "name"), before.rs.str("metadata", "name"))
	}
	for _, p := range after.pods {
		if h := p.str("metadata", "labels", "pod-template-hash"); h != newHash {
			t.Errorf("pod %s has pod-template-hash %s, want %s", p.str("metadata", "name"), h, newHash)
		}
		for _, q := range before.pods {
			if p.str("metadata", "uid") == q.str("metadata", "uid") {
				t.Errorf("pod %s survived the roll", p.str("metadata", "name"))
			}
		}
	}
}

// watchAvailable polls the Deployment's available replicas until stop is
// called, then sends the lowest it saw.
func (c *cluster) watchAvailable(ns, name string) (stop func(), lowest <-chan int) {
	done := make(chan struct{})
	low := make(chan int, 1)
	go func() {
		least := -1
		for {
			select {
			case <-done:
				low <- least
				return
			default:
			}
			var d obj
			if err := c.getObj("/apis/apps/v1/namespaces/"+ns+"/deployments/"+name, &d); err == nil {
				if n := max(0, d.num("status", "availableReplicas")); least < 0 || n < least {
					least = n
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() { close(done) }, low
}

// TestExistingConfigSecret: a release given existingConfigSecret mounts
// that Secret as its config file, and its own Secret carries no config;
// uninstalled, it leaves nothing behind but that Secret.
func TestExistingConfigSecret(t *testing.T) {
	c := controlPlane(t)
	t.Parallel()
	ns := c.namespace(t, "existing")
	c.create(t, "/api/v1/namespaces/"+ns+"/secrets", obj{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   obj{"name": "gateway-config"},
		"stringData": obj{"gateway.yaml": "backends:\n  - name: default\n    upstream: ftp://ftp.example.org/\n"},
	})
	c.install(t, "install", ns, "files", chart, "-f", valuesFile(t, "existingConfigSecret: gateway-config\ntokens:\n  - "+tokenLine('5')+"\n"))
	objs := c.checkManifest(t, ns, "files", "Deployment")
	if s, ok := objs["Secret"]; ok && s.get("stringData", "gateway.yaml") != nil {
		t.Errorf("the chart's Secret %s carries a gateway.yaml beside the existing one", s.str("metadata", "name"))
	}
	d := objs["Deployment"]
	r := c.rolledOut(t, ns, d.str("metadata", "name"), d.num("spec", "replicas"))
	for _, p := range r.pods {
		var mounted []string
		for _, v := range anys(p.get("spec", "volumes")) {
			if s := v.str("secret", "secretName"); s != "" {
				mounted = append(mounted, s)
			}
		}
		if !slices.Contains(mounted, "gateway-config") {
			t.Errorf("pod %s mounts the Secrets %q, want gateway-config among them", p.str("metadata", "name"), mounted)
		}
	}

	// helm uninstall takes the release's objects and its pods, and leaves
	// the operator's Secret.
	if out, err := c.helm("uninstall", "files", "--namespace", ns, "--wait", "--timeout", rollout.String()); err != nil {
		t.Fatalf("helm uninstall: %v\n%s", err, out)
	}
	c.eventually(t, "the uninstalled release", func() string {
		for _, o := range objs {
			path, err := c.resourcePath(o.str("apiVersion"), o.str("kind"), ns, o.str("metadata", "name"))
			if err != nil {
				return err.Error()
			}
			if err := c.getObj(path, nil); !errors.Is(err, errNotFound) {
				return fmt.Sprintf("%s %s: %v, want it gone", o.str("kind"), o.str("metadata", "name"), err)
			}
		}
		pods, err := c.list("/api/v1/namespaces/" + ns + "/pods")
		if err != nil || len(pods) > 0 {
			return fmt.Sprintf("pods %v (%v), want none", names(pods), err)
		}
		return ""
	})
	if err := c.getObj("/api/v1/namespaces/"+ns+"/secrets/gateway-config", nil); err != nil {
		t.Errorf("the existing Secret after helm uninstall: %v", err)
	}
}

// namespace creates a namespace for one test and waits for its default
// service account, without which no pod can be created.
func (c *cluster) namespace(t *testing.T, name string) string {
	t.Helper()
	c.create(t, "/api/v1/namespaces", obj{"apiVersion": "v1", "kind": "Namespace", "metadata": obj{"name": name}})
	c.eventually(t, "namespace "+name+"'s default service account", func() string {
		if err := c.getObj("/api/v1/namespaces/"+name+"/serviceaccounts/default", nil); err != nil {
			return err.Error()
		}
		return ""
	})
	return name
}

// install runs helm install or upgrade with --wait, after tryInstall's
// strict check.
func (c *cluster) install(t *testing.T, verb, ns, release, chart string, args ...string) {
	t.Helper()
	if out, err := c.tryInstall(verb, ns, release, chart, args...); err != nil {
		t.Fatalf("helm %s %s: %v\n%s", verb, release, err, out)
	}
}

// tryInstall runs helm install or upgrade with --wait and returns what
// went wrong. helm sends its objects without asking the API server to
// refuse unknown fields (the server then only warns, and helm prints
// nothing): a misspelt field would install as if it were not there. So
// first the objects helm would send, as rendered against this cluster
// (--dry-run=server), are applied in a server-side dry run with strict
// field validation, which checks them against the server's schemas and
// the CRDs'.
func (c *cluster) tryInstall(verb, ns, release, chart string, args ...string) (string, error) {
	base := append([]string{verb, release, chart, "--namespace", ns}, args...)
	out, err := c.helm(append(base, "--dry-run=server", "--output=json")...)
	if err != nil {
		return out, err
	}
	var rel struct{ Manifest string }
	if err := json.Unmarshal([]byte(out), &rel); err != nil {
		return out, fmt.Errorf("helm's dry run: %v", err)
	}
	objs, err := decodeManifest(rel.Manifest)
	if err != nil {
		return rel.Manifest, err
	}
	for _, o := range objs {
		kind, name := o.str("kind"), o.str("metadata", "name")
		path, err := c.resourcePath(o.str("apiVersion"), kind, ns, name)
		if err != nil {
			return "", fmt.Errorf("%s %s: %v", kind, name, err)
		}
		q := url.Values{"dryRun": {"All"}, "fieldManager": {"clustertest"}, "fieldValidation": {"Strict"}, "force": {"true"}}
		if _, err := c.send(http.MethodPatch, path+"?"+q.Encode(), "application/apply-patch+yaml", o, nil); err != nil {
			return "", fmt.Errorf("the API server refuses %s %s under strict field validation: %v", kind, name, err)
		}
	}
	return c.helm(append(base, "--wait", "--timeout", rollout.String())...)
}

func (c *cluster) create(t *testing.T, path string, o obj) {
	t.Helper()
	if _, err := c.do(http.MethodPost, path, o, nil); err != nil {
		t.Fatal(err)
	}
}

// getObj reads an object into out (nil: only whether it exists).
func (c *cluster) getObj(path string, out *obj) error {
	if out == nil {
		_, err := c.do(http.MethodGet, path, nil, nil)
		return err
	}
	_, err := c.do(http.MethodGet, path, nil, out)
	return err
}

func (c *cluster) list(path string) ([]obj, error) {
	var l obj
	if err := c.getObj(path, &l); err != nil {
		return nil, err
	}
	return l.items(), nil
}

// eventually polls check until it returns "" or the rollout bound passes,
// then fails the test with check's last answer.
func (c *cluster) eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	if err := c.poll(rollout, check); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// decodeManifest decodes the objects of a manifest.
func decodeManifest(s string) ([]obj, error) {
	var out []obj
	dec := yaml.NewDecoder(strings.NewReader(s))
	for {
		var o obj
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("a manifest: %v", err)
		}
		if o != nil {
			out = append(out, o)
		}
	}
}

// checkManifest checks that every object helm get manifest lists for the
// release exists on the server with its kind and version, and that the
// wanted kinds are among them. It returns the manifest's objects by kind
// (the first of each).
func (c *cluster) checkManifest(t *testing.T, ns, release string, want ...string) map[string]obj {
	t.Helper()
	out, err := c.helm("get", "manifest", release, "--namespace", ns)
	if err != nil {
		t.Fatalf("helm get manifest: %v\n%s", err, out)
	}
	objs, err := decodeManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]obj{}
	for _, o := range objs {
		kind, name := o.str("kind"), o.str("metadata", "name")
		if _, ok := byKind[kind]; !ok {
			byKind[kind] = o
		}
		path, err := c.resourcePath(o.str("apiVersion"), kind, ns, name)
		if err != nil {
			t.Errorf("%s %s: %v", kind, name, err)
			continue
		}
		var got obj
		if err := c.getObj(path, &got); err != nil {
			t.Errorf("%s %s of the release is not on the server: %v", kind, name, err)
			continue
		}
		if got.str("kind") != kind || got.str("apiVersion") != o.str("apiVersion") {
			t.Errorf("%s %s is a %s %s on the server", kind, name, got.str("apiVersion"), got.str("kind"))
		}
	}
	for _, k := range want {
		if _, ok := byKind[k]; !ok {
			t.Errorf("the release has no %s", k)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return byKind
}

// discovery caches the API server's resources by group version.
var discovery struct {
	sync.Mutex
	lists map[string][]obj
}

// resourcePath is the API path of an object, from the server's discovery.
func (c *cluster) resourcePath(apiVersion, kind, ns, name string) (string, error) {
	base := "/apis/" + apiVersion
	if !strings.Contains(apiVersion, "/") {
		base = "/api/" + apiVersion
	}
	discovery.Lock()
	defer discovery.Unlock()
	if discovery.lists == nil {
		discovery.lists = map[string][]obj{}
	}
	rs, ok := discovery.lists[apiVersion]
	if !ok {
		var l obj
		if err := c.getObj(base, &l); err != nil {
			return "", fmt.Errorf("the server does not serve %s: %w", apiVersion, err)
		}
		rs = anys(l.get("resources"))
		discovery.lists[apiVersion] = rs
	}
	for _, r := range rs {
		if r.str("kind") != kind || strings.Contains(r.str("name"), "/") {
			continue
		}
		if r.get("namespaced") == true {
			return base + "/namespaces/" + ns + "/" + r.str("name") + "/" + name, nil
		}
		return base + "/" + r.str("name") + "/" + name, nil
	}
	return "", fmt.Errorf("the server has no kind %s in %s", kind, apiVersion)
}

// rolloutState is a Deployment that has rolled out, with its ReplicaSets (rs
// the current one) and its pods.
type rolloutState struct {
	deploy obj
	rs     obj
	sets   []obj
	pods   []obj
}

// rolledOut waits until the Deployment has the replicas wanted, all
// updated and available, in its current ReplicaSet alone (every older one
// at zero), as pods that are scheduled on the nodes, Running and Ready.
func (c *cluster) rolledOut(t *testing.T, ns, name string, replicas int) rolloutState {
	t.Helper()
	var r rolloutState
	c.eventually(t, "Deployment "+name+"'s rollout", func() string {
		r = rolloutState{}
		if err := c.getObj("/apis/apps/v1/namespaces/"+ns+"/deployments/"+name, &r.deploy); err != nil {
			return err.Error()
		}
		d := r.deploy
		if d.num("spec", "replicas") != replicas {
			return fmt.Sprintf("spec.replicas %d, want %d", d.num("spec", "replicas"), replicas)
		}
		if d.num("status", "observedGeneration") != d.num("metadata", "generation") {
			return fmt.Sprintf("status %v not yet for generation %d", d.get("status"), d.num("metadata", "generation"))
		}
		for _, f := range []string{"replicas", "updatedReplicas", "readyReplicas", "availableReplicas"} {
			if d.num("status", f) != replicas {
				return fmt.Sprintf("status %v, want %d replicas in each count", d.get("status"), replicas)
			}
		}
		sets, err := c.list("/apis/apps/v1/namespaces/" + ns + "/replicasets")
		if err != nil {
			return err.Error()
		}
		revision := d.str("metadata", "annotations", "deployment.kubernetes.io/revision")
		owned := map[string]obj{} // by uid
		for _, s := range sets {
			if !ownedBy(s, d) {
				continue
			}
			r.sets = append(r.sets, s)
			owned[s.str("metadata", "uid")] = s
			if s.str("metadata", "annotations", "deployment.kubernetes.io/revision") == revision {
				r.rs = s
			} else if s.num("spec", "replicas") != 0 || s.num("status", "replicas") != 0 {
				return fmt.Sprintf("old ReplicaSet %s not at zero: spec %v, status %v", s.str("metadata", "name"), s.get("spec", "replicas"), s.get("status"))
			}
		}
		if r.rs == nil {
			return fmt.Sprintf("no ReplicaSet of revision %s among %v", revision, names(r.sets))
		}
		pods, err := c.list("/api/v1/namespaces/" + ns + "/pods")
		if err != nil {
			return err.Error()
		}
		for _, p := range pods {
			var mine bool
			for uid := range owned {
				mine = mine || ownedByUID(p, uid)
			}
			if !mine {
				continue
			}
			if !ownedBy(p, r.rs) {
				return fmt.Sprintf("pod %s of an old ReplicaSet still there (phase %s, deletionTimestamp %v)", p.str("metadata", "name"), p.str("status", "phase"), p.get("metadata", "deletionTimestamp"))
			}
			if p.get("metadata", "deletionTimestamp") != nil {
				return fmt.Sprintf("pod %s is being deleted", p.str("metadata", "name"))
			}
			if !slices.Contains(nodes, p.str("spec", "nodeName")) || p.str("status", "phase") != "Running" || condition(p, "Ready") != "True" {
				return fmt.Sprintf("pod %s on node %q: phase %q, conditions %v", p.str("metadata", "name"), p.str("spec", "nodeName"), p.str("status", "phase"), p.get("status", "conditions"))
			}
			r.pods = append(r.pods, p)
		}
		if len(r.pods) != replicas {
			return fmt.Sprintf("%d pods of ReplicaSet %s, want %d", len(r.pods), r.rs.str("metadata", "name"), replicas)
		}
		return ""
	})
	return r
}

func ownedBy(o, owner obj) bool { return ownedByUID(o, owner.str("metadata", "uid")) }

func ownedByUID(o obj, uid string) bool {
	for _, r := range anys(o.get("metadata", "ownerReferences")) {
		if r.str("uid") == uid && r.get("controller") == true {
			return true
		}
	}
	return false
}

func names(objs []obj) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.str("metadata", "name"))
	}
	return out
}

// checkHardening checks the pod specs as the server stored them (after
// admission and defaults) keep the chart's hardening.
func checkHardening(t *testing.T, pods []obj) {
	t.Helper()
	for _, p := range pods {
		c := asMap(p.get("spec", "containers", "0"))
		for _, want := range []struct {
			got, want any
			what      string
		}{
			{p.get("spec", "automountServiceAccountToken"), false, "automountServiceAccountToken"},
			{p.get("spec", "securityContext", "runAsNonRoot"), true, "pod runAsNonRoot"},
			{p.get("spec", "securityContext", "seccompProfile", "type"), "RuntimeDefault", "seccompProfile"},
			{c.get("securityContext", "runAsNonRoot"), true, "container runAsNonRoot"},
			{c.get("securityContext", "allowPrivilegeEscalation"), false, "allowPrivilegeEscalation"},
			{c.get("securityContext", "readOnlyRootFilesystem"), true, "readOnlyRootFilesystem"},
			{fmt.Sprint(c.get("securityContext", "capabilities", "drop")), "[ALL]", "capabilities dropped"},
		} {
			if want.got != want.want {
				t.Errorf("pod %s: %s = %v, want %v", p.str("metadata", "name"), want.what, want.got, want.want)
			}
		}
		// No service-account token reached the pod by any path.
		for _, v := range anys(p.get("spec", "volumes")) {
			if v.get("projected") != nil {
				t.Errorf("pod %s has a projected volume (a service-account token?): %v", p.str("metadata", "name"), v)
			}
		}
	}
}

// checkSelectors checks that the release's objects that find the pods or
// the Service by labels and port names find them: a ServiceMonitor or a
// NetworkPolicy that selects nothing is accepted by the server all the
// same, and does nothing.
func checkSelectors(t *testing.T, objs map[string]obj, pods []obj) {
	t.Helper()
	svc := objs["Service"]
	svcPorts := map[string]bool{}
	for _, p := range anys(svc.get("spec", "ports")) {
		svcPorts[p.str("name")] = true
	}
	if sm, ok := objs["ServiceMonitor"]; ok {
		if !selects(sm.get("spec", "selector", "matchLabels"), svc.get("metadata", "labels")) {
			t.Errorf("ServiceMonitor selects %v, which the Service's labels %v do not match", sm.get("spec", "selector"), svc.get("metadata", "labels"))
		}
		for _, e := range anys(sm.get("spec", "endpoints")) {
			if !svcPorts[e.str("port")] {
				t.Errorf("ServiceMonitor scrapes port %q, which the Service does not name (%v)", e.str("port"), svc.get("spec", "ports"))
			}
		}
	}
	np, ok := objs["NetworkPolicy"]
	if !ok {
		return
	}
	for _, p := range pods {
		if !selects(np.get("spec", "podSelector", "matchLabels"), p.get("metadata", "labels")) {
			t.Errorf("NetworkPolicy selects %v, which pod %s's labels %v do not match", np.get("spec", "podSelector"), p.str("metadata", "name"), p.get("metadata", "labels"))
		}
		containerPorts := map[string]bool{}
		for _, c := range anys(p.get("spec", "containers")) {
			for _, cp := range anys(c.get("ports")) {
				containerPorts[cp.str("name")] = true
			}
		}
		for _, rule := range anys(np.get("spec", "ingress")) {
			for _, port := range anys(rule.get("ports")) {
				if name, named := port.get("port").(string); named && !containerPorts[name] {
					t.Errorf("NetworkPolicy lets in port %q, which pod %s does not name", name, p.str("metadata", "name"))
				}
			}
		}
	}
}

// selects says whether every label of a selector's matchLabels is among
// the labels; an empty selector selects nothing here.
func selects(matchLabels, labels any) bool {
	sel, have := asMap(matchLabels), asMap(labels)
	for k, v := range sel {
		if have[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// checkPDB waits until the disruption controller has computed the PDB's
// status for the pods.
func (c *cluster) checkPDB(t *testing.T, ns, name string, pods int) {
	t.Helper()
	c.eventually(t, "PodDisruptionBudget "+name, func() string {
		var p obj
		if err := c.getObj("/apis/policy/v1/namespaces/"+ns+"/poddisruptionbudgets/"+name, &p); err != nil {
			return err.Error()
		}
		if p.num("status", "observedGeneration") != p.num("metadata", "generation") ||
			p.num("status", "expectedPods") != pods || p.num("status", "currentHealthy") != pods ||
			p.num("status", "disruptionsAllowed") != pods-p.num("status", "desiredHealthy") {
			return fmt.Sprintf("status %v, want it computed for %d healthy pods", p.get("status"), pods)
		}
		return ""
	})
}

// checkEndpoints waits until the Service's EndpointSlices list every pod,
// ready, on the port named http.
func (c *cluster) checkEndpoints(t *testing.T, ns, service string, pods []obj) {
	t.Helper()
	var want []string
	for _, p := range pods {
		want = append(want, p.str("status", "podIP"))
	}
	slices.Sort(want)
	c.eventually(t, "Service "+service+"'s endpoints", func() string {
		slicesOf, err := c.list("/apis/discovery.k8s.io/v1/namespaces/" + ns + "/endpointslices?labelSelector=" + url.QueryEscape("kubernetes.io/service-name="+service))
		if err != nil {
			return err.Error()
		}
		var got []string
		for _, s := range slicesOf {
			if s.str("ports", "0", "name") != "http" {
				return fmt.Sprintf("EndpointSlice %s ports %v, want the port named http", s.str("metadata", "name"), s.get("ports"))
			}
			for _, e := range anys(s.get("endpoints")) {
				if e.get("conditions", "ready") == true {
					got = append(got, e.str("addresses", "0"))
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Sprintf("ready endpoints %v, want the pods' %v", got, want)
		}
		return ""
	})
}
