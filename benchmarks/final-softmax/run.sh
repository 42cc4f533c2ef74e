#!/bin/bash
# Audits each model of models.txt from a model zoo cache twice, as exported and with a Softmax appended after its
# output (the benchmark tool's --append-softmax), writing f-NAME-plain.json and f-NAME-softmax.json into OUT.
#   benchmarks/final-softmax/run.sh ZOO_CACHE OUT      (ZOO_CACHE: `Audit.ModelZoo generate --split design --cache DIR`)
set -euo pipefail
cache=$1; out=$2; here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
mkdir -p "$out"
dotnet build -c Release "$root/benchmarks/Audit.Benchmarks" -o "$out/bin" > "$out/build.log"
audit() {
  local n=$1 f img=gray28 lay=nchw sc=unit
  f=$(ls "$cache"/models/"$n"-*.onnx | head -1)
  [[ $n == *rgb32* ]] && img=rgb32; [[ $n == *nhwc* ]] && lay=nhwc
  [[ $n == *-byte-* ]] && sc=byte; [[ $n == *-std-* ]] && sc=standardised
  local ds=$cache/datasets/fmnist-test-1000-$img-$lay-$sc.safetensors
  dotnet "$out/bin/Audit.Benchmarks.dll" --trojan-scan --audit --model "$f" --dataset "$ds" --findings "$out/f-$n-plain.json" > "$out/o-$n-plain.txt" 2>&1
  dotnet "$out/bin/Audit.Benchmarks.dll" --trojan-scan --audit --append-softmax --model "$f" --dataset "$ds" --findings "$out/f-$n-softmax.json" > "$out/o-$n-softmax.txt" 2>&1
}
export -f audit; export cache out
xargs -P 2 -I{} bash -c 'audit {}' < "$here/models.txt"
python3 "$here/read.py" "$out"
