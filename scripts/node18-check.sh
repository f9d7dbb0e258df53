#!/usr/bin/env bash
# Proves that the dashboard and the landing page install (`npm ci`, engines
# enforced) and build (`next build`) with Debian 12's own Node 18.20 and npm
# 9.2, whatever Node this machine runs. Not part of `make test` or CI: it
# downloads about 40 MB from the npm registry the first time.
#
#   scripts/node18-check.sh [dashboard] [landing]     (default: both)
#
# Node comes from the registry's node-linux-<arch>@18.20.4 package (the
# official binary) and npm from npm@9.2.0, unpacked into a private folder
# ($NODE18_DIR, default /var/tmp/flowsend-node18) and put first on PATH for
# this script only: the system's node and npm are never touched. The apps are
# built from copies of their committed files (git ls-files), so a lock file
# that is not committed, or that npm 9 would rewrite, fails here.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODE_VERSION=${NODE18_VERSION:-18.20.4}
NPM_VERSION=${NPM9_VERSION:-9.2.0}
DIR=${NODE18_DIR:-/var/tmp/flowsend-node18}
apps=("$@")
((${#apps[@]})) || apps=(dashboard landing)

case $(uname -m) in
x86_64) arch=x64 ;;
aarch64) arch=arm64 ;;
*) echo "node18-check: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac

mkdir -p "$DIR/bin"
if [[ ! -x $DIR/node-$NODE_VERSION/bin/node || ! -f $DIR/npm-$NPM_VERSION/bin/npm-cli.js ]]; then
	echo "node18-check: fetching node-linux-$arch@$NODE_VERSION and npm@$NPM_VERSION"
	(cd "$DIR" && npm pack --silent "node-linux-$arch@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
	rm -rf "$DIR/node-$NODE_VERSION" "$DIR/npm-$NPM_VERSION"
	mkdir -p "$DIR/node-$NODE_VERSION" "$DIR/npm-$NPM_VERSION"
	tar xzf "$DIR/node-linux-$arch-$NODE_VERSION.tgz" -C "$DIR/node-$NODE_VERSION" --strip-components=1
	tar xzf "$DIR/npm-$NPM_VERSION.tgz" -C "$DIR/npm-$NPM_VERSION" --strip-components=1
fi
ln -sfn "../node-$NODE_VERSION/bin/node" "$DIR/bin/node"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$DIR/bin/node" "$DIR/npm-$NPM_VERSION/bin/npm-cli.js" >"$DIR/bin/npm"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$DIR/bin/node" "$DIR/npm-$NPM_VERSION/bin/npx-cli.js" >"$DIR/bin/npx"
chmod +x "$DIR/bin/npm" "$DIR/bin/npx"
export PATH=$DIR/bin:$PATH
export npm_config_cache=$DIR/npm-cache NEXT_TELEMETRY_DISABLED=1
[[ $(node -v) == "v$NODE_VERSION" && $(npm -v) == "$NPM_VERSION" ]] || {
	echo "node18-check: expected Node $NODE_VERSION and npm $NPM_VERSION, got $(node -v) and $(npm -v)" >&2
	exit 1
}
echo "node18-check: Node $(node -v), npm $(npm -v)"

# The committed files of both apps (the landing page imports the dashboard's brand).
work=$DIR/work
rm -rf "$work"
mkdir -p "$work"
(cd "$ROOT" && git ls-files -z dashboard landing | tar --null -cf - -T -) | tar -xf - -C "$work"

failed=()
for app in "${apps[@]}"; do
	echo "== $app"
	cd "$work/$app"
	cp package-lock.json package-lock.json.committed
	# --engine-strict: a package whose "engines" excludes Node 18 is an error, not a warning.
	if ! npm ci --engine-strict --no-audit --no-fund --loglevel=error; then
		failed+=("$app: npm ci")
		continue
	fi
	cmp -s package-lock.json package-lock.json.committed || { failed+=("$app: npm ci changed the lock file"); continue; }
	# What npm 9 would write for this package.json: the committed lock, the
	# same packages, versions and integrity hashes. The one difference allowed
	# is the "libc" field (glibc/musl) that npm 10+ records for the platform
	# builds of next's compiler and sharp and npm 9 leaves out: npm 9 ignores it
	# when it reads the lock, npm 11 writes it back.
	npm install --package-lock-only --engine-strict --no-audit --no-fund --loglevel=error >/dev/null
	node -e '
		const fs = require("fs"), assert = require("assert");
		const read = (f) => {
			const j = JSON.parse(fs.readFileSync(f, "utf8"));
			for (const p of Object.values(j.packages || {})) delete p.libc;
			return j;
		};
		assert.deepStrictEqual(read("package-lock.json"), read("package-lock.json.committed"));
	' || {
		diff package-lock.json.committed package-lock.json | grep -v libc | head -20
		failed+=("$app: npm 9 would write another lock file")
		continue
	}
	if ! npx --no-install next build; then
		failed+=("$app: next build")
		continue
	fi
	[[ -f out/index.html ]] || { failed+=("$app: no out/index.html"); continue; }
	echo "== $app: npm ci and next build passed with Node $(node -v), npm $(npm -v)"
done

if ((${#failed[@]})); then
	printf 'node18-check: FAILED: %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "node18-check: every app installs and builds with Node $NODE_VERSION and npm $NPM_VERSION"
