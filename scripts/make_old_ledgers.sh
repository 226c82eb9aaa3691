#!/bin/sh
# Makes tests/data/ledgers/vN.db: a small ledger written by the code of each schema version, for the
# upgrade tests (tests/cli/test_upgrade.py). Each is made by the last commit at that version, checked
# out in a throwaway worktree, run with this checkout's venv (the same dependencies). The balances the
# old code printed are kept beside each file (vN.balance.json) for the test to compare with.
#   sh scripts/make_old_ledgers.sh            # all of them
#   ONLY=7 sh scripts/make_old_ledgers.sh     # one of them
# The files are committed; run this again only to remake them (or to add a version: add its commit).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
OUT=$ROOT/tests/data/ledgers
# version:commit -- the last commit before the next schema version appeared (v7: the last commit
# before Alembic replaced the home-made migrations, whose version 7 was a purchase's store and till).
COMMITS="1:f077146 2:735ac04 3:ccce437 4:ac64311 5:4c7d05d 6:670450f 7:3e9f1aa 10:3fc5f97"
for vc in $COMMITS; do
  v=${vc%%:*}; c=${vc#*:}
  if [ -n "${ONLY:-}" ] && [ "$ONLY" != "$v" ]; then continue; fi
  src=$(mktemp -d /tmp/old-ledger-src.XXXXXX); rmdir "$src"
  git -C "$ROOT" worktree add -f --detach "$src" "$c" >/dev/null 2>&1
  work=$(mktemp -d /tmp/old-ledger.XXXXXX)
  (
    cd "$work"
    export PYTHONPATH="$src" LOYALTY_CONFIG="$work/programme.toml" LOYALTY_DB="$work/v$v.db"
    l() { "$PY" -m loyalty_cli "$@" >/dev/null; }
    l init --name "Old Shop" --currency EUR --timezone UTC
    l enroll anna --name Anna --email anna@example.com --birthday 1990-03-05 --marketing --date 2025-01-10
    l enroll bob --name Bob --phone "+372 5555 0101" --date 2025-01-11
    l purchase anna 120.00 --order A1 --date 2025-01-15
    l purchase bob 30.00 --order B1 --date 2025-01-20
    l refund A1 --amount 20.00 --date 2025-01-25
    l redeem anna 100 --date 2025-02-01
    l adjust bob 15 --reason goodwill --date 2025-02-02
    l award anna review --date 2025-02-03
    if [ "$v" -ge 2 ]; then
      l promo create SPRING --percent 10 --date 2025-02-10
      l purchase bob 50.00 --order B2 --code SPRING --date 2025-02-15
      code=$("$PY" -m loyalty_cli referral anna --format json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["code"])')
      l enroll carl --name Carl --referral "$code" --date 2025-02-20
      l purchase carl 25.00 --order C1 --date 2025-02-21
      l promo disable SPRING --yes --date 2025-02-22
    fi
    if [ "$v" -ge 4 ]; then
      l daily --as-of 2025-03-05
      l purchase anna 10.00 --order A2 --date 2025-03-06
      l expire --as-of 2026-01-20
    fi
    if [ "$v" -ge 5 ]; then
      l enroll dave --name Dave --email dave@example.com --marketing --date 2025-01-12
      l forget dave --yes
    fi
    if [ "$v" -ge 6 ]; then
      l edit bob --marketing --date 2025-04-01
    fi
    if [ "$v" -ge 7 ]; then
      l purchase carl 15.00 --order C2 --store Kesklinn --till 2 --date 2025-04-02
    fi
    "$PY" -m loyalty_cli balance --as-of 2025-06-01 --format json > "$OUT/v$v.balance.json"
    "$PY" -m loyalty_cli check >/dev/null
    cp "$work/v$v.db" "$OUT/v$v.db"
  )
  rm -rf "$work"
  git -C "$ROOT" worktree remove --force "$src"
  echo "v$v from $c: $OUT/v$v.db"
done
