#!/usr/bin/env bash
# The Fashion-MNIST-scenes transfer experiment (issue 10, docs/transfer/README.md): resnet8
# backbones trained on Fashion-MNIST with hard label and with patch swap (same budget, seeds
# 0 1 2), then a DeepLabV3+ head and an SSD head trained on the scenes on each backbone (same
# budget; head seed = backbone seed); mIoU and VOC07 mAP as mean ± std with Welch's p.
# Finished cells are reused, so a rerun only rewrites tables. Budgets are fixed here, before
# the run.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/transfer}
SCENES=${SCENES:-data/scenes_transfer}
DOCS=${DOCS:-docs/transfer/scenes}
SEEDS=(0 1 2)
start=$(date +%s)

# 1,000 train scenes and 5 epochs per head: one epoch of 2,000 scenes took 60 s per head on
# the 2 cores (38 images/s), and 12 head runs must fit the experiment's hour
patchswap scenes "$SCENES" --train 1000 --val 250 --test 500 --seed 0
patchswap compare fashion_mnist/hard_label fashion_mnist/patchswap --seeds "${SEEDS[@]}" \
  --set data.samples_per_class=500 --set epochs=10 --set eval_every=5 \
  --output-dir "$OUT/backbones" --quiet
B=$OUT/backbones
backbones="model.backbone=$B/hard_label_seed{seed}/last.pt,$B/patchswap_seed{seed}/last.pt"
for head in deeplabv3plus_resnet8 ssd_resnet8; do
  patchswap compare "scenes/$head" --seeds "${SEEDS[@]}" --sweep "$backbones" \
    --set "data.root=$SCENES" --set epochs=5 --set eval_every=5 --output-dir "$OUT/$head" --quiet
done

for part in backbones deeplabv3plus_resnet8 ssd_resnet8; do
  mkdir -p "$DOCS/$part"
  cp "$OUT/$part/results.md" "$OUT/$part/results.csv" "$OUT/$part/results.json" "$DOCS/$part/"
done
echo "transfer experiment: $(( ($(date +%s) - start) / 60 )) min; tables in $DOCS"
