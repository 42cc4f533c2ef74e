#!/bin/bash
# Audits each model of models.txt cut down to 2, 3 and 5 of its ten classes (the benchmark tool's --keep-classes),
# on its evidence of those classes, writing f-NAME-kK.json into OUT. A backdoored model keeps its target and the
# classes after it (mod 10); a clean one the classes from its seed mod 10 on.
#   benchmarks/fewer-classes/run.sh ZOO_CACHE OUT   (ZOO_CACHE: `Audit.ModelZoo generate --split design --cache DIR`)
# Other slices (benchmarks/between-class-counts): CLASSES (the models' class count, default 10), CUTS (default
# "2 3 5"), IMAGES (the evidence files' variant, default gray28) and MODELS (default this folder's models.txt).
set -euo pipefail
cache=$1; out=$2; here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
classes=${CLASSES:-10}; cuts=${CUTS:-2 3 5}; images=${IMAGES:-gray28}; models=${MODELS:-$here/models.txt}
mkdir -p "$out"
dotnet build -c Release "$root/benchmarks/Audit.Benchmarks" -o "$out/bin" > "$out/build.log"
audit() {
  local n=$1 f lay=nchw sc=unit start json k
  f=$(ls "$cache"/models/"$n"-*.onnx | head -1); json=${f%.onnx}.json
  [[ $n == *nhwc* ]] && lay=nhwc
  [[ $n == *-byte-* ]] && sc=byte; [[ $n == *-std-* ]] && sc=standardised
  start=$(python3 -c "import json; r=json.load(open('$json'))['recipe']; print(r['targetClass'] if r['attack'] != 'None' else r['seed'] % $classes)")
  for k in $cuts; do
    local keep
    keep=$(python3 -c "print(','.join(str(($start + i) % $classes) for i in range($k)))")
    python3 "$here/keep-evidence.py" "$cache/datasets/fmnist-test-1000-$images-$lay-$sc.safetensors" "$out/e-$n-k$k.safetensors" "$keep" > /dev/null
    dotnet "$out/bin/Audit.Benchmarks.dll" --trojan-scan --audit --keep-classes "$keep" --model "$f" --dataset "$out/e-$n-k$k.safetensors" --findings "$out/f-$n-k$k.json" > "$out/o-$n-k$k.txt" 2>&1
    rm -f "$out/e-$n-k$k.safetensors"
  done
}
export -f audit; export cache out here classes cuts images
xargs -P 2 -I{} bash -c 'audit {}' < "$models"
python3 "$here/read.py" "$out" --models "$models" --cuts "${cuts// /,}"
