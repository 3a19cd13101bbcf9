#!/usr/bin/env bash
# gvisor_floor.sh — the smallest limits a gVisor (runsc) sandbox boots in on this machine, measured
#   on a private dockerd of its own (below the floor runsc can hang and leave dockerd holding the
#   containers, so the machine's engine is never used). Every sandbox is started the way acctl
#   starts one: --runtime=runsc --network=none, --memory M --memory-swap M --cpus C --pids-limit P,
#   a bind-mounted /workspace, and either `true` or acctl's idle command (then stopped).
#   1. memory sweep 128m … 8m, one sandbox at a time (true and idle), cpus 0.5, pids 1024;
#   2. the same with FLOOR_CONCURRENT sandboxes started at once (idle);
#   3. cpus sweep 1 … 0.01 and 4. pids sweep 1024 … 16, alone and at once, memory 128m;
#   5. the limits of the first report (64m, cpus 0.1, pids 32, ten at once), and the corner of
#      the recommended floor (every limit at its minimum, alone and at once).
#   Prints one line per point (successes, start times, what failed and how), the measured floors
#   and the check of the recommended validation floor: exit 1 when a sandbox at or above it (in
#   every limit) failed, 2 when the harness itself failed. The full run takes about 15 minutes.
# Usage: gvisor_floor.sh [--smoke]   (root; runsc, dockerd, /usr/bin/docker, /bin/busybox)
#   --smoke: two memory sizes (the recommended floor and 128m) and the corner, 2 tries, one
#   round at once, no sweeps; under a minute.
#   Env: FLOOR_TRIES (10), FLOOR_ROUNDS (3, rounds of concurrent starts), FLOOR_CONCURRENT (10),
#   FLOOR_TIMEOUT (60 s, 30 s in smoke: allowed each docker call), the recommended floor
#   FLOOR_MIN_MEMORY (32, MiB), FLOOR_MIN_PIDS (128), FLOOR_MIN_CPUS (0.05, the smallest cpus
#   checked: less only boots slower), FLOOR_TRACE (a file: every docker call is logged there).
set -uo pipefail

smoke=0
[[ ${1:-} == --smoke ]] && smoke=1
tries=${FLOOR_TRIES:-10}
rounds=${FLOOR_ROUNDS:-3}
concurrent=${FLOOR_CONCURRENT:-10}
call_timeout=${FLOOR_TIMEOUT:-60}
min_memory=${FLOOR_MIN_MEMORY:-32}
min_pids=${FLOOR_MIN_PIDS:-128}
min_cpus=${FLOOR_MIN_CPUS:-0.05}
if ((smoke)); then tries=2 rounds=1 call_timeout=${FLOOR_TIMEOUT:-30}; fi
image=acctl-floor/busybox:latest
idle_cmd=(sh -c "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait \$!; done")

say() { printf 'floor: %s\n' "$*" >&2; }
die() { printf 'floor: error: %s\n' "$*" >&2; exit 2; }

# /usr/local/bin/docker may be an unrelated client.
docker_bin=/usr/bin/docker
if [[ $(id -u) -ne 0 ]]; then echo "SKIP: needs root (starts a private dockerd)"; exit 0; fi
runsc_bin=$(command -v runsc || true)
[[ -n $runsc_bin ]] || { echo "SKIP: runsc is missing (apt-get install runsc)"; exit 0; }
command -v dockerd >/dev/null && [[ -x $docker_bin ]] ||
  { echo "SKIP: dockerd or $docker_bin is missing (apt-get install docker.io)"; exit 0; }
[[ -x /bin/busybox ]] || { echo "SKIP: /bin/busybox is missing (apt-get install busybox-static)"; exit 0; }

# --- a private engine --------------------------------------------------------------------------
# Its own socket, exec root (so its own containerd and runsc state), data root and cgroup parent:
# nothing it does reaches the machine's dockerd, and everything it started can be found again.
run_dir=$(mktemp -d /run/acctl-floor.XXXXXX)
data_dir=$(mktemp -d /var/lib/acctl-floor.XXXXXX)
cgroup_parent=${run_dir##*/}
work=$run_dir/work
mkdir -p "$work"
sock=unix://$run_dir/docker.sock
dk() {
  local rc=0 t0=$SECONDS
  timeout "$call_timeout" "$docker_bin" -H "$sock" "$@" || rc=$?
  ((rc == 124)) && say "docker $1 did not return within ${call_timeout}s"
  [[ -n ${FLOOR_TRACE:-} ]] && echo "$(date +%T) docker ${*:1:2} -> $rc in $((SECONDS - t0))s" >>"$FLOOR_TRACE"
  return "$rc"
}

# Pids of what the private engine started: processes naming its run folder, tasks in its cgroups.
engine_pids() {
  local p cmd
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    [[ $cmd == *"$run_dir"* ]] && echo "${p#/proc/}"
  done
  cat /sys/fs/cgroup/*/"$cgroup_parent"/*/tasks /sys/fs/cgroup/"$cgroup_parent"/*/cgroup.procs \
    2>/dev/null
  true
}
engine_stop() {
  local pid i pids
  pid=$(cat "$run_dir/docker.pid" 2>/dev/null || true)
  if [[ -n $pid ]] && kill "$pid" 2>/dev/null; then
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  for i in 1 2 3; do
    mapfile -t pids < <(engine_pids | sort -u)
    ((${#pids[@]})) || break
    kill -KILL "${pids[@]}" 2>/dev/null
    sleep 0.3
  done
  # Mounts the engine left behind (overlays, shm, netns), deepest first.
  awk -v a="$run_dir" -v b="$data_dir" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  find /sys/fs/cgroup/*/"$cgroup_parent" /sys/fs/cgroup/"$cgroup_parent" -depth -type d \
    -exec rmdir {} + 2>/dev/null
  rm -f "$run_dir/docker.pid"
  true
}
engine_start() {
  rm -rf "$data_dir"/* "$run_dir/exec"
  # runsc's --network=host keeps networking inside the container's own (here: empty) namespace;
  # Debian's runsc needs it on kernels >= 6.11 (gVisor issue 10704) and it is harmless below.
  printf '{"runtimes": {"runsc": {"path": "%s", "runtimeArgs": ["--network=host"]}}}\n' \
    "$runsc_bin" >"$run_dir/daemon.json"
  # A network namespace of its own: a dockerd started with --bridge=none deletes the docker0
  # bridge it finds, which would be the machine engine's.
  setsid unshare --net dockerd --config-file "$run_dir/daemon.json" --data-root "$data_dir" \
    --exec-root "$run_dir/exec" --pidfile "$run_dir/docker.pid" -H "$sock" --bridge=none \
    --iptables=false --ip-masq=false --cgroup-parent="/$cgroup_parent" \
    >>"$run_dir/dockerd.log" 2>&1 </dev/null &
  disown  # killed by engine_stop, not waited for
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    timeout 5 "$docker_bin" -H "$sock" info >/dev/null 2>&1 && break
    sleep 0.2
  done
  timeout 5 "$docker_bin" -H "$sock" info >/dev/null 2>&1 ||
    { tail -5 "$run_dir/dockerd.log" >&2; die "the private dockerd did not come up"; }
  # A tiny image from busybox-static, as images/engine-up.sh builds acctl's test image.
  local root=$work/rootfs
  rm -rf "$root"
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/workspace"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in sh true sleep; do ln -s busybox "$root/bin/$applet"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  tar --numeric-owner -C "$root" -cf - . |
    dk import --change 'ENV PATH=/bin' - "$image" >/dev/null || die "cannot import $image"
}
# measure runs in a subshell: restarts are counted in a file.
engine_restart() {
  say "restarting the private engine (a start or a removal hung)"
  echo restart >>"$work/restarts"
  engine_stop
  engine_start
}
cleanup() {
  set +eu
  engine_stop
  rm -rf "$run_dir" "$data_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting a private dockerd ($run_dir)"
engine_start

# --- one measured point --------------------------------------------------------------------------
# Classifies a failed docker call by its error text.
classify() {  # rc errfile
  local rc=$1 text
  text=$(tr '\n' ' ' <"$2")
  if ((rc == 124)); then echo "hung>${call_timeout}s"
  elif [[ $text == *"exit status 137"* ]]; then echo "create-killed-137"
  elif [[ $text == *"cannot create sandbox"*EOF* ]]; then echo "create-sandbox-EOF"
  elif [[ $text == *"StartRoot"*EOF* ]]; then echo "StartRoot-EOF"
  elif [[ $text == *"input/output error"* ]]; then echo "submount-io-error"
  elif [[ $text == *exited* ]]; then echo "${text// /-}" | cut -c1-40
  else
    text=${text#Error response from daemon: }
    text=${text#failed to create shim task: }
    echo "other:$(printf '%s' "$text" | cut -c1-80 | tr ' ' '_')"
  fi
}
# Why a sandbox that started did not run its command: exit code, and whether the OOM killer did it.
died() {  # id
  local state code oom
  state=$(dk inspect -f '{{.State.ExitCode}} {{.State.OOMKilled}}' "$1" 2>/dev/null) || state="? ?"
  read -r code oom <<<"$state"
  echo "started-then-exited-$code$([[ $oom == true ]] && echo -oom-killed)"
}
median() { sort -n | awk '{v[NR] = $1} END {print NR ? v[int((NR + 1) / 2)] : "-"}'; }

# Starts n sandboxes at once, `tries` times; prints "ok total median_ms max_ms failures".
# Failures are "kind×count,…"; a hang restarts the engine, since dockerd keeps the container.
measure() {  # memory_mib cpus pids n kind(true|idle) tries
  local mem=$1 cpus=$2 pids=$3 n=$4 kind=$5 count=$6 r i rc ok=0 total=0 wedged
  local -a ids cmd times=() fails=()
  if [[ $kind == true ]]; then cmd=(true); else cmd=("${idle_cmd[@]}"); fi
  local hung_rounds=0
  for ((r = 0; r < count; r++)); do
    # Below the floor a round can hang: each costs the timeout and a restart, two tell enough.
    if ((hung_rounds >= 2)); then
      fails+=("stopped-after-2-hung-rounds:$((count - r))-not-tried")
      break
    fi
    ids=() wedged=0
    rm -f "$work"/start.* "$work"/err.*
    for ((i = 0; i < n; i++)); do
      ids[i]=""
      ((wedged)) && { fails+=("not-tried-engine-hung"); continue; }
      mkdir -p "$work/ws/$i"
      ids[i]=$(dk create --runtime=runsc --network=none --memory "${mem}m" --memory-swap "${mem}m" \
        --cpus "$cpus" --pids-limit "$pids" -v "$work/ws/$i:/workspace" -w /workspace \
        --entrypoint '' "$image" "${cmd[@]}" 2>"$work/err.c$i") ||
        { rc=$?; fails+=("create-$(classify $rc "$work/err.c$i")"); ids[i]=""; ((rc == 124)) && wedged=1; }
    done
    for ((i = 0; i < n; i++)); do
      [[ -n ${ids[i]} ]] || continue
      (
        t0=$(date +%s%N)
        dk start "${ids[i]}" >/dev/null 2>"$work/err.$i"
        rc=$?
        echo "$rc $((($(date +%s%N) - t0) / 1000000))" >"$work/start.$i"
      ) &
    done
    wait
    for ((i = 0; i < n; i++)); do
      total=$((total + 1))
      [[ -n ${ids[i]} ]] || continue
      local ms
      read -r rc ms <"$work/start.$i"
      if ((rc != 0)); then
        fails+=("$(classify "$rc" "$work/err.$i")")
        ((rc == 124)) && wedged=1
        continue
      fi
      times+=("$ms")
      ((wedged)) && { fails+=("not-checked-engine-hung"); continue; }
      # It booted; did the command run? true exits 0, the idle command keeps running and stops.
      local status
      if [[ $kind == true ]]; then
        status=$(dk wait "${ids[i]}" 2>/dev/null) || { fails+=("wait-failed"); wedged=1; continue; }
        [[ $status == 0 ]] || { fails+=("$(died "${ids[i]}")"); continue; }
      else
        status=$(dk inspect -f '{{.State.Running}}' "${ids[i]}" 2>/dev/null) ||
          { fails+=("inspect-failed"); wedged=1; continue; }
        [[ $status == true ]] || { fails+=("$(died "${ids[i]}")"); continue; }
        dk stop -t 5 "${ids[i]}" >/dev/null 2>&1 || { fails+=("stop-failed"); wedged=1; continue; }
      fi
      ok=$((ok + 1))
    done
    local live=()
    for ((i = 0; i < n; i++)); do [[ -n ${ids[i]} ]] && live+=("${ids[i]}"); done
    if ((wedged)); then
      hung_rounds=$((hung_rounds + 1))
      engine_restart
    elif ((${#live[@]})) && ! dk rm -f "${live[@]}" >/dev/null 2>&1; then
      fails+=("rm-failed")
      engine_restart
    fi
  done
  local summary=-
  if ((${#fails[@]})); then
    summary=$(printf '%s\n' "${fails[@]}" | tr ' ' _ | sort | uniq -c | awk '{printf "%s%s×%s", (NR > 1 ? "," : ""), $2, $1}')
  fi
  local med=- max=-
  if ((${#times[@]})); then
    med=$(printf '%s\n' "${times[@]}" | median)
    max=$(printf '%s\n' "${times[@]}" | sort -n | tail -1)
  fi
  echo "$ok $total $med $max $summary"
}

# Prints a point's line; records its successes (ok[key]) and whether it broke the recommended floor.
declare -A all_ok
floor_broken=()
point() {  # section key label memory_mib cpus pids n kind tries
  local section=$1 key=$2 label=$3 mem=$4 cpus=$5 pids=$6
  shift 3
  local ok total med max fails
  read -r ok total med max fails < <(measure "$@")
  [[ -n ${ok:-} ]] || die "measuring $label failed"
  printf '%-17s %-13s ok %3s/%-3s start ms median %6s max %6s  failures %s\n' \
    "$section" "$label" "$ok" "$total" "$med" "$max" "$fails"
  if [[ $ok == "$total" ]]; then all_ok[$key]=1; else all_ok[$key]=0; fi
  if ((ok < total)) && awk -v m="$mem" -v c="$cpus" -v p="$pids" -v M="$min_memory" -v C="$min_cpus" \
    -v P="$min_pids" 'BEGIN { exit !(m >= M && c >= C && p >= P) }'; then
    floor_broken+=("$section $label")
  fi
}

# The smallest value of a descending sweep at and above which every start succeeded.
floor_of() {  # key-prefix values(descending)...
  local prefix=$1 v floor=none
  shift
  for v in "$@"; do
    [[ ${all_ok[$prefix$v]:-0} == 1 ]] || break
    floor=$v
  done
  echo "$floor"
}

# One limit swept, the others generous: cpus 0.5, pids 1024 (acctl's default), memory 128m.
sweep() {  # section what(memory|cpus|pids) n kind tries values...
  local section=$1 what=$2 n=$3 kind=$4 count=$5 v
  shift 5
  for v in "$@"; do
    case $what in
      memory) point "$section" "$section/$what/$v" "memory ${v}m" "$v" 0.5 1024 "$n" "$kind" "$count" ;;
      cpus) point "$section" "$section/$what/$v" "cpus $v" 128 "$v" 1024 "$n" "$kind" "$count" ;;
      pids) point "$section" "$section/$what/$v" "pids $v" 128 0.5 "$v" "$n" "$kind" "$count" ;;
    esac
  done
}

t_begin=$(date +%s)
echo "gvisor floor: $($runsc_bin --version | head -1), Docker $(dk version --format '{{.Server.Version}}'), kernel $(uname -r), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
echo "each point: $tries tries alone or $rounds round(s) of $concurrent at once; ${call_timeout}s allowed each docker call; unless swept: cpus 0.5, pids 1024, memory 128m"

all=$concurrent" at once"
if ((smoke)); then
  sizes=(128 "$min_memory")
else
  sizes=(128 120 112 104 96 88 80 72 64 56 48 40 32 24 16 12 8)
fi
cpu_values=(1 0.5 0.1 0.05 0.01)
pid_values=(1024 128 64 56 48 40 32 16)
sweep "alone true" memory 1 true "$tries" "${sizes[@]}"
sweep "alone idle" memory 1 idle "$tries" "${sizes[@]}"
sweep "$all" memory "$concurrent" idle "$rounds" "${sizes[@]}"
if ((!smoke)); then
  sweep "alone idle" cpus 1 idle 3 "${cpu_values[@]}"
  sweep "$all" cpus "$concurrent" idle 1 "${cpu_values[@]}"
  sweep "alone true" pids 1 true "$tries" "${pid_values[@]}"
  sweep "alone idle" pids 1 idle "$tries" "${pid_values[@]}"
  # One round each: below the floor a round can hang, which costs the timeout and a restart.
  sweep "$all" pids "$concurrent" idle 1 "${pid_values[@]}"
  # The configuration of the first report (ten sandboxes that never came up).
  point "$all" report "64m/0.1/32" 64 0.1 32 "$concurrent" idle 1
fi
# The corner of the recommended floor: every limit at its minimum at once.
point "alone idle" corner "floor corner" "$min_memory" "$min_cpus" "$min_pids" 1 idle "$tries"
point "$all" corner-n "floor corner" "$min_memory" "$min_cpus" "$min_pids" "$concurrent" idle "$rounds"

if ((smoke)); then
  echo "smoke: only ${sizes[*]} MiB and the floor corner tried; run without --smoke for the floors"
else
  printf 'measured memory floor (MiB; every start at and above it succeeded): alone true %s, alone idle %s, %s %s\n' \
    "$(floor_of "alone true/memory/" "${sizes[@]}")" "$(floor_of "alone idle/memory/" "${sizes[@]}")" \
    "$all" "$(floor_of "$all/memory/" "${sizes[@]}")"
  printf 'measured pids floor: alone true %s, alone idle %s, %s %s\n' \
    "$(floor_of "alone true/pids/" "${pid_values[@]}")" "$(floor_of "alone idle/pids/" "${pid_values[@]}")" \
    "$all" "$(floor_of "$all/pids/" "${pid_values[@]}")"
fi
restarts=0
[[ -f $work/restarts ]] && restarts=$(wc -l <"$work/restarts")
echo "engine restarts after a hang: $restarts; took $(($(date +%s) - t_begin)) s"
if ((${#floor_broken[@]})); then
  printf 'recommended floor memory %sm, cpus %s, pids %s: FAILED at %s\n' "$min_memory" "$min_cpus" \
    "$min_pids" "$(IFS=';'; echo "${floor_broken[*]}")"
  exit 1
fi
printf 'recommended floor memory %sm, cpus %s, pids %s: every start at or above it succeeded\n' \
  "$min_memory" "$min_cpus" "$min_pids"
exit 0
