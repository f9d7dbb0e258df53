#!/usr/bin/env bash
# Installs the Debian 12 packages FlowSend builds, runs and tests with, only
# those that are missing, so a second run costs a few dpkg queries.
set -euo pipefail

packages=(
	build-essential pkg-config python3 curl ca-certificates procps openssl
	libfcgi-dev libpq-dev libjson-c-dev libjwt-dev libhiredis-dev libsodium-dev
	libcurl4-openssl-dev libssl-dev libopendkim-dev check libsubunit-dev
	postgresql-15 postgresql-client-15 redis-server redis-tools nginx-light
	valgrind clang libclang-rt-14-dev wrk nodejs npm
	# dnsmasq-base: the binary alone (the dnsmasq package starts a service on
	# port 53); the tests run it as the DNS server of sender-domain checks.
	dnsmasq-base
	# The dashboard's browser tests drive Debian's chromium (playwright-core,
	# never a browser of its own); a font for anything the web fonts lack.
	chromium fonts-liberation
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	# nodejs/npm may come from elsewhere (the machine's own Node): a working
	# binary is as good as the package.
	case "$p" in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	nginx-light) command -v nginx >/dev/null 2>&1 && continue ;;
	esac
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "FlowSend needs these Debian packages: ${missing[*]}" >&2
	echo "Install them with: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Debian's service scripts must not start a system nginx/PostgreSQL/Redis on
# their default ports: FlowSend runs its own instances.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	created_policy=1
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
((created_policy)) && rm -f "$policy"
echo "Packages installed."
