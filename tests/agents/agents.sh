#!/usr/bin/env bash
# agents.sh — the project's agent Blueprints, built for real and smoke-tested on a dind Host of
#   their own: each npm agent (claude, codex, gemini, opencode, pi) answers `--version` inside a
#   gVisor sandbox (uid 1000, read-only root, cap_drop ALL, the gated network) without a single
#   DNS query or connection at the gate, so no update check or telemetry waits on a refused host.
#   hermes and antigravity install from vendor hosts this machine cannot reach: their build must
#   fail within seconds naming the host, and their smoke test is skipped for that reason.
# Usage: agents.sh ACCTL_BINARY   (root, a running local engine: images/engine-up.sh)
# Prints one "ok"/"not ok" line per check with its time; exit 0 when every check passed.
set -uo pipefail

acctl=${1:?usage: agents.sh ACCTL_BINARY}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
host=agents
npm_agents=(claude codex gemini opencode pi)
# Blueprint → the vendor host its install.sh fetches its installer from.
declare -A vendor_host=([hermes]=hermes-agent.nousresearch.com [antigravity]=antigravity.google)
vendor_fail_within_s=30
docker=/usr/bin/docker
[[ -x $docker ]] || docker=docker

if [[ $(id -u) -ne 0 ]] || ! $docker version >/dev/null 2>&1; then
  echo "SKIP: needs root and a running local Docker engine (images/engine-up.sh)"
  exit 0
fi

home=$(mktemp -d /tmp/acctl-agents.XXXXXX)
export ACCTL_HOME=$home ACCTL_MANIFESTS=$home/hosts.yaml
failures=0
ok() { printf 'ok - %s\n' "$*"; }
bad() { printf 'not ok - %s\n' "$*"; failures=$((failures + 1)); }
show() { sed 's/^/    /' "$@" | tail -25; }
ms() { date +%s%3N; }
secs() { printf '%d.%01d s' $(($1 / 1000)) $(($1 % 1000 / 100)); }

cleanup() {
  "$acctl" down "$host" >/dev/null 2>&1 || true
  rm -rf "$home"
}
trap cleanup EXIT

sed -e "s/@HOST@/$host/" "$here/agents.yaml.in" >"$ACCTL_MANIFESTS"
nested() { $docker -H "unix://$home/run/hosts/$host/docker.sock" "$@"; }
# The gate's audit lines that name sandbox $1 (the gate keeps them in its container log).
gate_lines_of() { "$acctl" logs proxy "$host" 2>&1 | grep -F "\"sandbox\":\"$1\""; }
# What the sandbox of instance $1 ran as: user, runtime, read-only root, dropped capabilities.
sandbox_shape() {
  nested inspect -f '{{.Config.User}} {{.HostConfig.Runtime}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}}' \
    "ac-sb-$1" 2>&1
}

# --- the Host -------------------------------------------------------------------------------------
t0=$(ms)
if "$acctl" start -f "$ACCTL_MANIFESTS" --timeout 20m >"$home/start.log" 2>&1; then
  ok "acctl start of Host/$host ($(secs $(($(ms) - t0))))"
else
  bad "acctl start of Host/$host"
  show "$home/start.log"
  exit 1
fi

# Control: a name looked up from a sandbox shows in the gate's log under the sandbox's name, so
# the agents' empty logs below mean they asked for nothing.
"$acctl" run base probe --host "$host" --wait -- -c 'getent hosts probe.test; true' \
  >"$home/probe.out" 2>"$home/probe.err"
rc=$?
if ((rc == 0)) && gate_lines_of probe | grep -q probe.test; then
  ok "control: the gate logs a sandbox's lookup under its name"
else
  bad "control: no gate line for sandbox probe's lookup of probe.test (run exit $rc)"
  show "$home/probe.err"
fi

# --- the npm agents: built, then `--version` in a gVisor sandbox ------------------------------------
smoke() { # smoke BLUEPRINT: run BLUEPRINT --version headless, check its answer and what it touched
  local bp=$1 name=$1-version t0 took rc version shape
  t0=$(ms)
  "$acctl" run "$bp" "$name" --host "$host" --wait --timeout 30m -- --version \
    >"$home/$bp.out" 2>"$home/$bp.err"
  rc=$?
  took=$(($(ms) - t0))
  version=$(grep -oEm1 '[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.+-]*' "$home/$bp.out")
  if ((rc == 0)) && [[ -n $version ]]; then
    ok "$bp --version answers $version ($(secs $took) from run to exit, image build and copy included)"
  else
    bad "$bp --version (exit $rc, $(secs $took))"
    show "$home/$bp.out" "$home/$bp.err"
    return
  fi
  grep -E "done    (build|copy) image" "$home/$bp.err" | sed 's/^ */    /'
  shape=$(sandbox_shape "$name")
  if [[ $shape == "1000:1000 runsc true [ALL]" ]]; then
    ok "$bp ran as 1000:1000 under runsc, read-only root, all capabilities dropped"
  else
    bad "$bp's sandbox: user, runtime, read-only root, cap_drop are '$shape'"
  fi
  # Again, with the image in place: the time of the run itself (a finished run runs again).
  t0=$(ms)
  "$acctl" run "$bp" "$name" --host "$host" --wait -- --version >"$home/$bp.out2" 2>"$home/$bp.err2"
  rc=$?
  took=$(($(ms) - t0))
  if ((rc == 0)) && grep -qF "$version" "$home/$bp.out2"; then
    ok "$bp --version again, its image in place: $(secs $took)"
  else
    bad "$bp --version again (exit $rc, $(secs $took))"
    show "$home/$bp.out2" "$home/$bp.err2"
  fi
  if [[ -z $(gate_lines_of "$name") ]]; then
    ok "$bp asked the gate for nothing in either run (no update check, no telemetry)"
  else
    bad "$bp reached out at --version:"
    gate_lines_of "$name" | head -10 | sed 's/^/    /'
  fi
}
for bp in "${npm_agents[@]}"; do smoke "$bp"; done

# --- vendor-installer agents: the build fails fast and says which host ------------------------------
for bp in hermes antigravity; do
  vh=${vendor_host[$bp]}
  t0=$(ms)
  "$acctl" build "$bp" -f "$ACCTL_MANIFESTS" >"$home/build-$bp.log" 2>&1
  rc=$?
  took=$(($(ms) - t0))
  if ((rc == 0)); then
    # Where the vendor host answers, the Blueprint is an agent like the others.
    ok "$bp builds from its vendor installer ($vh is reachable here, $(secs $took))"
    smoke "$bp"
  elif grep -q "cannot reach $vh" "$home/build-$bp.log" && ((took < vendor_fail_within_s * 1000)); then
    ok "$bp build fails in $(secs $took) naming $vh (exit $rc)"
    grep -m1 "cannot reach $vh" "$home/build-$bp.log" | sed -e $'s/\e\\[[0-9;]*m//g' -e 's/^ */    /'
    echo "# skip $bp smoke test: its vendor installer's host $vh cannot be reached from this machine"
  else
    bad "$bp build (exit $rc, $(secs $took)): want a failure within ${vendor_fail_within_s} s that names $vh"
    show "$home/build-$bp.log"
  fi
done

echo "$failures failed"
((failures == 0))
