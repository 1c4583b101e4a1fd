#!/bin/sh
# Stops the local Coracle processes started by local-up.sh and removes their
# runtime files. The stored state in /var/lib/coracle stays. Idempotent.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/bin"
RUN=${CORACLE_RUN_DIR:-/run/coracle}

[ -d "$RUN" ] || { echo "coracle: not running"; exit 0; }

for pidfile in "$RUN"/*.pid; do
	[ -f "$pidfile" ] || continue
	name=$(basename "$pidfile" .pid)
	pid=$(cat "$pidfile")
	# Only signal the process if it is still the binary we started.
	if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "^$BIN/$name "; then
		kill -TERM "$pid"
		i=0
		while kill -0 "$pid" 2>/dev/null; do
			i=$((i + 1))
			if [ "$i" -ge 60 ]; then
				echo "$name: did not stop after 30s; killing"
				kill -KILL "$pid" 2>/dev/null || true
				break
			fi
			sleep 0.5
		done
		echo "$name: stopped"
	fi
	rm -f "$pidfile"
done
rmdir "$RUN" 2>/dev/null || true
