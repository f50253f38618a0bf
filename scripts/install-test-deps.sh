#!/usr/bin/env bash
# install-test-deps.sh prepares a machine for the test suite. Safe to run any
# number of times; needs root unless everything is already in place.
#
# It installs:
#   - vsftpd and curl, as Debian packages, and openssl, whose rand the
#     README's token examples use (internal/readmetest runs them);
#   - wget, aria2 (aria2c), rclone and lftp, as Debian packages: the HTTP
#     clients internal/clienttest drives against the gateway (curl too);
#   - chromium-headless-shell, Debian's Chromium without a window (smaller
#     than chromium, which needs GTK), for internal/browsertest's tests
#     driven over the DevTools protocol;
#   - prometheus (and its promtool), which cmd/gateway's tests run to
#     scrape the gateway and check its metrics (not as a service: the
#     tests start their own on loopback);
#   - podman, which internal/imagetest builds the Dockerfile's final stage
#     with (FROM scratch: nothing is pulled) and inspects the image;
#   - pure-ftpd and proftpd, unpacked (not installed) from their Debian
#     packages into ${FTPGW_TEST_SERVERS_DIR:-/opt/ftpgw-test-servers}/pure-ftpd
#     and .../proftpd. The three servers conflict as packages (each provides
#     ftp-server), so only vsftpd goes through dpkg; the others are run
#     straight from the unpacked tree by internal/realftpd, which reads the
#     same FTPGW_TEST_SERVERS_DIR;
#   - the shared libraries proftpd links against that nothing else pulls in;
#   - nodejs (with npm) and tus-js-client (see TUS_JS_VERSION) from npm into
#     TOOLS_DIR/tus-js-client-<version>, for api's TestTusJSClient;
#   - helm, built from its Go module (see HELM_VERSION), for the chart's
#     tests in internal/charttest;
#   - a Kubernetes control plane for internal/clustertest, which installs
#     the chart into it: etcd (Debian's etcd-server, not run as a service:
#     the tests start their own), kube-apiserver, kube-controller-manager
#     and kube-scheduler built from the module in scripts/kube, kwok for
#     simulated nodes, kwok's stage files, and the CRDs of the chart's
#     optional objects (see KUBE_VERSION and what follows it);
#   - the local account ftpgwtest, which all three servers log in.
#
# TLS certificates are not made here: internal/realftpd generates them in Go.
# The account, password and directory layout are shared with
# internal/realftpd; keep the two in step.
set -euo pipefail

TEST_USER=ftpgwtest
TEST_PASSWORD=ftpgw-test-pw
TEST_HOME=/home/${TEST_USER}
TEST_SHELL=/bin/bash
PACKAGES=(vsftpd curl openssl wget aria2 rclone lftp chromium-headless-shell podman prometheus etcd-server nodejs)
# What proftpd-core's binary needs beyond a base system (checked with ldd
# below, so a new dependency shows up as an error rather than a test failure).
PROFTPD_LIBS=(libhiredis0.14 libmemcached11 libmemcachedutil2 libpcre2-posix3)
SERVERS_DIR=${FTPGW_TEST_SERVERS_DIR:-/opt/ftpgw-test-servers}
# Unpacked servers: directory name under SERVERS_DIR, Debian package, and the
# binaries (relative to the unpacked tree) that must run.
UNPACKED=(pure-ftpd proftpd)
declare -A UNPACKED_PKG=([pure-ftpd]=pure-ftpd [proftpd]=proftpd-core)
declare -A UNPACKED_BINS=(
	[pure-ftpd]="usr/sbin/pure-ftpd usr/bin/pure-pw"
	[proftpd]="usr/sbin/proftpd"
)
STAMP=.deb-version # in each unpacked tree: the package version it holds
# helm, which Debian does not package, is built from its Go module into
# TOOLS_DIR/bin once per version (a few minutes the first time), with the
# Kubernetes version its client-side rendering assumes.
TOOLS_DIR=${FTPGW_TEST_TOOLS_DIR:-/opt/ftpgw-test-tools}
HELM_VERSION=v3.19.0
# tus-js-client, installed with npm into TUS_JS_DIR; keep in step with
# tusJSVersion in api/tusjs_test.go, which looks there.
TUS_JS_VERSION=4.3.1
TUS_JS_DIR=${TOOLS_DIR}/tus-js-client-${TUS_JS_VERSION}
HELM_LDFLAGS="-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=34"
# The control plane for internal/clustertest, in KUBE_DIR (the test looks
# there). KUBE_VERSION must be the k8s.io/kubernetes that scripts/kube/go.mod
# requires: the three binaries are built from that module (about ten minutes
# cold on two cores, once per version), with the version stamped in as a
# release build does. kwok simulates the nodes and the pods' life; its stage
# files and the CRDs (ServiceMonitor and PrometheusRule from
# prometheus-operator, HTTPRoute from gateway-api) are copied from the Go
# module cache, at the versions below.
KUBE_VERSION=v1.37.2
KUBE_DIR=${TOOLS_DIR}/kube-${KUBE_VERSION}
KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler)
kube_minor=${KUBE_VERSION#v1.}
kube_minor=${kube_minor%%.*}
KUBE_LDFLAGS="-X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${kube_minor} -X k8s.io/component-base/version.gitTreeState=clean"
KWOK_VERSION=v0.8.0
KWOK_STAGES=(node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml pod/fast/pod-ready.yaml pod/fast/pod-delete.yaml)
PROMETHEUS_OPERATOR_VERSION=v0.88.0
GATEWAY_API_VERSION=v1.6.3
CRDS=(
	"github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR_VERSION} example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
	"github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR_VERSION} example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
	"sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION} config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"
)
SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf 'install-test-deps: %s\n' "$*"; }
die() { printf 'install-test-deps: error: %s\n' "$*" >&2; exit 1; }

is_installed() {
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

in_ftpusers() {
	[[ -f /etc/ftpusers ]] && grep -qx "[[:space:]]*${TEST_USER}[[:space:]]*" /etc/ftpusers
}

candidate() { apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }'; }

# tusjs_ok: tus-js-client of TUS_JS_VERSION is installed.
tusjs_ok() {
	grep -q "\"version\": \"${TUS_JS_VERSION}\"" "${TUS_JS_DIR}/node_modules/tus-js-client/package.json" 2>/dev/null
}

# helm_ok: the helm of HELM_VERSION is built.
helm_ok() {
	[[ -x "${TOOLS_DIR}/bin/helm" ]] && [[ "$("${TOOLS_DIR}/bin/helm" version --short 2>/dev/null)" == "${HELM_VERSION}"* ]]
}

# kube_ok: the three control-plane binaries of KUBE_VERSION are built.
kube_ok() {
	local b
	for b in "${KUBE_BINS[@]}"; do
		[[ -x "${KUBE_DIR}/${b}" ]] || return 1
		[[ "$("${KUBE_DIR}/${b}" --version 2>/dev/null)" == "Kubernetes ${KUBE_VERSION}" ]] || return 1
	done
}

# kwok_ok: kwok of KWOK_VERSION is built.
kwok_ok() {
	[[ -x "${TOOLS_DIR}/bin/kwok" ]] && [[ "$("${TOOLS_DIR}/bin/kwok" --version 2>/dev/null)" == "kwok version ${KWOK_VERSION} "* ]]
}

# kube_files_ok: kwok's stages and the CRDs are in KUBE_DIR, copied from the
# versions above (recorded in KUBE_FILES_STAMP).
KUBE_FILES_STAMP=.files-version
kube_files_version="kwok ${KWOK_VERSION}, prometheus-operator ${PROMETHEUS_OPERATOR_VERSION}, gateway-api ${GATEWAY_API_VERSION}"
kube_files_ok() {
	local f c
	[[ "$(cat "${KUBE_DIR}/${KUBE_FILES_STAMP}" 2>/dev/null)" == "${kube_files_version}" ]] || return 1
	for f in "${KWOK_STAGES[@]}"; do
		[[ -s "${KUBE_DIR}/kwok-stages/$(basename "$f")" ]] || return 1
	done
	for c in "${CRDS[@]}"; do
		[[ -s "${KUBE_DIR}/crds/$(basename "${c#* }")" ]] || return 1
	done
}

# unpacked_ok NAME: the unpacked tree has all its binaries.
unpacked_ok() {
	local name=$1 b
	[[ -f "${SERVERS_DIR}/${name}/${STAMP}" ]] || return 1
	for b in ${UNPACKED_BINS[$name]}; do
		[[ -x "${SERVERS_DIR}/${name}/${b}" ]] || return 1
	done
}

missing_packages=()
for p in "${PACKAGES[@]}" "${PROFTPD_LIBS[@]}"; do
	is_installed "$p" || missing_packages+=("$p")
done

if [[ "$(id -u)" -ne 0 ]]; then
	problems=()
	((${#missing_packages[@]} == 0)) || problems+=("packages not installed: ${missing_packages[*]}")
	for name in "${UNPACKED[@]}"; do
		unpacked_ok "$name" || problems+=("${name} is not unpacked in ${SERVERS_DIR}/${name}")
	done
	if ! getent passwd "$TEST_USER" >/dev/null; then
		problems+=("test account ${TEST_USER} does not exist")
	fi
	helm_ok || problems+=("helm ${HELM_VERSION} is not built in ${TOOLS_DIR}/bin")
	tusjs_ok || problems+=("tus-js-client ${TUS_JS_VERSION} is not installed in ${TUS_JS_DIR}")
	kube_ok || problems+=("kube-apiserver, kube-controller-manager and kube-scheduler ${KUBE_VERSION} are not built in ${KUBE_DIR}")
	kwok_ok || problems+=("kwok ${KWOK_VERSION} is not built in ${TOOLS_DIR}/bin")
	kube_files_ok || problems+=("kwok's stages and the CRDs are not in ${KUBE_DIR}")
	if in_ftpusers; then
		problems+=("${TEST_USER} is listed in /etc/ftpusers (vsftpd would refuse the login)")
	fi
	if ((${#problems[@]} > 0)); then
		printf 'install-test-deps: error: not running as root, so cannot fix:\n' >&2
		printf '  - %s\n' "${problems[@]}" >&2
		printf 'Run this script as root (for example: sudo %s).\n' "$0" >&2
		exit 1
	fi
	log "not root: packages, servers and account are present, password left as is"
	log "note: the real-server tests start the servers and need root"
	exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found; this script supports Debian only"
export DEBIAN_FRONTEND=noninteractive

# Package lists are fetched at most once per run, and only when something is
# missing from the local ones.
lists_updated=0
update_lists() {
	if ((lists_updated == 0)); then
		log "apt-get update"
		apt-get update
		lists_updated=1
	fi
}

if ((${#missing_packages[@]} > 0)); then
	log "installing ${missing_packages[*]}"
	# Stop the package scripts from starting a system-wide vsftpd on port 21:
	# the tests start their own instances, bound to 127.0.0.1 only.
	policy=/usr/sbin/policy-rc.d
	if [[ ! -e "$policy" ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt_install() {
		apt-get install -y --no-install-recommends \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
			"${missing_packages[@]}"
	}
	# A first try on the lists already present; they may be stale or absent.
	if ! apt_install; then
		update_lists
		apt_install
	fi
else
	log "packages already installed: ${PACKAGES[*]} ${PROFTPD_LIBS[*]}"
fi

if tusjs_ok; then
	log "tus-js-client ${TUS_JS_VERSION} already installed in ${TUS_JS_DIR}"
else
	command -v npm >/dev/null || die "npm is missing: the nodejs package should bring it"
	log "installing tus-js-client ${TUS_JS_VERSION} into ${TUS_JS_DIR}"
	mkdir -p "${TUS_JS_DIR}"
	npm install --prefix "${TUS_JS_DIR}" --no-audit --no-fund --no-save "tus-js-client@${TUS_JS_VERSION}"
	tusjs_ok || die "tus-js-client ${TUS_JS_VERSION} did not install"
fi

if helm_ok; then
	log "helm ${HELM_VERSION} already built in ${TOOLS_DIR}/bin"
else
	log "building helm ${HELM_VERSION} into ${TOOLS_DIR}/bin (a few minutes, once)"
	mkdir -p "${TOOLS_DIR}/bin"
	GOBIN="${TOOLS_DIR}/bin" GOFLAGS=-mod=mod "${GO:-go}" install -ldflags "${HELM_LDFLAGS}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
	helm_ok || die "helm ${HELM_VERSION} did not build"
fi

grep -q "^require k8s.io/kubernetes ${KUBE_VERSION}\$" "${SCRIPTS_DIR}/kube/go.mod" ||
	die "scripts/kube/go.mod does not require k8s.io/kubernetes ${KUBE_VERSION}; keep KUBE_VERSION in step with it"
if kube_ok; then
	log "kube-apiserver, kube-controller-manager, kube-scheduler ${KUBE_VERSION} already built in ${KUBE_DIR}"
else
	log "building kube-apiserver, kube-controller-manager, kube-scheduler ${KUBE_VERSION} into ${KUBE_DIR} (about ten minutes, once)"
	mkdir -p "${KUBE_DIR}"
	tmp="$(mktemp -d "${KUBE_DIR}/.build.XXXXXX")"
	(cd "${SCRIPTS_DIR}/kube" && "${GO:-go}" build -trimpath -ldflags "${KUBE_LDFLAGS}" -o "${tmp}/" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler) ||
		{ rm -rf "$tmp"; die "building the Kubernetes control plane failed"; }
	for b in "${KUBE_BINS[@]}"; do
		mv "${tmp}/${b}" "${KUBE_DIR}/${b}"
	done
	rm -rf "$tmp"
	kube_ok || die "the control plane built does not print Kubernetes ${KUBE_VERSION}"
fi

if kwok_ok; then
	log "kwok ${KWOK_VERSION} already built in ${TOOLS_DIR}/bin"
else
	log "building kwok ${KWOK_VERSION} into ${TOOLS_DIR}/bin (a few minutes, once)"
	mkdir -p "${TOOLS_DIR}/bin"
	GOBIN="${TOOLS_DIR}/bin" GOFLAGS=-mod=mod "${GO:-go}" install "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
	kwok_ok || die "kwok ${KWOK_VERSION} did not build"
fi

# module_dir MODULE@VERSION: where the Go module cache holds it (downloaded
# if need be). Outside any module, so that the gateway's go.mod is not read.
module_dir() {
	(cd / && GOFLAGS=-mod=mod "${GO:-go}" mod download -json "$1") | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}
if kube_files_ok; then
	log "kwok's stages and the CRDs already in ${KUBE_DIR}"
else
	mkdir -p "${KUBE_DIR}/kwok-stages" "${KUBE_DIR}/crds"
	dir="$(module_dir "sigs.k8s.io/kwok@${KWOK_VERSION}")"
	[[ -n "$dir" ]] || die "go mod download sigs.k8s.io/kwok@${KWOK_VERSION} failed"
	for f in "${KWOK_STAGES[@]}"; do
		install -m 0644 "${dir}/kustomize/stage/${f}" "${KUBE_DIR}/kwok-stages/"
	done
	for c in "${CRDS[@]}"; do
		dir="$(module_dir "${c%% *}")"
		[[ -n "$dir" ]] || die "go mod download ${c%% *} failed"
		install -m 0644 "${dir}/${c#* }" "${KUBE_DIR}/crds/"
	done
	printf '%s\n' "${kube_files_version}" >"${KUBE_DIR}/${KUBE_FILES_STAMP}"
	kube_files_ok || die "kwok's stages or the CRDs are missing in ${KUBE_DIR}"
	log "copied kwok's stages and the CRDs into ${KUBE_DIR}"
fi

# vsftpd authenticates through PAM service "vsftpd", which the package ships.
[[ -f /etc/pam.d/vsftpd ]] || die "/etc/pam.d/vsftpd is missing; reinstall vsftpd (apt-get install --reinstall vsftpd)"

# unpack NAME: fetch NAME's package and unpack it into SERVERS_DIR/NAME,
# unless the version there is already the candidate. The tree is built
# beside the old one and swapped in, so a failed run leaves no half tree.
unpack() {
	local name=$1 pkg=${UNPACKED_PKG[$1]} want have tmp deb dest
	dest="${SERVERS_DIR}/${name}"
	want="$(candidate "$pkg")"
	if [[ -z "$want" || "$want" == "(none)" ]]; then
		update_lists
		want="$(candidate "$pkg")"
		[[ -n "$want" && "$want" != "(none)" ]] || die "no installable version of ${pkg} in the apt sources"
	fi
	have="$(cat "${dest}/${STAMP}" 2>/dev/null || true)"
	if [[ "$have" == "$want" ]] && unpacked_ok "$name"; then
		log "${pkg} ${have} already unpacked in ${dest}"
		return
	fi
	mkdir -p "$SERVERS_DIR"
	chmod 0755 "$SERVERS_DIR"
	tmp="$(mktemp -d "${SERVERS_DIR}/.${name}.XXXXXX")"
	# apt downloads as the unprivileged _apt user where it can.
	chown _apt "$tmp" 2>/dev/null || true
	if ! (cd "$tmp" && apt-get download "${pkg}=${want}"); then
		update_lists
		(cd "$tmp" && apt-get download "${pkg}=${want}") || { rm -rf "$tmp"; die "apt-get download ${pkg} failed"; }
	fi
	deb=("$tmp"/*.deb)
	mkdir "$tmp/tree"
	dpkg -x "${deb[0]}" "$tmp/tree"
	printf '%s\n' "$(dpkg-deb -f "${deb[0]}" Version)" >"$tmp/tree/${STAMP}"
	chmod 0755 "$tmp/tree"
	rm -rf "${dest}.old"
	[[ ! -e "$dest" ]] || mv "$dest" "${dest}.old"
	mv "$tmp/tree" "$dest"
	rm -rf "$tmp" "${dest}.old"
	log "unpacked ${pkg} $(cat "${dest}/${STAMP}") into ${dest}"
}

for name in "${UNPACKED[@]}"; do
	unpack "$name"
done

# Every binary must find its libraries and start.
for name in "${UNPACKED[@]}"; do
	for b in ${UNPACKED_BINS[$name]}; do
		bin="${SERVERS_DIR}/${name}/${b}"
		missing="$(ldd "$bin" 2>&1 | awk '/not found/ { print $1 }' | tr '\n' ' ')"
		[[ -z "$missing" ]] || die "${bin} is missing shared libraries: ${missing}(add their packages to PROFTPD_LIBS)"
	done
done
# vsftpd prints its version on fd 0, where inetd would put the connection.
vsftpd_version="$(/usr/sbin/vsftpd -v 0>&1 2>&1)" || die "vsftpd -v failed: ${vsftpd_version}"
pureftpd_version="$("${SERVERS_DIR}/pure-ftpd/usr/sbin/pure-ftpd" --help 2>&1 | head -n 1)" ||
	die "pure-ftpd --help failed"
[[ "$pureftpd_version" == pure-ftpd* ]] || die "pure-ftpd --help printed ${pureftpd_version}"
"${SERVERS_DIR}/pure-ftpd/usr/bin/pure-pw" --help >/dev/null 2>&1 || die "pure-pw --help failed"
proftpd_version="$("${SERVERS_DIR}/proftpd/usr/sbin/proftpd" -v 2>&1)" || die "proftpd -v failed: ${proftpd_version}"
chromium_version="$(chromium-headless-shell --version 2>&1)" || die "chromium-headless-shell --version failed: ${chromium_version}"
podman_version="$(podman --version 2>&1)" || die "podman --version failed: ${podman_version}"
prometheus_version="$(prometheus --version 2>&1 | head -n1)" || die "prometheus --version failed: ${prometheus_version}"
# Read whole: etcd dies of SIGPIPE if head closes the pipe before it is done.
etcd_version="$(etcd --version 2>&1)" || die "etcd --version failed: ${etcd_version}"
etcd_version=${etcd_version%%$'\n'*}

if ! getent passwd "$TEST_USER" >/dev/null; then
	log "creating account ${TEST_USER}"
	useradd -m -d "$TEST_HOME" -s "$TEST_SHELL" "$TEST_USER"
fi

# PAM (pam_shells) refuses accounts whose shell is not in /etc/shells.
shell="$(getent passwd "$TEST_USER" | cut -d: -f7)"
if ! grep -qx "$shell" /etc/shells 2>/dev/null; then
	log "setting ${TEST_USER}'s shell to ${TEST_SHELL}"
	usermod -s "$TEST_SHELL" "$TEST_USER"
fi

# vsftpd changes into the home directory at login and fails the login if it
# cannot, so it must exist and belong to the user.
home="$(getent passwd "$TEST_USER" | cut -d: -f6)"
[[ -n "$home" ]] || die "account ${TEST_USER} has no home directory set"
mkdir -p "$home"
chown "${TEST_USER}:" "$home"

echo "${TEST_USER}:${TEST_PASSWORD}" | chpasswd

if in_ftpusers; then
	log "removing ${TEST_USER} from /etc/ftpusers"
	sed -i "/^[[:space:]]*${TEST_USER}[[:space:]]*\$/d" /etc/ftpusers
fi

log "ok: ${vsftpd_version}; ${pureftpd_version} ($(cat "${SERVERS_DIR}/pure-ftpd/${STAMP}")); ${proftpd_version} ($(cat "${SERVERS_DIR}/proftpd/${STAMP}")); $(dpkg-query -W -f='${Package} ${Version}; ' curl wget aria2 rclone lftp)${chromium_version}; ${podman_version}; ${prometheus_version}; helm $("${TOOLS_DIR}/bin/helm" version --short); ${etcd_version}; Kubernetes ${KUBE_VERSION}; $("${TOOLS_DIR}/bin/kwok" --version | cut -d' ' -f1-3); account ${TEST_USER}"
