#!/usr/bin/env bash
# Start a Docker engine for tests: no bridge, no iptables (tests use host networking only),
# its own data root, and wait until it answers.
set -euo pipefail
root=${CAPSTAN_DOCKER_ROOT:-/tmp/capstan-docker}
mkdir -p "$root"
nohup dockerd --bridge=none --iptables=false --ip6tables=false --data-root "$root/data" \
  --exec-root "$root/exec" --pidfile "$root/dockerd.pid" >"$root/dockerd.log" 2>&1 &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.5
done
tail -20 "$root/dockerd.log" >&2
exit 1
