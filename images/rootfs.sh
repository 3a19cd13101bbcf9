#!/usr/bin/env bash
# rootfs.sh — bootstraps a minimal Debian root filesystem (debootstrap minbase) once, caches it,
#   and prints the path of a tarball of it, ready for the engine's image import. No registry.
#
# Usage: images/rootfs.sh [--cache DIR] [--suite SUITE] [--mirror URL] [--refresh]
#   --cache   cache folder (default /var/cache/acctl/rootfs); holds <suite>/ and <suite>.tar
#   --suite   Debian suite (default bookworm)
#   --mirror  Debian mirror URL; default: the one this machine's apt uses for that suite
#   --refresh bootstrap again even when the cache is complete (newer packages)
# stdout: the tarball's path, nothing else. Progress goes to stderr. Run as root.
# The first run takes about a minute; later runs only check the cache.
set -euo pipefail

cache=/var/cache/acctl/rootfs
suite=bookworm
mirror=""
refresh=0

say() { printf 'rootfs: %s\n' "$*" >&2; }
die() { printf 'rootfs: error: %s\n' "$*" >&2; exit 1; }

while (($#)); do
  case $1 in
    --cache) cache=${2:?--cache needs a folder}; shift 2 ;;
    --suite) suite=${2:?--suite needs a name}; shift 2 ;;
    --mirror) mirror=${2:?--mirror needs a URL}; shift 2 ;;
    --refresh) refresh=1; shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ $suite =~ ^[a-z][a-z0-9-]*$ ]] || die "suite must be a Debian suite name, not \"$suite\""

root=$cache/$suite
tarball=$cache/$suite.tar
# Written last inside the tree before it is renamed into place: its presence means complete.
# It stays in the image as a record of where the root filesystem came from.
marker=etc/acctl-rootfs

if ((!refresh)) && [[ -f $root/$marker && -f $tarball && ! $tarball -ot $root/$marker ]]; then
  printf '%s\n' "$tarball"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap needs it)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
mkdir -p "$cache"

# One bootstrap at a time per cache; a second caller waits and then finds the cache filled.
exec 9>"$cache/.lock"
flock 9

# Prints "URI SUITE COMPONENTS" for every enabled deb source of this machine's apt.
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    # One-line format: deb [options] URI SUITE COMPONENT...
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 4 {
      printf "%s %s", $2, $3; for (i = 4; i <= NF; i++) printf " %s", $i; print "" }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    # deb822 format: stanzas separated by blank lines.
    awk 'function flush() {
           if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no")
             for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++) print uris[u], suites[s], comps
           types = ""; enabled = ""; comps = ""; nu = 0; ns = 0 }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
           if (key == "types") types = $0
           else if (key == "enabled") enabled = $0
           else if (key == "components") comps = $0
           else if (key == "uris") nu = split($0, uris, " ")
           else if (key == "suites") ns = split($0, suites, " ") }
         END { flush() }' "$f"
  done
}

# The mirror this machine uses for the suite's main component, else for any Debian suite.
discover_mirror() {
  local sources
  sources=$(apt_sources)
  awk -v s="$suite" '$2 == s && / main( |$)/ { print $1; exit }' <<<"$sources" | grep . ||
    awk '$2 !~ /-security$/ && / main( |$)/ && $1 ~ /^(https?|file):/ { print $1; exit }' <<<"$sources"
}
# The machine's security mirror for the suite, if it has one.
discover_security() {
  apt_sources | awk -v s="$suite-security" '$2 == s { print $1; exit }'
}

if ((refresh)) || [[ ! -f $root/$marker ]]; then
  if [[ -z $mirror ]]; then
    mirror=$(discover_mirror) ||
      die "no Debian mirror for $suite in /etc/apt/sources.list{,.d}; pass --mirror URL"
  fi
  security=$(discover_security || true)
  work=$(mktemp -d "$cache/.$suite.XXXXXX")
  chmod 0755 "$work" # it becomes the image's "/"; mktemp made it 0700
  # debootstrap mounts /proc and /sys inside the tree; never leave them behind on failure.
  cleanup() {
    local m
    for m in proc sys dev/pts; do mountpoint -q "$work/$m" 2>/dev/null && umount -l "$work/$m"; done
    rm -rf --one-file-system "$work"
  }
  trap cleanup EXIT
  say "debootstrap --variant=minbase $suite from $mirror (about a minute)"
  start=$(date +%s)
  if ! debootstrap --variant=minbase "$suite" "$work" "$mirror" >"$work.log" 2>&1; then
    tail -20 "$work.log" >&2
    die "debootstrap failed (full log: $work.log)"
  fi
  rm -f "$work.log"
  # The image's own apt points at the same mirror; lists and downloaded packages are dropped
  # (builds run apt-get update first).
  {
    printf 'deb %s %s main\n' "$mirror" "$suite"
    printf 'deb %s %s-updates main\n' "$mirror" "$suite"
    if [[ -n $security ]]; then printf 'deb %s %s-security main\n' "$security" "$suite"; fi
  } >"$work/etc/apt/sources.list"
  rm -rf "$work"/var/lib/apt/lists/* "$work"/var/cache/apt/archives/*.deb "$work"/var/cache/apt/*.bin
  # Device nodes come from the engine at run time; the image carries an empty /dev.
  find "$work/dev" -mindepth 1 -delete
  printf 'suite=%s\nmirror=%s\nvariant=minbase\nbootstrapped=%s\n' \
    "$suite" "$mirror" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/$marker"
  # Swap in the new tree; the old one (a refresh) goes only after the new one is in place.
  old=""
  [[ -e $root ]] && { old=$cache/.$suite.old.$$; mv "$root" "$old"; }
  mv "$work" "$root"
  trap - EXIT
  if [[ -n $old ]]; then rm -rf --one-file-system "$old"; fi
  say "bootstrapped $root in $(($(date +%s) - start)) s"
fi

say "packing $tarball"
tmp_tar=$(mktemp "$cache/.$suite.tar.XXXXXX")
trap 'rm -f "$tmp_tar"' EXIT
tar --numeric-owner --sort=name -C "$root" -cf "$tmp_tar" .
chmod 0644 "$tmp_tar"
mv "$tmp_tar" "$tarball"
trap - EXIT
printf '%s\n' "$tarball"
