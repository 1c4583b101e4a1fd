#!/bin/sh
# Installs the built Coracle binaries, their systemd units and the config
# files the units read, on a real host:
#
#   deploy/install.sh [--control-plane | --worker] [--prefix DIR]
#
# --control-plane (the default): the apiserver, scheduler and controller
# manager, and a kubelet and kube-proxy so the host is a node too.
# --worker: only the kubelet and kube-proxy, which then wait for the join
# command (`ctl token create --print-join-command` on the control plane
# prints it) to write /etc/coracle/bootstrap-kubelet.conf, pki/ca.crt and
# kubelet.env.
#
# bin/NAME goes to /usr/local/bin/coracle-NAME (ctl to /usr/local/bin/ctl),
# deploy/systemd/coracle-NAME.service to /etc/systemd/system, and
# deploy/config/NAME.yaml to /etc/coracle/NAME.yaml unless that file exists
# (a config file is never overwritten). Idempotent.
#
# --prefix DIR installs the same tree under DIR, with every path the units
# and configs name (/usr/local/bin, /etc/coracle, /var/lib/coracle,
# /var/log, /etc/cni/net.d, /etc/systemd/system) moved under DIR, the
# binaries linked rather than copied, and the kubelet's cgroup root made
# /coracle-<basename DIR>: this is how `make up NODES=3` and the
# multi-node tests run several nodes on one machine from the units that
# ship.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The built binaries: make build's bin/, or $CORACLE_BIN_DIR (the tests').
BIN=${CORACLE_BIN_DIR:-$ROOT/bin}
role=control-plane
prefix=
while [ $# -gt 0 ]; do
	case $1 in
	--control-plane) role=control-plane ;;
	--worker) role=worker ;;
	--prefix) prefix=${2:?--prefix needs a directory}; shift ;;
	--prefix=*) prefix=${1#--prefix=} ;;
	*) echo "install: unknown argument $1 (want --control-plane, --worker, --prefix DIR)" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" -eq 0 ] || { echo "install: run as root" >&2; exit 1; }
case $prefix in
"" | /*) ;;
*) echo "install: --prefix $prefix: want an absolute path" >&2; exit 2 ;;
esac

case $role in
control-plane) components="apiserver scheduler controller-manager kubelet kube-proxy" ;;
worker) components="kubelet kube-proxy" ;;
esac

# relocate: the paths of a unit or config, moved under the prefix.
relocate() {
	if [ -z "$prefix" ]; then
		cat
		return
	fi
	# Marked first, then prefixed: the prefix may itself start with one
	# of these paths (make up's nodes live under /var/lib/coracle).
	sed -e "s|/usr/local/bin/|@PREFIX@/usr/local/bin/|g" \
		-e "s|/etc/coracle|@PREFIX@/etc/coracle|g" \
		-e "s|/var/lib/coracle|@PREFIX@/var/lib/coracle|g" \
		-e "s|/var/log/|@PREFIX@/var/log/|g" \
		-e "s|/etc/cni/net.d|@PREFIX@/etc/cni/net.d|g" \
		-e "s|^cgroup-root: .*|cgroup-root: /coracle-$(basename "$prefix")|" \
		-e "s|@PREFIX@|$prefix|g"
}

# binary SRC DEST: install (or, under a prefix, link) a binary.
binary() {
	if [ ! -x "$1" ]; then
		echo "install: $1 not built; run make build" >&2
		exit 1
	fi
	if [ -n "$prefix" ]; then
		ln -sfn "$1" "$2"
	else
		install -m 0755 "$1" "$2"
	fi
}

bindir=$prefix/usr/local/bin
unitdir=$prefix/etc/systemd/system
confdir=$prefix/etc/coracle
mkdir -p "$bindir" "$unitdir" "$confdir/pki" "$confdir/manifests" "$prefix/var/lib/coracle" "$prefix/var/log/coracle"
for component in $components; do
	name=coracle-$component
	binary "$BIN/$component" "$bindir/$name"
	relocate < "$ROOT/deploy/systemd/$name.service" > "$unitdir/$name.service.tmp"
	chmod 0644 "$unitdir/$name.service.tmp"
	mv "$unitdir/$name.service.tmp" "$unitdir/$name.service"
	if [ ! -f "$confdir/$component.yaml" ]; then
		relocate < "$ROOT/deploy/config/$component.yaml" > "$confdir/$component.yaml.tmp"
		chmod 0600 "$confdir/$component.yaml.tmp"
		mv "$confdir/$component.yaml.tmp" "$confdir/$component.yaml"
	fi
	echo "installed $name"
done
# The apiserver's audit policy, as the config files: never overwritten.
case " $components " in
*" apiserver "*)
	if [ ! -f "$confdir/audit-policy.yaml" ]; then
		install -m 0600 "$ROOT/deploy/config/audit-policy.yaml" "$confdir/audit-policy.yaml"
	fi
	;;
esac
# The kubelet runs each container under its shim, found beside it; ctl
# joins the node (and drives the cluster).
binary "$BIN/kubelet-shim" "$bindir/coracle-kubelet-shim"
binary "$BIN/ctl" "$bindir/ctl"
echo "installed coracle-kubelet-shim, ctl"

[ -n "$prefix" ] && exit 0
case $role in
control-plane)
	cat <<MSG
now: systemctl daemon-reload && systemctl enable --now coracle-apiserver coracle-scheduler coracle-controller-manager
then join this host as a node too:
     \$(ctl --kubeconfig /etc/coracle/admin.conf token create --print-join-command)
MSG
	;;
worker)
	echo "now run the join command printed by 'ctl token create --print-join-command' on the control plane"
	;;
esac
