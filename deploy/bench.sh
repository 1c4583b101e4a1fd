#!/bin/sh
# Runs every component's benchmark (deploy/bench/*.sh), one after the
# other; each prints its own figures. `make bench` builds first.
#
#   deploy/bench.sh                 all of them
#   deploy/bench.sh scheduler       only deploy/bench/scheduler.sh
set -eu
cd "$(dirname "$0")/.."
status=0
for script in deploy/bench/*.sh; do
	name=$(basename "$script" .sh)
	if [ $# -gt 0 ] && [ "$1" != "$name" ]; then
		continue
	fi
	echo "===== $name"
	if ! sh "$script"; then
		echo "===== $name: FAILED" >&2
		status=1
	fi
done
exit $status
