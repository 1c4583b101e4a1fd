#!/bin/sh
# Installs the built Coracle binaries and their systemd units on a real
# host: bin/NAME -> /usr/local/bin/coracle-NAME, deploy/systemd/*.service ->
# /etc/systemd/system, example configs -> /etc/coracle (never overwriting
# an existing one). Then: systemctl daemon-reload && systemctl enable --now
# coracle-apiserver.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "install: run as root" >&2; exit 1; }

mkdir -p /etc/coracle /var/lib/coracle /var/log/coracle
for unit in "$ROOT"/deploy/systemd/coracle-*.service; do
	name=$(basename "$unit" .service)
	component=${name#coracle-}
	if [ ! -x "$ROOT/bin/$component" ]; then
		echo "install: $ROOT/bin/$component not built; run make build" >&2
		exit 1
	fi
	install -m 0755 "$ROOT/bin/$component" "/usr/local/bin/$name"
	install -m 0644 "$unit" "/etc/systemd/system/$name.service"
	if [ -f "$ROOT/deploy/config/$component.yaml" ] && [ ! -f "/etc/coracle/$component.yaml" ]; then
		install -m 0600 "$ROOT/deploy/config/$component.yaml" "/etc/coracle/$component.yaml"
	fi
	echo "installed $name"
done
# The kubelet runs each container under its shim, found beside it.
if [ -x "$ROOT/bin/kubelet-shim" ]; then
	install -m 0755 "$ROOT/bin/kubelet-shim" /usr/local/bin/coracle-kubelet-shim
	echo "installed coracle-kubelet-shim"
fi
echo "now: systemctl daemon-reload && systemctl enable --now coracle-apiserver"
