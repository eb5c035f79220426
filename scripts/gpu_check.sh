#!/usr/bin/env bash
# The GPU check, in at most 9 minutes, into one log: the machine's CUDA (nvidia-smi, torch), the tests
# marked `gpu`, the model benchmark at batch 16 / 64 / 256, a room of 64 chains on the step scheduler
# (steps per second alone against batched) and a 10-visitor load test of the app.
#
#   bash scripts/gpu_check.sh [--cpu] [LOG]      LOG defaults to gpu_check.log
#
# `--cpu` (or DEVICE=cpu) runs the same steps on the CPU at tiny sizes (the tests marked gpu of one
# file), with CUDA hidden, so that CI keeps this script working (tests/test_gpu_check.py). Every
# step runs under `timeout`; the limits add up to 530 s. pytest's exit 5 (no test collected) is
# reported as NO TESTS: a failure on the GPU, a warning on the CPU (where tests marked gpu would be
# skipped anyway). Exits 1 if any step failed.
set -euo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
DEVICE=${DEVICE:-cuda}
LOG=gpu_check.log
for arg in "$@"; do
    case $arg in
        --cpu) DEVICE=cpu ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "unknown option: $arg" >&2; usage >&2; exit 2 ;;
        *) LOG=$arg ;;
    esac
done
case $DEVICE in cpu | cuda) ;; *) echo "DEVICE must be cpu or cuda, got '$DEVICE'" >&2; exit 2 ;; esac
LOG=$(realpath -m "$LOG")  # before the cd below: a relative LOG is the caller's
cd "$(dirname "$0")/.."
mkdir -p "$(dirname "$LOG")"
: >"$LOG"

if [[ $DEVICE == cpu ]]; then
    export CUDA_VISIBLE_DEVICES=""  # the app and the benchmark would otherwise take a GPU that is there
    GPU_TESTS=(tests/test_gpu.py)  # on the CPU they are skipped: one file shows the step works
    BENCH=(--device cpu --threads 1 --batches 1 --repeats 1 --no-reference --no-compile --true-reverse-steps 20)
    ROOM=(--device cpu --chains 4 --steps 3)
    LOAD=(--visitors 10 --drags 2 --group 3 --link-t 2 --streams 1 --compare-t 2 --arrival 1
          --generate '{"n": 1, "sampler": "ddim", "steps": 2}' --max-seconds 60)
else
    GPU_TESTS=(tests)
    BENCH=(--device cuda --batches 16 64 256 --repeats 2 --no-compile)
    ROOM=(--device cuda --chains 64 --steps 100)
    LOAD=(--visitors 10 --drags 10 --group 5 --streams 2 --arrival 2 --max-seconds 60)
fi

say() { echo "$*" | tee -a "$LOG"; }
results=()
failed=0

# run NAME SECONDS COMMAND...: run COMMAND under a time limit, its output into the log (and here);
# sets $rc (124 or 137: out of time) and $took.
run() {
    local name=$1 limit=$2
    shift 2
    say ""
    say "=== $name (limit ${limit} s): $*"
    local start=$SECONDS
    set +e
    timeout --kill-after=5 "$limit" "$@" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    set -e
    took=$((SECONDS - start))
}

# record NAME STATUS FAILED: one line of the summary; FAILED = 1 makes the script fail.
record() {
    results+=("$1: $2")
    if [[ $3 == 1 ]]; then failed=1; fi
}

# record_rc NAME SECONDS: the summary line of the step just run, from its exit status.
record_rc() {
    case $rc in
        0) record "$1" "ok ($took s)" 0 ;;
        124 | 137) record "$1" "TIMED OUT after $2 s" 1 ;;
        *) record "$1" "FAILED (exit $rc, $took s)" 1 ;;
    esac
}

# step NAME SECONDS COMMAND...: run and record.
step() {
    run "$@"
    record_rc "$1" "$2"
}

say "gpu_check: device $DEVICE, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(hostname), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

if command -v nvidia-smi >/dev/null 2>&1; then
    step "nvidia-smi" 15 nvidia-smi
elif [[ $DEVICE == cpu ]]; then
    say "" && say "=== nvidia-smi: not found (CPU mode, nothing to show)"
    record "nvidia-smi" "not found (CPU mode)" 0
else
    say "" && say "=== nvidia-smi: not found"
    record "nvidia-smi" "FAILED (not found)" 1
fi

step "torch and CUDA" 30 python - "$DEVICE" <<'EOF'
import sys

import torch

print(f"torch {torch.__version__}, CUDA build {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
print(f"CUDA available: {torch.cuda.is_available()}, devices: {torch.cuda.device_count()}")
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"  cuda:{i} {p.name}, {p.total_memory / 2**30:.1f} GiB, compute capability {p.major}.{p.minor}")
if sys.argv[1] == "cuda":
    if not torch.cuda.is_available():
        sys.exit("CUDA is not available to torch")
    x = torch.randn(256, 256, device="cuda")
    print(f"a matmul on cuda:0: {float((x @ x).abs().sum()):.1f}")
EOF

run "tests marked gpu" 90 python -m pytest -m gpu -q -p no:cacheprovider -n 0 "${GPU_TESTS[@]}"
if [[ $rc == 5 ]]; then  # pytest collected no test: say so, never pass silently
    if [[ $DEVICE == cuda ]]; then
        record "tests marked gpu" "NO TESTS (pytest exit 5: no test is marked gpu)" 1
    else
        record "tests marked gpu" "NO TESTS (pytest exit 5: no test is marked gpu; a warning on the CPU)" 0
    fi
else
    record_rc "tests marked gpu" 90
fi

step "model benchmark" 180 python -m ddpm.bench.model "${BENCH[@]}"

step "room run" 60 python -m ddpm.bench.room "${ROOM[@]}"

step "load test" 140 python -m ddpm.bench.load "${LOAD[@]}" --json "${LOG%.log}_load.json" --check

say ""
say "=== summary ($SECONDS s)"
for line in "${results[@]}"; do say "  $line"; done
exit $failed
