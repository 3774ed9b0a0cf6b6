#!/usr/bin/env bash
# `make demo`: handwritten digits -> a trained, evaluated classifier -> an int8 .tflite that
# MediaPipe Tasks' ImageClassifier loads with its labels (zoo export checks it in mediapipe).
# Offline: the digits ship inside scikit-learn and the backbone trains from scratch.
# Needs `zoo` on PATH (make demo puts .venv/bin first). About 2-3 minutes on 2 CPU cores.
set -euo pipefail

DEMO=${DEMO_DIR:-demo}
DATA="$DEMO/digits"
RUN="$DEMO/runs/plain_cnn-digits"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/6 Digits as a class-per-folder PNG set (train/ and a held-out test/)"
if [ -d "$DATA/train" ]; then
    echo "Reusing $DATA"
else
    zoo data digits "$DATA" --test-split 0.15
fi

step "2/6 Train zoo-cnn's plain_cnn backbone from scratch at 32 px (a plugin's backbone)"
rm -rf "$RUN"
zoo finetune plain_cnn --data "$DATA" --weights none --image-size 32 \
    --epochs 8 --seed 1 --out "$RUN"

step "3/6 Evaluate on the held-out test images"
zoo evaluate "$RUN" --data "$DATA/test"

step "4/6 Predict a few held-out images (path, class, probability)"
SAMPLES=()
for digit in 0 3 5 8; do
    files=("$DATA/test/$digit"/*.png)
    SAMPLES+=("${files[0]}")
done
zoo predict "$RUN" "${SAMPLES[@]}" --top-k 2

step "5/6 Export for phones: full-integer (int8) TFLite, checked in LiteRT and MediaPipe Tasks"
zoo export "$RUN" --format tflite --quantize int8
TFLITE="$RUN/exports/model-int8.tflite"

step "6/6 The run at a glance: zoo runs, and report.html (now with the export in it)"
zoo runs "$DEMO/runs"
zoo report "$RUN"

step "Where everything went"
echo "  data:        $DATA"
echo "  run:         $RUN  (model.keras, labels.json, config.json, metrics.json, history.csv)"
echo "  plots:       $RUN/curves.png  $RUN/confusion-test.png"
echo "  logs:        $RUN/logs  (tensorboard --logdir $DEMO/runs)"
echo "  tflite:      $TFLITE  (labels.txt and export-report.json beside it)"
echo "  app:         MediaPipe Tasks' ImageClassifier (Android, iOS, web, Python) loads $TFLITE"
echo "               with its labels from its standard metadata (zoo export ran it, the"
echo "               'metadata' row above); see docs/export.md, 'On-device apps'"
echo "Next: zoo predict $RUN path/to/image.png --top-k 3"
echo "Report: $RUN/report.html"
