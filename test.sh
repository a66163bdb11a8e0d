#!/usr/bin/env bash
# The project's test command (README; .ci/run calls it). On a fresh Debian
# machine it installs what the tests need, then runs every suite: unit and
# integration tests, the compiled-output gate, the testbed's own proof on
# booted hosts, and the end-to-end suites against a booted 3-host fleet.
#
#   BERTH_TESTBED_DIR  testbed state (default /var/lib/berth/testbed); kept
#                      between runs so the Debian base and mirror are reused.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" != 0 ]; then
  echo "test.sh: run as root (it installs packages and boots test hosts): sudo ./test.sh" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
pkgs="openssh-server openssh-client sudo debootstrap systemd-container dpkg-dev iproute2 iptables iputils-ping curl ca-certificates git python3 python3-pip python3-jinja2 python3-yaml caddy"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "test.sh: installing$missing"
  apt-get update -qq
  apt-get install -y -qq $missing >/dev/null
fi
# Debian's sshd refuses to start without its privilege separation directory.
mkdir -p /run/sshd
if ! command -v cargo >/dev/null 2>&1; then
  echo "test.sh: cargo is required (https://rustup.rs)" >&2
  exit 1
fi
# ansible-playbook: the compiled playbooks' --syntax-check and the benchmark peer.
if ! command -v ansible-playbook >/dev/null 2>&1; then
  python3 -m pip install --quiet ansible-core 2>/dev/null || python3 -m pip install --quiet --break-system-packages ansible-core
fi
# ansible-lint: the compiled output passes its production profile.
if ! command -v ansible-lint >/dev/null 2>&1; then
  python3 -m pip install --quiet ansible-lint 2>/dev/null || python3 -m pip install --quiet --break-system-packages ansible-lint
fi

# The code holds its own line: formatted, and clippy-clean with warnings as
# errors (clippy.toml says which thresholds the project sets).
cargo fmt --check
cargo clippy --quiet --all-targets -- -D warnings

cargo build --quiet
berth=$PWD/target/debug/berth

# The committed playbooks must be exactly what the compiler writes: every
# example's, and the flagship's at the top of the repository.
for app in examples/*/; do
  "$berth" compile --check "$app"
done
"$berth" compile --check examples/todo --out .
# ...and pass ansible-lint's production profile, run as a user runs it.
for dir in . examples/*/; do
  (cd "$dir" && ansible-lint --profile production --nocolor -q playbooks/) || { echo "test.sh: ansible-lint failed in $dir" >&2; exit 1; }
done

# Everything that does not need the booted fleet (the testbed suite boots its own).
suites=()
for t in tests/*.rs; do
  name=$(basename "$t" .rs)
  case "$name" in *e2e*) ;; *) suites+=(--test "$name") ;; esac
done
cargo test --quiet --lib --bins "${suites[@]}"

# End-to-end suites against one booted fleet of real Debian hosts.
e2e=()
for t in tests/*e2e*.rs; do
  [ -e "$t" ] && e2e+=(--test "$(basename "$t" .rs)")
done
if [ ${#e2e[@]} -gt 0 ]; then
  trap '"$berth" testbed down >/dev/null 2>&1 || true' EXIT INT TERM
  "$berth" testbed up 3 --inventory target/testbed-inventory.yml
  export BERTH_TESTBED_INVENTORY=$PWD/target/testbed-inventory.yml
  cargo test --quiet "${e2e[@]}" -- --test-threads=1
  # ansible-core's own integration targets on a fleet host (conformance/),
  # each on a freshly booted host, last. ansible-playbook's verdicts come
  # from the committed table (conformance/run.sh without CONF_REFERENCE
  # runs them again). Fails below the committed floor (conformance/floor).
  CONF_REFERENCE=committed conformance/run.sh target/testbed-inventory.yml
fi
