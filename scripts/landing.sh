#!/usr/bin/env bash
# Builds the landing page (landing/: a Next.js static export served at /) when
# its sources changed, into build/landing, with its per-page CSP
# (build/landing/csp.map): the dashboard's build, run for the landing page.
#
#   scripts/landing.sh [--force]
exec "$(dirname "$0")/dashboard.sh" landing "$@"
