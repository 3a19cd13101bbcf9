#!/usr/bin/env bash
# sandbox_vault.sh — the inside of a paranoid sandbox with credentials, from the attacker's side.
#   A dind Host, a git smart-HTTP server over TLS standing in for github.com (a container on the
#   Host's egress network, reached through dns.records and allowCIDRs), a Sandbox with a GitHub
#   token the test knows. As uid 1000 (through `acctl shell`, so through init-guard): git clone
#   gets the token from the vault; every way around the vault listed in issue 11 is refused; the
#   token is nowhere the agent or an operator's tools can read; blockedPaths stay unreadable
#   with the hooks gone; a killed daemon fails closed and status says so; clean leaves no copy.
#   Last, it measures what a hostile agent can still do to a token handed to its own git. Then a
#   second instance with the token delivered by the gate: clone works with the gate adding the
#   token, which is nowhere in the sandbox (not even for root); push and a repository outside
#   git.repositories are refused at the gate; an upstream it cannot verify is refused.
# Usage: sandbox_vault.sh ACCTL_BINARY   (root, a running local engine: images/engine-up.sh)
set -uo pipefail

acctl=${1:?usage: sandbox_vault.sh ACCTL_BINARY}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
host=vault
docker=/usr/bin/docker
[[ -x $docker ]] || docker=docker
if [[ $(id -u) -ne 0 ]] || ! $docker version >/dev/null 2>&1; then
  echo "SKIP: needs root and a running local Docker engine (images/engine-up.sh)"
  exit 0
fi

home=$(mktemp -d /tmp/acctl-vault.XXXXXX)
export ACCTL_HOME=$home ACCTL_MANIFESTS=$home/vault.yaml
token="ghp_e2e$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
server=acctl-e2e-gitsrv-$$
failures=0
ok() { printf 'ok - %s\n' "$*"; }
bad() { printf 'not ok - %s\n' "$*"; failures=$((failures + 1)); }
show() { sed 's/^/    /' "$@" | tail -25; }
nested() { $docker -H "unix://$home/run/hosts/$host/docker.sock" "$@"; }
# Runs stdin as uid 1000's shell in the sandbox, the way an agent's shell runs: out, err files.
agent() { "$acctl" shell vault1 >"$home/$1.out" 2>"$home/$1.err"; }
has_token() { grep -rqsF -- "$token" "$@"; }
# As uid 1000 in INSTANCE (through acctl shell, as an agent's shell runs): the token in no
# environment, no readable /proc/*/environ, no readable file. One ok/not ok line saying WHAT.
agent_finds_no_token() { # agent_finds_no_token INSTANCE LOG WHAT
  "$acctl" shell "$1" >"$home/$2.out" 2>"$home/$2.err" <<EOF
env | grep -c -F -- "$token"
for f in /proc/[0-9]*/environ; do grep -lsF -- "$token" "\$f"; done
grep -rlsF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev --exclude-dir=usr -- "$token" / | head -5
echo searched
EOF
  if grep -qx searched "$home/$2.out" && [[ $(head -1 "$home/$2.out") == 0 ]] &&
    [[ $(wc -l <"$home/$2.out") -eq 2 ]]; then
    ok "$3"
  else
    bad "$3: the agent finds the token"; show "$home/$2.out" "$home/$2.err"
  fi
}

cleanup() {
  $docker rm -f "$server" >/dev/null 2>&1 || true
  "$acctl" down "$host" >/dev/null 2>&1 || true
  rm -rf "$home"
}
[[ -n ${E2E_KEEP:-} ]] || trap cleanup EXIT

# --- the stand-in for github.com: a test CA, a certificate for github.com, a bare repository ---
mkdir -p "$home/srv/repos" "$home/ca"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=acctl e2e test CA" \
  -keyout "$home/ca/ca.key" -out "$home/ca/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=github.com" -keyout "$home/srv/key.pem" \
  -out "$home/srv/req.pem" >/dev/null 2>&1
printf 'subjectAltName=DNS:github.com\n' >"$home/srv/ext.cnf"
openssl x509 -req -in "$home/srv/req.pem" -CA "$home/ca/ca.pem" -CAkey "$home/ca/ca.key" \
  -CAcreateserial -days 2 -extfile "$home/srv/ext.cnf" -out "$home/srv/cert.pem" >/dev/null 2>&1
# And a self-signed one, for the gate to refuse.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=github.com" \
  -addext "subjectAltName=DNS:github.com" -keyout "$home/srv/self.key" -out "$home/srv/self.pem" \
  >/dev/null 2>&1
git init -q --bare "$home/srv/repos/o/r.git"
git -C "$home/srv/repos/o/r.git" config http.receivepack true
git init -q --bare "$home/srv/repos/o/other.git"
seed=$(mktemp -d)
git -C "$seed" init -q && echo "hello from the stand-in" >"$seed/README" &&
  git -C "$seed" add README && git -C "$seed" -c user.name=t -c user.email=t@t commit -qm seed &&
  git -C "$seed" push -q "$home/srv/repos/o/r.git" HEAD:refs/heads/main &&
  git -C "$seed" push -q "$home/srv/repos/o/other.git" HEAD:refs/heads/main
git -C "$home/srv/repos/o/r.git" symbolic-ref HEAD refs/heads/main
git -C "$home/srv/repos/o/other.git" symbolic-ref HEAD refs/heads/main
rm -rf "$seed"
cp "$here/vault/git_server.py" "$home/srv/"
gcc -static -O2 -o "$home/launcher" "$here/vault/launcher.c" || bad "cannot build the static launcher"

# --- the Host manifests, then the instance: acctl run with a token the test knows ---------------
write_manifest() {
  cat >"$ACCTL_MANIFESTS" <<EOF
apiVersion: acctl/v1alpha1
kind: Host
metadata: {name: $host}
spec:
  isolation: dind
  network: {subnet: 172.23.0.0/16, gateIP: 172.23.0.53}
  trust: {caFiles: [/usr/local/share/ca-certificates]}  # this machine's TLS interception
  gate: {trust: [$home/ca/ca.pem]}  # the stand-in's CA, for the gate's verification alone
---
apiVersion: acctl/v1alpha1
kind: EgressPolicy
metadata: {name: default}
spec:
  allow: [github.com]
  ports: [443]
  allowCIDRs: [$1/32]
  dns: {upstreams: [], records: {github.com: [$1]}}
EOF
}
# The server runs in the agent base image, which the first run builds: the policy names a
# placeholder address until the server's own is known (then a gate reload, the sandbox untouched).
write_manifest 192.0.2.99
mkdir -p "$home/instances/vault1/workspace"
echo "SECRET_FROM_DOTENV=1" >"$home/instances/vault1/workspace/.env"
cp "$home/ca/ca.pem" "$home/instances/vault1/workspace/.test-ca.pem"
cp "$home/launcher" "$home/instances/vault1/workspace/launcher"
chown -R 1000:1000 "$home/instances/vault1/workspace"
run_vault1() {
  "$acctl" run base vault1 --host "$host" --credential github=env:E2E_GITHUB_TOKEN \
    --delivery vault --block /workspace/.env --env GIT_SSL_CAINFO=/workspace/.test-ca.pem -- -c 'sleep infinity'
}
instance=$home/instances/vault1/sandbox.yaml

run_vault1 >"$home/run-unset.out" 2>&1 && bad "run without the token's variable passes"
grep -q 'credentials.github: \$E2E_GITHUB_TOKEN is not set' "$home/run-unset.out" &&
  ok "a missing token source is an error naming the variable" || { bad "missing token source"; show "$home/run-unset.out"; }
has_token "$instance" && bad "the instance manifest holds the token" ||
  ok "the instance manifest names the variable, not the token"
E2E_GITHUB_TOKEN=$token "$acctl" diff -f "$ACCTL_MANIFESTS" -f "$instance" >"$home/diff.out" 2>&1
has_token "$home/diff.out" && bad "diff shows the token" || ok "diff names the secrets file, never the token"
if ! E2E_GITHUB_TOKEN=$token run_vault1 >"$home/apply.out" 2>&1; then
  bad "run with credentials"; show "$home/apply.out"; exit 1
fi
has_token "$home/apply.out" && bad "run's output shows the token" || ok "run with credentials; its output has no token"
[[ -n ${E2E_STOP_AFTER_RUN:-} ]] && { echo "stopped after run: $home"; exit 0; }
# On the outer engine's network of the Host's container, where the gate's traffic leaves.
egress=$($docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' \
  "ac-dind-host-$host" | awk '{print $1}')
$docker run -d --name "$server" --network "$egress" --user 0:0 -v "$home/srv:/srv" \
  --entrypoint python3 acctl/agent-base:latest /srv/git_server.py /srv/repos /srv/cert.pem \
  /srv/key.pem "$token" /srv/requests.log >/dev/null || bad "cannot start the git server"
server_ip=$($docker inspect -f "{{(index .NetworkSettings.Networks \"$egress\").IPAddress}}" "$server")
echo "    git server at $server_ip on $egress"
write_manifest "$server_ip"
# run again: the same instance, in sync; the gate reloads the new policy and keeps knowing the
# sandbox by its address (acctl start alone would write the gate's config without it).
E2E_GITHUB_TOKEN=$token run_vault1 >"$home/start2.out" 2>&1 ||
  { bad "run with the server's address"; show "$home/start2.out"; }
grep -q "replace.*ac-sb-vault1" "$home/start2.out" && bad "a policy change replaced the sandbox"
E2E_GITHUB_TOKEN=other_token_value "$acctl" diff -f "$ACCTL_MANIFESTS" -f "$instance" >"$home/diff-changed.out" 2>&1
grep -q "replace.*ac-sb-vault1.*credentials" "$home/diff-changed.out" && ! grep -q other_token_value "$home/diff-changed.out" &&
  ok "a changed token replaces the sandbox, and diff says so without a value" ||
  { bad "changed token in diff"; show "$home/diff-changed.out"; }

# --- working: git clone gets its credentials from the vault ------------------------------------
agent clone <<'EOF'
cd /tmp && git clone -q https://github.com/o/r.git r && cat r/README
EOF
grep -qx "hello from the stand-in" "$home/clone.out" && grep -q "auth=ok" "$home/srv/requests.log" &&
  ok "git clone over HTTPS works, and the server saw the vault's token" ||
  { bad "git clone through the vault"; show "$home/clone.out" "$home/clone.err" "$home/srv/requests.log"; }

# --- where the token must not be -------------------------------------------------------------
agent_finds_no_token vault1 search "as uid 1000: the token is in no environment, no readable /proc/*/environ, no readable file"
nested inspect ac-sb-vault1 >"$home/inspect.json" 2>&1
has_token "$home/inspect.json" && bad "docker inspect shows the token" ||
  ok "docker inspect of the sandbox (labels included) has no token"
"$acctl" get sandbox -o json >"$home/get.json" 2>&1
"$acctl" list -o json >"$home/list.json" 2>&1
"$acctl" logs agent vault1 >"$home/logs.out" 2>&1
"$acctl" logs proxy "$host" >"$home/audit.out" 2>&1
for f in get.json list.json logs.out audit.out; do
  has_token "$home/$f" && bad "$f shows the token" || ok "no token in ${f%.*} output"
done
[[ $(stat -c '%U %a' "$home/instances/vault1/secrets/github") == "root 600" ]] &&
  ok "instances/vault1/secrets/github is root's, 0600" || bad "secrets file owner/mode"

# --- refused, each on its own ------------------------------------------------------------------
agent socket <<'EOF'
python3 - <<'PY'
import socket, struct
s = socket.socket(socket.AF_UNIX); s.connect("/run/acctl/vault/vault.sock")
p = b"op=git-credential\nprotocol=https\nhost=github.com\n"
s.sendall(struct.pack(">I", len(p)) + p); print(s.recv(4096))
PY
EOF
grep -q "status=refused" "$home/socket.out" && ! grep -q "password=" "$home/socket.out" &&
  ok "connecting to the vault socket directly is refused" || { bad "direct socket"; show "$home/socket.out" "$home/socket.err"; }
agent copy <<'EOF'
cp /opt/acctl/bin/ac-vault /tmp/my-vault && printf 'protocol=https\nhost=github.com\n\n' | /tmp/my-vault git-credential get
echo rc=$?
EOF
grep -q "rc=[1-9]" "$home/copy.out" && ! grep -q password= "$home/copy.out" &&
  ok "a copy of the vault client is refused" || { bad "copied client"; show "$home/copy.out" "$home/copy.err"; }
agent static <<'EOF'
printf 'protocol=https\nhost=github.com\n\n' | /workspace/launcher /opt/acctl/bin/ac-vault git-credential get
echo rc=$?
EOF
grep -q "rc=[1-9]" "$home/static.out" && ! grep -q password= "$home/static.out" &&
  ok "the client under a static binary that is not on the allowlist is refused" || { bad "static parent"; show "$home/static.out" "$home/static.err"; }
agent interp <<'EOF'
python3 -c 'import subprocess; r = subprocess.run(["/opt/acctl/bin/ac-vault", "git-credential", "get"], input=b"protocol=https\nhost=github.com\n\n", capture_output=True); print(r.stdout, r.returncode)'
EOF
grep -q "b'' 1" "$home/interp.out" && ok "the client under an interpreter one-liner is refused" ||
  { bad "interpreter parent"; show "$home/interp.out" "$home/interp.err"; }
agent fill <<'EOF'
printf 'protocol=https\nhost=github.com\n\n' | GIT_TERMINAL_PROMPT=0 git credential fill
echo rc=$?
EOF
! grep -q "password=" "$home/fill.out" && grep -q "rc=[1-9]" "$home/fill.out" &&
  ok "git credential fill typed in a shell is refused" || { bad "git credential fill"; show "$home/fill.out" "$home/fill.err"; }
agent ghtoken <<'EOF'
gh auth token; echo rc=$?
EOF
! has_token "$home/ghtoken.out" "$home/ghtoken.err" && grep -q "rc=[1-9]" "$home/ghtoken.out" &&
  ok "gh auth token is refused" || { bad "gh auth token"; show "$home/ghtoken.out" "$home/ghtoken.err"; }
for v in GIT_TRACE GIT_CURL_VERBOSE GIT_TRACE_CURL; do
  echo "cd /tmp && rm -rf t && $v=1 GIT_TERMINAL_PROMPT=0 git clone -q https://github.com/o/r.git t; echo rc=\$?" | agent "trace-$v"
  ! has_token "$home/trace-$v.out" "$home/trace-$v.err" && grep -q "rc=[1-9]" "$home/trace-$v.out" &&
    ok "$v=1 git clone prints no token (the vault refuses)" || { bad "$v"; show "$home/trace-$v.out" "$home/trace-$v.err"; }
done
agent push <<'EOF'
cd /tmp/r && git -c user.name=a -c user.email=a@a commit -q --allow-empty -m x && GIT_TERMINAL_PROMPT=0 git push -q origin HEAD:main; echo rc=$?
EOF
grep -q "rc=[1-9]" "$home/push.out" && grep -q "allowPush" "$home/push.err" &&
  ok "git push with allowPush: false is refused" || { bad "git push"; show "$home/push.out" "$home/push.err"; }

# --- the network and the files, with and without the hooks ---------------------------------------
agent net <<'EOF'
curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 http://192.0.2.2/
env -u LD_PRELOAD curl -s -o /dev/null --max-time 10 http://192.0.2.2/; echo rc=$?
EOF
[[ $(head -1 "$home/net.out") == 403 ]] && grep -q "rc=7" "$home/net.out" &&
  ok "a connect() to an IP literal goes to the gate and is refused; without LD_PRELOAD no route" ||
  { bad "IP literal / LD_PRELOAD"; show "$home/net.out" "$home/net.err"; }
agent blocked <<'EOF'
cat /workspace/.env; echo rc=$?
env -u LD_PRELOAD cat /workspace/.env; echo rc=$?
EOF
! grep -q SECRET_FROM_DOTENV "$home/blocked.out" && [[ $(grep -c "rc=[1-9]" "$home/blocked.out") == 2 ]] &&
  grep -q "blocked in this sandbox" "$home/blocked.err" &&
  ok "blockedPaths: /workspace/.env unreadable, with the hook's message and without the hook" ||
  { bad "blockedPaths"; show "$home/blocked.out" "$home/blocked.err"; }

# --- the operator's view: policy check and policy log for this sandbox ---------------------------
"$acctl" policy check vault1 github.com >"$home/pcheck.out" 2>&1 &&
  grep -q "allow github.com:443 for Sandbox/vault1 (EgressPolicy/default)" "$home/pcheck.out" &&
  ok "policy check: github.com:443 allowed, with the rule" || { bad "policy check allow"; show "$home/pcheck.out"; }
"$acctl" policy check vault1 http://192.0.2.2/ >"$home/pdeny.out" 2>&1; rc=$?
((rc == 1)) && grep -q "ip-literal" "$home/pdeny.out" &&
  ok "policy check: an IP literal is refused, exit 1, saying why" || { bad "policy check deny ($rc)"; show "$home/pdeny.out"; }
"$acctl" policy log vault1 >"$home/plog.out" 2>&1
grep -q '"name":"github.com"' "$home/plog.out" && ! grep -v '"sandbox":"vault1"' "$home/plog.out" | grep -q . &&
  ok "policy log: the sandbox's own decisions, and only those" || { bad "policy log"; show "$home/plog.out"; }

# --- measured: what a hostile agent can still do to a token handed to its own git -------------
agent steal <<'EOF'
cd /tmp && rm -rf s && git -c credential.helper= -c 'credential.helper=!f() { cat > /tmp/stolen; }; f' \
  -c credential.helper='/opt/acctl/bin/ac-vault git-credential' clone -q https://github.com/o/r.git s
grep -c password= /tmp/stolen
python3 - <<'PY'
import ctypes, os, subprocess, time
libc = ctypes.CDLL(None, use_errno=True)
child = subprocess.Popen(["sleep", "5"])
time.sleep(0.2)
print("ptrace-attach-own-child", libc.ptrace(16, child.pid, None, None), ctypes.get_errno())
child.kill()
PY
EOF
stolen=$(sed -n 1p "$home/steal.out")
ptrace=$(grep -o "ptrace-attach-own-child.*" "$home/steal.out")
echo "    measured: git's own credential store step hands the vault's token to a helper the agent adds: $([[ $stolen == 1 ]] && echo yes || echo no)"
echo "    measured: $ptrace (0 = uid 1000 may ptrace its own children, git included)"

# --- a killed daemon fails closed, and status says so --------------------------------------------
nested exec -u 0 ac-sb-vault1 sh -c 'kill -9 $(pgrep -x ac-vaultd)' >/dev/null 2>&1
sleep 1
echo 'cd /tmp && rm -rf k && GIT_TERMINAL_PROMPT=0 git clone -q https://github.com/o/r.git k; echo rc=$?' | agent killed
grep -q "rc=[1-9]" "$home/killed.out" && grep -q "vault is not running" "$home/killed.err" &&
  ok "with the daemon killed, git gets no credentials (fails closed)" || { bad "killed daemon"; show "$home/killed.out" "$home/killed.err"; }
"$acctl" status "$host" >"$home/status.out" 2>&1; rc=$?
((rc != 0)) && grep -q "vault of ac-sb-vault1 does not answer" "$home/status.out" &&
  ok "acctl status says the vault does not answer (exit $rc)" || { bad "status after the kill"; show "$home/status.out"; }

# --- clean: no copy of the token left -----------------------------------------------------------
"$acctl" clean vault1 >"$home/clean.out" 2>&1 || { bad "clean"; show "$home/clean.out"; }
left=$(grep -rlsF -- "$token" "$home/instances" "$home/run" 2>/dev/null | head -3)
nested ps -a --format '{{.Names}}' | grep -qx ac-sb-vault1 && bad "clean left the container" ||
  { [[ -z $left ]] && ok "after clean no copy of the token is left (instances/, run/, the container)" ||
    bad "token left after clean: $left"; }

# --- delivery gate: the token stays at the gate, the sandbox never holds it -----------------------
# A second instance, its GitHub credential delivered by the gate (the default) and limited to
# o/r: the gate terminates github.com's TLS with a leaf from the Host's CA (init-guard made the
# agent trust it), verifies the stand-in against spec.gate.trust, and adds the token itself.
mkdir -p "$home/instances/gate1/workspace"
chown -R 1000:1000 "$home/instances/gate1/workspace"
run_gate1() {
  "$acctl" run base gate1 --host "$host" --credential github=env:E2E_GITHUB_TOKEN \
    --repository o/r -- -c 'sleep infinity'
}
gate_agent() { "$acctl" shell gate1 >"$home/$1.out" 2>"$home/$1.err"; }
E2E_GITHUB_TOKEN=$token run_gate1 >"$home/gate-run.out" 2>&1 ||
  { bad "run with a gate-delivered credential"; show "$home/gate-run.out"; }
has_token "$home/gate-run.out" && bad "run's output shows the token" || ok "run with delivery gate; its output has no token"
: >"$home/srv/requests.log"
gate_agent gclone <<'EOS'
cd /tmp && git clone -q https://github.com/o/r.git r && cat r/README
EOS
grep -qx "hello from the stand-in" "$home/gclone.out" && grep -q "auth=ok" "$home/srv/requests.log" &&
  ! grep -q "auth=missing\|auth=wrong" "$home/srv/requests.log" &&
  ok "delivery gate: git clone works, and the server saw the token the gate added" ||
  { bad "git clone through the gate"; show "$home/gclone.out" "$home/gclone.err" "$home/srv/requests.log"; }
agent_finds_no_token gate1 gsearch "delivery gate, as uid 1000: the token is in no environment, /proc/*/environ or file"
# Not even root in the sandbox finds it: it never entered. (The token comes on stdin, so the
# search's own command lines do not hold it; the loop skips its own shell.)
printf '%s\n' "$token" | nested exec -i -u 0 ac-sb-gate1 sh -c '
  read -r t
  grep -rlsF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev -- "$t" / | head -3
  for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
    case $f in /proc/$$/*) continue ;; esac
    grep -qsF -- "$t" "$f" && echo "$f"
  done' >"$home/groot.out" 2>&1
[[ ! -s $home/groot.out ]] && ok "delivery gate, as root in the sandbox: no file and no process holds the token" ||
  { bad "delivery gate: root in the sandbox finds the token"; show "$home/groot.out"; }
nested inspect ac-sb-gate1 >"$home/ginspect.json" 2>&1
has_token "$home/ginspect.json" "$home/instances/gate1" && bad "the token is in the container's spec or instances/gate1" ||
  ok "delivery gate: no token in docker inspect or instances/gate1"
[[ $(stat -c '%U %a' "$home/run/hosts/$host/gate/secrets/gate1/github" 2>/dev/null) == "root 600" ]] &&
  ok "the gate's copy is run/hosts/$host/gate/secrets/gate1/github, root's, 0600" || bad "the gate's token file owner/mode"

gate_agent gpush <<'EOS'
cd /tmp/r && echo more >> README && git -c user.name=a -c user.email=a@a commit -qam more &&
  git push origin HEAD:refs/heads/main; echo rc=$?
EOS
grep -q "rc=[1-9]" "$home/gpush.out" && grep -q "403" "$home/gpush.err" && ! grep -q "receive-pack" "$home/srv/requests.log" &&
  ok "git push is refused by the gate (403, allowPush false); the server never saw receive-pack" ||
  { bad "push through the gate"; show "$home/gpush.out" "$home/gpush.err" "$home/srv/requests.log"; }
gate_agent gother <<'EOS'
cd /tmp && git clone -q https://github.com/o/other.git other; echo rc=$?
EOS
grep -q "rc=[1-9]" "$home/gother.out" && ! grep -q "/o/other" "$home/srv/requests.log" &&
  ok "a repository outside git.repositories is refused at the gate" ||
  { bad "o/other through the gate"; show "$home/gother.out" "$home/gother.err" "$home/srv/requests.log"; }
"$acctl" policy log gate1 >"$home/glog.out" 2>&1
grep -q '"reason":"push-not-allowed"' "$home/glog.out" && grep -q '"reason":"repository-not-listed o/other"' "$home/glog.out" &&
  ok "policy log gate1 names both refusals" || { bad "policy log gate1"; show "$home/glog.out"; }
has_token "$home/glog.out" && bad "the gate's audit shows the token" || ok "no token in the gate's audit lines"

# An upstream whose certificate the gate cannot verify: the stand-in again, self-signed.
$docker rm -f "$server" >/dev/null 2>&1
$docker run -d --name "$server" --network "$egress" --user 0:0 -v "$home/srv:/srv" \
  --entrypoint python3 acctl/agent-base:latest /srv/git_server.py /srv/repos /srv/self.pem \
  /srv/self.key "$token" /srv/requests.log >/dev/null || bad "cannot start the self-signed server"
server_ip=$($docker inspect -f "{{(index .NetworkSettings.Networks \"$egress\").IPAddress}}" "$server")
write_manifest "$server_ip"
E2E_GITHUB_TOKEN=$token run_gate1 >"$home/gate-run2.out" 2>&1 || { bad "run after the server moved"; show "$home/gate-run2.out"; }
sleep 1
: >"$home/srv/requests.log"
gate_agent gbad <<'EOS'
git ls-remote https://github.com/o/r.git; echo rc=$?
EOS
"$acctl" policy log gate1 >"$home/glog2.out" 2>&1
grep -q "rc=[1-9]" "$home/gbad.out" && [[ ! -s $home/srv/requests.log ]] &&
  grep -q "upstream-tls: upstream certificate not trusted" "$home/glog2.out" &&
  ok "an upstream the gate cannot verify is refused before any request reaches it" ||
  { bad "unverifiable upstream"; show "$home/gbad.out" "$home/gbad.err" "$home/glog2.out"; }
"$acctl" clean gate1 >"$home/gclean.out" 2>&1 || { bad "clean gate1"; show "$home/gclean.out"; }
left=$(grep -rlsF -- "$token" "$home/instances" "$home/run" 2>/dev/null | head -3)
[[ -z $left ]] && ok "after clean no copy of the gate's token is left" || bad "token left after clean: $left"

echo "# $failures failed"
((failures == 0))
