#!/usr/bin/env bash
# ac-runsc: the nested engine's runsc runtime. Passes every call on to runsc, and makes sure a
# sandbox cannot talk to the engine's embedded DNS server.
#
# Why: with runsc on --network=host (the kernels where gVisor's own stack cannot start) a sandbox
# uses its namespace's kernel stack, where dockerd has set a DNAT from 127.0.0.11:53 to its
# embedded resolver. That resolver answers any container name of the sandbox network, so one
# sandbox could learn which address is another's. Sandboxes resolve through the gate only (acctl
# mounts their resolv.conf), so nothing needs 127.0.0.11.
#
# How: on `create`, `run` and `restore` a prestart hook is appended to the bundle's config.json,
# after dockerd's own (libnetwork-setkey, which sets up the namespace). runsc runs prestart hooks
# in order before the container's first process, so the hook (this script with --prestart)
# rejects every packet to 127.0.0.11 in the sandbox's namespace (filter OUTPUT, which comes after
# dockerd's DNAT and also catches the resolver's own ports) before anything in the sandbox runs.
# Every failure fails the start. The rule lives in the sandbox's namespace, which goes away with
# it; a restart makes a new namespace and runs the hooks again.
#
# Usage (as dockerd calls a runtime): ac-runsc [RUNSC FLAG...] SUBCOMMAND [ARG...]
#        ac-runsc --prestart              (an OCI prestart hook: the container state on stdin)
#        ac-runsc --parse [RUNSC FLAG...] SUBCOMMAND [ARG...]   (prints "SUBCOMMAND BUNDLE")
set -euo pipefail

readonly real=/usr/bin/runsc
readonly self=/usr/local/sbin/ac-runsc
readonly resolver=127.0.0.11/32
readonly rule=(OUTPUT -d "$resolver" -j REJECT)

die() { printf 'ac-runsc: %s\n' "$*" >&2; exit 1; }

# Sets `sub` to the subcommand and `bundle` to its bundle ("" when none is named). Global flags
# come first; go-runc passes --root, --log and --log-format with their value as the next word.
parse() {
  sub="" bundle=""
  local i=0 args=("$@")
  while ((i < ${#args[@]})); do
    local a=${args[i]}
    case $a in
      --root | -root | --log | -log | --log-format | -log-format | --debug-log | -debug-log) i=$((i + 2)) ;;
      -*) i=$((i + 1)) ;;
      *) sub=$a; i=$((i + 1)); break ;;
    esac
  done
  while ((i < ${#args[@]})); do
    case ${args[i]} in
      --bundle | -bundle | -b | --b) bundle=${args[i + 1]:-}; i=$((i + 2)) ;;
      --bundle=* | -bundle=* | -b=* | --b=*) bundle=${args[i]#*=}; i=$((i + 1)) ;;
      *) i=$((i + 1)) ;;
    esac
  done
}

# Appends the hook to BUNDLE/config.json, keeping the file's mode.
add_hook() {
  local config=$1/config.json
  [[ -f $config ]] || die "no container spec at $config"
  jq -e '.process' "$config" >/dev/null || die "$config is not a container spec"
  jq --arg self "$self" '.hooks.prestart = ((.hooks.prestart // []) + [{path: $self, args: [$self, "--prestart"]}])' \
    "$config" >"$config.ac-runsc" || die "cannot add the prestart hook to $config"
  chmod --reference="$config" "$config.ac-runsc"
  mv "$config.ac-runsc" "$config"
}

# The hook: the sandbox's namespace rejects 127.0.0.11, checked after it is set.
prestart() {
  local state pid ns
  state=$(head -c 65536) || die "cannot read the container state"
  pid=$(jq -er '.pid | select(type == "number" and . > 0)' <<<"$state") ||
    die "the container state has no process id: $state"
  ns=/proc/$pid/ns/net
  [[ -e $ns ]] || die "process $pid has no network namespace"
  # A sandbox in the host container's own namespace would leave nothing to close off here.
  [[ $(readlink "$ns") != "$(readlink /proc/self/ns/net)" ]] ||
    die "the sandbox shares the host container's network namespace; refusing to start it"
  nsenter --net="$ns" iptables -w 10 -I "${rule[@]}" || die "cannot close 127.0.0.11 in the sandbox's namespace"
  nsenter --net="$ns" iptables -w 10 -C "${rule[@]}" || die "127.0.0.11 is still open in the sandbox's namespace"
}

case ${1:-} in
  --prestart) prestart; exit 0 ;;
  --parse) shift; parse "$@"; printf '%s %s\n' "$sub" "$bundle"; exit 0 ;;
esac
parse "$@"
case $sub in
  create | run | restore) add_hook "${bundle:-$PWD}" ;;
esac
exec "$real" "$@"
