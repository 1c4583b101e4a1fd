#!/bin/sh
# Installs, idempotently, the Debian packages Coracle's tests and local
# cluster need. Safe to run again: it installs only what is missing.
set -eu

# etcd-server: the external etcd cluster the apiserver's tests start.
# iproute2, iptables, runc, CNI plugins, busybox-static, conntrack: the node
# runtime (kubelet, kube-proxy) and its tests. systemd: systemd-analyze,
# which checks the units in deploy/systemd (it works where systemd is not
# PID 1).
PACKAGES="etcd-server curl iproute2 systemd iptables runc containernetworking-plugins busybox-static conntrack ca-certificates"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages:$missing; run as root (or: sudo $0)" >&2
		exit 1
	fi
	echo "install-deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Never start services from packages (etcd-server would otherwise take
	# port 2379 on a host that runs systemd).
	policy=/usr/sbin/policy-rc.d
	created_policy=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' > "$policy"
		chmod +x "$policy"
		created_policy=1
	fi
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
	if [ -n "$created_policy" ]; then
		rm -f "$policy"
	fi
fi

# The real kubectl is not packaged by Debian at a current version; the
# compatibility tests use the one these machines carry.
if ! command -v kubectl >/dev/null 2>&1; then
	echo "install-deps: warning: kubectl not found; the kubectl compatibility tests will fail" >&2
fi
echo "install-deps: ok"
