#!/usr/bin/env bash
# The project's test command (README, and .ci/run calls it). On a fresh
# Debian machine it installs what the tests need, then runs every suite.
set -euo pipefail
cd "$(dirname "$0")"

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "test.sh: run as root (it installs packages and boots test hosts): sudo ./test.sh" >&2
    exit 1
  fi
}
need_root

export DEBIAN_FRONTEND=noninteractive
pkgs="openssh-server openssh-client sudo debootstrap systemd-container dpkg-dev iproute2 iputils-ping curl ca-certificates git python3 python3-pip python3-venv"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  apt-get update -qq
  apt-get install -y -qq $missing >/dev/null
fi
# Debian's sshd refuses to start without its privilege separation directory.
mkdir -p /run/sshd

if ! command -v cargo >/dev/null 2>&1; then
  echo "test.sh: cargo is required (rustup.rs); it is not installed" >&2
  exit 1
fi

# ansible-playbook, for the --syntax-check test of compiled playbooks and the benchmark.
if ! command -v ansible-playbook >/dev/null 2>&1; then
  python3 -m pip install --quiet ansible-core 2>/dev/null || python3 -m pip install --quiet --break-system-packages ansible-core
fi

cargo build --quiet
# Committed playbooks must match what the compiler writes for the examples.
for app in examples/*/; do
  ./target/debug/berth compile --check "$app"
done
cargo test --quiet 2>&1 | tee /tmp/berth-test.log
