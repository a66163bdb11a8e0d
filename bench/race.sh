#!/usr/bin/env bash
# Races berth against tuned ansible-playbook on the same playbook and the same
# hosts, in one run, and prints the ratios. Hosts are cheap sshd processes on
# loopback (`berth testbed --cheap`).
#
#   bench/race.sh [HOSTS] [TASKS] [ANSIBLE_HOSTS]
#
# ANSIBLE_HOSTS (default HOSTS) lets a long Ansible race use fewer hosts.
set -euo pipefail
HOSTS=${1:-20}
TASKS=${2:-30}
AHOSTS=${3:-$HOSTS}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$(mktemp -d /tmp/berth-race.XXXXXX)
state="$work/state"
berth="$root/target/release/berth"
trap '"$berth" testbed --cheap --state "$state" down >/dev/null 2>&1 || true; rm -rf "$work" /tmp/berth-bench' EXIT

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
python3 "$here/gen_playbook.py" "$TASKS" > "$work/bench.yml"
mkdir -p "$work/templates" && cp "$here/bench.j2" "$work/templates/bench.j2"
"$berth" testbed --cheap --state "$state" up "$HOSTS" --inventory "$work/inv.yml" >/dev/null

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }

# First run creates the state; the raced run is the idempotent re-run.
"$berth" run "$work/bench.yml" -i "$work/inv.yml" --forks "$HOSTS" >/dev/null
t0=$(now); "$berth" run "$work/bench.yml" -i "$work/inv.yml" --forks "$HOSTS" > "$work/berth.out"; t1=$(now)
berth_s=$(elapsed "$t0" "$t1")
grep -q "changed=0" "$work/berth.out"
if grep -E "changed=[1-9]" "$work/berth.out"; then echo "berth re-run was not idempotent" >&2; exit 1; fi

# One host: per-task overhead against a raw multiplexed `ssh host true`.
first=$(python3 - "$work/inv.yml" <<'PY'
import sys, yaml
inv = yaml.safe_load(open(sys.argv[1]))
hosts = inv["all"]["children"]["fleet"]["hosts"]
name = sorted(hosts)[0]
h = hosts[name]
print(name, h["ansible_host"], h["ansible_port"], h["ansible_ssh_private_key_file"])
PY
)
read -r h1 addr port key <<<"$first"
known="$state/cheap/known_hosts"
t0=$(now); "$berth" run "$work/bench.yml" -i "$work/inv.yml" --limit "$h1" >/dev/null; t1=$(now)
one_s=$(elapsed "$t0" "$t1")
ctl="$work/ctl-%C"
sshq=(ssh -q -o ControlMaster=auto -o "ControlPath=$ctl" -o ControlPersist=60 -o "UserKnownHostsFile=$known" -o StrictHostKeyChecking=yes -i "$key" -p "$port" "root@$addr")
"${sshq[@]}" true
t0=$(now); for _ in $(seq 1 "$TASKS"); do "${sshq[@]}" true; done; t1=$(now)
ssh_s=$(elapsed "$t0" "$t1")
"${sshq[@]}" -O exit 2>/dev/null || true

# Tuned ansible-playbook on the same playbook and hosts.
cat > "$work/ansible.cfg" <<CFG
[defaults]
forks = $AHOSTS
gathering = explicit
host_key_checking = True
interpreter_python = auto_silent
stdout_callback = default
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s
CFG
limit=$(python3 -c "print(','.join('host%02d' % i for i in range(1, $AHOSTS + 1)))")
export ANSIBLE_CONFIG="$work/ansible.cfg"
ansible-playbook "$work/bench.yml" -i "$work/inv.yml" --limit "$limit" >/dev/null
t0=$(now); ansible-playbook "$work/bench.yml" -i "$work/inv.yml" --limit "$limit" > "$work/ansible.out"; t1=$(now)
ansible_s=$(elapsed "$t0" "$t1")
if grep -E "changed=[1-9]" "$work/ansible.out"; then echo "ansible re-run was not idempotent" >&2; exit 1; fi
# berth on exactly Ansible's hosts, for a like-for-like ratio.
t0=$(now); "$berth" run "$work/bench.yml" -i "$work/inv.yml" --limit "$limit" --forks "$AHOSTS" >/dev/null; t1=$(now)
berth_same_s=$(elapsed "$t0" "$t1")

python3 - <<PY
hosts, tasks, ahosts = $HOSTS, $TASKS, $AHOSTS
berth, berth_same, ansible, one, ssh = $berth_s, $berth_same_s, $ansible_s, $one_s, $ssh_s
print(f"berth     {tasks} no-op tasks x {hosts} hosts: {berth:8.3f} s")
print(f"berth     {tasks} no-op tasks x {ahosts} hosts: {berth_same:8.3f} s")
print(f"ansible   {tasks} no-op tasks x {ahosts} hosts: {ansible:8.3f} s  (pipelining, ControlPersist, forks={ahosts}, no facts)")
print(f"ratio berth/ansible on {ahosts} hosts: {berth_same / ansible:.4f}x  (target <= 0.02x)")
print(f"per task, 1 host: berth {one / tasks * 1000:.2f} ms incl. start-up; raw multiplexed ssh true {ssh / tasks * 1000:.2f} ms; ratio {one / ssh:.2f}x (target <= 1.5x)")
PY
