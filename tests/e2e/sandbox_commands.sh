#!/usr/bin/env bash
# sandbox_commands.sh — the original tool's command list, as written, against a dind Host brought
#   up from nothing: run (headless, --wait, limits), shell (a real pseudo-terminal under tmux, and
#   piped), list, status, logs agent, clean, destroy. From the attacker's side, as uid 1000 inside
#   the gVisor sandbox: no capabilities, no setuid/setgid file, a read-only root. The workspace
#   symlink swap is refused. A second agent image moves only its own layers into the nested engine.
# Usage: sandbox_commands.sh ACCTL_BINARY   (root, a running local engine: images/engine-up.sh)
# Prints one "ok"/"not ok" line per check; exit 0 when every check passed.
set -uo pipefail

acctl=${1:?usage: sandbox_commands.sh ACCTL_BINARY}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
host=cmds
docker=/usr/bin/docker
[[ -x $docker ]] || docker=docker

if [[ $(id -u) -ne 0 ]] || ! $docker version >/dev/null 2>&1; then
  echo "SKIP: needs root and a running local Docker engine (images/engine-up.sh)"
  exit 0
fi
if ! command -v tmux >/dev/null; then
  echo "SKIP: needs tmux for the pseudo-terminal checks (./ac test installs it)"
  exit 0
fi

home=$(mktemp -d /tmp/acctl-cmds.XXXXXX)
export ACCTL_HOME=$home ACCTL_MANIFESTS=$home/hosts.yaml
tmux_socket=acctl-e2e-$$
failures=0
ok() { printf 'ok - %s\n' "$*"; }
bad() { printf 'not ok - %s\n' "$*"; failures=$((failures + 1)); }
show() { sed 's/^/    /' "$@" | tail -25; }
ms() { date +%s%3N; }
rootowned=$(mktemp -d /tmp/acctl-rootowned.XXXXXX)
chmod 0755 "$rootowned"

cleanup() {
  tmux -L "$tmux_socket" kill-server >/dev/null 2>&1 || true
  "$acctl" down "$host" >/dev/null 2>&1 || true
  rm -rf "$home" "$rootowned"
}
trap cleanup EXIT

sed -e "s/@HOST@/$host/" "$here/commands.yaml.in" >"$ACCTL_MANIFESTS"
printf '#!/bin/bash\nhead -c 3000000 /dev/urandom > /opt/second.bin\necho second > /opt/second.txt\n' \
  >"$home/install-second.sh"
printf '#!/bin/bash\nexec bash "$@"\n' >"$home/run-second.sh"

nested() { $docker -H "unix://$home/run/hosts/$host/docker.sock" "$@"; }
# Bytes of "moved 5.3 MiB of …" or "129.9 MiB in 4.8s" in a copy step's line.
moved_bytes() {
  grep -m1 "done    copy image" "$1" | sed -E 's/.*\): (moved )?([0-9.]+) (B|KiB|MiB|GiB).*/\2 \3/' |
    awk '{ m = ($2 == "GiB") ? 2^30 : ($2 == "MiB") ? 2^20 : ($2 == "KiB") ? 2^10 : 1; printf "%d\n", $1 * m }'
}

# --- run, from nothing -----------------------------------------------------------------------------
t0=$(ms)
"$acctl" run base first --wait -- -c 'echo hello from $(id -u); echo to-stderr >&2; exit 3' \
  >"$home/run1.out" 2>"$home/run1.err"
rc=$?
echo "    run from nothing took $(($(ms) - t0)) ms"
if ((rc == 3)) && grep -qx "hello from 1000" "$home/run1.out" && ! grep -q "Plan:" "$home/run1.out"; then
  ok "run --wait from nothing: the agent's output on stdout, its exit status (3), the plan on stderr"
else
  bad "run --wait from nothing (exit $rc)"; show "$home/run1.out" "$home/run1.err"
fi
grep -q "to-stderr" "$home/run1.err" && ok "the agent's stderr stays stderr" || bad "the agent's stderr is lost"
[[ -f $home/instances/first/sandbox.yaml ]] && ok "run wrote instances/first/sandbox.yaml" ||
  bad "no instance manifest"
first_copy=$(moved_bytes "$home/run1.err")

# --- run with limits, headless ---------------------------------------------------------------------
if "$acctl" run base limited --cpus 2 --memory 1g -- -c 'sleep 3600' >"$home/run2.out" 2>&1; then
  ok "run --cpus 2 --memory 1g returns once the agent runs"
else
  bad "run with limits"; show "$home/run2.out"
fi
grep -q "acctl logs agent limited" "$home/run2.out" && ok "run says how to follow the agent" ||
  bad "run does not say how to follow the agent"
limits=$(nested inspect -f '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.Runtime}} {{.State.Running}}' ac-sb-limited 2>&1)
[[ $limits == "2000000000 1073741824 runsc true" ]] && ok "the container has cpus 2, memory 1g, runsc ($limits)" ||
  bad "limits on the container: $limits"
id_before=$(nested inspect -f '{{.Id}}' ac-sb-limited 2>/dev/null)
"$acctl" run limited --cpus 1 -- -c 'sleep 3600' >"$home/run3.out" 2>&1
after=$(nested inspect -f '{{.Id}} {{.HostConfig.NanoCpus}}' ac-sb-limited 2>&1)
[[ $after == "$id_before 1000000000" ]] && ok "run with other limits changes them in place" ||
  { bad "rerun with --cpus 1: $after (was $id_before)"; show "$home/run3.out"; }

# --- the attacker's side, as the agent inside the sandbox ----------------------------------------
attack=$(
  "$acctl" shell limited 2>"$home/attack.err" <<'EOF'
echo "uid=$(id -u) gid=$(id -g)"
grep '^CapEff' /proc/self/status
echo "setid=$(find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -type f -perm /6000 -print 2>/dev/null | wc -l)"
for p in /x /usr/bin/x /etc/x /opt/x; do touch "$p" 2>/dev/null && echo "wrote $p"; done
echo "root=$(awk '$2 == "/" { print $4 }' /proc/mounts | cut -d, -f1)"
su -c id root </dev/null >/dev/null 2>&1 && echo "su worked"
echo "pid1=$(tr '\0' ' ' </proc/1/cmdline)"
echo "http=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 http://192.0.2.2/; echo " rc=$?")"
curl -s --max-time 10 http://192.0.2.2:22/ 2>&1 | head -1 | sed 's/^/port22=/'
echo "port22rc=${PIPESTATUS[0]}"
echo "nopreload=$(env -u LD_PRELOAD curl -s -o /dev/null --max-time 10 http://192.0.2.2/; echo "rc=$?")"
echo done
EOF
)
printf '%s\n' "$attack" >"$home/attack.out"
grep -qx "uid=1000 gid=1000" <<<"$attack" && ok "the agent is uid 1000, gid 1000" || bad "agent ids"
grep -qE "^CapEff:\s+0+$" <<<"$attack" && ok "CapEff is 0" || bad "capabilities: $(grep CapEff <<<"$attack")"
# gVisor's /proc/self/status has no NoNewPrivs line: read it from the container's settings.
secopt=$(nested inspect -f '{{json .HostConfig.SecurityOpt}} {{json .HostConfig.CapDrop}} {{.Config.User}}' ac-sb-limited 2>&1)
[[ $secopt == *no-new-privileges* && $secopt == *'"ALL"'* && $secopt == *"1000:1000" ]] &&
  ok "the container drops every capability, sets no-new-privileges, runs as 1000:1000" ||
  bad "container security settings: $secopt"
grep -qx "setid=0" <<<"$attack" && ok "no setuid or setgid file in the image" || bad "setuid/setgid files: $(grep setid= <<<"$attack")"
if grep -qx "root=ro" <<<"$attack" && ! grep -q "^wrote " <<<"$attack"; then
  ok "the root filesystem is read-only (/, /usr/bin, /etc, /opt refused)"
else
  bad "the root filesystem is writable"; show "$home/attack.out"
fi
grep -q "su worked" <<<"$attack" && bad "su gave root" || ok "su does not give root"
# init-guard is PID 1 (base is paranoid), and its connect() hook sends an IP literal to the gate,
# which refuses it; another port is refused in the sandbox, by name; without the hook there is
# no route at all.
grep -q "^pid1=/opt/acctl/bin/init-guard -- " <<<"$attack" && ok "PID 1 is init-guard ($(grep ^pid1= <<<"$attack" | cut -c6-))" ||
  bad "PID 1: $(grep ^pid1= <<<"$attack")"
grep -qx "http=403 rc=0" <<<"$attack" && ok "a connect() to 192.0.2.2:80 goes to the gate, which refuses it (403)" ||
  bad "connect to an IP literal: $(grep ^http= <<<"$attack")"
grep -q "^port22=acctl: connect to 192.0.2.2 port 22 refused" <<<"$attack" && grep -qx "port22rc=7" <<<"$attack" &&
  ok "a connect() to port 22 is refused with a line naming the port" || bad "port 22: $(grep ^port22 <<<"$attack" | tr '\n' ' ')"
grep -qx "nopreload=rc=7" <<<"$attack" && ok "without LD_PRELOAD there is no route (curl exit 7)" ||
  bad "without the hook: $(grep ^nopreload= <<<"$attack")"
grep -qx done <<<"$attack" || { bad "the attack script did not finish"; show "$home/attack.out" "$home/attack.err"; }

# --- shell: piped ------------------------------------------------------------------------------------
out=$(echo 'id -u; echo piped > /workspace/keep.txt; echo home > ~/keep.txt; exit 4' |
  "$acctl" shell limited 2>"$home/pipe.err")
rc=$?
[[ $out == 1000 && $rc == 4 ]] && ok "piped shell: id -u is 1000, exit status 4 comes back" ||
  { bad "piped shell: '$out' exit $rc"; show "$home/pipe.err"; }

# --- shell: a real pseudo-terminal under tmux ------------------------------------------------------
tm() { tmux -L "$tmux_socket" "$@"; }
pane_has() { # pane_has REGEX [seconds]
  local i
  for ((i = 0; i < ${2:-30} * 5; i++)); do
    tm capture-pane -p -t e2e 2>/dev/null | grep -qE "$1" && return 0
    sleep 0.2
  done
  return 1
}
tm new-session -d -s e2e -x 100 -y 30 \
  "env ACCTL_HOME=$home ACCTL_MANIFESTS=$ACCTL_MANIFESTS $acctl shell limited 2>$home/tty.err; echo \$? > $home/tty.exit; sleep 30"
if pane_has 'agent@[^ ]*\$ ?$' 60; then
  ok "shell on a terminal reaches a prompt"
else
  bad "no prompt on the terminal"; tm capture-pane -p -t e2e | show; show "$home/tty.err"
fi
# (tty(1) prints "not a tty" under gVisor: an exec's terminal is the runtime's, /proc/self/fd/0
# does not resolve; isatty holds.)
tm send-keys -t e2e '[ -t 0 ] && [ -t 1 ] && echo "U=$(id -u) TTY"' Enter
pane_has '^U=1000 TTY$' 10 && ok "the terminal's shell is uid 1000 on a terminal" ||
  { bad "id -u / tty on the terminal"; tm capture-pane -p -t e2e | show; }
tm send-keys -t e2e 'echo "S=$(stty size)"' Enter
pane_has '^S=30 100$' 10 && ok "stty size is the window's (30 100)" ||
  { bad "stty size before the resize"; tm capture-pane -p -t e2e | show; }
tm resize-window -t e2e -x 120 -y 40
sleep 1
tm send-keys -t e2e 'clear; echo "R=$(stty size)"' Enter
pane_has '^R=40 120$' 10 && ok "stty size follows a resize (40 120)" ||
  { bad "stty size after the resize"; tm capture-pane -p -t e2e | show; }
tm send-keys -t e2e 'exit 7' Enter
for _ in $(seq 1 50); do [[ -s $home/tty.exit ]] && break; sleep 0.2; done
[[ $(cat "$home/tty.exit" 2>/dev/null) == 7 ]] && ok "the terminal shell's exit status (7) comes back" ||
  { bad "terminal shell exit: '$(cat "$home/tty.exit" 2>/dev/null)'"; show "$home/tty.err"; }
tm kill-server >/dev/null 2>&1

# --- list, status, logs agent --------------------------------------------------------------------
"$acctl" list >"$home/list.out" 2>&1
if grep -qE "^first +.*base" "$home/list.out" && grep -qE "^limited +.*base" "$home/list.out"; then
  ok "list shows both sandboxes with their Blueprint"
else
  bad "list"; show "$home/list.out"
fi
"$acctl" list -o json >"$home/list.json" 2>&1
jq -e '[.sandboxes[] | select(.name == "limited" and .state == "running")] | length == 1' \
  "$home/list.json" >/dev/null && ok "list -o json: limited is running" || { bad "list -o json"; show "$home/list.json"; }
for _ in $(seq 1 40); do "$acctl" status "$host" >"$home/status.out" 2>&1 && break; sleep 1; done
grep -qx healthy "$home/status.out" && ok "status: healthy" || { bad "status"; show "$home/status.out"; }
"$acctl" logs agent first >"$home/logs.out" 2>&1
grep -qx "hello from 1000" "$home/logs.out" && ok "logs agent first shows the run's output" ||
  { bad "logs agent"; show "$home/logs.out"; }

# --- a second agent image moves only its own layers ------------------------------------------------
"$acctl" run second two --wait -- -c 'cat /opt/second.txt' >"$home/run4.out" 2>"$home/run4.err"
rc=$?
((rc == 0)) && grep -qx second "$home/run4.out" && ok "a second Blueprint's image runs" ||
  { bad "second Blueprint (exit $rc)"; show "$home/run4.out" "$home/run4.err"; }
second_copy=$(moved_bytes "$home/run4.err")
own=$(($($docker image inspect -f '{{.Size}}' acctl/blueprint-second:latest) -
  $($docker image inspect -f '{{.Size}}' acctl/agent-base:latest)))
echo "    first image copy moved ${first_copy:-?} B; second moved ${second_copy:-?} B; its own layers: $own B"
if [[ -n $second_copy ]] && ((second_copy <= own * 11 / 10)); then
  ok "the second image moved $second_copy B, within its own layers ($own B) + 10%"
else
  bad "the second image moved ${second_copy:-?} B, its own layers are $own B"; grep "copy" "$home/run4.err" | show
fi

# --- clean keeps workspace and home, removes the secrets ---------------------------------------------
[[ $(stat -c '%u %a' "$home/instances/limited/secrets") == "0 700" ]] && ok "secrets/ is root's, 0700" ||
  bad "secrets/: $(stat -c '%u %a' "$home/instances/limited/secrets" 2>&1)"
echo "not-a-real-token" >"$home/instances/limited/secrets/github"
"$acctl" clean limited >"$home/clean.out" 2>&1
rc=$?
gone=$(nested inspect ac-sb-limited >/dev/null 2>&1 && echo present || echo gone)
if ((rc == 0)) && [[ $gone == gone && $(cat "$home/instances/limited/workspace/keep.txt") == piped &&
  $(cat "$home/instances/limited/home/keep.txt") == home ]]; then
  ok "clean removes the container and keeps workspace/keep.txt and home/keep.txt"
else
  bad "clean (exit $rc, container $gone)"; show "$home/clean.out"
fi
[[ -z $(ls -A "$home/instances/limited/secrets" 2>/dev/null) ]] && ok "clean removes the secrets" ||
  bad "secrets remain: $(ls -A "$home/instances/limited/secrets")"
"$acctl" run limited --wait -- -c 'cat /workspace/keep.txt' >"$home/run5.out" 2>&1
grep -qx piped "$home/run5.out" && ok "a cleaned instance runs again with its workspace" ||
  { bad "run after clean"; show "$home/run5.out"; }

# --- the symlink swap -----------------------------------------------------------------------------
echo "keep" >"$rootowned/owned-by-root"
before=$(stat -c '%u:%g %a' "$rootowned" "$rootowned/owned-by-root" | tr '\n' ' ')
rm -rf "$home/instances/first/workspace"
ln -s "$rootowned" "$home/instances/first/workspace"
"$acctl" run first --wait -- -c 'id' >"$home/swap.out" 2>&1
rc=$?
after=$(stat -c '%u:%g %a' "$rootowned" "$rootowned/owned-by-root" | tr '\n' ' ')
[[ $before == "$after" ]] && ok "the symlinked folder keeps its owner and mode ($after)" ||
  bad "the symlinked folder changed: $before -> $after"
if ((rc != 0)) && grep -qi "symlink\|symbolic link\|refus" "$home/swap.out"; then
  ok "apply refuses the symlinked workspace and says so (exit $rc): $(grep -im1 "symlink\|symbolic\|refus" "$home/swap.out")"
else
  bad "apply over a symlinked workspace (exit $rc)"; show "$home/swap.out"
fi

# --- destroy --------------------------------------------------------------------------------------
"$acctl" destroy first </dev/null >"$home/destroy0.out" 2>&1
rc=$?
((rc == 1)) && [[ -L $home/instances/first/workspace ]] && ok "destroy without a terminal needs --yes (exit 1, nothing removed)" ||
  { bad "destroy without --yes (exit $rc)"; show "$home/destroy0.out"; }
for n in first limited; do
  "$acctl" destroy "$n" --yes >"$home/destroy.out" 2>&1 || { bad "destroy $n"; show "$home/destroy.out"; }
done
if [[ ! -e $home/instances/first && ! -e $home/instances/limited ]] &&
  ! nested inspect ac-sb-first >/dev/null 2>&1 && ! nested inspect ac-sb-limited >/dev/null 2>&1; then
  ok "destroy removes the containers and the instance folders"
else
  bad "destroy left something: $(ls "$home/instances")"
fi
[[ -f $rootowned/owned-by-root ]] && ok "destroy did not follow the workspace symlink" ||
  bad "destroy removed the symlink's target"
"$acctl" destroy first --yes >/dev/null 2>&1
(($? == 1)) && ok "destroy of an unknown instance: exit 1" || bad "destroy of an unknown instance"

((failures == 0)) || { echo "$failures failed"; exit 1; }
echo "all passed"
