#!/bin/sh
# A two-minute tour on the embedded default: sample_config.toml and a fresh
# SQLite ledger in a temporary folder (or the folder given as $1).
# Every line is an ordinary `loyalty` command; read them as examples.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
export LOYALTY_CONFIG="$here/sample_config.toml"
export LOYALTY_DB="$work/demo.db"
unset LOYALTY_FORMAT
rm -f "$LOYALTY_DB" "$LOYALTY_DB-wal" "$LOYALTY_DB-shm"

bold=''; plain=''
if [ -t 2 ]; then bold=$(printf '\033[1m'); plain=$(printf '\033[0m'); fi
# Echo a command (quoting arguments with spaces), then run it.
say() {
    printf '\n%s$' "$bold" >&2
    for a in "$@"; do case $a in *" "*) printf " '%s'" "$a" ;; *) printf ' %s' "$a" ;; esac; done >&2
    printf '%s\n' "$plain" >&2
    "$@"
}

say loyalty init
say loyalty enroll anna --name "Anna Tamm" --email anna@example.com --birthday 1990-04-12 --marketing --date 2026-01-05
say loyalty enroll bob --name "Bob Kask" --phone "+372 5555 0101" --date 2026-01-06
carmen=$(loyalty enroll --name "Carmen Lill" --date 2026-01-07)   # no id given: one is generated and printed
printf '\n(Carmen was enrolled as %s)\n' "$carmen" >&2
say loyalty purchase anna 120.00 --order T-001 --date 2026-02-01
say loyalty purchase anna 95.50 --order T-002 --date 2026-03-03
say loyalty purchase bob 18.90 --order T-003 --date 2026-03-04
say loyalty purchase anna 42.00 --order T-004 --redeem 150 --date 2026-04-10
say loyalty purchase "$carmen" 7.20 --order T-005 --date 2026-04-11
say loyalty award anna review --date 2026-04-12
say loyalty refund T-003 --amount 8.90 --date 2026-04-13
say loyalty redeem anna --reward "Free coffee" --date 2026-04-14
say loyalty daily --as-of 2026-04-30     # what cron runs every night: birthdays, expiry, tier review
say loyalty show anna --as-of 2026-04-30
say loyalty balance --as-of 2026-04-30
say loyalty tiers --as-of 2026-04-30
say loyalty report --as-of 2026-04-30
say loyalty check
printf '\nThe demo ledger is %s; point LOYALTY_DB at it to explore further.\n' "$LOYALTY_DB" >&2
