#!/usr/bin/env bash
# run.sh — the sandbox commands against raw docker on the same nested engine, in the same run:
#   1. `acctl run base x --wait -- -c true` (converge the instance, start it, stream, exit status)
#      vs `docker run --rm --runtime=runsc` of the same image running `bash -l -c true` (goal ≤ 1.3×);
#   2. `acctl shell y` until the prompt vs `docker exec -it ac-sb-y bash -l` until the prompt, both
#      on a pseudo-terminal, y running idle (goal ≤ 1.2×).
# Runs alternate (A B A B …) so a drifting machine moves both; prints the medians and the ratio,
# one line each; exits 0 once measured ("OVER GOAL" marks a missed goal), non-zero when a command
# failed. Removes the Host it made.
# Usage: run.sh [--smoke] [ACCTL_BINARY]   (root; default binary: $ACCTL_BIN, else ./ac build's)
#   --smoke: one run of each. Env: BENCH_RUNS (5).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
smoke=0
[[ ${1:-} == --smoke ]] && { smoke=1; shift; }
[[ -n ${1:-} ]] && ACCTL_BIN=$1
runs=${BENCH_RUNS:-5}
((smoke)) && runs=1
docker=/usr/bin/docker # /usr/local/bin/docker may be an unrelated client
export DOCKER_HOST=unix:///var/run/docker.sock

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (starts the local engine and a dind Host)"; exit 0; }
command -v python3 >/dev/null || { echo "SKIP: needs python3 for the pseudo-terminal timer"; exit 0; }
bash "$root/images/engine-up.sh" >&2 || die "images/engine-up.sh failed"
if [[ -n ${ACCTL_BIN:-} ]]; then
  acctl=$ACCTL_BIN
else
  (cd "$root" && ./ac build) || die "./ac build failed"
  acctl=$root/build/bin/acctl
fi

host=benchrun
work=$(mktemp -d /tmp/acctl-bench-run.XXXXXX)
export ACCTL_HOME=$work ACCTL_MANIFESTS=$work/hosts.yaml
cleanup() {
  "$acctl" down "$host" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cat >"$ACCTL_MANIFESTS" <<EOF
apiVersion: acctl/v1alpha1
kind: Host
metadata: {name: $host}
spec:
  isolation: dind
  network: {subnet: 172.22.0.0/16, gateIP: 172.22.0.53}
  trust: {caFiles: [/usr/local/share/ca-certificates]}
---
apiVersion: acctl/v1alpha1
kind: EgressPolicy
metadata: {name: default}
spec: {allow: [allowed.test], dns: {upstreams: []}}
EOF
nested=("$docker" -H "unix://$work/run/hosts/$host/docker.sock")
image=acctl/blueprint-base:latest

# Time to the prompt on a pseudo-terminal: spawns the command, waits for "$ " at the end of its
# output, prints the seconds it took, types exit and waits for the command to end.
prompt_timer() {
  python3 - "$@" <<'EOF'
import os, pty, re, select, sys, time
start = time.monotonic()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
seen, prompt_at = b"", None
deadline = start + 120
while time.monotonic() < deadline:
    r, _, _ = select.select([fd], [], [], 0.5)
    if not r:
        continue
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen = (seen + chunk)[-4096:]
    if prompt_at is None and re.search(rb"\$ $", seen):
        prompt_at = time.monotonic()
        os.write(fd, b"exit 0\n")
_, status = os.waitpid(pid, 0)
if prompt_at is None:
    sys.stderr.write("no prompt; last output: %r\n" % seen[-300:])
    sys.exit(1)
print("%.4f" % (prompt_at - start))
sys.exit(os.waitstatus_to_exitcode(status))
EOF
}
now() { date +%s.%N; }
# Seconds of one whole command (its output discarded); fails when the command fails.
timed() {
  local t0 t1
  t0=$(now)
  "$@" >/dev/null 2>&1 || return 1
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
report() { # report WHAT GOAL A-FILE B-FILE
  local a b ratio
  a=$(median <"$3")
  b=$(median <"$4")
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')
  local verdict=""
  awk -v r="$ratio" -v g="$2" 'BEGIN { exit !(r > g) }' && verdict="  OVER GOAL"
  printf '%-44s acctl %7.3f s   raw docker %7.3f s   ratio %s× (goal ≤ %s×, median of %d)%s\n' \
    "$1" "$a" "$b" "$ratio" "$2" "$runs" "$verdict"
}

# --- set-up (not measured): the Host, the image in its nested engine, y running idle ---------------
say "bringing up Host/$host and the base image (not measured)"
"$acctl" run base x --wait -- -c true >"$work/setup.log" 2>&1 || { tail -20 "$work/setup.log" >&2; die "first acctl run failed"; }
echo exit | "$acctl" shell y >>"$work/setup.log" 2>&1 || { tail -20 "$work/setup.log" >&2; die "acctl shell y failed"; }
"${nested[@]}" run --rm --runtime=runsc --network none "$image" -c true >"$work/raw.log" 2>&1 ||
  { cat "$work/raw.log" >&2; die "docker run --rm --runtime=runsc $image failed on the nested engine"; }

# --- 1. a headless run to its end ----------------------------------------------------------------
: >"$work/run.a"
: >"$work/run.b"
for ((i = 0; i < runs; i++)); do
  timed "$acctl" run base x --wait -- -c true >>"$work/run.a" || die "acctl run base x failed"
  timed "${nested[@]}" run --rm --runtime=runsc --network none "$image" -c true >>"$work/run.b" ||
    die "docker run failed"
done
report "run base x --wait -- -c true" 1.3 "$work/run.a" "$work/run.b"

# --- 2. a shell until its prompt -------------------------------------------------------------------
: >"$work/shell.a"
: >"$work/shell.b"
for ((i = 0; i < runs; i++)); do
  prompt_timer "$acctl" shell y >>"$work/shell.a" 2>>"$work/shell.err" || { cat "$work/shell.err" >&2; die "acctl shell y: no prompt"; }
  prompt_timer "${nested[@]}" exec -it -u 1000:1000 -w /workspace ac-sb-y bash -l >>"$work/shell.b" 2>>"$work/shell.err" ||
    { cat "$work/shell.err" >&2; die "docker exec -it: no prompt"; }
done
report "shell y until the prompt" 1.2 "$work/shell.a" "$work/shell.b"
