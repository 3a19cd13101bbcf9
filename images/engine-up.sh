#!/usr/bin/env bash
# engine-up.sh — brings up a local dockerd with gVisor (runsc) and a tiny local test image, idempotently.
#   Run as root on Debian 12. Safe to run many times; fast when everything is already up.
#   Prints one line per step. Exit 0 = engine reachable, runsc registered and working, image present.
#   Env: ACCTL_TEST_IMAGE (default acctl-test/busybox:latest), ACCTL_DOCKERD_LOG.
set -euo pipefail

image=${ACCTL_TEST_IMAGE:-acctl-test/busybox:latest}
log=${ACCTL_DOCKERD_LOG:-/var/log/acctl-dockerd.log}
daemon_json=/etc/docker/daemon.json
# Remembers which runsc configuration passed the probe, so a warm run needs no container start.
stamp_dir=/var/lib/acctl-engine-up
stamp=$stamp_dir/runsc-probe

say() { printf 'engine-up: %s\n' "$*"; }
die() { printf 'engine-up: error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (installs packages, starts dockerd)"

# Debian's client first: /usr/local/bin may hold an unrelated docker CLI that shadows it.
docker_cli() { if [[ -x /usr/bin/docker ]]; then /usr/bin/docker "$@"; else docker "$@"; fi; }
engine_up() { docker_cli info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

# --- 1. packages -------------------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v runsc >/dev/null || missing+=(runsc)
[[ -x /bin/busybox ]] || missing+=(busybox-static)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v jq >/dev/null || missing+=(jq)
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/engine-up-apt.log 2>&1; then
    apt-get update -qq >>/tmp/engine-up-apt.log 2>&1 || true
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/engine-up-apt.log 2>&1 ||
      { tail -20 /tmp/engine-up-apt.log >&2; die "apt-get install ${missing[*]} failed"; }
  fi
else
  say "packages present (docker.io, runsc, busybox-static)"
fi
runsc_path=$(command -v runsc)

# --- 2. daemon.json: register runsc ------------------------------------------------------------
# Writes runtimes.runsc with the given runtimeArgs (JSON array), keeping every other setting.
# Returns 0 when the file changed.
write_runsc_config() {
  local args_json=$1 current new
  mkdir -p "$(dirname "$daemon_json")"
  current='{}'
  [[ -s $daemon_json ]] && current=$(cat "$daemon_json")
  new=$(jq --arg p "$runsc_path" --argjson a "$args_json" \
    '.runtimes.runsc = ({path: $p} + (if ($a | length) > 0 then {runtimeArgs: $a} else {} end))' \
    <<<"$current") || die "$daemon_json is not valid JSON; fix or remove it"
  [[ "$(jq -S . <<<"$current")" == "$(jq -S . <<<"$new")" ]] && return 1
  printf '%s\n' "$new" >"$daemon_json.tmp" && mv "$daemon_json.tmp" "$daemon_json"
  return 0
}
current_args() {
  [[ -s $daemon_json ]] || { echo '[]'; return; }
  jq -c '.runtimes.runsc.runtimeArgs // []' "$daemon_json" 2>/dev/null || echo '[]'
}
registered_path() {
  [[ -s $daemon_json ]] && jq -r '.runtimes.runsc.path // empty' "$daemon_json" 2>/dev/null || true
}

if [[ $(registered_path) != "$runsc_path" ]]; then
  write_runsc_config "$(current_args)" || true
  say "registered runtime runsc ($runsc_path) in $daemon_json"
else
  say "runtime runsc already registered in $daemon_json"
fi

# --- 3. dockerd ----------------------------------------------------------------------------------
if engine_up; then
  say "dockerd is running ($(docker_cli info --format '{{.ServerVersion}}'))"
else
  say "starting dockerd (log: $log)"
  mkdir -p "$(dirname "$log")"
  # setsid: dockerd must outlive this script and not receive the caller's terminal signals.
  setsid dockerd >>"$log" 2>&1 </dev/null &
  for ((i = 0; i < 300; i++)); do
    engine_up && break
    sleep 0.2
  done
  engine_up || { tail -20 "$log" >&2; die "dockerd did not come up within 60 s (see $log)"; }
  say "dockerd is up ($(docker_cli info --format '{{.ServerVersion}}'))"
fi

# Applies daemon.json runtime changes without restarting dockerd (runtimes are reloadable).
reload_dockerd() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd || true)
  [[ -n $pid ]] || die "cannot find dockerd's pid to reload its configuration"
  kill -HUP "$pid"
  # The reload is asynchronous: wait until dockerd reports the runtime args just written.
  local want have
  want=$(current_args)
  for ((i = 0; i < 50; i++)); do
    have=$(docker_cli info --format '{{json .Runtimes.runsc}}' 2>/dev/null |
      jq -c '.runtimeArgs // []' 2>/dev/null || true)
    [[ $have == "$want" ]] && return 0
    sleep 0.1
  done
  die "dockerd did not pick up $daemon_json after SIGHUP (runsc args: want $want, have ${have:-none})"
}
# A dockerd started before daemon.json changed still runs the old runtime set.
running_args=$(docker_cli info --format '{{json .Runtimes.runsc}}' 2>/dev/null |
  jq -c 'if . == null then "none" else (.runtimeArgs // []) end' 2>/dev/null || echo none)
if [[ $running_args != "$(current_args)" ]]; then
  say "reloading dockerd's runtimes from $daemon_json"
  reload_dockerd
fi

# --- 4. test image -------------------------------------------------------------------------------
if docker_cli image inspect "$image" >/dev/null 2>&1; then
  say "image $image present"
else
  say "importing $image from busybox-static"
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root" "$root/home/agent" "$root/workspace"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000:agent:/home/agent:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nagent:x:1000:\n' >"$root/etc/group"
  chown 1000:1000 "$root/home/agent"
  tar --numeric-owner -C "$root" -cf - . |
    docker_cli import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' \
      --change 'LABEL ac.test-image=busybox' - "$image" >/dev/null
  rm -rf "$root"
  trap - EXIT
  say "image $image imported"
fi

# --- 5. runsc probe ------------------------------------------------------------------------------
run_probe() { docker_cli run --rm --runtime=runsc "$image" true >/tmp/engine-up-probe.log 2>&1; }
want_stamp="$runsc_path $(current_args)"
if [[ -f $stamp && $(cat "$stamp") == "$want_stamp" ]]; then
  say "runsc works ($(current_args | jq -r 'if length == 0 then "no runtime args" else join(" ") end'), probed earlier)"
else
  chosen=""
  # Debian's runsc refuses to run with networking in the root netns on kernels >= 6.11
  # (gVisor issue 10704); --network=host (inside the container's own netns) works there.
  for args in '[]' '["--network=host"]'; do
    if write_runsc_config "$args"; then reload_dockerd; fi
    if run_probe; then chosen=$args; break; fi
    say "runsc with runtime args $args failed: $(tail -1 /tmp/engine-up-probe.log)"
  done
  [[ -n $chosen ]] || die "runsc does not work in either configuration (see /tmp/engine-up-probe.log)"
  mkdir -p "$stamp_dir"
  printf '%s' "$runsc_path $(current_args)" >"$stamp"
  say "runsc works with runtime args $chosen"
fi
say "ready: $(docker_cli info --format 'Docker {{.ServerVersion}}, runtimes: {{range $k, $v := .Runtimes}}{{$k}} {{end}}')"
