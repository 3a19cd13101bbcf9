#!/usr/bin/env bash
# reconcile.sh — acctl vs Debian's docker-compose (v1) on the same engine, in the same run:
#   1. nothing changed: `acctl diff` over N in-sync sandboxes vs `docker-compose up -d` over an
#      equivalent compose file (target ≤ 0.1×);
#   2. from nothing: `acctl apply` of M sandboxes vs `docker-compose up -d` of M services
#      (target ≤ 0.5×).
# Prints medians and ratios, one line each; exits 0 once measured ("OVER TARGET" marks a missed
# target), non-zero when acctl or docker-compose failed. Removes everything it created.
# Usage: reconcile.sh [--smoke] [ACCTL_BINARY]   (root, from anywhere; default binary: $ACCTL_BIN,
#   else ./ac build's). --smoke: 3 in-sync and 2 created sandboxes, one run each.
#   Env: BENCH_SYNC_N (50), BENCH_SYNC_RUNS (5), BENCH_CREATE_N (20), BENCH_CREATE_RUNS (3).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
smoke=0
[[ ${1:-} == --smoke ]] && { smoke=1; shift; }
[[ -n ${1:-} ]] && ACCTL_BIN=$1
sync_n=${BENCH_SYNC_N:-50}
sync_runs=${BENCH_SYNC_RUNS:-5}
create_n=${BENCH_CREATE_N:-20}
create_runs=${BENCH_CREATE_RUNS:-3}
if ((smoke)); then sync_n=3 sync_runs=1 create_n=2 create_runs=1; fi
image=acctl-test/busybox:latest
docker=/usr/bin/docker  # /usr/local/bin/docker may be an unrelated client
# Both tools talk to the local engine, the one /usr/bin/docker uses.
export DOCKER_HOST=unix:///var/run/docker.sock

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }

# --- prerequisites -------------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (starts the local engine, installs docker-compose)"; exit 0; }
bash "$root/images/engine-up.sh" >&2 || die "images/engine-up.sh failed"
if [[ -n ${ACCTL_BIN:-} ]]; then
  acctl=$ACCTL_BIN  # an acctl built elsewhere
else
  (cd "$root" && ./ac build) || die "./ac build failed"
  acctl=$root/build/bin/acctl
fi
[[ -x $acctl ]] || die "$acctl missing after ./ac build"
if ! command -v docker-compose >/dev/null; then
  say "installing docker-compose (Debian's, v1)"
  # A machine whose package lists are stale or absent needs an update first.
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends docker-compose >/tmp/bench-apt.log 2>&1 ||
    { apt-get update -qq >>/tmp/bench-apt.log 2>&1 &&
      apt-get install -y -qq --no-install-recommends docker-compose >>/tmp/bench-apt.log 2>&1; } ||
    { tail -5 /tmp/bench-apt.log >&2; die "apt-get install docker-compose failed"; }
fi
compose_version=$(docker-compose version --short 2>/dev/null || echo "?")

# --- unique names and a private state folder -----------------------------------------------------
tag=bench$$
host=$tag-h
project=${tag}c
acctl_subnet=172.31.250.0/24 acctl_gate=172.31.250.53
compose_subnet=172.31.251.0/24
work=$(mktemp -d /tmp/acctl-bench.XXXXXX)
export ACCTL_HOME=$work/acctl
mkdir -p "$ACCTL_HOME" "$work/compose"

cleanup() {
  set +e
  [[ -f $work/acctl.yaml ]] && "$acctl" delete -f "$work/acctl.yaml" >/dev/null 2>&1
  [[ -f $work/compose/docker-compose.yml ]] &&
    docker-compose -p "$project" -f "$work/compose/docker-compose.yml" down -v -t 1 >/dev/null 2>&1
  # Safety net: anything still carrying our labels.
  local ids
  ids=$($docker ps -aq --filter "label=ac.host=$host"; $docker ps -aq --filter "label=com.docker.compose.project=$project")
  [[ -n $ids ]] && $docker rm -f $ids >/dev/null 2>&1
  ids=$($docker network ls -q --filter "label=ac.host=$host"; $docker network ls -q --filter "label=com.docker.compose.project=$project")
  [[ -n $ids ]] && $docker network rm $ids >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The same sandboxes both ways: image, idle command, runtime, limits, internal network, labels,
# workspace bind mount, working dir, hostname.
write_acctl() {  # n
  local n=$1 i
  {
    printf 'apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: %s}\n' "$host"
    printf 'spec: {isolation: direct, network: {subnet: %s, gateIP: %s}}\n' "$acctl_subnet" "$acctl_gate"
    printf -- '---\napiVersion: acctl/v1alpha1\nkind: EgressPolicy\nmetadata: {name: default}\nspec: {allow: [example.com]}\n'
    printf -- '---\napiVersion: acctl/v1alpha1\nkind: Blueprint\nmetadata: {name: tiny}\nspec: {hardening: standard, image: %s}\n' "$image"
    for ((i = 0; i < n; i++)); do
      printf -- '---\napiVersion: acctl/v1alpha1\nkind: Sandbox\n'
      printf 'metadata: {name: %s-s%d, labels: {bench: "%s"}}\n' "$tag" "$i" "$tag"
      printf 'spec: {blueprint: tiny, host: %s, mode: idle, resources: {cpus: 0.5, memory: 64m, pids: 256}}\n' "$host"
    done
  } >"$work/acctl.yaml"
}
write_compose() {  # n
  local n=$1 i
  {
    printf 'version: "2.4"\nservices:\n'
    for ((i = 0; i < n; i++)); do
      mkdir -p "$work/compose/ws/s$i"
      cat <<EOF
  s$i:
    image: $image
    entrypoint: []
    command: ["sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait \$\$!; done"]
    runtime: runsc
    cpus: 0.5
    mem_limit: 64m
    memswap_limit: 64m
    pids_limit: 256
    restart: "no"
    hostname: s$i
    working_dir: /workspace
    volumes: ["./ws/s$i:/workspace"]
    labels: {bench: "$tag", ac.name: "s$i"}
    networks: [sandbox]
EOF
    done
    printf 'networks:\n  sandbox:\n    internal: true\n    labels: {bench: "%s"}\n' "$tag"
    printf '    ipam: {config: [{subnet: %s}]}\n' "$compose_subnet"
  } >"$work/compose/docker-compose.yml"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Runs a command, checks its exit status is one of the allowed, prints elapsed milliseconds.
timed() {  # allowed-statuses command...
  local allowed=$1 t0 t1 rc=0
  shift
  t0=$(now_ms)
  "$@" >"$work/last.out" 2>&1 || rc=$?
  t1=$(now_ms)
  [[ " $allowed " == *" $rc "* ]] || { cat "$work/last.out" >&2; die "$* exited $rc"; }
  echo $((t1 - t0))
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN {print (r <= t) ? "ok" : "OVER TARGET"}'; }

compose() { docker-compose -p "$project" -f "$work/compose/docker-compose.yml" "$@"; }
running() { $docker ps -q --filter "label=$1" --filter status=running | wc -l; }

say "acctl $("$acctl" version | awk '{print $2}'), docker-compose $compose_version, $(nproc) cores"

# --- 1. nothing changed ----------------------------------------------------------------------------
say "setting up $sync_n sandboxes with acctl and $sync_n services with docker-compose (not timed)"
write_acctl "$sync_n"
write_compose "$sync_n"
"$acctl" apply -f "$work/acctl.yaml" >"$work/setup.out" 2>&1 || { tail -20 "$work/setup.out" >&2; die "acctl apply (setup) failed"; }
compose up -d >"$work/setup.out" 2>&1 || { tail -20 "$work/setup.out" >&2; die "docker-compose up (setup) failed"; }
[[ $(running "ac.host=$host") -eq $sync_n ]] || die "acctl setup: not $sync_n running containers"
[[ $(running "com.docker.compose.project=$project") -eq $sync_n ]] || die "compose setup: not $sync_n running"

acctl_sync=() compose_sync=()
for ((r = 0; r < sync_runs; r++)); do  # interleaved, so both see the same machine load
  acctl_sync+=("$(timed 0 "$acctl" diff -f "$work/acctl.yaml")")
  grep -q "0 to create, 0 to update in place, 0 to replace, 0 to delete, 0 to start" "$work/last.out" ||
    die "acctl diff found changes in an in-sync state"
  compose_sync+=("$(timed 0 compose up -d)")
  grep -qi "recreat\|creating s" "$work/last.out" && die "docker-compose recreated something: $(cat "$work/last.out")"
done
m_acctl_sync=$(median "${acctl_sync[@]}")
m_compose_sync=$(median "${compose_sync[@]}")
r_sync=$(ratio "$m_acctl_sync" "$m_compose_sync")

say "tearing down the $sync_n + $sync_n"
"$acctl" delete -f "$work/acctl.yaml" >/dev/null
compose down -v -t 1 >/dev/null 2>&1

# --- 2. from nothing ---------------------------------------------------------------------------------
write_acctl "$create_n"
rm -rf "$work/compose/ws"
write_compose "$create_n"
acctl_create=() compose_create=()
for ((r = 0; r < create_runs; r++)); do
  acctl_create+=("$(timed 0 "$acctl" apply -f "$work/acctl.yaml")")
  [[ $(running "ac.host=$host") -eq $create_n ]] || die "acctl apply: not $create_n running containers"
  "$acctl" delete -f "$work/acctl.yaml" >/dev/null
  compose_create+=("$(timed 0 compose up -d)")
  [[ $(running "com.docker.compose.project=$project") -eq $create_n ]] || die "compose up: not $create_n running"
  compose down -v -t 1 >/dev/null 2>&1
done
m_acctl_create=$(median "${acctl_create[@]}")
m_compose_create=$(median "${compose_create[@]}")
r_create=$(ratio "$m_acctl_create" "$m_compose_create")

# --- report --------------------------------------------------------------------------------------------
printf 'in sync, %d sandboxes: acctl diff median %d ms (runs: %s)\n' "$sync_n" "$m_acctl_sync" "${acctl_sync[*]}"
printf 'in sync, %d services:  docker-compose up -d median %d ms (runs: %s)\n' "$sync_n" "$m_compose_sync" "${compose_sync[*]}"
printf 'in sync ratio acctl/compose: %s× (target ≤ 0.1×) %s\n' "$r_sync" "$(verdict "$r_sync" 0.1)"
printf 'create %d sandboxes: acctl apply median %d ms (runs: %s)\n' "$create_n" "$m_acctl_create" "${acctl_create[*]}"
printf 'create %d services:  docker-compose up -d median %d ms (runs: %s)\n' "$create_n" "$m_compose_create" "${compose_create[*]}"
printf 'create ratio acctl/compose: %s× (target ≤ 0.5×) %s\n' "$r_create" "$(verdict "$r_create" 0.5)"
exit 0
