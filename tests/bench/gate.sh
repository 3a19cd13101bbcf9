#!/usr/bin/env bash
# gate.sh — ac-gate beside the tools it replaces, on loopback, in one run:
#   1. DNS: queries/s (dnsperf, saturating) and p99 latency (dnsperf at a fixed rate) of ac-gate vs
#      dnsmasq holding the same allowlist with the same answers (target gate/dnsmasq ≥ 1.0×); and
#      queries/s of one client among 500 sandboxes with a policy each vs with one (target ≥ 0.9×);
#   2. one large HTTPS transfer through the gate's https listener vs direct (target ≥ 0.8×), and
#      through the gate terminating TLS for a credential host vs direct (target ≥ 0.7×);
#   3. HTTP requests/s (wrk) through the gate vs direct to nginx vs through squid with the same
#      allowlist (target gate/squid ≥ 2×);
#   4. connect latency p50/p99 added by the gate (sequential connect + small request);
#   5. ac-gate's RSS with 10,000 idle connections.
# Prints figures and ratios, one line each. "OVER TARGET" marks a missed target and still exits 0;
# exits 1 when something measured failed (answers differ, a transfer or request failed, idle
# connections were not all held), 2 when the setup failed. Everything listens on 127.0.0.1 with
# ephemeral ports and is stopped at exit.
# Usage: gate.sh [--smoke] [AC_GATE_BINARY]   (default: $ACCTL_GATE_BIN, else ./ac build's)
#   --smoke: 1 s runs, 16 MiB once, 100 connects, 500 idle connections, 50 sandbox policies; the
#   same checks.
#   Env: BENCH_DURATION (10, seconds per dnsperf/wrk run), BENCH_DNS_RATE (10000, queries/s of
#   the latency runs), BENCH_MIB (512), BENCH_HTTPS_RUNS (3), BENCH_CONNECTS (2000),
#   BENCH_IDLE (10000).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
smoke=0
[[ ${1:-} == --smoke ]] && { smoke=1; shift; }
[[ -n ${1:-} ]] && ACCTL_GATE_BIN=$1
duration=${BENCH_DURATION:-10}
dns_rate=${BENCH_DNS_RATE:-10000}
mib=${BENCH_MIB:-512}
https_runs=${BENCH_HTTPS_RUNS:-3}
connects=${BENCH_CONNECTS:-2000}
idle=${BENCH_IDLE:-10000}
if ((smoke)); then duration=1 dns_rate=1000 mib=16 https_runs=1 connects=100 idle=500; fi

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }

# --- prerequisites -------------------------------------------------------------------------------
# Debian packages: the contenders and the load generators.
declare -A tool_pkg=([dnsperf]=dnsperf [dnsmasq]=dnsmasq [squid]=squid [nginx]=nginx [wrk]=wrk
                     [dig]=bind9-dnsutils [curl]=curl [openssl]=openssl [cc]=gcc)
missing=()
for tool in "${!tool_pkg[@]}"; do
  command -v "$tool" >/dev/null || missing+=("${tool_pkg[$tool]}")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: missing tools; as root this installs them: apt-get install -y --no-install-recommends ${missing[*]}"
    exit 0
  fi
  say "installing ${missing[*]}"
  # Installing must not start the packaged daemons on ports 53/80/3128.
  # A machine whose package lists are stale or absent needs an update first.
  export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/bench-apt.log 2>&1 ||
    { apt-get update -qq >>/tmp/bench-apt.log 2>&1 &&
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/bench-apt.log 2>&1; } ||
    { tail -5 /tmp/bench-apt.log >&2; die "apt-get install failed"; }
fi
if [[ -n ${ACCTL_GATE_BIN:-} ]]; then
  gate_bin=$ACCTL_GATE_BIN
else
  (cd "$root" && ./ac build) || die "./ac build failed"
  gate_bin=$root/build/bin/ac-gate
fi
[[ -x $gate_bin ]] || die "$gate_bin missing"
# 10,000 relayed connections are 20,000 descriptors in ac-gate and 10,000 in nginx and in the client.
# Raising the hard limit needs CAP_SYS_RESOURCE; without it the relayed figure uses fewer.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
nofile=$(ulimit -n)
relayed_idle=$((2 * idle + 400 <= nofile ? idle : (nofile - 400) / 2))

work=$(mktemp -d /tmp/acctl-gate-bench.XXXXXX)
pids=()
cleanup() {
  set +e
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a process in the background, logging to $work/NAME.log; its pid goes to $last_pid.
start() {  # name command...
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
}
wait_tcp() {  # port
  local i
  for ((i = 0; i < 200; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
metric() {  # name: ac-gate's value of a Prometheus metric
  curl -sS -m 5 "http://127.0.0.1:$p_control/metrics" | awk -v m="$1" '$1 == m {print $2}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# "OVER TARGET" when value < target (higher is better).
mark() { awk -v v="$1" -v t="$2" 'BEGIN { if (v == "n/a" || v + 0 < t + 0) print "OVER TARGET" }'; }
median() {  # of an even count: the mean of the middle two
  sort -g | awk '{ v[NR] = $1 } END { if (!NR) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

helper=$work/gate_bench_client
cc -O2 -o "$helper" "$root/tests/bench/gate_bench_client.c" || die "cannot compile the helper"
mapfile -t ports < <("$helper" ports 13)
((${#ports[@]} == 13)) || die "no free loopback ports"
p_dns=${ports[0]} p_http=${ports[1]} p_https=${ports[2]} p_proxy=${ports[3]} p_control=${ports[4]}
p_dnsmasq=${ports[5]} p_nginx=${ports[6]} p_nginx_tls=${ports[7]} p_squid=${ports[8]}
gate_ip=127.0.0.53

# --- the allowlist, stated once and rendered for each contender ----------------------------------
# Exact names only: dnsmasq cannot express "*.x answers A, and empty for other types" (its
# address=/*.x/ answers NXDOMAIN to AAAA), so wildcards would not be the same allowlist.
allowed=(plain.test big.test)
for i in $(seq -w 1 18); do allowed+=("svc$i.allowed.test"); done
# Not allowed.test: it has allowed names below it, so dnsmasq answers it NOERROR (an empty
# non-terminal) where the gate, by design, answers NXDOMAIN.
denied=(evil.test exfil.example x.plain.test 127.0.0.1 metadata.google.internal)
for i in $(seq -w 1 14); do denied+=("n$i.blocked.test"); done

# --- upstreams: a test CA, nginx (plain and TLS) ---------------------------------------------------
(cd "$work" &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
    -out ca.pem -days 1 -subj /CN=gate-bench-ca &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key \
    -out server.csr -subj /CN=big.test &&
  printf 'subjectAltName=DNS:big.test\n' >san.ext &&
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
    -days 1 -extfile san.ext) >"$work/ca.log" 2>&1 || { cat "$work/ca.log" >&2; die "test CA"; }
mkdir -p "$work/www" "$work/nginx"
truncate -s "${mib}M" "$work/www/big.bin"  # sparse: no disk; TLS encrypts the zeros all the same
cat >"$work/nginx/nginx.conf" <<EOF
user root;
worker_processes 1;
worker_rlimit_nofile $nofile;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 30000; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_timeout 300s;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$p_nginx default_server;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
  server {
    listen 127.0.0.1:$p_nginx_tls ssl default_server;
    ssl_certificate $work/server.pem;
    ssl_certificate_key $work/server.key;
    root $work/www;
  }
  # The reference for TLS termination: nginx decrypting, verifying the upstream and encrypting
  # again, the same work the gate does for a credential host.
  server {
    listen 127.0.0.1:${ports[12]} ssl;
    ssl_certificate $work/server.pem;
    ssl_certificate_key $work/server.key;
    location / {
      proxy_pass https://127.0.0.1:$p_nginx_tls;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $work/ca.pem;
      proxy_ssl_server_name on;
      proxy_ssl_name big.test;
      proxy_buffering off;
    }
  }
}
EOF
start nginx nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log"
wait_tcp "$p_nginx" && wait_tcp "$p_nginx_tls" && wait_tcp "${ports[12]}" || die "nginx did not start: $(cat "$work/nginx.log")"

# --- ac-gate ---------------------------------------------------------------------------------------
json_list() { local IFS=,; printf '"%s"' "$1"; shift; for x in "$@"; do printf ',"%s"' "$x"; done; }
cat >"$work/gate.json" <<EOF
{
  "policy": {
    "allow": [$(json_list "${allowed[@]}")],
    "ports": [$p_nginx, $p_nginx_tls],
    "allowCIDRs": ["127.0.0.0/8"],
    "dns": {"records": {"plain.test": ["127.0.0.1"], "big.test": ["127.0.0.1"]}},
    "limits": {"dnsQPS": 1000000, "connections": 30000}
  },
  "gateIP": "$gate_ip",
  "listen": {"dns": "127.0.0.1:$p_dns", "http": "127.0.0.1:$p_http",
             "https": "127.0.0.1:$p_https", "proxy": "127.0.0.1:$p_proxy",
             "control": "127.0.0.1:$p_control"},
  "sandboxes": {"127.0.0.1": "bench"},
  "auditLog": "$work/audit.jsonl",
  "tuning": {"httpPort": $p_nginx, "httpsPort": $p_nginx_tls, "connectionsPerClient": 30000,
             "headTimeoutMs": 120000}
}
EOF
start_gate() {
  start ac-gate "$gate_bin" --config "$work/gate.json"
  gate_pid=$last_pid
  wait_tcp "$p_control" || die "ac-gate did not start: $(cat "$work/ac-gate.log")"
}
start_gate

# --- 1. DNS ----------------------------------------------------------------------------------------
# dnsmasq answers exactly as the gate does: host-record gives an allowed name its A record (and,
# being local data, an empty NOERROR for every other type); local=/#/ makes every other name
# NXDOMAIN from local data instead of forwarding; local-ttl matches the gate's 30 s answers.
{
  printf '%s\n' "port=$p_dnsmasq" listen-address=127.0.0.1 bind-interfaces no-resolv no-hosts \
    no-poll local-ttl=30 "local=/#/"
  for name in "${allowed[@]}"; do printf 'host-record=%s,%s\n' "$name" "$gate_ip"; done
} >"$work/dnsmasq.conf"
start dnsmasq dnsmasq -k --conf-file="$work/dnsmasq.conf" --pid-file= --user=root
wait_tcp "$p_dnsmasq" || die "dnsmasq did not start: $(cat "$work/dnsmasq.log")"

# Two thirds of the queries are for allowed names (A and AAAA), one third for denied ones.
{
  for name in "${allowed[@]}"; do printf '%s A\n%s AAAA\n' "$name" "$name"; done
  for name in "${denied[@]}"; do printf '%s A\n' "$name"; done
} >"$work/queries.txt"
# Same answers, query by query: status, counts and answer records (the id differs). +noedns as
# dnsperf sends: dnsmasq echoes an EDNS OPT record, the gate does not speak EDNS.
differences=0
while read -r name type; do
  a=$(dig @127.0.0.1 -p "$p_dns" +time=2 +tries=1 +noedns +noall +comments +answer "$name" "$type" |
    grep -E 'status:|flags:.*ANSWER|IN' | sed -E 's/id: [0-9]+//; s/flags: [a-z ]+;//')
  b=$(dig @127.0.0.1 -p "$p_dnsmasq" +time=2 +tries=1 +noedns +noall +comments +answer "$name" "$type" |
    grep -E 'status:|flags:.*ANSWER|IN' | sed -E 's/id: [0-9]+//; s/flags: [a-z ]+;//')
  if [[ $a != "$b" ]]; then
    ((differences++)) || true
    say "answers differ for $name $type:"$'\n'"  gate:    $a"$'\n'"  dnsmasq: $b"
  fi
done <"$work/queries.txt"

dnsperf_qps() {  # port: queries/s at saturation (100 outstanding, one client)
  dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries.txt" -l "$duration" -q 100 2>&1 |
    tee "$work/dnsperf-$1.log" | awk '/Queries per second:/ {printf "%.0f", $4}'
}
dnsperf_p99_us() {  # port: p99 latency at a fixed rate below both servers' capacity
  dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries.txt" -l "$((duration / 2 > 0 ? duration / 2 : 1))" \
    -Q "$dns_rate" -v 2>/dev/null | awk '$1 == ">" {print $NF}' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) printf "%.0f", v[int(NR * 0.99)] * 1e6; else print 0 }'
}
dnsperf_lost() { awk '/Queries lost:/ {print $3}' "$work/dnsperf-$1.log"; }
say "DNS: dnsperf ${duration}s against each"
gate_qps=$(dnsperf_qps "$p_dns")
dnsmasq_qps=$(dnsperf_qps "$p_dnsmasq")
gate_dns_p99=$(dnsperf_p99_us "$p_dns")
dnsmasq_dns_p99=$(dnsperf_p99_us "$p_dnsmasq")
kill "$last_pid" 2>/dev/null || true  # dnsmasq is done
: >"$work/audit.jsonl"  # several hundred MB of DNS lines by now

# --- 1b. DNS with a policy per sandbox: 500 sandboxes' policies loaded vs one ---------------------
# The querying client (127.0.0.1) is one sandbox among N, each with a policy of its own (the
# allowlist plus a name of its own); the gate looks the client's policy up per query.
policies_config() {  # N: a gate config on ports 9/10 with N sandboxes, 127.0.0.1 the middle one
  local n=$1 i first=1
  printf '{"policy": {"allow": [], "limits": {"dnsQPS": 1000000, "connections": 30000}},\n'
  printf ' "gateIP": "%s", "auditLog": "%s",\n' "$gate_ip" "$work/audit-many.jsonl"
  printf ' "listen": {"dns": "127.0.0.1:%s", "control": "127.0.0.1:%s"},\n' "${ports[9]}" "${ports[10]}"
  printf ' "policies": {'
  for ((i = 0; i < n; i++)); do
    ((first)) || printf ','
    first=0
    printf '"p%d": {"allow": [%s,"own%d.test"], "limits": {"dnsQPS": 1000000}}' "$i" \
      "$(json_list "${allowed[@]}")" "$i"
  done
  printf '},\n "sandboxes": {'
  first=1
  for ((i = 0; i < n; i++)); do
    ((first)) || printf ','
    first=0
    local ip="127.0.$((1 + i / 250)).$((1 + i % 250))"
    ((i == n / 2)) && ip=127.0.0.1
    printf '"%s": {"name": "sb%d", "policy": "p%d"}' "$ip" "$i" "$i"
  done
  printf '}}\n'
}
many=500
((smoke)) && many=50
policies_config 1 >"$work/gate-one.json"
policies_config "$many" >"$work/gate-many.json"
policy_qps() {  # config: dnsperf queries/s of an ac-gate started with it
  start ac-gate-policies "$gate_bin" --config "$1"
  local pid=$last_pid
  wait_tcp "${ports[10]}" || die "ac-gate ($1) did not start: $(cat "$work/ac-gate-policies.log")"
  dnsperf_qps "${ports[9]}"
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  : >"$work/audit-many.jsonl"
}
say "DNS: one sandbox's policy vs $many sandboxes' policies, alternating"
# In ABBA order (one, many, many, one, ...), so that a machine drifting faster or slower over
# the runs weighs on both sides alike.
one_qps=() many_qps=()
for ((i = 0; i < (smoke ? 1 : 4); i++)); do
  if ((i % 2 == 0)); then
    one_qps+=("$(policy_qps "$work/gate-one.json")")
    many_qps+=("$(policy_qps "$work/gate-many.json")")
  else
    many_qps+=("$(policy_qps "$work/gate-many.json")")
    one_qps+=("$(policy_qps "$work/gate-one.json")")
  fi
done
one_policy_qps=$(printf '%s\n' "${one_qps[@]}" | median)
many_policy_qps=$(printf '%s\n' "${many_qps[@]}" | median)

# --- 2. one large HTTPS transfer -------------------------------------------------------------------
https_mbps() {  # port: MB/s of one transfer of big.bin from big.test:port (resolved to 127.0.0.1)
  local out
  out=$(curl -sS -m 300 --cacert "$work/ca.pem" --resolve "big.test:$1:127.0.0.1" -o /dev/null \
    -w '%{size_download} %{speed_download}' "https://big.test:$1/big.bin") || { echo 0; return; }
  read -r size speed <<<"$out"
  if [[ $size != $((mib * 1024 * 1024)) ]]; then echo 0; return; fi
  awk -v s="$speed" 'BEGIN { printf "%.0f", s / 1e6 }'
}
say "HTTPS: $https_runs × $mib MiB each way, alternating"
gate_tls=() direct_tls=()
for ((i = 0; i < https_runs; i++)); do
  direct_tls+=("$(https_mbps "$p_nginx_tls")")
  gate_tls+=("$(https_mbps "$p_https")")
done
# --- 2b. the same transfer with the gate terminating TLS (a credential host) --------------------
# big.test as a sandbox's credential API host: the gate mints a leaf from its own CA for the
# client, verifies nginx against the bench CA, judges the request and adds a token.
(cd "$work" &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=gate-bench-gate-ca -addext basicConstraints=critical,CA:TRUE,pathlen:0 \
    -addext keyUsage=critical,keyCertSign,cRLSign -keyout gate-ca.key -out gate-ca.pem &&
  echo bench-token >token) >>"$work/ca.log" 2>&1 || { cat "$work/ca.log" >&2; die "gate CA"; }
cat >"$work/gate-intercept.json" <<EOF
{
  "policy": {"allow": [], "limits": {"dnsQPS": 1000000, "connections": 30000}},
  "policies": {"bench": {
    "allow": ["big.test"], "ports": [$p_nginx_tls], "allowCIDRs": ["127.0.0.0/8"],
    "dns": {"records": {"big.test": ["127.0.0.1"]}}, "limits": {"connections": 30000},
    "credentials": [{"provider": "github", "gitHosts": [], "apiHosts": ["big.test"],
                     "tokenFile": "$work/token", "allowPush": false, "repositories": []}]}},
  "sandboxes": {"127.0.0.1": {"name": "bench", "policy": "bench"}},
  "tls": {"caCert": "$work/gate-ca.pem", "caKey": "$work/gate-ca.key", "trust": ["$work/ca.pem"]},
  "gateIP": "$gate_ip", "auditLog": "$work/audit-intercept.jsonl",
  "listen": {"https": "127.0.0.1:${ports[11]}", "control": "127.0.0.1:${ports[10]}"},
  "tuning": {"httpsPort": $p_nginx_tls, "connectionsPerClient": 30000}
}
EOF
intercept_mbps() {  # MB/s of one transfer of big.bin through the terminating gate
  local out
  out=$(curl -sS -m 300 --cacert "$work/gate-ca.pem" --resolve "big.test:${ports[11]}:127.0.0.1" \
    -o /dev/null -w '%{size_download} %{speed_download}' "https://big.test:${ports[11]}/big.bin" \
    2>>"$work/intercept-curl.log") || { echo 0; return; }
  read -r size speed <<<"$out"
  if [[ $size != $((mib * 1024 * 1024)) ]]; then echo 0; return; fi
  awk -v s="$speed" 'BEGIN { printf "%.0f", s / 1e6 }'
}
start ac-gate-intercept "$gate_bin" --config "$work/gate-intercept.json"
intercept_pid=$last_pid
wait_tcp "${ports[10]}" && wait_tcp "${ports[11]}" ||
  die "ac-gate (intercepting) did not start: $(cat "$work/ac-gate-intercept.log")"
say "HTTPS through TLS termination: $https_runs × $mib MiB, alternating with direct"
intercept_tls=() direct_tls2=() nginx_term_tls=()
for ((i = 0; i < https_runs; i++)); do
  direct_tls2+=("$(https_mbps "$p_nginx_tls")")
  intercept_tls+=("$(intercept_mbps)")
  nginx_term_tls+=("$(https_mbps "${ports[12]}")")
done
kill "$intercept_pid" 2>/dev/null || true
intercept_tls_mbps=$(printf '%s\n' "${intercept_tls[@]}" | median)
direct_tls2_mbps=$(printf '%s\n' "${direct_tls2[@]}" | median)
nginx_term_mbps=$(printf '%s\n' "${nginx_term_tls[@]}" | median)
gate_tls_mbps=$(printf '%s\n' "${gate_tls[@]}" | median)
direct_tls_mbps=$(printf '%s\n' "${direct_tls[@]}" | median)

# --- 3. HTTP requests/s ------------------------------------------------------------------------------
cat >"$work/squid.conf" <<EOF
http_port 127.0.0.1:$p_squid
workers 1
pid_filename none
cache deny all
cache_mem 0 MB
access_log stdio:$work/squid/access.log
cache_log $work/squid/cache.log
cache_store_log none
coredump_dir $work/squid
hosts_file $work/squid/hosts
dns_nameservers 127.0.0.1
max_filedescriptors 65536
acl allowed dstdomain ${allowed[*]}
acl allowed_ports port $p_nginx $p_nginx_tls
acl CONNECT method CONNECT
http_access deny !allowed_ports
http_access deny CONNECT !allowed_ports
http_access allow allowed
http_access deny all
EOF
mkdir -p "$work/squid"
printf '127.0.0.1 plain.test big.test\n' >"$work/squid/hosts"  # as the gate's dns.records
chown -R proxy: "$work/squid" 2>/dev/null || chmod -R a+rwX "$work/squid"
chmod a+x "$work"
start squid squid -N -f "$work/squid.conf"
squid_pid=$last_pid
wait_tcp "$p_squid" || die "squid did not start: $(cat "$work/squid.log" "$work/squid/cache.log")"

# wrk: one thread, 50 connections. Keep-alive OFF ("Connection: close") for the figures that carry
# targets: the gate judges only the first request of a connection and then relays bytes, so with
# keep-alive it would do its real work (parse, decide, resolve, dial) once per connection and the
# figure would measure a TCP relay, not the proxy. One request per connection makes every request
# pay for a decision, at the gate and at squid alike. Keep-alive ON figures follow, for the relay.
printf 'wrk.path = "http://plain.test:%s/"\n' "$p_nginx" >"$work/absolute.lua"
wrk_rps() {  # label url keepalive(on|off) [wrk args]: requests/s, errors to $work/wrk-LABEL.log
  local label=$1 url=$2 keepalive=$3
  shift 3
  local close=()
  [[ $keepalive == off ]] && close=(-H 'Connection: close')
  wrk -t1 -c50 -d"${duration}s" --latency "${close[@]}" "$@" "$url" >"$work/wrk-$label.log" 2>&1
  local bad
  bad=$(awk '/Non-2xx|Socket errors/' "$work/wrk-$label.log")
  [[ -n $bad ]] && say "wrk $label: $bad"
  awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$work/wrk-$label.log"
}
say "HTTP: wrk ${duration}s each: direct, gate http, gate proxy, squid (keep-alive off), then on"
host=(-H "Host: plain.test:$p_nginx")
direct_rps=$(wrk_rps direct "http://127.0.0.1:$p_nginx/" off "${host[@]}")
gate_rps=$(wrk_rps gate-http "http://127.0.0.1:$p_http/" off -H 'Host: plain.test')
gate_proxy_rps=$(wrk_rps gate-proxy "http://127.0.0.1:$p_proxy/" off "${host[@]}" -s "$work/absolute.lua")
squid_rps=$(wrk_rps squid "http://127.0.0.1:$p_squid/" off "${host[@]}" -s "$work/absolute.lua")
direct_ka=$(wrk_rps direct-ka "http://127.0.0.1:$p_nginx/" on "${host[@]}")
gate_ka=$(wrk_rps gate-http-ka "http://127.0.0.1:$p_http/" on -H 'Host: plain.test')
squid_ka=$(wrk_rps squid-ka "http://127.0.0.1:$p_squid/" on "${host[@]}" -s "$work/absolute.lua")
squid_denied=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -x "127.0.0.1:$p_squid" "http://evil.test:$p_nginx/")
gate_denied=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -x "127.0.0.1:$p_proxy" "http://evil.test:$p_nginx/")
kill "$squid_pid" 2>/dev/null || true

# --- 4. connect latency --------------------------------------------------------------------------------
say "latency: $connects sequential connect + GET + close, direct then through the gate"
read -r direct_p50 direct_p99 direct_fail < <("$helper" latency "$p_nginx" "$connects" plain.test)
read -r gate_p50 gate_p99 gate_fail < <("$helper" latency "$p_http" "$connects" plain.test)

# --- 5. memory with idle connections -----------------------------------------------------------------
# A fresh ac-gate, so the figure is not the high-water mark of the load above.
kill "$gate_pid" 2>/dev/null; wait "$gate_pid" 2>/dev/null || true
: >"$work/audit.jsonl"
start_gate
sleep 0.5
rss_base=$(rss_kib "$gate_pid")
hold_idle() {  # count host|-: RSS in KiB of ac-gate while count connections are held idle
  local count=$1 host=$2 hold_in=$work/hold.in rss active
  rm -f "$hold_in" "$work/hold.out"
  mkfifo "$hold_in"
  "$helper" hold "$p_http" "$count" "$host" 120 <"$hold_in" >"$work/hold.out" 2>"$work/hold.err" &
  local hold_pid=$!
  pids+=("$hold_pid")
  exec 7>"$hold_in"
  local i
  for ((i = 0; i < 1200; i++)); do
    [[ -s $work/hold.out ]] && break
    kill -0 "$hold_pid" 2>/dev/null || break
    sleep 0.1
  done
  active=$(metric acctl_gate_active_connections)
  rss=$(rss_kib "$gate_pid")
  exec 7>&-  # the helper closes everything and exits
  wait "$hold_pid" 2>/dev/null || say "hold $host: $(cat "$work/hold.err")"
  for ((i = 0; i < 300; i++)); do
    [[ $(metric acctl_gate_active_connections) == 0 ]] && break
    sleep 0.1
  done
  [[ $active == "$count" ]] || say "hold $host: ac-gate had $active connections open, not $count"
  echo "$rss $active"
}
say "memory: $relayed_idle idle relayed connections (after one keep-alive request), $idle before any head"
read -r rss_head active_head < <(hold_idle "$idle" -)
read -r rss_relayed active_relayed < <(hold_idle "$relayed_idle" plain.test)

# --- report ---------------------------------------------------------------------------------------
per_conn() { awk -v r="$1" -v b="$rss_base" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f", (r - b) / n; else print "n/a" }'; }
dns_ratio=$(ratio "$gate_qps" "$dnsmasq_qps")
tls_ratio=$(ratio "$gate_tls_mbps" "$direct_tls_mbps")
http_direct_ratio=$(ratio "$gate_rps" "$direct_rps")
http_squid_ratio=$(ratio "$gate_rps" "$squid_rps")
proxy_squid_ratio=$(ratio "$gate_proxy_rps" "$squid_rps")
echo "ac-gate benchmark ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $gate_bin)"
echo "allowlist: ${#allowed[@]} exact names; queries: $(wc -l <"$work/queries.txt") lines (A+AAAA allowed, A denied); answers differing gate vs dnsmasq: $differences"
printf 'dns qps          gate %8s  dnsmasq %8s  ratio %5s× (target ≥ 1.0) %s\n' \
  "$gate_qps" "$dnsmasq_qps" "$dns_ratio" "$(mark "$dns_ratio" 1.0)"
printf 'dns lost         gate %8s  dnsmasq %8s  (saturating runs, %ss each)\n' \
  "$(dnsperf_lost "$p_dns")" "$(dnsperf_lost "$p_dnsmasq")" "$duration"
printf 'dns p99 µs       gate %8s  dnsmasq %8s  (at %s queries/s offered)\n' \
  "$gate_dns_p99" "$dnsmasq_dns_p99" "$dns_rate"
policies_ratio=$(ratio "$many_policy_qps" "$one_policy_qps")
printf 'dns qps policies %s sandboxes %8s  one %8s  ratio %5s× (target ≥ 0.9) %s  [median of %s; %s vs %s]\n' \
  "$many" "$many_policy_qps" "$one_policy_qps" "$policies_ratio" "$(mark "$policies_ratio" 0.9)" \
  "${#one_qps[@]}" "${many_qps[*]}" "${one_qps[*]}"
printf 'https MB/s       gate %8s  direct  %8s  ratio %5s× (target ≥ 0.8) %s  [%s MiB, median of %s; gate %s direct %s]\n' \
  "$gate_tls_mbps" "$direct_tls_mbps" "$tls_ratio" "$(mark "$tls_ratio" 0.8)" "$mib" "$https_runs" \
  "${gate_tls[*]}" "${direct_tls[*]}"
intercept_ratio=$(ratio "$intercept_tls_mbps" "$direct_tls2_mbps")
printf 'https MB/s term  gate %8s  direct  %8s  ratio %5s× (target ≥ 0.7) %s  [TLS terminated and re-encrypted, token added; gate %s direct %s]\n' \
  "$intercept_tls_mbps" "$direct_tls2_mbps" "$intercept_ratio" "$(mark "$intercept_ratio" 0.7)" \
  "${intercept_tls[*]}" "${direct_tls2[*]}"
printf 'https MB/s term  nginx %7s  (the same termination by nginx: the limit here)  nginx/direct %5s×  gate/nginx %5s×  [nginx %s]\n' \
  "$nginx_term_mbps" "$(ratio "$nginx_term_mbps" "$direct_tls2_mbps")" \
  "$(ratio "$intercept_tls_mbps" "$nginx_term_mbps")" "${nginx_term_tls[*]}"
printf 'http req/s close gate-http %8s  direct %8s  squid %8s  gate/direct %5s×  gate/squid %5s× (target ≥ 2) %s\n' \
  "$gate_rps" "$direct_rps" "$squid_rps" "$http_direct_ratio" "$http_squid_ratio" "$(mark "$http_squid_ratio" 2)"
printf 'http req/s close gate-proxy %7s  (absolute-form, like squid)         gate-proxy/squid %5s× (target ≥ 2) %s\n' \
  "$gate_proxy_rps" "$proxy_squid_ratio" "$(mark "$proxy_squid_ratio" 2)"
ka_squid_ratio=$(ratio "$gate_ka" "$squid_ka")
printf 'http req/s k-a   gate-http %8s  direct %8s  squid %8s  gate/direct %5s×  gate/squid %5s× (target ≥ 2, every request judged) %s\n' \
  "$gate_ka" "$direct_ka" "$squid_ka" "$(ratio "$gate_ka" "$direct_ka")" "$ka_squid_ratio" "$(mark "$ka_squid_ratio" 2)"
printf 'refusal check    evil.test via squid %s, via gate proxy %s\n' "$squid_denied" "$gate_denied"
printf 'connect µs p50   gate %8s  direct %8s  added %6s\n' "$gate_p50" "$direct_p50" "$((gate_p50 - direct_p50))"
printf 'connect µs p99   gate %8s  direct %8s  added %6s  (failures: gate %s, direct %s; %s sequential)\n' \
  "$gate_p99" "$direct_p99" "$((gate_p99 - direct_p99))" "$gate_fail" "$direct_fail" "$connects"
mib_of() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
printf 'memory RSS MiB   ac-gate fresh %s; %s idle before any head %s (%s KiB/conn); %s idle relayed %s (%s KiB/conn)%s\n' \
  "$(mib_of "$rss_base")" "$active_head" "$(mib_of "$rss_head")" "$(per_conn "$rss_head" "$idle")" \
  "$active_relayed" "$(mib_of "$rss_relayed")" "$(per_conn "$rss_relayed" "$relayed_idle")" \
  "$( ((relayed_idle < idle)) && printf ' [RLIMIT_NOFILE %s < 2×%s: fewer relayed]' "$nofile" "$idle")"

# --- failures (not target misses) ----------------------------------------------------------------
failed=()
positive() { [[ ${2:-0} =~ ^[0-9]+$ && ${2:-0} -gt 0 ]] || failed+=("$1 measured ${2:-nothing}"); }
((differences == 0)) || failed+=("$differences DNS answers differ between ac-gate and dnsmasq")
positive "dns qps of ac-gate" "$gate_qps"
positive "dns qps of dnsmasq" "$dnsmasq_qps"
positive "dns qps of ac-gate with one sandbox's policy" "$one_policy_qps"
positive "dns qps of ac-gate with $many sandboxes' policies" "$many_policy_qps"
positive "https MB/s through ac-gate (0: failed or short)" "$gate_tls_mbps"
positive "https MB/s direct" "$direct_tls_mbps"
positive "https MB/s through ac-gate terminating TLS (0: failed or short)" "$intercept_tls_mbps"
positive "http req/s through ac-gate's http listener" "$gate_rps"
positive "http req/s through ac-gate's proxy" "$gate_proxy_rps"
positive "http req/s through squid" "$squid_rps"
positive "http req/s direct" "$direct_rps"
[[ $gate_denied == 403 ]] || failed+=("evil.test through ac-gate's proxy answered $gate_denied, not 403")
[[ $gate_fail == 0 ]] || failed+=("$gate_fail of $connects connects through ac-gate failed")
[[ $active_head == "$idle" ]] || failed+=("ac-gate held $active_head idle connections, not $idle")
[[ $active_relayed == "$relayed_idle" ]] ||
  failed+=("ac-gate held $active_relayed relayed connections, not $relayed_idle")
if ((${#failed[@]})); then
  printf 'FAILED: %s\n' "${failed[@]}"
  for log in ac-gate ac-gate-intercept intercept-curl audit-intercept; do  # the work dir goes
    for f in "$work/$log".log "$work/$log".jsonl; do  # with the exit
      [[ -s $f ]] && { printf -- '--- last lines of %s\n' "${f##*/}"; tail -n 20 "$f"; }
    done
  done
  exit 1
fi
exit 0
