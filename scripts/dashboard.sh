#!/usr/bin/env bash
# Builds the dashboard (dashboard/: a Next.js static export) when its sources
# changed, into build/dashboard/out, and writes the Content-Security-Policy
# nginx sends with each page (build/dashboard/csp.map): the sha256 of every
# inline script of that page, so the policy needs no 'unsafe-inline' scripts.
# scripts/stack.sh copies the export to the instance's web root at /app/.
# The landing page (landing/, served at /) is built the same way into
# build/landing (scripts/landing.sh runs this script with "landing").
#
#   scripts/dashboard.sh [--force] [dashboard|landing]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
app=dashboard force=
for a in "$@"; do
	case $a in
	--force) force=1 ;;
	dashboard | landing) app=$a ;;
	*) echo "usage: $0 [--force] [dashboard|landing]" >&2; exit 2 ;;
	esac
done
SRC=$ROOT/$app
OUT=$ROOT/build/$app
case $app in
dashboard) PREFIX=/app/ EXTRA=() ;;
# The landing page shares the dashboard's brand and tokens (imported, not copied).
landing) PREFIX=/ EXTRA=(../dashboard/src/brand.ts ../dashboard/src/app/globals.css) ;;
esac
cd "$SRC"

command -v node >/dev/null && command -v npm >/dev/null || {
	echo "$app: node and npm are needed (make deps installs Debian's nodejs and npm)" >&2
	exit 1
}
# Next.js 15 needs Node >= 18.18 (Debian 12 has 18.20).
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>18||(a==18&&b>=18)?0:1)' || {
	echo "$app: Node $(node -v) is too old: Next.js 15 needs 18.18 or later" >&2
	exit 1
}

# What the export is made of: every source file (not what npm or next write).
fingerprint() {
	find . \( -path ./node_modules -o -path ./.next -o -path ./out -o -path ./tests \) -prune -o \
		-type f ! -name '*.tsbuildinfo' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum ${EXTRA[@]+"${EXTRA[@]}"} | sha256sum | cut -d' ' -f1
}
sum=$(fingerprint)
if [[ -z $force && -f $OUT/stamp && $(cat "$OUT/stamp") == "$sum" && -f $OUT/out/index.html && -f $OUT/csp.map ]]; then
	echo "$app: up to date ($OUT/out)"
	exit 0
fi

# Dependencies exactly as locked; reinstalled only when the lock changed.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
	echo "$app: npm ci"
	npm ci --no-audit --no-fund --loglevel=error
fi

echo "$app: next build"
rm -rf out
NEXT_TELEMETRY_DISABLED=1 npx --no-install next build

mkdir -p "$OUT"
rm -rf "$OUT/out.new"
cp -a out "$OUT/out.new"
rm -rf "$OUT/out"
mv "$OUT/out.new" "$OUT/out"

python3 - "$OUT/out" "$OUT/csp.map" "$PREFIX" "$app" <<'PY'
import base64, hashlib, os, re, sys

root, dst, prefix, app = sys.argv[1:5]
base = ("default-src 'self'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'")
inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)
pages, every = {}, set()
for dirpath, _, files in os.walk(root):
    for f in files:
        if not f.endswith(".html"):
            continue
        path = os.path.join(dirpath, f)
        text = open(path, encoding="utf-8").read()
        hashes = sorted({"'sha256-%s'" % base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode()
                         for m in inline.finditer(text)})
        uri = prefix + os.path.relpath(path, root).replace(os.sep, "/")
        pages[uri] = hashes
        every.update(hashes)

def policy(h):
    return base.format(scripts="".join(" " + x for x in h))

with open(dst, "w") as out:
    # nginx map entries keyed by $uri (after try_files/index found the file);
    # a page not listed gets the union of every page's hashes while that fits
    # in one nginx parameter (at most 4 KiB), else no inline script at all.
    union = policy(sorted(every))
    out.write('\t\tdefault "%s";\n' % (union if len(union) < 4000 else policy([])))
    for uri in sorted(pages):
        out.write('\t\t"%s" "%s";\n' % (uri, policy(pages[uri])))
print(app + ": CSP for %d pages (%d inline script hashes)" % (len(pages), len(every)))
PY
echo "$sum" >"$OUT/stamp"
echo "$app: built into $OUT/out"
