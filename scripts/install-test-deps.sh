#!/usr/bin/env bash
# install-test-deps.sh prepares a machine for the test suite: it installs the
# Debian packages the integration tests drive (vsftpd, curl) and creates the
# local FTP account they log in with. Safe to run any number of times.
#
# The account and password are shared with internal/realftpd; keep them in step.
set -euo pipefail

TEST_USER=ftpgwtest
TEST_PASSWORD=ftpgw-test-pw
TEST_HOME=/home/${TEST_USER}
TEST_SHELL=/bin/bash
PACKAGES=(vsftpd curl)

log() { printf 'install-test-deps: %s\n' "$*"; }
die() { printf 'install-test-deps: error: %s\n' "$*" >&2; exit 1; }

is_installed() {
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

in_ftpusers() {
	[[ -f /etc/ftpusers ]] && grep -qx "[[:space:]]*${TEST_USER}[[:space:]]*" /etc/ftpusers
}

missing_packages=()
for p in "${PACKAGES[@]}"; do
	is_installed "$p" || missing_packages+=("$p")
done

if [[ "$(id -u)" -ne 0 ]]; then
	problems=()
	((${#missing_packages[@]} == 0)) || problems+=("packages not installed: ${missing_packages[*]}")
	if ! getent passwd "$TEST_USER" >/dev/null; then
		problems+=("test account ${TEST_USER} does not exist")
	fi
	if in_ftpusers; then
		problems+=("${TEST_USER} is listed in /etc/ftpusers (vsftpd would refuse the login)")
	fi
	if ((${#problems[@]} > 0)); then
		printf 'install-test-deps: error: not running as root, so cannot fix:\n' >&2
		printf '  - %s\n' "${problems[@]}" >&2
		printf 'Run this script as root (for example: sudo %s).\n' "$0" >&2
		exit 1
	fi
	log "not root: packages and account are present, password left as is"
	log "note: the real-server tests start vsftpd and need root"
	exit 0
fi

if ((${#missing_packages[@]} > 0)); then
	command -v apt-get >/dev/null || die "apt-get not found; install ${missing_packages[*]} by hand"
	log "installing ${missing_packages[*]}"
	# Stop the package scripts from starting a system-wide vsftpd on port 21:
	# the tests start their own instances, bound to 127.0.0.1 only.
	policy=/usr/sbin/policy-rc.d
	if [[ ! -e "$policy" ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${missing_packages[@]}"
else
	log "packages already installed: ${PACKAGES[*]}"
fi

# vsftpd authenticates through PAM service "vsftpd", which the package ships.
[[ -f /etc/pam.d/vsftpd ]] || die "/etc/pam.d/vsftpd is missing; reinstall vsftpd (apt-get install --reinstall vsftpd)"

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

log "ok: $(dpkg-query -W -f='${Package} ${Version}' vsftpd), $(dpkg-query -W -f='${Package} ${Version}' curl), account ${TEST_USER}"
