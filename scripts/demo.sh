#!/usr/bin/env bash
# `make demo`: handwritten digits -> a trained, evaluated classifier -> an int8 .tflite.
# Offline: the digits ship inside scikit-learn and the backbone trains from scratch.
# Needs `zoo` on PATH (make demo puts .venv/bin first). About 2-3 minutes on 2 CPU cores.
set -euo pipefail

DEMO=${DEMO_DIR:-demo}
DATA="$DEMO/digits"
RUN="$DEMO/runs/plain_cnn-digits"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/5 Digits as a class-per-folder PNG set (train/ and a held-out test/)"
if [ -d "$DATA/train" ]; then
    echo "Reusing $DATA"
else
    zoo data digits "$DATA" --test-split 0.15
fi

step "2/5 Train zoo-cnn's plain_cnn backbone from scratch at 32 px (a plugin's backbone)"
rm -rf "$RUN"
zoo finetune plain_cnn --data "$DATA" --weights none --image-size 32 \
    --epochs 8 --seed 1 --out "$RUN"

step "3/5 Evaluate on the held-out test images"
zoo evaluate "$RUN" --data "$DATA/test"

step "4/5 Predict a few held-out images (path, class, probability)"
SAMPLES=()
for digit in 0 3 5 8; do
    files=("$DATA/test/$digit"/*.png)
    SAMPLES+=("${files[0]}")
done
zoo predict "$RUN" "${SAMPLES[@]}" --top-k 2

step "5/5 Export for phones: full-integer (int8) TFLite"
zoo export "$RUN" --format tflite --quantize int8
TFLITE="$RUN/exports/model-int8.tflite"

step "Where everything went"
echo "  data:        $DATA"
echo "  run:         $RUN  (model.keras, labels.json, config.json, metrics.json, history.csv)"
echo "  plots:       $RUN/curves.png  $RUN/confusion-test.png"
echo "  tflite:      $TFLITE  (labels.txt and export-report.json beside it)"
echo "Next: zoo predict $RUN path/to/image.png --top-k 3"
