#!/usr/bin/env bash
# Run by .ci/run before scripts/test.sh; run it yourself (as root) before the tests on a new machine.
# Debian packages the test suite needs, installed when missing (CI runs as root on a fresh machine):
# headless Chromium + chromium-driver for the dashboard's browser tests; PostgreSQL server binaries
# for the server tests (the machine image ships PostgreSQL 15; Debian's package where it does not).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if ! command -v pg_ctl >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    need+=(postgresql)
fi
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "system-deps: missing ${need[*]} and not root: install them, or tests that need them skip with a reason" >&2
        exit 0
    fi
    echo "== apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
