#!/usr/bin/env bash
# The project's test command (README; .ci/run calls it). Set STRATA_FUZZTIME
# to fuzz longer (default 15s per target).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${STRATA_FUZZTIME:-15s}
start=$(date +%s)

echo "== gofmt"
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then echo "gofmt would change: $unformatted"; exit 1; fi
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 15m ./...
echo "== fuzz (${fuzztime} each)"
go test -run='^$' -fuzz='^FuzzDecode$' -fuzztime="$fuzztime" ./scoring
go test -run='^$' -fuzz='^FuzzStateCodec$' -fuzztime="$fuzztime" ./scoring
go test -run='^$' -fuzz='^FuzzDecodeCommand$' -fuzztime="$fuzztime" ./cluster
go test -run='^$' -fuzz='^FuzzRestore$' -fuzztime="$fuzztime" ./storage
echo "== strata bench --quick"
go run ./cmd/strata bench --quick
echo "== all checks passed in $(( $(date +%s) - start ))s"
