#!/usr/bin/env bash
# Redeploy times of `berth deploy` against ansible-playbook running the same
# committed playbooks (tuned: pipelining, ControlPersist, forks = hosts, no
# facts), on the same three testbed hosts, in one run. The app is
# examples/todo (PostgreSQL, Redis, JWT, WebSocket, two instances per host).
#
#   bench/deploy.sh [RUNS] [busy]
#
# RUNS (default 5) timed runs of each kind for berth, 3 for ansible-playbook
# (a run takes it over a minute); the median is reported. The example rolls
# out one host at a time (`rolling = 1`); the bundle-only redeploys are
# measured that way and with the whole fleet at once.
# `busy` gives root on every host a shell profile that costs ~100 ms per
# command (as a pyenv or nvm init does on real servers) for the whole run.
# Needs `berth testbed up 3` (it boots the hosts when they are down).
set -euo pipefail
RUNS=${1:-5}
BUSY=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
berth="$root/target/release/berth"
work=$(mktemp -d /tmp/berth-deploy-bench.XXXXXX)
keys=/var/lib/berth/testbed/keys
hosts=(10.213.7.11 10.213.7.12 10.213.7.13)
profile='sleep 0.1 # berth bench: a busy shell profile'

cleanup() {
  if [ -n "$BUSY" ]; then
    for h in "${hosts[@]}"; do hssh "$h" "sed -i '/berth bench: a busy shell profile/d' /root/.bashrc" || true; done
  fi
  rm -rf "$work"
}
hssh() { ssh -i "$keys/id_ed25519" -o UserKnownHostsFile="$keys/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes "root@$1" "$2"; }
trap cleanup EXIT

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
"$berth" testbed up 3 --inventory "$work/testbed.yml" >/dev/null
cp -r "$root/examples/todo/." "$work/app/" 2>/dev/null || { mkdir -p "$work/app" && cp -r "$root/examples/todo/." "$work/app/"; }
cd "$work/app"
"$berth" compile . >/dev/null 2>&1
# The hosts start without the app: the first deploy provisions them.
for h in "${hosts[@]}"; do
  hssh "$h" "systemctl stop 'tova-todo@*' tova-todo-health.timer 2>/dev/null; rm -rf /opt/tova/apps/todo /opt/tova/registry/todo.* /opt/tova/caddy/apps/todo.caddy" || true
done
if [ -n "$BUSY" ]; then
  for h in "${hosts[@]}"; do hssh "$h" "grep -q 'berth bench' /root/.bashrc || sed -i '1i $profile' /root/.bashrc"; done
  t0=$(date +%s.%N); hssh "${hosts[0]}" true; t1=$(date +%s.%N)
  echo "busy shell profile on: one ssh command takes $(python3 -c "print(f'{$t1 - $t0:.3f}')") s"
fi

export JWT_SECRET=bench-secret-0123456789abcdef
B=("$berth" deploy prod --yes -C . --private-key "$keys/id_ed25519" --known-hosts "$keys/known_hosts" --host-key-checking strict)
export ANSIBLE_PIPELINING=True ANSIBLE_FORKS=3 ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=False
export ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$keys/known_hosts"
A=(ansible-playbook -i inventory/prod.yml --private-key "$keys/id_ed25519" -e ansible_python_interpreter=/usr/bin/python3)

now() { date +%s.%N; }
median() { python3 -c "import sys,statistics; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.3f}')" "$@"; }
timed() { local t0 t1; t0=$(now); "$@" > "$work/last.out" 2>&1 || { cat "$work/last.out" >&2; exit 1; }; t1=$(now); python3 -c "print(f'{$t1 - $t0:.3f}')"; }
# One file of the bundle changes: the client script (a new build).
touch_bundle() { echo "// rebuild $1" >> .tova-out/server.js; }

first=$(timed "${B[@]}")
echo "berth    first deploy from bare hosts:           $first s"

b_noop=(); for i in $(seq "$RUNS"); do b_noop+=("$(timed "${B[@]}")"); done
grep -q "changed=0" "$work/last.out" || { echo "berth's no-change redeploy changed something:" >&2; cat "$work/last.out" >&2; exit 1; }
b_full=(); for i in $(seq "$RUNS"); do b_full+=("$(timed "${B[@]}" --full)"); done
grep -q "changed=0" "$work/last.out" || { echo "berth's full no-change run changed something:" >&2; cat "$work/last.out" >&2; exit 1; }
b_bundle=(); for i in $(seq "$RUNS"); do touch_bundle "b$i"; b_bundle+=("$(timed "${B[@]}")"); done

a_noop=(); for i in 1 2 3; do a_noop+=("$(timed "${A[@]}" playbooks/prod.yml)"); done
a_bundle=(); for i in 1 2 3; do touch_bundle "a$i"; a_bundle+=("$(timed "${A[@]}" playbooks/prod.yml)"); done

# The whole fleet at once.
sed -i '/^rolling = /d' tova.toml && "$berth" compile . >/dev/null 2>&1
b_wide=(); for i in $(seq "$RUNS"); do touch_bundle "w$i"; b_wide+=("$(timed "${B[@]}")"); done
a_wide=(); for i in 1 2 3; do touch_bundle "x$i"; a_wide+=("$(timed "${A[@]}" playbooks/prod.yml)"); done

bn=$(median "${b_noop[@]}"); bf=$(median "${b_full[@]}"); bb=$(median "${b_bundle[@]}"); an=$(median "${a_noop[@]}"); ab=$(median "${a_bundle[@]}")
bw=$(median "${b_wide[@]}"); aw=$(median "${a_wide[@]}")
echo "berth    no-change redeploy, 3 hosts (median of $RUNS): $bn s  [${b_noop[*]}]"
echo "berth    no-change, every layer run (--full):     $bf s  [${b_full[*]}]"
echo "berth    bundle-only redeploy, one host at a time: $bb s  [${b_bundle[*]}]"
echo "berth    bundle-only redeploy, 3 hosts at once:  $bw s  [${b_wide[*]}]"
echo "ansible  no-change run of playbooks/prod.yml:     $an s  [${a_noop[*]}]"
echo "ansible  bundle-only, one host at a time:          $ab s  [${a_bundle[*]}]"
echo "ansible  bundle-only, 3 hosts at once:            $aw s  [${a_wide[*]}]"
echo "ratio berth/ansible: no-change $(python3 -c "print(f'{$bn / $an:.3f}')")x, whole playbook with no change $(python3 -c "print(f'{$bf / $an:.3f}')")x, bundle-only $(python3 -c "print(f'{$bb / $ab:.3f}')")x (one at a time) $(python3 -c "print(f'{$bw / $aw:.3f}')")x (at once)"
