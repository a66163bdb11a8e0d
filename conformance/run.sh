#!/usr/bin/env bash
# Ansible's own integration targets, run by ansible-playbook (the reference)
# and by `berth run`, on a booted testbed host.
#
#   conformance/run.sh INVENTORY [TARGET...]
#
# INVENTORY is the one `berth testbed up` writes; the targets run on its
# first fleet host (context/controller targets on this machine, as
# ansible-test runs them). Without TARGETs, every target named in
# conformance/targets.txt. The targets come from the source distribution of
# the ansible-core installed here (pip download --no-binary :all:); nothing
# of it is committed. Writes conformance/results.md (a table and the line
# `N/M targets pass`) and exits 1 when fewer than conformance/floor pass.
#
#   BERTH        the berth binary (default target/debug/berth)
#   CONF_CACHE   where the sdist is kept and logs written (default target/conformance)
#   CONF_TIMEOUT seconds per target and tool (default 300)
#   CONF_RESULTS the results file written (default conformance/results.md;
#                the committed reference verdicts are always read from there)
#   CONF_REFERENCE run (default): run ansible-playbook on each target;
#                committed: take its verdict from the committed results.md
#                when that table is for the same ansible-core (CI does)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
inventory=$(realpath "${1:?usage: conformance/run.sh INVENTORY [TARGET...]}")
shift
berth=$(realpath "${BERTH:-$root/target/debug/berth}")
cache=${CONF_CACHE:-$root/target/conformance}
timeout_s=${CONF_TIMEOUT:-300}

version=$(python3 -c 'import ansible.release as r; print(r.__version__)')
sdist="$cache/ansible_core-$version.tar.gz"
if [ ! -f "$sdist" ]; then
  mkdir -p "$cache"
  (cd "$cache" && python3 -m pip download --quiet --no-deps --no-binary :all: "ansible-core==$version" >/dev/null) || { echo "conformance: cannot download ansible-core $version" >&2; exit 2; }
fi
# Each run unpacks the targets afresh (a fraction of a second): what one
# run's targets leave in their own folders never reaches the next.
mkdir -p "$cache"
work=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$work"' EXIT
src="$work/ansible_core-$version"
tar -xzf "$sdist" -C "$work" "ansible_core-$version/test/integration/targets" "ansible_core-$version/test/lib/ansible_test/_data" 2>/dev/null \
  || tar -xzf "$sdist" -C "$work" "ansible_core-$version/test/integration/targets" \
  || { echo "conformance: cannot unpack $sdist" >&2; rm -rf "$work"; exit 2; }
targets_dir="$src/test/integration/targets"
# The controller Python packages ansible-test installs for these targets
# (password_hash needs passlib).
python3 -c 'import passlib' 2>/dev/null || python3 -m pip install --quiet passlib >/dev/null 2>&1 || python3 -m pip install --quiet --break-system-packages passlib >/dev/null 2>&1

# ansible-test's httptester container, stood in for by one process here
# (conformance/httptester.py: httpbin from PyPI behind the names and
# certificates the get_url, uri and unarchive targets use). The test host
# resolves those names to this machine's address on the testbed bridge.
python3 -c 'import httpbin' 2>/dev/null || python3 -m pip install --quiet httpbin >/dev/null 2>&1 || python3 -m pip install --quiet --break-system-packages httpbin >/dev/null 2>&1

# The controller as ansible-test's controller container has it: the
# en_US.UTF-8 locale (tags runs under it).
if ! locale -a 2>/dev/null | grep -qi '^en_US\.utf-\?8$' && [ "$(id -u)" = 0 ]; then
  { dpkg -s locales >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq locales; } >/dev/null 2>&1
  sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' /etc/locale.gen 2>/dev/null
  grep -q '^en_US.UTF-8 UTF-8' /etc/locale.gen 2>/dev/null || echo 'en_US.UTF-8 UTF-8' >> /etc/locale.gen
  locale-gen >/dev/null 2>&1 || echo "conformance: cannot generate the en_US.UTF-8 locale" >&2
fi

if [ $# -eq 0 ]; then
  set -- $(grep -v '^\s*#' "$here/targets.txt" | awk 'NF && $2 != "excluded" && $2 != "skip" {print $1}')
fi

# The target host, from the testbed inventory.
read -r host addr key known < <(python3 - "$inventory" <<'EOF'
import sys, yaml
inv = yaml.safe_load(open(sys.argv[1]))
hosts = inv["all"]["children"]["fleet"]["hosts"]
name = sorted(hosts)[0]
v = inv["all"]["vars"]
print(name, hosts[name]["ansible_host"], v["ansible_ssh_private_key_file"], v["berth_known_hosts_file"])
EOF
)

# fetch copies the controller's ~root/.ssh/authorized_keys to a user it
# makes on the host and logs in as that user with the testbed key (in
# ansible-test the controller is a test container). When the file does not
# exist here it is made for the run, holding the testbed's public key only,
# and removed afterwards; an existing one is left as it is.
made_keys=""
root_keys="$(getent passwd root | cut -d: -f6)/.ssh/authorized_keys"
if [ ! -e "$root_keys" ] && [ -r "$key.pub" ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$(dirname "$root_keys")" && chmod 700 "$(dirname "$root_keys")"
  cp "$key.pub" "$root_keys" && chmod 600 "$root_keys" && made_keys=1
fi
http_addr=$(ip -o route get "$addr" 2>/dev/null | sed -n 's/.* src \([^ ]*\).*/\1/p')
http_pid=""
if [ -n "$http_addr" ]; then
  mkfifo "$work/http.ready"
  python3 "$here/httptester.py" --listen "$http_addr" --state "$cache/httptester" > "$work/http.ready" 2> "$work/http.log" &
  http_pid=$!
  if ! timeout 30 head -1 "$work/http.ready" | grep -q ready; then
    echo "conformance: the httptester stand-in did not start: $(tail -1 "$work/http.log")" >&2
    kill "$http_pid" 2>/dev/null; http_pid=""
  fi
fi
trap 'rm -rf "$work"; [ -n "$made_keys" ] && rm -f "$root_keys"; [ -n "$http_pid" ] && kill "$http_pid" 2>/dev/null' EXIT
remote_inv="$work/remote.ini"
local_inv="$work/local.ini"
cat > "$remote_inv" <<EOF
[testgroup]
testhost ansible_host=$addr ansible_user=root ansible_ssh_private_key_file=$key ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-o UserKnownHostsFile=$known -o StrictHostKeyChecking=yes'
EOF
cat > "$local_inv" <<EOF
[testgroup]
testhost ansible_connection=local ansible_python_interpreter=$(command -v python3)
EOF
# `ansible-playbook` as berth, for runme.sh targets.
mkdir -p "$work/shim"
# A playbook the list file marks `NAME skip PLAYBOOK REASON` (one step of a
# runme.sh that needs a Python module or plugin shipped with the target) is
# not run under berth; the results name it.
cat > "$work/shim/ansible-playbook" <<EOF
#!/bin/sh
for a in "\$@"; do
  case "\$a" in
    *.yml|*.yaml)
      if [ -n "\$CONF_SKIPS" ] && grep -qxF -- "\$a" "\$CONF_SKIPS" 2>/dev/null; then
        echo "conformance: berth skips \$a (conformance/targets.txt says why)"
        exit 0
      fi ;;
  esac
done
exec "$berth" run "\$@"
EOF
chmod +x "$work/shim/ansible-playbook"

# Each target and tool starts from a fresh host: the testbed's disks are
# volatile, so a host booted again has none of an earlier target's users,
# packages or services (CONF_FRESH=0 keeps the host as it is).
nhosts=$(python3 - "$inventory" <<'EOF'
import sys, yaml
print(len(yaml.safe_load(open(sys.argv[1]))["all"]["children"]["fleet"]["hosts"]))
EOF
)
fresh_host() {
  if [ "${CONF_FRESH:-1}" = 1 ]; then
    "$berth" testbed kill "$host" >/dev/null 2>&1
    "$berth" testbed up "$nhosts" --inventory "$inventory" >/dev/null 2>&1 || { echo "conformance: cannot boot $host again" >&2; exit 2; }
  fi
  # What ansible-test's default test container has and Debian's minimal
  # system lacks: setfacl/getfacl (copy, lineinfile), file(1) (stat's mimetype).
  ssh -q -i "$key" -o UserKnownHostsFile="$known" -o StrictHostKeyChecking=yes -o BatchMode=yes "root@$addr" \
    'command -v setfacl >/dev/null && command -v file >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq acl file; } >/dev/null 2>&1' \
    || echo "conformance: cannot install acl and file on $host" >&2
  # The httptester names, and its CA trusted as ansible-test's
  # prepare_http_tests trusts it (unarchive downloads without that role).
  if [ -n "$http_pid" ]; then
    ssh -q -i "$key" -o UserKnownHostsFile="$known" -o StrictHostKeyChecking=yes -o BatchMode=yes "root@$addr" \
      "grep -q ansible.http.tests /etc/hosts || echo '$http_addr ansible.http.tests sni1.ansible.http.tests fail.ansible.http.tests self-signed.ansible.http.tests ci-files.testing.ansible.com' >> /etc/hosts
       cat > /usr/local/share/ca-certificates/conformance-httptester.crt && update-ca-certificates >/dev/null 2>&1" < "$cache/httptester/cacert.pem" \
      || echo "conformance: cannot point $host at the httptester stand-in" >&2
  fi
}

# One target with one tool: pass/fail and the first failing line.
run_target() {
  local tool=$1 t=$2 dir="$targets_dir/$2" inv="$remote_inv" out="$logs/$2.$1.log"
  grep -q '^context/controller' "$dir/aliases" 2>/dev/null && inv="$local_inv"
  # Where ansible-test puts the inventory runme.sh scripts name (../../inventory).
  cp "$inv" "$targets_dir/../inventory"
  local gf=true
  grep -q '^gather_facts/no' "$dir/aliases" 2>/dev/null && gf=false
  # ansible-test runs targets under a UTF-8 locale (ansible-core refuses others).
  local env=(LC_ALL=C.UTF-8 LANG=C.UTF-8 ANSIBLE_ROLES_PATH="$targets_dir" ANSIBLE_HOST_KEY_CHECKING=true ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
    INVENTORY_PATH="$inv" ANSIBLE_TEST_REMOTE_INTERPRETER=/usr/bin/python3 OUTPUT_DIR="$work/out-$t-$tool"
    CONF_SKIPS="$work/skips-$t")
  [ -n "$http_pid" ] && env+=(HTTPTESTER=1)
  awk -v t="$t" '!/^[[:space:]]*#/ && $1 == t && $2 == "skip" {print $3}' "$here/targets.txt" > "$work/skips-$t"
  mkdir -p "$work/out-$t-$tool"
  if [ -x "$dir/runme.sh" ]; then
    local path=$PATH
    [ "$tool" = berth ] && path="$work/shim:$PATH"
    # As ansible-test runs it: the only arguments are its vars file; the
    # scripts name their inventories themselves (../../inventory, ...).
    printf 'output_dir: %s\n' "$work/out-$t-$tool" > "$work/integration_config.yml"
    (cd "$dir" && env "${env[@]}" PATH="$path" timeout -k 10 "$timeout_s" ./runme.sh -e "@$work/integration_config.yml") > "$out" 2>&1
  else
    cat > "$work/$t.yml" <<EOF
- hosts: testhost
  gather_facts: $gf
  roles:
    - role: $t
EOF
    if [ "$tool" = ansible ]; then
      (cd "$work" && env "${env[@]}" timeout -k 10 "$timeout_s" ansible-playbook -i "$inv" "$t.yml" -e "output_dir=$work/out-$t-$tool") > "$out" 2>&1
    else
      (cd "$work" && env "${env[@]}" timeout -k 10 "$timeout_s" "$berth" run -i "$inv" "$t.yml" -e "output_dir=$work/out-$t-$tool") > "$out" 2>&1
    fi
  fi
  local rc=$?
  local why=""
  if [ $rc -ne 0 ]; then
    # The first failure that was not ignored (a failure followed by
    # "...ignoring" is one the target expects). ansible-core 2.19 shows an
    # "[ERROR]: Task failed: ..." block before the failure line, reported
    # only when no failure line follows; a loop's failed items share one.
    # Output a script captures into a variable (`+ result='...'` in its
    # trace) holds failures it expects and checks itself: not reported.
    why=$(awk '/^[+]+ [A-Za-z_][A-Za-z_0-9]*=\047/ { cap = 1 }
               cap { if ($0 ~ /\047$/ && $0 !~ /^[+]+ [A-Za-z_][A-Za-z_0-9]*=\047$/) cap = 0; next }
               /^\[ERROR\]: / { if (held != "") { print held; exit } pending = $0; next }
               /^failed: / { if (held == "") { held = $0; pending = "" } next }
               /fatal:|FAILED!|ERROR!|error\[|UNREACHABLE/ { if (held != "") { print held; exit } held = $0; pending = ""; next }
               /^\.\.\.ignoring/ { held = ""; pending = ""; next }
               held != "" { print held; exit }
               END { if (held != "") print held; else if (pending != "") print pending }' "$out" | head -1 | cut -c1-200 | tr '|' '/')
    [ -n "$why" ] || why="exit $rc: $(tail -1 "$out" | cut -c1-160 | tr '|' '/')"
    # A runme.sh (traced with set -x) stops at a command: name its last two
    # traced lines, which say which check failed.
    if [ -x "$dir/runme.sh" ] && grep -q '^+ ' "$out"; then
      local at
      at=$(grep '^++* ' "$out" | tail -2 | cut -c1-120 | tr '\n|' ' /')
      why="runme.sh stopped at: $at; first failure: $why"
      why=$(printf '%s' "$why" | cut -c1-300)
    fi
  fi
  echo "$rc|$why"
}

results="$here/results.md"
rows="$work/results.md"
logs="$cache/logs"
mkdir -p "$logs"
{
  echo "# Ansible's integration targets under berth"
  echo
  echo "ansible-core $version, targets from its source distribution; host: a \`berth testbed\` Debian 12 host"
  echo "(context/controller targets on the controller). Command: \`conformance/run.sh INVENTORY\`."
  echo
  echo "| target | ansible-playbook | berth run | first berth failure |"
  echo "|---|---|---|---|"
} > "$rows"
pass=0 counted=0
for t in "$@"; do
  if [ ! -d "$targets_dir/$t" ]; then
    echo "| $t | (not in ansible-core $version) | | |" >> "$rows"
    continue
  fi
  a=""
  if [ "${CONF_REFERENCE:-run}" = committed ] && grep -q "^ansible-core $version," "$results" 2>/dev/null; then
    # The reference verdict of the committed table (same ansible-core):
    # ansible-playbook is the slow half of the run.
    ref=$(awk -F' [|] ' -v t="$t" '$1 == "| " t || $1 == "|" t { print $2; exit }' "$results" | sed 's/^| *//')
    case "$ref" in
      pass) a="0|" ;;
      "fails here: "*) a="1|${ref#fails here: }" ;;
    esac
  fi
  # fresh_host runs here, not in the $(...) below, so a host that does not
  # come back stops the whole run.
  if [ -z "$a" ]; then
    fresh_host
    a=$(run_target ansible "$t")
  fi
  if [ "${a%%|*}" != 0 ]; then
    echo "| $t | fails here: ${a#*|} | (not counted) | |" >> "$rows"
    echo "conformance: $t: ansible-playbook fails here, not counted" >&2
    continue
  fi
  counted=$((counted + 1))
  fresh_host
  r=$(run_target berth "$t")
  if [ "${r%%|*}" = 0 ]; then
    pass=$((pass + 1))
    echo "| $t | pass | pass | |" >> "$rows"
  else
    echo "| $t | pass | FAIL | ${r#*|} |" >> "$rows"
  fi
  echo "conformance: $t: berth ${r%%|*}" >&2
done
{
  skips=$(awk '!/^[[:space:]]*#/ && $2 == "skip" { r = ""; for (i = 4; i <= NF; i++) r = r (i > 4 ? " " : "") $i; print "- " $1 ": `" $3 "`: " r }' "$here/targets.txt")
  if [ -n "$skips" ]; then
    echo
    echo "Steps of a runme.sh that berth does not run (the list file says why):"
    echo "$skips"
  fi
  echo
  echo "$pass/$counted targets pass"
} >> "$rows"
cp "$rows" "${CONF_RESULTS:-$results}"
echo "$pass/$counted targets pass"
floor=$(cat "$here/floor" 2>/dev/null || echo 0)
if [ "$pass" -lt "$floor" ]; then
  echo "conformance: $pass targets pass, below the floor of $floor (conformance/floor)" >&2
  exit 1
fi
