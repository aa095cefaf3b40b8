#!/usr/bin/env bash
# GPU-host benchmark runs (see ../shared/gpu/README.md): random-weight R1-Distill-Qwen 1.5B / 7B
# architectures, results as JSON (and SVG screenshots) under $OUT. Run after `. .gpu/bin/install.sh`.
#   bash bench/gpu_run.sh roofline d15 d7 peer d7tp2    # any of these, in order
#     roofline  the 7B bandwidth roofline on one GPU
#     floor     where a 7B decode step's time goes: linear layers through cuBLAS, sampling (bench.decode_floor)
#     sampling  the app's 7B engine, R1 sampling against greedy and temperature-only, in turns
#     steps     a 7B decode step traced: GPU time by kind of kernel, and idle (bench.step_profile)
#     attn      the 7B engine with each of BACKENDS (default "auto TRITON_ATTN"; auto is vLLM's pick), one
#               load each, TP=N for tensor parallel: first-token wait and decode rate at PROMPTS' lengths
#     d15, d7   delivered vs raw, 1.5B / 7B on one GPU       d7tp2  7B with tensor parallel 2
#     peer      transformers + TextIteratorStreamer, 1.5B and 7B
#     cycle     7B loaded, answering and shut down twice (a model switch): shutdown time, GPU memory
#               freed, processes left (bench.engine_cycle); TP=N for tensor parallel
# A 600 s command holds about two delivered runs on a warm host. Each delivered run times the app
# several times, raw runs between (APP_RUNS, see bench/delivered.py --app-runs), and takes its
# screenshot in an extra, untimed run.
set -u
ck=/tmp/ck
mkdir -p "$ck" "$OUT"
export PYTHONUNBUFFERED=1 VLLM_WORKER_MULTIPROC_METHOD=spawn
build() { [ -f "$ck/$1/config.json" ] || python3 scripts/random_checkpoint.py "$ck/$1" --arch "$1" --device cuda; }
run() { local name=$1; shift; echo "== $name"; timeout "${LIMIT:-290}" "$@" > "$OUT/$name.log" 2>&1; echo "rc=$?"; tail -c 1500 "$OUT/$name.log" | grep -av '^\s*$' | tail -24; }
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader
delivered="python3 -m bench.delivered --app-runs ${APP_RUNS:-default,default,nogpu,switch5}"
for job in "$@"; do
  case "$job" in
    roofline) build 7b && run roofline python3 -m bench.roofline --model "$ck/7b" --json "$OUT/roofline-7b.json" ;;
    floor) build 7b && run floor python3 -m bench.decode_floor --model "$ck/7b" --json "$OUT/decode-floor-7b.json" ;;
    sampling)
      build 7b && run sampling python3 -m bench.engine_options --model "$ck/7b" --sampling r1,greedy,temperature \
        --turns 3 --json "$OUT/sampling-7b.json"
      ;;
    attn)
      build 7b
      for backend in ${BACKENDS:-auto TRITON_ATTN}; do
        n=$(( ${n:-0} + 1 ))
        set_backend=(); [ "$backend" = auto ] || set_backend=(--set "attention_backend=$backend")
        run "attn-tp${TP:-1}-$n-$backend" python3 -m bench.engine_options --model "$ck/7b" "${set_backend[@]}" \
          --set "tensor_parallel_size=${TP:-1}" --prompt-tokens "${PROMPTS:-40,4096,16384,32768}" --turns 2 \
          --json "$OUT/attn-tp${TP:-1}-$n-$backend.json"
      done
      ;;
    steps) build 7b && run steps python3 -m bench.step_profile --model "$ck/7b" --json "$OUT/step-profile-7b.json" ;;
    d15) build 1.5b && run d15 $delivered --model "$ck/1.5b" --json "$OUT/delivered-1.5b-tp1.json" --svg "$OUT/chat-1.5b-tp1.svg" ;;
    d7) build 7b && run d7 $delivered --model "$ck/7b" --json "$OUT/delivered-7b-tp1.json" ;;
    d7tp2) build 7b && run d7tp2 $delivered --model "$ck/7b" --tp 2 --json "$OUT/delivered-7b-tp2.json" --svg "$OUT/chat-7b-tp2.svg" ;;
    cycle)
      build 7b && run "cycle-tp${TP:-1}" python3 -m bench.engine_cycle --model "$ck/7b" --tp "${TP:-1}" --cycles 2 \
        --json "$OUT/cycle-7b-tp${TP:-1}.json"
      ;;
    peer)
      build 1.5b && build 7b
      LIMIT=120 run peer15 python3 -m bench.peer --model "$ck/1.5b" --json "$OUT/peer-1.5b.json"
      LIMIT=170 run peer7 python3 -m bench.peer --model "$ck/7b" --json "$OUT/peer-7b.json"
      ;;
    *) echo "unknown job: $job" >&2 ;;
  esac
done
[ -n "${KEEP_LOGS:-}" ] || rm -f "$OUT"/*.log
