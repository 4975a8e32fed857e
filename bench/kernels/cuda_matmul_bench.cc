// cuda_matmul_bench: the exact tier's MatmulForward on the GPU against
// cuBLAS SGEMM in FP32 with tensor cores off (CUBLAS_DEFAULT_MATH, which
// does not use TF32 for SGEMM, and NVIDIA_TF32_OVERRIDE=0 to be sure),
// measured in the same run on device-resident tensors, square sizes 1024 to
// 8192 and the GPT shapes of the trainer's presets. Prints each pair's
// TFLOP/s and the ratio exact / cuBLAS (issue goal: >= 0.8x). Also checks
// the GPU result against the CPU's bits on the first size, so a fast but
// wrong kernel cannot post a figure.
//
// Built only with CUDA; run by scripts/gpu-check.sh. Exits 2 without a GPU.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/device.h"
#include "kernels/ops.h"

namespace {

using agora::kernels::Backend;

void Check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    std::fprintf(stderr, "cuda_matmul_bench: %s: %s\n", what, cudaGetErrorString(err));
    std::exit(1);
  }
}

void Check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "cuda_matmul_bench: %s: cuBLAS status %d\n", what,
                 static_cast<int>(status));
    std::exit(1);
  }
}

struct Shape {
  std::string name;
  int rows, in_dim, out_dim;
};

// Median seconds of `runs` timed calls after one warm-up, synchronised.
template <class F>
double MedianSeconds(F f, int runs) {
  f();
  Check(cudaDeviceSynchronize(), "warm-up");
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    Check(cudaDeviceSynchronize(), "timed run");
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Exact-tier matmul on the GPU against cuBLAS FP32 SGEMM"};
  int runs = 5;
  int max_size = 8192;
  app.add_option("--runs", runs, "Timed runs per side (median)")->check(CLI::Range(1, 1000));
  app.add_option("--max-size", max_size, "Largest square size")->check(CLI::Range(1024, 16384));
  CLI11_PARSE(app, argc, argv);
  const agora::Status ready = agora::kernels::CudaOpsReady();
  if (!ready.ok()) {
    std::fprintf(stderr, "cuda_matmul_bench: %s\n", ready.ToString().c_str());
    return 2;
  }
  std::vector<Shape> shapes;
  for (int n = 1024; n <= max_size; n *= 2) shapes.push_back({"square", n, n, n});
  // GPT-2 small (124M): 8 x 1024 tokens, width 768, vocabulary 50,304.
  shapes.push_back({"gpt2 qkv", 8192, 768, 2304});
  shapes.push_back({"gpt2 fc", 8192, 768, 3072});
  shapes.push_back({"gpt2 proj", 8192, 3072, 768});
  shapes.push_back({"gpt2 lm head", 8192, 768, 50304});

  setenv("NVIDIA_TF32_OVERRIDE", "0", 1);
  cublasHandle_t handle;
  Check(cublasCreate(&handle), "cublasCreate");
  Check(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  std::printf("%-14s %6s %6s %6s %12s %12s %8s\n", "shape", "rows", "in", "out",
              "exact TF/s", "cuBLAS TF/s", "ratio");
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  bool checked = false;
  for (const Shape& s : shapes) {
    const size_t n_inp = size_t(s.rows) * s.in_dim, n_w = size_t(s.out_dim) * s.in_dim;
    const size_t n_out = size_t(s.rows) * s.out_dim;
    std::vector<float> inp(n_inp), weight(n_w);
    for (float& x : inp) x = dist(rng);
    for (float& x : weight) x = dist(rng);
    float *d_inp, *d_w, *d_out;
    Check(cudaMalloc(&d_inp, n_inp * 4), "cudaMalloc");
    Check(cudaMalloc(&d_w, n_w * 4), "cudaMalloc");
    Check(cudaMalloc(&d_out, n_out * 4), "cudaMalloc");
    Check(cudaMemcpy(d_inp, inp.data(), n_inp * 4, cudaMemcpyHostToDevice), "copy");
    Check(cudaMemcpy(d_w, weight.data(), n_w * 4, cudaMemcpyHostToDevice), "copy");
    const double exact = MedianSeconds(
        [&] {
          agora::kernels::MatmulForward(Backend::kCuda, d_out, d_inp, d_w, nullptr, s.rows,
                                        s.in_dim, s.out_dim);
        },
        runs);
    if (!checked) {
      // The bits of the first (smallest) shape against the fast CPU path.
      std::vector<float> gpu(n_out), cpu(n_out);
      Check(cudaMemcpy(gpu.data(), d_out, n_out * 4, cudaMemcpyDeviceToHost), "copy back");
      agora::kernels::MatmulForward(Backend::kCpu, cpu.data(), inp.data(), weight.data(), nullptr,
                                    s.rows, s.in_dim, s.out_dim);
      if (std::memcmp(gpu.data(), cpu.data(), n_out * 4) != 0) {
        std::fprintf(stderr, "cuda_matmul_bench: GPU and CPU bits differ at %dx%dx%d\n", s.rows,
                     s.in_dim, s.out_dim);
        return 1;
      }
      std::printf("bits: GPU == CPU at %dx%dx%d\n", s.rows, s.in_dim, s.out_dim);
      checked = true;
    }
    // Row-major out (rows x out) = inp (rows x in) . weight^T: in cuBLAS's
    // column-major terms out^T (out x rows) = weight (out x in, stored as
    // in x out column-major, so transposed) . inp^T.
    const float one = 1.0f, zero = 0.0f;
    const double cublas = MedianSeconds(
        [&] {
          Check(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, s.out_dim, s.rows, s.in_dim, &one,
                            d_w, s.in_dim, d_inp, s.in_dim, &zero, d_out, s.out_dim),
                "cublasSgemm");
        },
        runs);
    const double flops = 2.0 * s.rows * double(s.in_dim) * s.out_dim;
    std::printf("%-14s %6d %6d %6d %12.2f %12.2f %7.2fx\n", s.name.c_str(), s.rows, s.in_dim,
                s.out_dim, flops / exact * 1e-12, flops / cublas * 1e-12, cublas / exact);
    std::fflush(stdout);
    cudaFree(d_inp);
    cudaFree(d_w);
    cudaFree(d_out);
  }
  cublasDestroy(handle);
  return 0;
}
