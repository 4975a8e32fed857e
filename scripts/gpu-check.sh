#!/usr/bin/env bash
# The GPU checks of the CUDA issue, for a machine with an NVIDIA GPU and the
# CUDA toolkit in /usr/local/cuda. Builds only what the checks need, with
# every core, then runs them in order of value and writes everything they
# print to one file (default gpu-check.txt; --out FILE):
#   1. the build, driver and GPU work together (DeviceTest);
#   2. every op on the GPU against the CPU reference, bit for bit, on odd,
#      tiny and special-value shapes (OpsFastTest: the reference, the fast
#      CPU, the CUDA plans on the CPU, then kCuda on the GPU);
#   3. a whole training run: three steps on the GPU end in the CPU's
#      checkpoint hash (DeterminismTest), and `agora train --device cuda`
#      writes the same checkpoint as `--device cpu` (TrainCliTest); a
#      native-tier checkpoint names the GPU's class (TierTest, TrainCliTest)
#      and the roles' [roles] device = "cuda" finds the class
#      (RoleDeviceTest);
#   4. the exact matmul against cuBLAS FP32 SGEMM, 1024 to 8192 and the
#      GPT-2 shapes (cuda_matmul_bench; goal >= 0.8x);
#   5. training throughput of the exact tier with the tensors on the GPU:
#      tokens/s and MFU of the shakespeare-char and GPT-2-small-shaped
#      presets (train_bench --device cuda; --peak-tflops, default 67, the
#      FP32 peak without tensor cores of an H100/H200 SXM), then of the
#      native tier (cuBLAS TF32 matmuls; --peak-tf32-tflops, default 495,
#      the dense TF32 peak of an H100/H200 SXM). The native tier's own
#      checks (it repeats its bits, stays within TF32 of the reference) run
#      in steps 2 and 3.
# Every step runs even when an earlier one fails; the exit status is the
# number of failed steps. Time on a fresh H200 machine: about 5 minutes of
# build (16 cores) and 2 of checks.
#   scripts/gpu-check.sh [--out FILE] [--arch 90] [--build-dir build/gpu]
#                        [--peak-tflops 67] [--peak-tf32-tflops 495]
set -uo pipefail
cd "$(dirname "$0")/.."
out=gpu-check.txt
arch=90
build_dir=build/gpu
peak_tflops=67
peak_tf32_tflops=495
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --peak-tflops) peak_tflops="$2"; shift 2 ;;
    --peak-tf32-tflops) peak_tf32_tflops="$2"; shift 2 ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 64 ;;
  esac
done
: > "$out"
log() { echo "$*" | tee -a "$out"; }
failed=0
step() {
  local name="$1"; shift
  log ""
  log "== $name: $*"
  local start=$SECONDS
  "$@" 2>&1 | tee -a "$out"
  local rc=${PIPESTATUS[0]}
  log "== $name: exit $rc in $((SECONDS - start)) s"
  [[ $rc -eq 0 ]] || failed=$((failed + 1))
  return 0
}

log "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
log "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -4)"
log "$(/usr/local/cuda/bin/nvcc --version 2>&1 | tail -1)"
jobs=$(nproc)

if [[ ! -f data/tinyshakespeare.txt ]]; then
  log "gpu-check: data/tinyshakespeare.txt is missing (it is in the repository)"; exit 1
fi
step configure cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DAGORA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" -DAGORA_WERROR=OFF
step build cmake --build "$build_dir" -j "$jobs" --target kernels_test trainer_test \
  trainer_cli_test node_test agora cuda_matmul_bench train_bench
if [[ $failed -gt 0 ]]; then
  log "gpu-check: the build failed; nothing to run"
  exit "$failed"
fi

# A GPU test that finds no usable GPU fails here instead of skipping.
export AGORA_REQUIRE_GPU=1
step device "$build_dir/tests/kernels/kernels_test" --gtest_filter='DeviceTest.*'
step ops-bitwise "$build_dir/tests/kernels/kernels_test" --gtest_filter='OpsFastTest.*:CudaOpsTest.*:FloatBufferTest.*:NativeTierTest.*'
step train-bitwise "$build_dir/tests/trainer/trainer_test" \
  --gtest_filter='DeterminismTest.*:TierTest.*'
step train-cli "$build_dir/tests/trainer/trainer_cli_test" \
  --gtest_filter='TrainCliTest.DeviceFlagPicksTheKernelsAndCudaSaysWhyItCannotRun:TrainCliTest.TheNativeTierRunsOnAGpuOnlyAndRepeatsItsBits'
step roles-device "$build_dir/tests/node/node_test" --gtest_filter='RoleDeviceTest.*'
step matmul-vs-cublas "$build_dir/bench/kernels/cuda_matmul_bench" --runs 5
step train-throughput "$build_dir/bench/train/train_bench" --device cuda \
  --configs shakespeare,gpt2 --steps 5 --peak-tflops "$peak_tflops"
step train-throughput-native "$build_dir/bench/train/train_bench" --device cuda --tier native \
  --configs shakespeare,gpt2 --steps 5 --peak-tflops "$peak_tf32_tflops"

log ""
log "gpu-check: $failed step(s) failed; results in $out"
exit "$failed"
