#!/usr/bin/env bash
# tests/slurm/run.sh: scripts/slurm-index.sh on a one-node Slurm cluster started here, on
# localhost, from Debian's slurm-wlm and munge: a munged, a slurmctld and a slurmd of its own (own
# key, socket, ports and spool, in a scratch directory, all stopped at the end). It submits a
# 4-task array indexing the test images and the merge after it, waits, and checks that the merged
# index gives what a single-process index gives: the same rows, and the same scores from every
# stored embedding (align classify --db --all). Needs root (CI runs as root). Ends with one line,
# "slurm test: PASS" or "slurm test: FAIL (why)"; every wait is bounded.
#
#   tests/slurm/run.sh [BUILD_DIR]     (default build; the model: $ALIGN_RANDOM_MODEL, else
#                                       BUILD_DIR/align-base-random, else tests/fixtures/tiny-a)
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${1:-build}
align=$root/$build/align
model=${ALIGN_RANDOM_MODEL:-$build/align-base-random}
[[ -d $model ]] || model=tests/fixtures/tiny-a
model=$(realpath "$model")
images=$root/tests/fixtures/images

work=$(mktemp -d /tmp/align-slurm-XXXXXX)
chmod 700 "$work"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    [[ -n ${ALIGN_KEEP_TMP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "slurm test: FAIL ($*)"
    for f in "$work"/log/*; do [[ -s $f ]] && { echo "--- $f"; tail -n 20 "$f"; }; done
    exit 1
}
# waits up to $1 seconds for the command after it to succeed
wait_for() {
    local t=$(($1 * 10))
    shift
    while ((t-- > 0)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}

((EUID == 0)) || fail "needs root, as CI runs it"
for c in munged slurmctld slurmd sbatch squeue sinfo; do command -v $c >/dev/null || fail "$c is not installed (apt-get install slurm-wlm munge)"; done
[[ -x $align ]] || fail "$align is not built"

mkdir -p "$work"/{log,munge,state,spool,shards}
chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$work/munge/munge.key"
munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/munge.socket" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/log/munged.log" --seed-file="$work/munge/seed" \
    || fail "munged did not start"
wait_for 10 test -S "$work/munge/munge.socket" || fail "munged made no socket"
pids+=("$(cat "$work/munge/munged.pid")")

host=$(hostname -s)
cpus=$(nproc)
# ports of its own, away from a real cluster's 6817 and 6818
port=$((20000 + RANDOM % 20000))
cat >"$work/slurm.conf" <<CONF
ClusterName=aligntest
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=10 State=UP
CONF
export SLURM_CONF=$work/slurm.conf
slurmctld -D -i -f "$SLURM_CONF" >>"$work/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >>"$work/log/slurmd.out" 2>&1 &
pids+=($!)
node_up() { sinfo -h -N -o %t | grep -qE '^(idle|mix|alloc)'; }
wait_for 30 node_up || fail "the node did not come up"

# the array and its merge, as the README says; then one process over the same images
cd "$work"
submitted=$(ALIGN=$align ALIGN_MODEL=$model ALIGN_SBATCH="--cpus-per-task=1 --output=$work/log/task-%A_%a.out" \
    timeout 30 "$root/scripts/slurm-index.sh" --submit 4 "$work/shards" "$work/merged.db" "$images") \
    || fail "sbatch refused the jobs"
read -r _ array _ merge <<<"$submitted"
done_all() { [[ -z $(squeue -h -j "$array,$merge" 2>/dev/null) ]]; }
wait_for 100 done_all || fail "the jobs did not finish in 100 s"
[[ -s $work/merged.db ]] || fail "the merge made no index"
timeout 120 "$align" index -q -m "$model" --db "$work/one.db" "$images" || fail "the single-process index failed"
scores() { timeout 60 "$align" classify -q -m "$model" --db "$1" --all --format tsv -l cat -l rocket -l 'a dog' | sort; }
scores "$work/merged.db" >"$work/merged.tsv" || fail "classify --db merged.db failed"
scores "$work/one.db" >"$work/one.tsv" || fail "classify --db one.db failed"
rows=$(($(wc -l <"$work/one.tsv") / 3))
((rows >= 9)) || fail "only $rows images in the single-process index"
cmp -s "$work/merged.tsv" "$work/one.tsv" || fail "the merged index differs from the single-process one"
echo "slurm test: PASS (4 array tasks and their merge: $rows images, as one process indexes them)"
