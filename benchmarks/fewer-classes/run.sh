#!/bin/bash
# Audits each ten-class model of models.txt cut down to 2, 3 and 5 of its classes (the benchmark tool's --keep-classes),
# on its evidence of those classes, writing f-NAME-kK.json into OUT. A backdoored model keeps its target and the
# classes after it (mod 10); a clean one the classes from its seed mod 10 on.
#   benchmarks/fewer-classes/run.sh ZOO_CACHE OUT   (ZOO_CACHE: `Audit.ModelZoo generate --split design --cache DIR`)
set -euo pipefail
cache=$1; out=$2; here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
mkdir -p "$out"
dotnet build -c Release "$root/benchmarks/Audit.Benchmarks" -o "$out/bin" > "$out/build.log"
audit() {
  local n=$1 f lay=nchw sc=unit start json k
  f=$(ls "$cache"/models/"$n"-*.onnx | head -1); json=${f%.onnx}.json
  [[ $n == *nhwc* ]] && lay=nhwc
  [[ $n == *-byte-* ]] && sc=byte; [[ $n == *-std-* ]] && sc=standardised
  start=$(python3 -c "import json; r=json.load(open('$json'))['recipe']; print(r['targetClass'] if r['attack'] != 'None' else r['seed'] % 10)")
  for k in 2 3 5; do
    local keep
    keep=$(python3 -c "print(','.join(str(($start + i) % 10) for i in range($k)))")
    python3 "$here/keep-evidence.py" "$cache/datasets/fmnist-test-1000-gray28-$lay-$sc.safetensors" "$out/e-$n-k$k.safetensors" "$keep" > /dev/null
    dotnet "$out/bin/Audit.Benchmarks.dll" --trojan-scan --audit --keep-classes "$keep" --model "$f" --dataset "$out/e-$n-k$k.safetensors" --findings "$out/f-$n-k$k.json" > "$out/o-$n-k$k.txt" 2>&1
    rm -f "$out/e-$n-k$k.safetensors"
  done
}
export -f audit; export cache out here
xargs -P 2 -I{} bash -c 'audit {}' < "$here/models.txt"
python3 "$here/read.py" "$out"
