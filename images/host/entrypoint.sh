#!/usr/bin/env bash
# ac-host-entrypoint — PID 1 of the sandbox host container: isolates the sandbox network, starts
#   the nested dockerd with gVisor (runsc), picks runsc's network mode, reports readiness.
#
# Env (set by acctl):
#   AC_SUBNET          sandbox network, IPv4 CIDR               (default 172.20.0.0/16)
#   AC_GATE_IP         the gate's address on it                 (default 172.20.0.53)
#   AC_GATE_MAC        the gate's MAC (default: Docker 20.10's 02:42:<IPv4 bytes> for AC_GATE_IP)
#   AC_BRIDGE          Linux bridge name of the sandbox network (default acsb0)
#   AC_RUNSC_PLATFORM  ptrace | systrap | kvm                   (default ptrace)
#   AC_RUNSC_NETWORK   auto | sandbox | host                    (default auto)
#   AC_RUNSC_DEBUG     0 | 1                                    (default 0)
# Files: /run/acctl/docker.sock (the nested engine), /run/acctl/host.json (written once ready),
#   /run/acctl/gvisor/ (runsc debug logs), /var/lib/docker/acctl/runsc-probe.json (probe cache).
# Log lines start with "ac-host: "; dockerd's own output follows on the same stream.
set -euo pipefail

run_dir=/run/acctl
socket=$run_dir/docker.sock
host_json=$run_dir/host.json
gvisor_log_dir=$run_dir/gvisor/
daemon_json=/etc/docker/daemon.json
probe_cache=/var/lib/docker/acctl/runsc-probe.json
probe_image=acctl/probe:busybox
nft_table=acctl_sandbox
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
start_seconds=$SECONDS

say() { printf 'ac-host: %s\n' "$*"; }
die() {
  printf 'ac-host: error: %s\n' "$*"
  rm -f "$host_json"
  if [[ -n ${dockerd_pid:-} ]] && kill -0 "$dockerd_pid" 2>/dev/null; then
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
  fi
  exit 1
}
nested() { docker -H "unix://$socket" "$@"; }

# --- inputs -------------------------------------------------------------------------------------
subnet=${AC_SUBNET:-172.20.0.0/16}
gate_ip=${AC_GATE_IP:-172.20.0.53}
bridge=${AC_BRIDGE:-acsb0}
platform=${AC_RUNSC_PLATFORM:-ptrace}
network=${AC_RUNSC_NETWORK:-auto}
debug=${AC_RUNSC_DEBUG:-0}

octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
ipv4_re="^$octet\.$octet\.$octet\.$octet\$"
[[ ${subnet%/*} =~ $ipv4_re && $subnet =~ /([0-9]|[12][0-9]|3[0-2])$ ]] ||
  die "AC_SUBNET must be an IPv4 CIDR like 172.20.0.0/16, not \"$subnet\""
[[ $gate_ip =~ $ipv4_re ]] || die "AC_GATE_IP must be an IPv4 address, not \"$gate_ip\""
[[ $bridge =~ ^[A-Za-z0-9_.-]{1,15}$ ]] ||
  die "AC_BRIDGE must be a Linux interface name (1-15 of A-Z a-z 0-9 _ . -), not \"$bridge\""
[[ $platform =~ ^(ptrace|systrap|kvm)$ ]] ||
  die "AC_RUNSC_PLATFORM must be ptrace, systrap or kvm, not \"$platform\""
[[ $network =~ ^(auto|sandbox|host)$ ]] ||
  die "AC_RUNSC_NETWORK must be auto, sandbox or host, not \"$network\""
[[ $debug =~ ^[01]$ ]] || die "AC_RUNSC_DEBUG must be 0 or 1, not \"$debug\""

ip_to_int() {
  local IFS=. a b c d
  read -r a b c d <<<"$1"
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}
prefix=${subnet#*/}
mask=$(((0xffffffff << (32 - prefix)) & 0xffffffff))
(($(($(ip_to_int "$gate_ip") & mask)) == $(($(ip_to_int "${subnet%/*}") & mask)))) ||
  die "AC_GATE_IP $gate_ip is outside AC_SUBNET $subnet"
# Docker 20.10 derives a container's MAC from its IPv4 address on a bridge network.
if [[ -n ${AC_GATE_MAC:-} ]]; then
  gate_mac=${AC_GATE_MAC,,}
  [[ $gate_mac =~ ^([0-9a-f]{2}:){5}[0-9a-f]{2}$ ]] || die "AC_GATE_MAC must be a MAC address, not \"$AC_GATE_MAC\""
else
  IFS=. read -r g1 g2 g3 g4 <<<"$gate_ip"
  gate_mac=$(printf '02:42:%02x:%02x:%02x:%02x' "$g1" "$g2" "$g3" "$g4")
fi

mkdir -p "$run_dir"
rm -f "$host_json" "$host_json".tmp.*
say "starting: subnet $subnet, gate $gate_ip ($gate_mac), bridge $bridge, runsc platform $platform, network $network, debug $debug"

# Signals before anything long-running: a stop during start-up still ends cleanly.
dockerd_pid=""
stopping=0
on_stop() {
  stopping=1
  say "received SIG$1: stopping dockerd (it stops the nested containers)"
  rm -f "$host_json"
  if [[ -n $dockerd_pid ]] && kill -0 "$dockerd_pid" 2>/dev/null; then
    local t0=$SECONDS
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
    say "dockerd stopped in $((SECONDS - t0)) s"
  fi
  say "stopped"
  exit 0
}
trap 'on_stop TERM' TERM
trap 'on_stop INT' INT

# --- a. cgroups ---------------------------------------------------------------------------------
# The engine mounts the cgroup v1 hierarchies read-only; the nested engine creates cgroups for
# its containers, so each hierarchy is mounted afresh, read-write. With a private cgroup
# namespace (--cgroupns=private) the fresh mount's root is the host container's own cgroup, so
# the nested containers stay inside its limits.
remount_cgroups() {
  local line mnt fstype opts super ctrl n=0
  # mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTS
  while read -r line; do
    mnt=$(awk '{print $5}' <<<"$line")
    opts=$(awk '{print $6}' <<<"$line")
    fstype=$(sed 's/.* - //' <<<"$line" | awk '{print $1}')
    super=$(sed 's/.* - //' <<<"$line" | awk '{print $3}')
    case $fstype in
      cgroup)
        [[ $opts == ro* ]] || continue
        # Super options like "rw,cpu,cpuacct" or "rw,name=systemd": keep the controllers.
        ctrl=$(tr , '\n' <<<"$super" | grep -vxE 'rw|ro|clone_children|noprefix|nsdelegate' |
          grep -vE '^(release_agent|xattr)' | paste -sd, -)
        umount "$mnt" || die "cannot unmount $mnt (needs CAP_SYS_ADMIN and apparmor=unconfined)"
        mount -t cgroup -o "rw,nosuid,nodev,noexec,$ctrl" cgroup "$mnt" ||
          die "cannot mount cgroup hierarchy $ctrl read-write at $mnt"
        n=$((n + 1))
        ;;
      cgroup2)
        [[ $opts == ro* ]] || continue
        mount -o remount,rw "$mnt" || die "cannot remount cgroup2 at $mnt read-write"
        n=$((n + 1))
        ;;
    esac
  done < <(grep -E ' - cgroup2? ' /proc/self/mountinfo | awk '$5 ~ "^/sys/fs/cgroup"')
  say "cgroups: $n hierarchies made writable"
  if grep -qE '^[0-9]+:[^:]*:/.+' /proc/self/cgroup; then
    say "warning: the host container shares the machine's cgroup namespace: nested containers" \
      "are not held by its resource limits (run it with --cgroupns=private)"
  fi
}
if ! mountpoint -q /sys/fs/cgroup; then die "/sys/fs/cgroup is not mounted"; fi
remount_cgroups
# cgroup v2 (not on this machine kind, untested here): the kernel refuses to enable controllers
# for dockerd's children while processes sit in the namespace's root cgroup; move them to a leaf.
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  mkdir -p /sys/fs/cgroup/ac-host
  xargs -rn1 <"/sys/fs/cgroup/cgroup.procs" sh -c 'echo "$0" >/sys/fs/cgroup/ac-host/cgroup.procs' 2>/dev/null || true
  sed -e 's/ / +/g' -e 's/^/+/' /sys/fs/cgroup/cgroup.controllers >/sys/fs/cgroup/cgroup.subtree_control ||
    say "warning: cannot enable the cgroup v2 controllers for nested containers"
fi
# Docker mounts /proc/sys read-only; dockerd sets ip_forward and bridge sysctls of this
# container's own network namespace.
if [[ $(awk '$2 == "/proc/sys" {print $4}' /proc/mounts | tail -1) == ro* ]]; then
  mount -o remount,rw /proc/sys 2>/dev/null || mount -o remount,bind,rw /proc/sys ||
    die "cannot make /proc/sys writable"
fi

# --- b. network isolation -----------------------------------------------------------------------
# In this container's network namespace, before dockerd exists. This kernel's nf_tables has
# the bridge family but not its bridge-meta keys (no "meta ibrname"), so the bridge table cannot
# ask which bridge a frame crosses: it decides on addresses instead, for every nested bridge.
# Within the sandbox subnet only the gate may be one end; IPv6 and other ethertypes are never
# bridged. The inet table names the bridge: nothing from it reaches this container or is routed.
install_rules() {
  local rules
  rules=$(
    cat <<NFT
add table bridge $nft_table
delete table bridge $nft_table
add table inet $nft_table
delete table inet $nft_table

table bridge $nft_table {
  chain forward {
    type filter hook forward priority -200; policy drop;
    ether type arp jump arp_between_ports
    ether type ip jump ipv4_between_ports
    # IPv6 (link-local too), VLAN-tagged and any other frames.
    counter drop
  }
  chain arp_between_ports {
    arp saddr ip $gate_ip ether saddr $gate_mac accept
    arp daddr ip $gate_ip accept
    arp saddr ip $subnet counter drop
    arp daddr ip $subnet counter drop
    accept
  }
  chain ipv4_between_ports {
    ip saddr $gate_ip ether saddr $gate_mac accept
    ip daddr $gate_ip ether daddr $gate_mac accept
    ip saddr $subnet counter drop
    ip daddr $subnet counter drop
    accept
  }
  chain to_host {
    type filter hook input priority -200; policy accept;
    ether type ip6 counter drop
    arp saddr ip $subnet counter drop
    arp daddr ip $subnet counter drop
    ip saddr $subnet counter drop
    ip daddr $subnet counter drop
  }
}

table inet $nft_table {
  chain local_in {
    type filter hook input priority filter - 10; policy accept;
    iifname "$bridge" counter drop
  }
  chain routed {
    type filter hook forward priority filter - 10; policy accept;
    # Bridged frames seen through br_netfilter carry the bridge as both devices.
    iifname "$bridge" oifname "$bridge" ip saddr $gate_ip accept
    iifname "$bridge" oifname "$bridge" ip daddr $gate_ip accept
    iifname "$bridge" counter drop
    oifname "$bridge" counter drop
  }
  chain local_out {
    type filter hook output priority filter - 10; policy accept;
    oifname "$bridge" counter drop
  }
}
NFT
  )
  local err
  if ! err=$(nft -f - <<<"$rules" 2>&1); then
    die "cannot install the sandbox network rules (nftables; needs CAP_NET_ADMIN and a kernel with nf_tables bridge and inet families): $err"
  fi
  nft list table bridge "$nft_table" >/dev/null 2>&1 && nft list table inet "$nft_table" >/dev/null 2>&1 ||
    die "the sandbox network rules are not in place after loading them"
}
install_rules
# br_netfilter also shows bridged IPv4/IPv6 to the inet forward chain above (and to dockerd's
# own rules); it is on by default in a new namespace, set it explicitly.
for f in /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables; do
  if [[ -e $f ]]; then echo 1 >"$f" 2>/dev/null || say "warning: cannot set $f (the bridge table still isolates)"; fi
done
say "network rules installed (nftables: bridge $nft_table + inet $nft_table, bridge $bridge)"

# --- c. runsc runtime configuration -------------------------------------------------------------
runsc_version=$(runsc --version 2>/dev/null | awk 'NR == 1 {print $3}')
[[ -n $runsc_version ]] || die "runsc does not run (runsc --version failed)"
docker_version=$(dockerd --version | awk '{print $3}' | tr -d ,)
# Old runsc releases know only ptrace and kvm ("specifies which platform to use: ptrace
# (default), kvm"); systrap arrived in 2023.
platform_help=$(runsc flags 2>&1 | grep -A1 -E '^ *-platform ' | tail -1 || true)
if [[ -n $platform_help && $platform_help != *"$platform"* ]]; then
  die "runsc $runsc_version does not support platform \"$platform\" (it offers: ${platform_help#*use: })"
fi
if [[ $platform == kvm && ! -c /dev/kvm ]]; then
  die "platform kvm needs /dev/kvm in the host container (--device /dev/kvm)"
fi

# Writes daemon.json for runsc network mode $1 (sandbox|host).
write_daemon_json() {
  local args=("--platform=$platform")
  [[ $1 == host ]] && args+=(--network=host)
  if ((debug)); then args+=(--debug "--debug-log=$gvisor_log_dir"); fi
  mkdir -p /etc/docker
  local args_json
  args_json=$(printf '%s\n' "${args[@]}" | jq -R . | jq -sc .)
  jq -n --argjson args "$args_json" '{
      runtimes: {runsc: {path: "/usr/local/sbin/ac-runsc", runtimeArgs: $args}},
      "default-runtime": "runc",
      "storage-driver": "overlay2",
      "log-driver": "json-file",
      "log-opts": {"max-size": "10m", "max-file": "3"},
      "shutdown-timeout": 10
    }' >"$daemon_json.tmp"
  mv "$daemon_json.tmp" "$daemon_json"
}
if ((debug)); then mkdir -p "$gvisor_log_dir"; fi

cache_key="runsc $runsc_version; kernel $(uname -r); platform $platform"
runsc_network=""
reason=""
probe="skipped"
case $network in
  sandbox) runsc_network=sandbox reason="network: sandbox requested" ;;
  host) runsc_network=host reason="network: host requested" ;;
  auto)
    if [[ -f $probe_cache ]] && [[ $(jq -r .key "$probe_cache" 2>/dev/null) == "$cache_key" ]]; then
      runsc_network=$(jq -r .network "$probe_cache")
      reason="$(jq -r .reason "$probe_cache") (cached probe)"
      probe=cached
      [[ $runsc_network =~ ^(sandbox|host)$ ]] || { runsc_network="" probe=skipped; }
    fi
    ;;
esac
# Until the probe has spoken, sandbox mode is what gets tried.
write_daemon_json "${runsc_network:-sandbox}"

# --- d. the nested engine -----------------------------------------------------------------------
# A restarted container keeps its writable layer: stale pid files would stop dockerd/containerd.
rm -f /var/run/docker.pid /run/docker/containerd/containerd.pid "$socket"
t0=$SECONDS
dockerd --config-file "$daemon_json" --host "unix://$socket" 2>&1 &
dockerd_pid=$!
until nested version >/dev/null 2>&1; do
  kill -0 "$dockerd_pid" 2>/dev/null || { wait "$dockerd_pid" || true; dockerd_pid=""; die "dockerd exited during start-up (its output is above)"; }
  ((SECONDS - t0 < 120)) || die "dockerd did not answer on $socket within 120 s"
  sleep 0.2
done
storage_driver=$(nested info --format '{{.Driver}}' 2>/dev/null || echo unknown)
say "dockerd $docker_version ready on unix://$socket in $((SECONDS - t0)) s (storage driver $storage_driver)"
[[ $storage_driver == overlay2 ]] ||
  say "warning: storage driver $storage_driver: mount a volume (ext4/xfs) at /var/lib/docker"

# Imports a busybox image (from this image's busybox-static) for the probe, once.
ensure_probe_image() {
  nested image inspect "$probe_image" >/dev/null 2>&1 && return 0
  local root
  root=$(mktemp -d)
  mkdir -p "$root/bin"
  cp /bin/busybox "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  tar --numeric-owner -C "$root" -c . | nested import --change 'CMD ["/bin/sh"]' - "$probe_image" >/dev/null ||
    { rm -rf "$root"; die "cannot import the probe image $probe_image"; }
  rm -rf "$root"
}
# Runs one runsc container; prints its error output on failure. `docker start -a` relays
# SIGTERM to the container, hence timeout's KILL; a healthy start takes 2-3 s.
probe_runsc() {
  local id out status=0
  timeout -k 5 30 docker -H "unix://$socket" rm -f ac-runsc-probe >/dev/null 2>&1 || true
  id=$(nested create --name ac-runsc-probe --runtime=runsc "$probe_image" \
    /bin/sh -c 'dmesg | grep -q gVisor' 2>&1) || { echo "$id"; return 1; }
  out=$(timeout -k 5 60 docker -H "unix://$socket" start -a "$id" 2>&1) || status=$?
  if ((status == 124 || status == 137)); then
    echo "the probe container did not finish within 60 s (platform $platform hangs here?)"
  fi
  ((status == 0)) || echo "$out"
  ((status == 0)) || kill_sandbox_processes "$id"
  timeout -k 5 30 docker -H "unix://$socket" rm -f "$id" >/dev/null 2>&1 || true
  ((status == 0)) || clear_failed_start "$id"
  return "$status"
}
# runsc 20221219 cannot signal a sandbox that failed to start ("cannot signal container in
# state created") and a hung one blocks `docker rm`: its processes are ended directly.
kill_sandbox_processes() {
  local pid
  for pid in $(pgrep -f -- "runsc-(sandbox|gofer) .*$1" || true); do kill -KILL "$pid" 2>/dev/null || true; done
  sleep 0.5
}
# Removes the containerd task and container such a start leaves behind.
clear_failed_start() {
  local id=$1 ctr=(ctr --address /var/run/docker/containerd/containerd.sock -n moby)
  kill_sandbox_processes "$id"
  "${ctr[@]}" tasks delete "$id" >/dev/null 2>&1 || true
  "${ctr[@]}" containers delete "$id" >/dev/null 2>&1 || true
  if "${ctr[@]}" tasks list -q 2>/dev/null | grep -q "$id"; then
    say "warning: the failed probe container $id left a containerd task behind"
  fi
}
# The line of a failed docker run that says why: the daemon's answer, else any error line.
first_error() {
  grep -m1 -E 'Error response from daemon|OCI runtime' <<<"$1" || grep -m1 -iE 'error|fail' <<<"$1" ||
    head -1 <<<"$1"
}
# Waits until dockerd reports runsc's runtime args containing (or lacking) --network=host.
wait_runtime_args() {
  local want=$1 t=$SECONDS args
  while :; do
    args=$(nested info --format '{{json .Runtimes.runsc}}' 2>/dev/null || true)
    if [[ $want == host && $args == *--network=host* ]] || [[ $want == sandbox && -n $args && $args != *--network=host* ]]; then
      return 0
    fi
    ((SECONDS - t < 30)) || die "dockerd did not reload the runsc runtime arguments (runtimes: $args)"
    sleep 0.2
  done
}
switch_runtime() {
  write_daemon_json "$1"
  kill -HUP "$dockerd_pid"
  wait_runtime_args "$1"
}

probe_seconds=0
if [[ -z $runsc_network ]]; then
  probe=ran
  t0=$SECONDS
  ensure_probe_image
  kernel=$(uname -r)
  if out=$(probe_runsc); then
    runsc_network=sandbox
    reason="probe: runsc $runsc_version runs with its own network stack on kernel $kernel"
  else
    first=$(first_error "$out")
    if grep -q 'root network namespace' <<<"$out"; then
      reason="probe: runsc $runsc_version cannot run with its own network stack on kernel $kernel (gVisor issue 10704, fixed in release-20240807); using --network=host (runsc uses the container's network namespace)"
    else
      reason="probe: runsc $runsc_version failed with its own network stack on kernel $kernel ($first); using --network=host"
    fi
    say "runsc with network sandbox failed: $first"
    say "switching runsc to --network=host (dockerd reloads its runtimes on SIGHUP)"
    switch_runtime host
    if ! out=$(probe_runsc); then
      die "runsc (platform $platform) fails with --network=host too: $(first_error "$out")"
    fi
    runsc_network=host
  fi
  probe_seconds=$((SECONDS - t0))
  mkdir -p "$(dirname "$probe_cache")"
  jq -n --arg key "$cache_key" --arg network "$runsc_network" --arg reason "$reason" \
    --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '{key: $key, network: $network, reason: $reason, probedAt: $at}' \
    >"$probe_cache.tmp"
  mv "$probe_cache.tmp" "$probe_cache"
  say "probe took $probe_seconds s"
fi
say "runsc $runsc_version: platform $platform, network $runsc_network ($reason)"

# dockerd must not have touched the isolation (it only edits its own iptables chains).
nft list table bridge "$nft_table" >/dev/null 2>&1 && nft list table inet "$nft_table" >/dev/null 2>&1 ||
  die "the sandbox network rules disappeared after dockerd started"

# --- e. readiness -------------------------------------------------------------------------------
jq -n --arg network "$runsc_network" --arg reason "$reason" --arg platform "$platform" \
  --argjson debug "$([[ $debug == 1 ]] && echo true || echo false)" \
  --arg runsc "$runsc_version" --arg docker "$docker_version" --arg started "$started" \
  --arg probe "$probe" --argjson probeSeconds "$probe_seconds" \
  --argjson readySeconds "$((SECONDS - start_seconds))" --arg socket "unix://$socket" \
  --arg storage "$storage_driver" --arg subnet "$subnet" --arg gate "$gate_ip" --arg bridge "$bridge" \
  '{ready: true, runscNetwork: $network, reason: $reason, platform: $platform, debug: $debug,
    runscVersion: $runsc, dockerVersion: $docker, started: $started, probe: $probe,
    probeSeconds: $probeSeconds, readySeconds: $readySeconds, socket: $socket,
    storageDriver: $storage, subnet: $subnet, gateIP: $gate, bridge: $bridge}' >"$host_json.tmp.$$"
mv "$host_json.tmp.$$" "$host_json"
say "ready in $((SECONDS - start_seconds)) s ($host_json)"

# --- f. supervise -------------------------------------------------------------------------------
# wait returns early when a trapped signal arrives; on_stop then exits.
status=0
wait "$dockerd_pid" || status=$?
((stopping)) && exit 0
rm -f "$host_json"
say "error: dockerd exited unexpectedly with status $status"
exit $((status == 0 ? 1 : status))
