#!/usr/bin/env bash
# sandbox_host.sh — end to end on the real machine: acctl start builds a dind Host from nothing
#   (images, host container, nested engine with gVisor, gate, network rules); sandboxes in the
#   nested engine run under gVisor and reach the gate and nothing else; the gate's DNS answers
#   only allowed names; a policy change reloads the gate without restarting it; down cleans up
#   and keeps the workspaces.
# Usage: sandbox_host.sh ACCTL_BINARY   (root, a running local engine: images/engine-up.sh)
# Prints one "ok"/"not ok" line per check and the phase times; exit 0 when every check passed.
set -uo pipefail

acctl=${1:?usage: sandbox_host.sh ACCTL_BINARY}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
host=e2e
docker=/usr/bin/docker
[[ -x $docker ]] || docker=docker

if [[ $(id -u) -ne 0 ]] || ! $docker version >/dev/null 2>&1; then
  echo "SKIP: needs root and a running local Docker engine (images/engine-up.sh)"
  exit 0
fi

home=$(mktemp -d /tmp/acctl-e2e.XXXXXX)
export ACCTL_HOME=$home
manifest=$home/e2e.yaml
failures=0
ok() { printf 'ok - %s\n' "$*"; }
bad() { printf 'not ok - %s\n' "$*"; failures=$((failures + 1)); }
check() { # check "what" command...
  local what=$1
  shift
  if "$@" >"$home/check.log" 2>&1; then ok "$what"; else bad "$what"; sed 's/^/    /' "$home/check.log" | tail -20; fi
}
ms() { date +%s%3N; }

cleanup() {
  "$acctl" down "$host" >/dev/null 2>&1 || true
  rm -rf "$home"
}
trap cleanup EXIT

write_manifest() { # write_manifest "extra allow entries"
  sed -e "s/@EXTRA_ALLOW@/$1/" "$here/e2e.yaml.in" >"$manifest"
}
write_manifest ""
printf '#!/bin/bash\necho e2e-tools one > /opt/e2e-tools.txt\n' >"$home/install.sh"
printf '#!/bin/bash\nexec bash "$@"\n' >"$home/run.sh"

nested() { $docker -H "unix://$home/run/hosts/$host/docker.sock" "$@"; }
in_sandbox() { local sb=$1; shift; nested exec "ac-sb-$sb" "$@"; }
# Exit status of a TCP connect from a sandbox: 0 connected, 1 refused/unreachable, 124 timed out.
tcp_connect() { # tcp_connect SANDBOX IP PORT
  in_sandbox "$1" timeout 4 bash -c "exec 3<>/dev/tcp/$2/$3" >/dev/null 2>&1
}

# --- start from nothing -----------------------------------------------------------------------
t0=$(ms)
if "$acctl" start -f "$manifest" --timeout 10m >"$home/start.log" 2>&1; then
  ok "acctl start from nothing ($(( ($(ms) - t0) / 1000 )) s)"
else
  bad "acctl start from nothing"
  sed 's/^/    /' "$home/start.log" | tail -40
  exit 1
fi
sed -n 's/^/    /p' "$home/start.log" | grep -E "image|nested engine|Started|copied|Applied" | head -20

t0=$(ms)
"$acctl" start -f "$manifest" >"$home/start2.log" 2>&1
status=$?
took=$(($(ms) - t0))
if ((status == 0)) && grep -q "0 to create, 0 to update in place, 0 to replace, 0 to delete, 0 to start" "$home/start2.log" &&
  ! grep -q "reload" "$home/start2.log"; then
  ok "second start changes nothing (${took} ms)"
else
  bad "second start changes nothing"
  sed 's/^/    /' "$home/start2.log"
fi
((took < 2000)) || bad "second start took ${took} ms (want well under 2 s)"

# The gate's healthcheck turns healthy a few seconds after it starts.
for _ in $(seq 1 40); do
  # Named: other Hosts may run on this engine (a user's quickstart); they are not this test's.
  "$acctl" status "$host" >"$home/status.log" 2>&1 && break
  sleep 1
done
check "acctl status reports all healthy" grep -qx healthy "$home/status.log"
sed 's/^/    /' "$home/status.log"
check "status names the runsc network mode" grep -q "network \(sandbox\|host\)" "$home/status.log"

# --- sandboxes ----------------------------------------------------------------------------------
if "$acctl" apply -f "$manifest" --wait >"$home/apply.log" 2>&1; then
  ok "apply creates two sandboxes in the nested engine"
else
  bad "apply creates two sandboxes in the nested engine"
  sed 's/^/    /' "$home/apply.log" | tail -30
fi
check "sandbox runs under gVisor (its kernel log)" bash -c "$(declare -f nested in_sandbox); docker=$docker home=$home host=$host; in_sandbox a dmesg | grep -q gVisor"
check "sandbox runs with runtime runsc" bash -c "[[ \$($docker -H unix://$home/run/hosts/$host/docker.sock inspect -f '{{.HostConfig.Runtime}}' ac-sb-a) == runsc ]]"

gate_ip=172.20.0.53
b_ip=$(nested inspect -f '{{(index .NetworkSettings.Networks "ac-net-e2e").IPAddress}}' ac-sb-b)
bridge_ip=172.20.0.1
outside_ip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
outside_ip=${outside_ip:-10.0.0.1}

# A listener in sandbox b (perl is in every Debian image), reachable from b itself.
nested exec -d ac-sb-b perl -MIO::Socket::INET -e \
  'my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 5, ReuseAddr => 1) or die; while (my $c = $s->accept) { print $c "hi\n"; close $c }'
sleep 1
if tcp_connect b "$b_ip" 8080; then ok "sandbox b's listener answers on $b_ip:8080 (control)"; else bad "sandbox b's listener answers on $b_ip:8080 (control)"; fi

if tcp_connect a "$gate_ip" 80; then ok "the gate ($gate_ip:80) is reachable from a sandbox"; else bad "the gate ($gate_ip:80) is reachable from a sandbox"; fi
tcp_connect a "$b_ip" 8080
rc=$?
((rc != 0)) && ok "another sandbox ($b_ip:8080) is unreachable (exit $rc)" || bad "another sandbox ($b_ip:8080) is reachable"
tcp_connect a "$bridge_ip" 22
rc=$?
((rc != 0)) && ok "the host container ($bridge_ip) is unreachable (exit $rc)" || bad "the host container ($bridge_ip) is reachable"
tcp_connect a "$outside_ip" 22
rc=$?
((rc != 0)) && ok "an outside address ($outside_ip:22) is unreachable (exit $rc)" || bad "an outside address ($outside_ip:22) is reachable"
tcp_connect a 1.1.1.1 443
rc=$?
((rc != 0)) && ok "the internet by IP (1.1.1.1:443) is unreachable (exit $rc)" || bad "1.1.1.1:443 is reachable"

answer=$(in_sandbox a getent hosts allowed.test 2>&1)
[[ $answer == "$gate_ip"* ]] && ok "an allowed name resolves to the gate ($answer)" || bad "allowed.test resolved to '$answer'"
in_sandbox a getent hosts blocked.test >/dev/null 2>&1
rc=$?
((rc == 2)) && ok "a blocked name does not resolve (getent exit 2: NXDOMAIN)" || bad "blocked.test: getent exit $rc"
answer=$(in_sandbox a getent hosts also.test 2>&1)
[[ -z $answer ]] && ok "also.test is not allowed yet" || bad "also.test resolved before it was allowed: $answer"

# --- a policy change reloads the gate ---------------------------------------------------------------
gate_id=$(nested inspect -f '{{.Id}}' ac-gate-e2e)
write_manifest ", also.test"
"$acctl" diff -f "$manifest" >"$home/diff.log" 2>&1
rc=$?
((rc == 1)) && grep -q "reload  gate" "$home/diff.log" && ok "diff shows the policy change as a gate reload" ||
  { bad "diff shows the policy change as a gate reload (exit $rc)"; sed 's/^/    /' "$home/diff.log"; }
check "apply of the new policy" "$acctl" apply -f "$manifest"
sleep 1
answer=$(in_sandbox a getent hosts also.test 2>&1)
[[ $answer == "$gate_ip"* ]] && ok "a newly allowed name resolves after the reload" || bad "also.test after reload: '$answer'"
[[ $(nested inspect -f '{{.Id}}' ac-gate-e2e) == "$gate_id" ]] && ok "the gate was reloaded, not restarted" || bad "the gate container was replaced"

# --- a Blueprint's install.sh changes: diff shows the build and the copy, a dry run builds nothing
image=acctl/blueprint-e2e-tools:latest
outer_id() { $docker image inspect -f '{{.Id}}' "$image" 2>/dev/null; }
nested_id() { nested image inspect -f '{{.Id}}' "$image" 2>/dev/null; }
"$acctl" diff -f "$manifest" >"$home/diff0.log" 2>&1
rc=$?
((rc == 0)) && ok "diff after apply is in sync (exit 0)" || { bad "diff after apply (exit $rc)"; sed 's/^/    /' "$home/diff0.log"; }
id_before=$(outer_id)
nested_before=$(nested_id)
[[ -n $id_before && $id_before == "$nested_before" ]] && ok "the Blueprint image in the nested engine is the one built outside" ||
  bad "image ids differ: outer '$id_before' nested '$nested_before'"
echo 'echo e2e-tools two >> /opt/e2e-tools.txt' >>"$home/install.sh"
"$acctl" diff -f "$manifest" >"$home/diff1.log" 2>&1
rc=$?
if ((rc == 1)) && grep -q "build   image     $image" "$home/diff1.log" &&
  grep -q "copy    image     $image" "$home/diff1.log"; then
  ok "after install.sh changes, diff shows a build and a copy of $image (exit 1)"
else
  bad "diff after install.sh changed (exit $rc)"
  sed 's/^/    /' "$home/diff1.log"
fi
"$acctl" apply -f "$manifest" --dry-run >"$home/dry.log" 2>&1
rc=$?
((rc == 0)) && [[ $(outer_id) == "$id_before" && $(nested_id) == "$nested_before" ]] &&
  ok "apply --dry-run leaves both image ids unchanged" || bad "apply --dry-run (exit $rc) changed an image"
check "apply builds, copies and replaces" "$acctl" apply -f "$manifest" --wait
[[ $(outer_id) != "$id_before" && $(outer_id) == "$(nested_id)" ]] && ok "the rebuilt image is in the nested engine" ||
  bad "after apply: outer '$(outer_id)' nested '$(nested_id)'"
check "the sandbox runs the new install" bash -c "$(declare -f nested in_sandbox); docker=$docker home=$home host=$host; in_sandbox c grep -q two /opt/e2e-tools.txt"
"$acctl" diff -f "$manifest" >"$home/diff2.log" 2>&1
rc=$?
((rc == 0)) && ok "then diff is in sync again (exit 0)" || { bad "diff after apply (exit $rc)"; sed 's/^/    /' "$home/diff2.log"; }
c_ip=$(nested inspect -f '{{(index .NetworkSettings.Networks "ac-net-e2e").IPAddress}}' ac-sb-c)
grep -q "\"$c_ip\": \"c\"" "$home/run/hosts/$host/gate/config.json" &&
  ok "the gate's config names sandbox c at the address acctl gave it ($c_ip)" || bad "sandbox c ($c_ip) is not in the gate's config"

# --- logs -------------------------------------------------------------------------------------------
"$acctl" logs proxy "$host" >"$home/proxy.log" 2>&1
check "logs proxy shows the gate's decisions" grep -q "blocked.test" "$home/proxy.log"
check "the gate's decisions name the sandbox" grep -q '"sandbox":"a"' "$home/proxy.log"
"$acctl" logs host "$host" >"$home/host.log" 2>&1
check "logs host shows the host's entrypoint" grep -q "ac-host" "$home/host.log"
"$acctl" logs gvisor "$host" >"$home/gvisor.log" 2>&1
rc=$?
((rc == 1)) && grep -q "debug logs are off" "$home/gvisor.log" && ok "logs gvisor explains that debug is off" || bad "logs gvisor (exit $rc)"

# --- down ---------------------------------------------------------------------------------------
in_sandbox a bash -c 'echo kept > /workspace/proof.txt'
t0=$(ms)
check "acctl down" "$acctl" down "$host"
echo "    down took $(($(ms) - t0)) ms"
left=$($docker ps -aq --filter label=ac.managed-by=acctl --filter label=ac.host=$host)
[[ -z $left ]] && ok "no managed container of the host remains" || bad "containers remain: $left"
left=$($docker volume ls -q --filter label=ac.managed-by=acctl --filter label=ac.host=$host)
[[ -z $left ]] && ok "no managed volume of the host remains" || bad "volumes remain: $left"
left=$($docker network ls -q --filter label=ac.managed-by=acctl --filter label=ac.host=$host)
[[ -z $left ]] && ok "no managed network of the host remains" || bad "networks remain: $left"
[[ $(cat "$home/instances/a/workspace/proof.txt" 2>/dev/null) == kept ]] && ok "workspace files remain" || bad "workspace file lost"

echo "$failures failed"
((failures == 0))
