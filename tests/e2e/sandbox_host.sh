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

server=acctl-e2e-web-$$
cleanup() {
  $docker rm -f "$server" >/dev/null 2>&1 || true
  "$acctl" down "$host" >/dev/null 2>&1 || true
  rm -rf "$home"
}
trap cleanup EXIT

write_manifest() { # write_manifest "extra allow entries" (the server: $server_ip once it runs)
  sed -e "s/@EXTRA_ALLOW@/$1/" -e "s/@SERVER@/${server_ip:-192.0.2.10}/g" "$here/e2e.yaml.in" >"$manifest"
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

# A keep-alive HTTP server on the outer network of the Host's container, where the gate's traffic
# leaves: it answers "hello HOST" to every request on a connection (perl: in the base image).
egress=$($docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' \
  "ac-dind-host-$host" | awk '{print $1}')
$docker run -d --name "$server" --network "$egress" --entrypoint perl acctl/debian:bookworm \
  -MIO::Socket::INET -e '$SIG{CHLD} = "IGNORE";
    my $s = IO::Socket::INET->new(LocalPort => 80, Listen => 64, ReuseAddr => 1) or die "$!";
    while (1) { my $c = $s->accept or next; if (fork == 0) { my $h = "";
      while (defined(my $l = <$c>)) { $h .= $l; next unless $l eq "\r\n";
        my ($n) = $h =~ /^Host: *([^\s:]+)/mi; my $b = "hello $n\n"; $h = "";
        print $c "HTTP/1.1 200 OK\r\nContent-Length: " . length($b) . "\r\n\r\n$b"; }
      exit 0 } close $c }' >/dev/null || bad "cannot start the test web server"
server_ip=$($docker inspect -f "{{(index .NetworkSettings.Networks \"$egress\").IPAddress}}" "$server")
echo "    web server at $server_ip on $egress"
write_manifest ""

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

# --- a policy per sandbox ------------------------------------------------------------------------
# a runs under EgressPolicy/default, b under EgressPolicy/other: each resolves and reaches only
# its own names, through one gate.
web() { in_sandbox "$1" curl -sS -m 10 "${@:2}" 2>&1; }
[[ $(web a http://allowed.test/) == "hello allowed.test" ]] && ok "a reaches allowed.test (its policy)" ||
  bad "a reaches allowed.test: $(web a http://allowed.test/)"
[[ $(web b http://other.test/) == "hello other.test" ]] && ok "b reaches other.test (its policy)" ||
  bad "b reaches other.test: $(web b http://other.test/)"
in_sandbox a getent hosts other.test >/dev/null 2>&1
rc=$?
((rc == 2)) && ok "b's name other.test does not resolve in a (NXDOMAIN)" || bad "other.test in a: getent exit $rc"
in_sandbox b getent hosts allowed.test >/dev/null 2>&1
rc=$?
((rc == 2)) && ok "a's name allowed.test does not resolve in b (NXDOMAIN)" || bad "allowed.test in b: getent exit $rc"
body=$(web a --resolve "other.test:80:$gate_ip" http://other.test/)
if [[ $body == *"refused other.test:80 for Sandbox/a (EgressPolicy/default): not-allowed"* &&
  $body == *"to allow it: add other.test (or a *. pattern) to EgressPolicy/default spec.allow"* ]]; then
  ok "a asking the gate for b's name gets a 403 naming its sandbox, policy and what would allow it"
else
  bad "a's refusal for other.test: $body"
fi
body=$(web b --resolve "allowed.test:80:$gate_ip" http://allowed.test/)
[[ $body == *"for Sandbox/b (EgressPolicy/other): not-allowed"* ]] &&
  ok "b asking the gate for a's name (pinned in b's records too) is refused by b's policy" ||
  bad "b's refusal for allowed.test: $body"
ACCTL_MANIFESTS=$manifest "$acctl" policy check b allowed.test:80 >"$home/check-b.log" 2>&1
rc=$?
((rc == 1)) && grep -q "EgressPolicy/other" "$home/check-b.log" && ok "policy check b agrees: allowed.test is refused under EgressPolicy/other" ||
  { bad "policy check b allowed.test (exit $rc)"; sed 's/^/    /' "$home/check-b.log"; }

# Addresses are acctl's: a sandbox cannot send from another's (uid 1000, and root in it).
for user in 1000 0; do
  nested exec -i -u "$user" ac-sb-a python3 - "$b_ip" "$gate_ip" other.test \
    <"$here/forge_probe.py" >"$home/forge-$user.log" 2>&1
  if grep -q "^refused" "$home/forge-$user.log" && ! grep -qv "^refused" "$home/forge-$user.log"; then
    ok "uid $user in a cannot send from b's address ($(wc -l <"$home/forge-$user.log") ways tried)"
  else
    bad "uid $user in a forging b's address"
  fi
  sed 's/^/    /' "$home/forge-$user.log"
done
# Nor learn b's address or decisions: names resolve only through the gate, which knows no
# sandbox names; Docker's embedded DNS is closed to sandboxes; the gate's control port and
# audit log are not the sandboxes'.
in_sandbox a getent hosts ac-sb-b >/dev/null 2>&1
rc=$?
((rc == 2)) && ok "a cannot resolve b's container name through the gate" || bad "ac-sb-b in a: getent exit $rc"
# Docker's embedded DNS server (127.0.0.11) would answer b's container name: with runsc on
# --network=host the engine's DNAT to it works in a sandbox's namespace. The Host's runtime
# (images/host/runsc.sh) closes 127.0.0.11 there before the sandbox starts: asked at port 53
# and at the resolver's own ports (read from the DNAT rules in a's namespace), over UDP and
# TCP, as uid 1000 and as root in a, nothing answers.
# Asks the embedded DNS for b's name from sandbox $1, as uid 1000 and as root: one ok or not ok
# line for the resolver's DNAT found in its namespace, then one per user.
embedded_dns_closed() { # embedded_dns_closed SANDBOX WHEN
  local sb=$1 when=$2 pid resolver_ports embedded user
  pid=$($docker exec "ac-dind-host-$host" docker inspect -f '{{.State.Pid}}' "ac-sb-$sb")
  resolver_ports=$($docker exec "ac-dind-host-$host" nsenter --net="/proc/$pid/ns/net" iptables -t nat -S DOCKER_OUTPUT 2>/dev/null |
    sed -n 's/.*-p \(tcp\|udp\) .*--to-destination 127\.0\.0\.11:\([0-9]*\).*/\1:\2/p' | tr '\n' ' ')
  [[ -n $resolver_ports ]] && ok "$when: the embedded resolver runs in $sb's namespace (ports $resolver_ports)" ||
    bad "$when: no DNAT to the embedded resolver found in $sb's namespace"
  for user in 1000 0; do
    # shellcheck disable=SC2086 # one argument per port
    embedded=$(nested exec -u "$user" "ac-sb-$sb" python3 -c '
import socket, struct, sys
q = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x07ac-sb-b\x00" + struct.pack(">HH", 1, 1)
for target in ["udp:53", "tcp:53"] + sys.argv[1:]:
    proto, port = target.split(":")
    try:
        if proto == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
            s.sendto(q, ("127.0.0.11", int(port))); r = s.recv(512)
        else:
            s = socket.create_connection(("127.0.0.11", int(port)), timeout=3)
            s.sendall(struct.pack(">H", len(q)) + q); r = s.recv(514)[2:]
        print("answered", target, struct.unpack(">H", r[6:8])[0])
    except OSError as e:
        print("refused", target, e)' $resolver_ports 2>&1)
    if grep -q "^refused" <<<"$embedded" && ! grep -qv "^refused" <<<"$embedded"; then
      ok "$when: uid $user in $sb gets no answer from the embedded DNS ($(wc -l <<<"$embedded") ways tried)"
    else
      bad "$when: uid $user in $sb reaches the embedded DNS"
    fi
    sed 's/^/    /' <<<"$embedded"
  done
}
embedded_dns_closed a "first start"
tcp_connect a "$gate_ip" 9099
rc=$?
((rc != 0)) && ok "the gate's control port is unreachable from a (exit $rc)" || bad "a reaches the gate's control port"
ACCTL_MANIFESTS=$manifest "$acctl" policy log a >"$home/log-a.log" 2>&1
grep -q '"sandbox":"a"' "$home/log-a.log" && ! grep -q '"sandbox":"b"' "$home/log-a.log" &&
  ok "policy log a has a's decisions and none of b's" || bad "policy log a: $(head -c 400 "$home/log-a.log")"

# b holds a keep-alive connection through the gate while a's policy changes below.
nested exec -d ac-sb-b python3 -c '
import os, socket, time
s = socket.create_connection(("'"$gate_ip"'", 80), timeout=120)
def ask():
    s.sendall(b"GET / HTTP/1.1\r\nHost: other.test\r\n\r\n")
    d = b""
    while b"\r\n\r\n" not in d:
        d += s.recv(4096)
    head, _, body = d.partition(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < n:
        body += s.recv(4096)
    return head.split(b"\r\n")[0].decode() + " " + body.decode().strip()
out = open("/workspace/keepalive.out", "w")
out.write(ask() + "\n"); out.flush()
while not os.path.exists("/workspace/keepalive.go"):
    time.sleep(0.2)
out.write(ask() + "\n"); out.close()'
for _ in $(seq 1 50); do [[ -s $home/instances/b/workspace/keepalive.out ]] && break; sleep 0.2; done

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
in_sandbox b getent hosts also.test >/dev/null 2>&1
rc=$?
((rc == 2)) && ok "a's new name is not b's (b's policy did not change)" || bad "also.test in b after a's change: getent exit $rc"
touch "$home/instances/b/workspace/keepalive.go"
for _ in $(seq 1 50); do (($(wc -l <"$home/instances/b/workspace/keepalive.out") >= 2)) && break; sleep 0.2; done
if [[ $(cat "$home/instances/b/workspace/keepalive.out") == $'HTTP/1.1 200 OK hello other.test\nHTTP/1.1 200 OK hello other.test' ]]; then
  ok "b's open keep-alive connection kept working across the reload of a's policy"
else
  bad "b's keep-alive connection across the reload: $(cat "$home/instances/b/workspace/keepalive.out")"
fi

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
python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); sys.exit(c["sandboxes"][sys.argv[2]]["name"] != "c")' \
  "$home/run/hosts/$host/gate/config.json" "$c_ip" 2>/dev/null &&
  ok "the gate's config names sandbox c at the address acctl gave it ($c_ip)" || bad "sandbox c ($c_ip) is not in the gate's config"

# A Host container replaced under running sandboxes (here: runsc's network mode set instead of
# probed): apply waits for the new nested engine, starts the sandboxes again, and the new
# namespaces are closed to the embedded DNS as well.
host_before=$($docker inspect -f '{{.Id}}' "ac-dind-host-$host")
sed -i 's/^  isolation: dind$/  isolation: dind\n  runtime: {runsc: {network: host}}/' "$manifest"
check "apply replaces the Host container and starts its sandboxes again" "$acctl" apply -f "$manifest" --wait
[[ $($docker inspect -f '{{.Id}}' "ac-dind-host-$host") != "$host_before" ]] && ok "the Host container is a new one" ||
  bad "the Host container was not replaced"
grep -q "restarting with its host container" "$home/check.log" && ok "the plan waited for the new nested engine" ||
  bad "no wait for the new nested engine: $(grep -m3 engine "$home/check.log")"
embedded_dns_closed a "after the Host's replacement"

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
