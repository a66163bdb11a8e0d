#!/usr/bin/env bash
# The main job, locally: boot a 3-host fleet of real Debian hosts and deploy
# the example app (examples/todo) to it with `berth deploy`, then print where
# it answers and how to look at it. Run as root on Debian 12 with a Rust
# toolchain. `./target/debug/berth testbed down` stops the fleet.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" != 0 ]; then
  echo "demo.sh: run as root (it boots containers): sudo ./demo.sh" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
pkgs="openssh-client debootstrap systemd-container dpkg-dev iproute2 curl ca-certificates git"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  apt-get update -qq
  apt-get install -y -qq $missing >/dev/null
fi

cargo build --quiet
berth=$PWD/target/debug/berth
"$berth" testbed up 3 --inventory target/testbed-inventory.yml
keys=${BERTH_TESTBED_DIR:-/var/lib/berth/testbed}/keys
ssh_opts=(--private-key "$keys/id_ed25519" --known-hosts "$keys/known_hosts")

# The app needs a JWT secret: a random one, kept on the hosts only (existing
# values are never overwritten by later deploys).
secrets=$(mktemp)
trap 'rm -f "$secrets"' EXIT
printf 'JWT_SECRET=%s\n' "$(head -c 24 /dev/urandom | base64 | tr -d '/+=')" > "$secrets"

"$berth" deploy prod -C examples/todo "${ssh_opts[@]}" --plan
"$berth" deploy prod -C examples/todo "${ssh_opts[@]}" --secrets-file "$secrets" --yes
echo
echo "Deploying again with nothing changed:"
"$berth" deploy prod -C examples/todo "${ssh_opts[@]}" --yes

cat <<MSG

The app answers through Caddy on every host (Caddy's internal CA, hence -k):
  curl -k --resolve todo.test:443:10.213.7.11 https://todo.test/
  curl -k --resolve todo.test:443:10.213.7.12 https://todo.test/
  curl -k --resolve todo.test:443:10.213.7.13 https://todo.test/
Look at it:
  $berth deploy prod -C examples/todo ${ssh_opts[*]} --status
  $berth deploy prod -C examples/todo ${ssh_opts[*]} --logs
  $berth deploy --list --server root@10.213.7.11 ${ssh_opts[*]}
Stop the fleet:
  $berth testbed down
MSG
for host in 10.213.7.11 10.213.7.12 10.213.7.13; do
  printf '%s: ' "$host"
  curl -sk --max-time 5 --resolve "todo.test:443:$host" https://todo.test/ || echo "(no answer)"
done
