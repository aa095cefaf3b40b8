#!/usr/bin/env bash
# GPU-host benchmark runs (see ../shared/gpu/README.md): random-weight R1-Distill-Qwen 1.5B / 7B
# architectures, results as JSON (and SVG screenshots) under $OUT. Run after `. .gpu/bin/install.sh`.
#   bash bench/gpu_run.sh a    # build checkpoints, roofline, delivered 1.5B (one GPU)
#   bash bench/gpu_run.sh b    # delivered 7B on one GPU, transformers peer 1.5B and 7B
#   bash bench/gpu_run.sh c    # delivered 7B with tensor parallel 2 (needs 2 GPUs)
# Each stage fits one 600 s command on a warm host. Every delivered run also runs the app once more
# with a 1 ms GIL switch interval (a variant, between raw runs) and takes its screenshot untimed.
set -u
stage=${1:-a}
ck=/tmp/ck
mkdir -p "$ck" "$OUT"
export PYTHONUNBUFFERED=1 VLLM_WORKER_MULTIPROC_METHOD=spawn
build() { [ -f "$ck/$1/config.json" ] || python3 scripts/random_checkpoint.py "$ck/$1" --arch "$1" --device cuda; }
run() { local name=$1; shift; echo "== $name"; timeout "${LIMIT:-290}" "$@" > "$OUT/$name.log" 2>&1; echo "rc=$?"; tail -c 1500 "$OUT/$name.log" | grep -v '^\s*$' | tail -22; }
case "$stage" in
  a)
    nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader
    build 1.5b && build 7b
    run roofline python3 -m bench.roofline --model "$ck/7b" --json "$OUT/roofline-7b.json"
    run d15 python3 -m bench.delivered --model "$ck/1.5b" --switch-interval-ms 1 --json "$OUT/delivered-1.5b-tp1.json" --svg "$OUT/chat-1.5b-tp1.svg"
    ;;
  b)
    run d7 python3 -m bench.delivered --model "$ck/7b" --switch-interval-ms 1 --json "$OUT/delivered-7b-tp1.json"
    LIMIT=120 run peer15 python3 -m bench.peer --model "$ck/1.5b" --json "$OUT/peer-1.5b.json"
    LIMIT=170 run peer7 python3 -m bench.peer --model "$ck/7b" --json "$OUT/peer-7b.json"
    ;;
  c)
    run d7tp2 python3 -m bench.delivered --model "$ck/7b" --tp 2 --switch-interval-ms 1 --json "$OUT/delivered-7b-tp2.json" --svg "$OUT/chat-7b-tp2.svg"
    ;;
esac
rm -f "$OUT"/*.log
