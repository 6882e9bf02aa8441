#!/usr/bin/env bash
# The package as users install it: build the sdist and wheel, check them, install the wheel into
# a fresh virtual environment and run the CLI from a folder outside the checkout, where only
# the recipes and plans shipped inside the wheel can be found.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m build --sdist --wheel --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log"; exit 1; }
python3 -m twine check --strict "$work"/dist/*
# torch and the other dependencies come from the system site, not downloaded twice
python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$work"/dist/*.whl

cd "$work"  # nothing of the checkout is reachable from here
cli="$work/venv/bin/patchswap"
where="$("$work/venv/bin/python" -c 'import patchswap; print(patchswap.__file__)')"
case "$where" in
  "$work/venv/"*) ;;
  *) echo "check_package: imported patchswap from $where, not from the installed wheel"; exit 1 ;;
esac
"$cli" --version
recipes="$("$cli" list recipes)"
for name in fashion_mnist/demo fashion_mnist/patchswap cifar100/resnet18_patchswap; do
  grep -q "^$name " <<<"$recipes" || { echo "check_package: recipe $name not in the wheel"; exit 1; }
done
echo "recipes in the wheel: $(wc -l <<<"$recipes")"
PYTHONPATH="$repo/tests" "$work/venv/bin/python" -c \
  "import fixtures_data, pathlib; fixtures_data.make_fashion_mnist_gz(pathlib.Path('data'))"
"$cli" train fashion_mnist/demo --quiet --set data.root=data --set data.samples_per_class=null \
  --set data.holdout_per_class=null --set epochs=1 --set batch_size=8 --set eval_every=1 \
  --set model.kwargs='{width: 4}' --set output_dir=runs --set progress=false
test -f runs/*/last.pt || { echo "check_package: the one-epoch run wrote no last.pt"; exit 1; }
"$cli" study --help >/dev/null
echo "check_package: sdist and wheel built and checked; the installed wheel trains by recipe name"
