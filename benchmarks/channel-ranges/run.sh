#!/bin/bash
# Audits each colour model of models.txt from a model zoo cache as exported, and as the same network taking ImageNet-style
# per-channel standardised input (x ↦ model(F[c] · x + B[c]), the benchmark tool's --scale-input F1:F2:F3,B1:B2:B3) on
# its evidence mapped to match, writing f-NAME-plain.json and f-NAME-per-channel.json into OUT. With a third argument, a
# folder holding an earlier build of the benchmark tool (one with --scale-input per channel), the twin is audited with
# it as well (f-NAME-per-channel-earlier.json): the reading before channels had ranges of their own.
#   benchmarks/channel-ranges/run.sh ZOO_CACHE OUT [EARLIER_BUILD]   (ZOO_CACHE: `Audit.ModelZoo generate --split design --cache DIR`)
set -euo pipefail
cache=$1; out=$2; earlier=${3:-}; here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
mkdir -p "$out"
dotnet build -c Release "$root/benchmarks/Audit.Benchmarks" -o "$out/bin" > "$out/build.log"
audit() {
  local n=$1 f lay=nchw sc=unit a b
  f=$(ls "$cache"/models/"$n"-*.onnx | head -1)
  [[ $n == *nhwc* ]] && lay=nhwc
  [[ $n == *-byte-* ]] && sc=byte; [[ $n == *-std-* ]] && sc=standardised
  local ds=$cache/datasets/fmnist-test-1000-rgb32-$lay-$sc.safetensors
  # The model reads v = a · u + b of pixels u in [0, 1] (the zoo standardises with the Fashion-MNIST mean 0.2860 and
  # deviation 0.3530); its twin reads x = (u − mean[c]) / std[c] with torchvision's ImageNet constants, so
  # v = a · std[c] · x + (a · mean[c] + b).
  case $sc in unit) a=1 b=0;; byte) a=255 b=0;; standardised) a=2.8328611898 b=-0.8101983003;; esac
  local map
  map=$(python3 -c "
m=[0.485,0.456,0.406]; s=[0.229,0.224,0.225]; a=$a; b=$b
print(':'.join(repr(a*x) for x in s) + ',' + ':'.join(repr(a*x+b) for x in m))")
  local twin=$out/evidence-$n.safetensors
  python3 "$here/map-evidence.py" "$ds" "$twin" $lay "${map%,*}" "${map#*,}" > "$out/m-$n.txt"
  dotnet "$out/bin/Audit.Benchmarks.dll" --trojan-scan --audit --model "$f" --dataset "$ds" --findings "$out/f-$n-plain.json" > "$out/o-$n-plain.txt" 2>&1
  dotnet "$out/bin/Audit.Benchmarks.dll" --trojan-scan --audit --scale-input "$map" --model "$f" --dataset "$twin" --findings "$out/f-$n-per-channel.json" > "$out/o-$n-per-channel.txt" 2>&1
  if [[ -n $earlier ]]; then
    dotnet "$earlier/Audit.Benchmarks.dll" --trojan-scan --audit --scale-input "$map" --model "$f" --dataset "$twin" --findings "$out/f-$n-per-channel-earlier.json" > "$out/o-$n-per-channel-earlier.txt" 2>&1
  fi
  rm -f "$twin"
}
export -f audit; export cache out earlier here
xargs -P 2 -I{} bash -c 'audit {}' < "$here/models.txt"
python3 "$here/read.py" "$out"
