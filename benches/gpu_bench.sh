#!/usr/bin/env bash
# The GPU benchmark in one go: checks the engine against the diffusers fixtures on this adapter,
# then times diffusers (CUDA fp32 with TF32 off, and fp16) and the engine (Vulkan; f32 and f16)
# at 512² and 1024², with and without WebGPU's default limits. Every step is time-boxed and
# logged, so one failure does not lose the rest.
#
#   benches/gpu_bench.sh BIN [OUTDIR]
#
# BIN is a release `sdxl-vae`; python3 needs torch with CUDA, diffusers and numpy.
# SKIP_DIFFUSERS=1 times the engine alone; KERNELS="f32 f16 f32_plain f16_plain" picks the
# engine variants (default: f32 f16; `_plain`: weights not staged in workgroup memory);
# TUNE_WORKGROUPS (below) compares workgroup shapes (the hidden tuning flags: docs/kernels.md).
set -u
BIN=${1:?usage: gpu_bench.sh BIN [OUTDIR]}
OUT=${2:-${OUT:-/tmp/gpu_bench}}
mkdir -p "$OUT"
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan} PYTHONUNBUFFERED=1
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -z "${VK_DRIVER_FILES:-}" ] && [ -f $icd ] && export VK_DRIVER_FILES=$icd
step() { # step NAME SECONDS CMD...
  local name=$1 t=$2; shift 2
  local s=$(date +%s%N)
  echo "== $name"
  timeout "$t" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 4 "$OUT/$name.log"
  local ms=$(( ($(date +%s%N) - s) / 1000000 ))
  printf '%-28s rc=%-3s %5d.%03d s\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000)) | tee -a "$OUT/steps.txt"
}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee "$OUT/gpu.txt"

# Correctness on this adapter: the full-size synthetic SDXL against diffusers' outputs.
F=tests/fixtures
step synth 60 "$BIN" synth --output /tmp/sdxl_synth.safetensors --layout ldm
step golden_decode 60 "$BIN" decode --weights /tmp/sdxl_synth.safetensors $F/sdxl_64x48_mean.npy \
  -o /tmp/dec.png --raw /tmp/dec.npy
step golden_encode 60 "$BIN" encode --weights /tmp/sdxl_synth.safetensors $F/img_64x48.png -o /tmp/enc.npy
step golden_decode_f16 60 "$BIN" --precision f16 decode --weights /tmp/sdxl_synth.safetensors \
  $F/sdxl_64x48_mean.npy -o /tmp/dec16.png --raw /tmp/dec16.npy
step golden_encode_f16 60 "$BIN" --precision f16 encode --weights /tmp/sdxl_synth.safetensors \
  $F/img_64x48.png -o /tmp/enc16.npy
step golden_check 30 python3 -c "
import numpy as np
for got, want, tol in (('/tmp/enc.npy', '$F/sdxl_64x48_mean.npy', 1e-3), ('/tmp/dec.npy', '$F/sdxl_64x48_decoded.npy', 2e-3),
                       ('/tmp/enc16.npy', '$F/sdxl_64x48_mean.npy', 1e-2), ('/tmp/dec16.npy', '$F/sdxl_64x48_decoded.npy', 3e-2)):
    g, w = np.load(got).reshape(-1), np.load(want).reshape(-1)
    err = float(np.abs(g - w).max())
    print(got, 'worst abs error', err, 'tolerance', tol, 'OK' if err <= tol else 'FAIL')
"

# Row bands change nothing: a 64×64 latent decoded under WebGPU's default limits (banded) and
# under the adapter's (one band here), compared.
step latent64 30 python3 -c "
import numpy as np
np.save('/tmp/lat64.npy', np.random.default_rng(1).standard_normal((1, 4, 64, 64)).astype(np.float32))"
step decode64_adapter 60 "$BIN" decode --weights /tmp/sdxl_synth.safetensors /tmp/lat64.npy -o /tmp/a.png --raw /tmp/a.npy
step decode64_webgpu_default 60 "$BIN" --limits webgpu-default decode --weights /tmp/sdxl_synth.safetensors \
  /tmp/lat64.npy -o /tmp/b.png --raw /tmp/b.npy
step dry_run_512 60 "$BIN" bench --weights /tmp/sdxl_synth.safetensors --size 512 --dry-run --limits webgpu-default
step banded_check 30 python3 -c "
import numpy as np
a, b = np.load('/tmp/a.npy'), np.load('/tmp/b.npy')
print('banded vs unbanded 512x512 decode: worst abs difference', float(np.abs(a - b).max()), 'shape', a.shape)"

if [ -z "${SKIP_DIFFUSERS:-}" ]; then
  for s in 512 1024; do
    for d in fp32 fp16; do
      step diffusers_${s}_$d 90 python3 benches/compare_diffusers.py --size $s --reps 5 --device cuda --dtype $d --no-engine
    done
  done
fi
# TUNE_WORKGROUPS="8x4 8x8 …": the convolution's workgroup shapes at 1024² (f32 and f16),
# then the rest.
if [ -n "${TUNE_WORKGROUPS:-}" ]; then
  for wg in $TUNE_WORKGROUPS; do
    step tune_${wg}_f32 60 "$BIN" bench --weights synthetic --size 1024 --reps 3 --workgroup $wg
    step tune_${wg}_f16 60 "$BIN" --precision f16 bench --weights synthetic --size 1024 --reps 3 \
      --workgroup $wg
  done
fi
# The default (f32), then f16 weights and convolution inputs; `_plain`: without weights staged
# in workgroup memory.
for k in ${KERNELS:-f32 f16}; do
  case $k in
    f16) opts=(--precision f16) ;;
    f16_plain) opts=(--precision f16 --shared-weights false) ;;
    f32_plain) opts=(--shared-weights false) ;;
    *) opts=() ;;
  esac
  step engine_512_$k 90 "$BIN" "${opts[@]}" bench --weights synthetic --size 512 --reps 5
  step engine_1024_$k 150 "$BIN" "${opts[@]}" bench --weights synthetic --size 1024 --reps 3
  step engine_1024_webgpu_default_$k 150 "$BIN" "${opts[@]}" bench --weights synthetic --size 1024 --reps 3 \
    --limits webgpu-default
  step engine_1024_profile_$k 150 "$BIN" "${opts[@]}" bench --weights synthetic --size 1024 --reps 1 --profile
done
# 2048² under WebGPU's default limits (row bands; attention over the whole 256² latent).
step engine_2048_webgpu_default 200 "$BIN" bench --weights synthetic --size 2048 --reps 1 --limits webgpu-default

echo "== summary"
cat "$OUT/steps.txt"
grep -h "worst abs error" "$OUT"/golden_check.log
grep -h "worst abs difference" "$OUT"/banded_check.log
grep -h "band" "$OUT"/dry_run_512.log
grep -h "^diffusers size=" "$OUT"/diffusers_*.log
for f in "$OUT"/tune_*.log; do echo "$(basename "$f" .log): $(grep -h '^bench size=' "$f")"; done
for f in "$OUT"/engine_*.log; do echo "$(basename "$f" .log): $(grep -h '^bench size=' "$f")"; done
grep -h adapter "$OUT"/engine_512_f32.log | head -1
for f in "$OUT"/engine_*profile*.log; do echo "$(basename "$f" .log):"; grep -E "profiled|dispatches" "$f" | head -24; done
