// Package clustertest installs the Helm chart in deploy/helm/ftpgw into a
// real Kubernetes control plane and checks what the cluster makes of it. It
// has tests only.
//
// The tests start the control plane themselves, once for the package, on
// 127.0.0.1 with free ports: Debian's etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler built from the k8s.io/kubernetes
// module (scripts/kube), and kwok, which plays the kubelet for a few
// simulated nodes, so that a Deployment really becomes a ReplicaSet and
// scheduled, Running, Ready pods. They talk to the API server over HTTPS
// with a bearer token and plain JSON, and install with the helm CLI. helm
// does not ask the server to refuse unknown fields, so before each install
// the objects it would send go through a server-side dry run with strict
// field validation: a misspelt field fails the test instead of vanishing.
// scripts/install-test-deps.sh installs all of it, with the CRDs of the
// chart's optional objects (ServiceMonitor, PrometheusRule, HTTPRoute).
// Without it the tests skip, unless FTPGW_REQUIRE_REAL_SERVERS=1, in which
// case they fail.
package clustertest
