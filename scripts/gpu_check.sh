#!/usr/bin/env bash
# The one prepared GPU check: when a GPU is lent (minutes of it), run this and copy its table.
#   scripts/gpu_check.sh            # on the GPU machine, within 8 minutes on one H100
#   scripts/gpu_check.sh --dry-run  # on CPU: every step at tiny sizes (tests/test_gpu_check.py)
# Steps: the CUDA-only tests; the swap-op, data-path and matched-cost benchmarks; one bf16
# epoch of a CIFAR-style ResNet18 on Fashion-MNIST (28x28, all 60,000 images) with hard label,
# dataset pairs and matched pairs. Each step's output is kept in $OUT (or a temp folder) and
# the summary table is printed last.
set -uo pipefail
cd "$(dirname "$0")/.."
dry=0
[ "${1:-}" = "--dry-run" ] && dry=1
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
if [ "$dry" = 1 ]; then
  device=cpu; precision=fp32; model=resnet8; per_class=20; samples=256; batch=16; epochs=2
  root="$out/fashion_mnist"
  PYTHONPATH=tests python3 -c \
    "import fixtures_data, pathlib; fixtures_data.make_fashion_mnist_gz(pathlib.Path('$root'), 200, 50)"
  data=(--set "data.root=$root"); root_args=(--data-root "$root")
  per_class_full=20
else
  python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
    || { echo "gpu_check: no CUDA device; use --dry-run on CPU"; exit 2; }
  device=cuda; precision=bf16; model=resnet18; per_class=6000; samples=50000; batch=128; epochs=3
  data=(); root_args=()
  if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    # the lent machine has no network: full-size stand-in images (timings, not accuracy)
    root="$out/fashion_mnist"
    PYTHONPATH=tests python3 -c \
      "import fixtures_data, pathlib; fixtures_data.make_fashion_mnist_gz(pathlib.Path('$root'), 60000, 10000)"
    data=(--set "data.root=$root"); root_args=(--data-root "$root")
  fi
  per_class_full=6000
fi
status=0
step() {  # step NAME COMMAND...: run, keep the output, note the time and the exit code
  local name=$1; shift
  local start=$SECONDS
  "$@" >"$out/$name.txt" 2>&1; local rc=$?
  [ $rc = 0 ] || status=1
  printf '| %s | %s | %ss |\n' "$name" "$([ $rc = 0 ] && echo ok || echo "FAILED ($rc)")" \
    "$((SECONDS - start))" >>"$out/steps.md"
}
: >"$out/steps.md"
if [ "$dry" = 1 ]; then
  step cuda_tests python3 -m pytest -q tests/test_swap.py tests/test_losses.py -k "cuda or device"
else
  step cuda_tests python3 -m pytest -q -rs tests/test_swap.py tests/test_losses.py tests/engine
fi
step swap_op python3 benchmarks/swap_op.py --device "$device" --repeats $([ $dry = 1 ] && echo 3 || echo 50)
step data_path python3 benchmarks/data_path.py --device "$device" --model "$model" \
  --samples "$samples" --precision "$precision"
step matched_cost python3 benchmarks/matched_cost.py --device "$device" --model "$model" \
  --precision "$precision" --per-class "$per_class" --epochs "$epochs" --rounds 1 \
  --batch "$batch" "${root_args[@]}"
for variant in hard_label patchswap patchswap_matched; do
  recipe=fashion_mnist/${variant%_matched}
  extra=(); [ "$variant" = patchswap_matched ] && extra=(--set method.pairs=matched)
  step "epoch_$variant" patchswap train "$recipe" --quiet "${data[@]}" \
    --set "model.name=$model" --set "device=$device" --set "precision=$precision" \
    --set "data.samples_per_class=$per_class_full" --set epochs=1 --set "batch_size=$batch" \
    --set deterministic=false --set "output_dir=$out/runs" --set "name=$variant" "${extra[@]}"
done
echo "## gpu_check ($([ $dry = 1 ] && echo 'dry run, CPU, tiny sizes' || python3 -c 'import torch; print(torch.cuda.get_device_name())'))"
echo "| step | result | wall |"
echo "|---|---|---:|"
cat "$out/steps.md"
for name in swap_op data_path matched_cost; do echo; echo "### $name"; tail -12 "$out/$name.txt"; done
echo
echo "### one epoch each"
for variant in hard_label patchswap patchswap_matched; do
  f="$out/runs/$variant/metrics.jsonl"
  [ -f "$f" ] && python3 -c "import json,sys; r=json.loads(open('$f').readline()); print(f\"| $variant | {r['train_seconds']:.1f} s train | {r['images_per_second']:.0f} img/s | test top-1 {r.get('test_top1', float('nan')):.2f} |\")"
done
exit $status
