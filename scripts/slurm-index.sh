#!/usr/bin/env bash
# slurm-index.sh: an align index made by a Slurm job array, one shard per task, then merged.
#
#   scripts/slurm-index.sh --submit N SHARDDIR OUT.db PATH...
#       submits the array (sbatch --array=0-N-1 this script) and the merge, which waits for every
#       task to succeed (--dependency=afterok); prints the two job ids.
#
# What --submit runs, by hand:
#
#   jobid=$(sbatch --parsable --array=0-$((N-1)) scripts/slurm-index.sh SHARDDIR PATH...)
#   sbatch --dependency=afterok:$jobid scripts/slurm-index.sh --merge OUT.db SHARDDIR N
#
# Array task K runs `align index --shard K/N --db SHARDDIR/shard-K.db PATH...` with N from
# SLURM_ARRAY_TASK_COUNT; a failed or preempted task run again carries on (the index is
# incremental). Every task must see PATH... under the same names (a shared file system), since the
# shares come from a hash of the paths as given. The environment goes with the jobs (sbatch's
# default): ALIGN (the align binary; default: align on PATH) and ALIGN_MODEL (the model directory).
# More sbatch options (--partition, --time...) in ALIGN_SBATCH, or on the sbatch lines above;
# the ones below are defaults.
#
#SBATCH --job-name=align-index
#SBATCH --cpus-per-task=2
#SBATCH --output=align-index-%A_%a.out
set -euo pipefail
align=${ALIGN:-align}

if [[ ${1:-} == --submit ]]; then
    (($# >= 5)) || { echo "usage: $0 --submit N SHARDDIR OUT.db PATH..." >&2; exit 1; }
    n=$2 dir=$3 out=$4
    shift 4
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "$0: N must be a positive number, not '$n'" >&2; exit 1; }
    mkdir -p "$dir"
    # shellcheck disable=SC2086 # ALIGN_SBATCH is a list of options
    array=$(sbatch --parsable ${ALIGN_SBATCH:-} --array=0-$((n - 1)) "$0" "$dir" "$@")
    array=${array%%;*}
    # shellcheck disable=SC2086
    merge=$(sbatch --parsable ${ALIGN_SBATCH:-} --cpus-per-task=1 --output="$dir/merge-%j.out" \
        --dependency=afterok:"$array" "$0" --merge "$out" "$dir" "$n")
    echo "array $array merge ${merge%%;*}"
    exit 0
fi

if [[ ${1:-} == --merge ]]; then
    (($# == 4)) || { echo "usage: $0 --merge OUT.db SHARDDIR N" >&2; exit 1; }
    out=$2 dir=$3 n=$4
    shards=()
    for ((k = 0; k < n; k++)); do shards+=("$dir/shard-$k.db"); done
    exec "$align" index --merge "$out" "${shards[@]}"
fi

: "${SLURM_ARRAY_TASK_ID:?run under sbatch --array (or use --submit)}"
(($# >= 2)) || { echo "usage: sbatch --array=0-N-1 $0 SHARDDIR PATH..." >&2; exit 1; }
dir=$1
shift
mkdir -p "$dir"
threads=()
[[ -n ${SLURM_CPUS_PER_TASK:-} ]] && threads=(--threads "$SLURM_CPUS_PER_TASK")
exec "$align" index -q "${threads[@]}" --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" \
    --db "$dir/shard-$SLURM_ARRAY_TASK_ID.db" "$@"
