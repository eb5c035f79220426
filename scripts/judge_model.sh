#!/usr/bin/env bash
# Judge a checkpoint against the model card's bar, in one command, into one folder:
#
#   bash scripts/judge_model.sh CHECKPOINT OUT [DATA]     DATA defaults to $DDPM_DATA or ../shared/data
#
# Generation as a user gets it (--digit prior: labels from the class prior, w = 0; an unconditional
# model samples its own marginal): DDIM-100 with η = 0, ancestral sampling over all T steps, and
# DPM-Solver++(2M) and DDIM at each number of network evaluations of NFE, N digits each. A
# class-conditional model also gets its null label (--digit none: the p_θ(x_{t−1} | x_t) of the
# reverse view) with DDIM-100 and ancestral, and the ten digits in equal numbers at each guidance
# weight of W (the default guidance 2 among them; DDIM-100). Then every sample file is judged in
# one `ddpm.evaluate` run (FD beside the random-draw and the class-balanced floors, class histogram,
# confidence; agreement and FD per class where labels were given), the exact bits/dim over all T on
# the first B test digits with the model's own σ² (the null label) and, for a learned-variance
# model, with the fixed β̃_t as well; last, `ddpm.bench.model --models` times it beside the ε-model.
#
# Sizes come from the environment: N (1000), B (100), W ("0 0.5 1 2 4"), STEPS (100, DDIM's),
# NFE ("10 20 25 50"), SEED (0), BATCH (250) and REPEATS (3 timed runs of the benchmark; 0 skips
# it). OUT receives the .npz samples with a PNG grid of each, judge.json and judge.log with the
# figures, bpd-*.json and bench.log. On 2 CPU cores the full sizes take about an hour.
set -euo pipefail

if [[ $# -lt 2 || $1 == -h || $1 == --help ]]; then
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    [[ $# -ge 2 ]] && exit 0 || exit 2
fi
CKPT=$(realpath "$1")
OUT=$(realpath -m "$2")
DATA=$(realpath -m "${3:-${DDPM_DATA:-../shared/data}}")
N=${N:-1000}
B=${B:-100}
W=${W:-0 0.5 1 2 4}
SEED=${SEED:-0}
BATCH=${BATCH:-250}
STEPS=${STEPS:-100}
NFE=${NFE:-10 20 25 50}
REPEATS=${REPEATS:-3}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"

# What the network takes, from its own config: class labels, and a second (variance) output.
read -r CLASSES LEARNED < <(python - "$CKPT" <<'PY'
import sys
from ddpm import checkpoint
config = checkpoint.load(sys.argv[1], "cpu")[0].config
print(config.num_classes or 0, int(config.learn_sigma))
PY
)

sample() {  # NAME, then ddpm.sample options
    local name=$1
    shift
    echo "== sample $name: $*"
    python -m ddpm.sample --checkpoint "$CKPT" --n "$N" --seed "$SEED" --batch-size "$BATCH" \
        --backend torchscript --out "$OUT/$name.npz" --png "$OUT/$name.png" "$@"
}

files=()
sample prior-ddim$STEPS --sampler ddim --steps "$STEPS" --eta 0 --digit prior
files+=("$OUT/prior-ddim$STEPS.npz")
sample prior-ancestral --sampler ddpm --digit prior
files+=("$OUT/prior-ancestral.npz")
for k in $NFE; do
    sample "prior-dpm$k" --sampler dpm-solver --steps "$k" --digit prior
    files+=("$OUT/prior-dpm$k.npz")
    if [[ $k != "$STEPS" ]]; then
        sample "prior-ddim$k" --sampler ddim --steps "$k" --eta 0 --digit prior
        files+=("$OUT/prior-ddim$k.npz")
    fi
done
if [[ $CLASSES -gt 0 ]]; then
    sample none-ddim$STEPS --sampler ddim --steps "$STEPS" --eta 0 --digit none
    files+=("$OUT/none-ddim$STEPS.npz")
    sample none-ancestral --sampler ddpm --digit none
    files+=("$OUT/none-ancestral.npz")
    for w in $W; do
        sample "digits-ddim$STEPS-w$w" --sampler ddim --steps "$STEPS" --eta 0 --digit all --guidance "$w"
        files+=("$OUT/digits-ddim$STEPS-w$w.npz")
    done
fi

echo "== judge"
python -m ddpm.evaluate "${files[@]}" --data-root "$DATA" --seed "$SEED" --json "$OUT/judge.json" \
    | tee "$OUT/judge.log"

variances=("")
[[ $LEARNED == 1 ]] && variances+=(fixed_small)
for variance in "${variances[@]}"; do
    echo "== bits/dim, σ² ${variance:-as trained}"
    python -m ddpm.evaluate --bpd --checkpoint "$CKPT" --bpd-images "$B" --data-root "$DATA" \
        --seed "$SEED" --json "$OUT/bpd-${variance:-own}.json" ${variance:+--variance "$variance"} \
        | tee -a "$OUT/judge.log"
done

if [[ $REPEATS -gt 0 ]]; then
    echo "== bench"
    python -m ddpm.bench.model --models eps "$CKPT" --repeats "$REPEATS" | tee "$OUT/bench.log"
fi
