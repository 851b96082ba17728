#!/usr/bin/env bash
# The Snakemake workflow (workflows/snakemake) run locally on four simulated
# FOVs: its merged table must equal one `robofish run` over the same data,
# and deleting one FOV's part recomputes that FOV (then the merge and QC)
# and nothing else.
#
#   bash scripts/test-workflow.sh ROBOFISH_BINARY SNAKEMAKE_BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
robofish="$(realpath "${1:?usage: $0 ROBOFISH_BINARY SNAKEMAKE_BINARY}")"
snakemake="${2:?usage: $0 ROBOFISH_BINARY SNAKEMAKE_BINARY}"
model="$PWD/models/anglerfish-static.rfm"
work="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

fail() { echo "error: workflow test: $*" >&2; exit 1; }

"$robofish" simulate --out "$work/data" --train 1 --val 1 --test 4 --seed 3 >/dev/null
cat >"$work/config.yaml" <<YAML
robofish: $robofish
data: $work/data
out: $work/out
fovs: "0-3"
fovs_per_job: 1
model: $model
threads: 1
fov_size: 40x40
YAML
smk() {
    "$snakemake" -s workflows/snakemake/Snakefile --configfile "$work/config.yaml" \
        --cores 2 --directory "$work" "$@"
}
smk --quiet all >"$work/first.log" 2>&1 || { cat "$work/first.log"; fail "the workflow failed"; }

"$robofish" run --data "$work/data" --out "$work/single" --model "$model" >/dev/null
cmp -s "$work/out/merged/detected_transcripts.csv" "$work/single/detected_transcripts.csv" ||
    fail "the merged table differs from a single robofish run's"
rows=$(($(wc -l <"$work/out/merged/detected_transcripts.csv") - 1))
[ "$rows" -gt 100 ] || fail "only $rows transcripts from 4 FOVs"
grep -qx $'fovs\t4' "$work/out/qc/summary.tsv" || fail "qc/summary.tsv does not count 4 FOVs"
grep -q '^truth_spot_f1' "$work/out/qc/summary.tsv" || fail "qc/summary.tsv has no truth figures"

# Delete one FOV's part: only it, the merge and the QC run again.
touch -d '2000-01-01' "$work/out/parts/fov0/qc.json"
rm -rf "$work/out/parts/fov2"
plan=$(smk --dry-run all 2>&1)
echo "$plan" | grep -Eq '^run_fovs +1$' && echo "$plan" | grep -Eq '^merge +1$' ||
    fail "a rerun would not run exactly one FOV job and the merge: $plan"
smk --quiet all >"$work/second.log" 2>&1 || { cat "$work/second.log"; fail "the rerun failed"; }
[ "$(date -r "$work/out/parts/fov0/qc.json" +%Y)" = 2000 ] || fail "the rerun rewrote FOV 0"
cmp -s "$work/out/merged/detected_transcripts.csv" "$work/single/detected_transcripts.csv" ||
    fail "after the rerun the merged table differs from a single robofish run's"
echo "workflow: 4 FOV jobs + merge + qc, merged table equals one run ($rows transcripts); deleting FOV 2 re-ran only it"
