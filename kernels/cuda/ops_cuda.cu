// Backend::kCuda, the exact tier on an NVIDIA GPU: the plans of
// cuda/exact_plan.h, each phase one grid-stride kernel launch.
//
// Memory: an op accepts device pointers (cudaMalloc or cudaMallocManaged)
// and host pointers alike, except token and target arrays, which
// kernels/ops.cc range-checks on the host: those must be host or managed. A host array is staged: copied to a device
// buffer before the op (if the op reads it), copied back after (if the op
// writes it), freed. That keeps every caller of kernels/ops.h working
// unchanged, the trainer included, at the price of a PCIe round trip per
// op; a trainer that keeps its tensors on the device skips it.
//
// Errors: a CUDA call that fails inside an op is a fatal AGORA_CHECK naming
// the call (the ops return no Status; callers check CudaOpsReady() first).
//
// Thread safety: ops may be called from several host threads; each call
// allocates its own staging and scratch buffers on the default stream.
#include <cuda_runtime.h>
#if AGORA_HAVE_CUBLAS
#include <cublas_v2.h>
#endif

#include <cstdint>
#include <string>
#include <vector>

#include "common/check.h"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/exact_plan.h"
#include "kernels/cuda/plugin.h"
#include "kernels/op_table.h"

namespace agora::kernels {
namespace {

void CudaCheck(cudaError_t err, const char* call) {
  AGORA_CHECK_MSG(err == cudaSuccess, std::string("CUDA kernels: ") + call + " failed: " +
                                          cudaGetErrorName(err) + " (" + cudaGetErrorString(err) +
                                          ")");
}

#define AGORA_CUDA_CHECK(call) CudaCheck((call), #call)

template <class F>
__global__ void ForEachKernel(int64_t n, F f) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    f(i);
  }
}

__global__ void __launch_bounds__(exact::kGemmThreads) GemmKernel(exact::Gemm g) {
  __shared__ float as[exact::kGemmBK * exact::kGemmBM];
  __shared__ float bs[exact::kGemmBK * exact::kGemmBN];
  exact::GemmThreadState state{};  // partial sums start at +0
  const int64_t block_m = blockIdx.y, block_n = blockIdx.x;
  const int tid = static_cast<int>(threadIdx.x);
  for (int64_t k0 = 0; k0 < g.k; k0 += exact::kGemmBK) {
    const int k_count = static_cast<int>(g.k - k0 < exact::kGemmBK ? g.k - k0 : exact::kGemmBK);
    exact::GemmLoad(g, block_m, block_n, k0, tid, as, bs);
    __syncthreads();
    exact::GemmAccumulate(tid, as, bs, k_count, state);
    __syncthreads();
  }
  exact::GemmStore(g, block_m, block_n, tid, state);
}

constexpr int kThreadsPerBlock = 256;
constexpr int64_t kBlocksMax = 1 << 20;

bool OnDevice(const void* p) {
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, p) != cudaSuccess) {
    (void)cudaGetLastError();  // an unregistered host pointer on old drivers
    return false;
  }
  return attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged;
}

// Runs plan phases on the GPU and owns what one op call allocated.
class Launcher {
 public:
  Launcher() = default;
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  // Waits for the op's kernels, so that an op returns with its outputs
  // written (device-resident or managed ones included) and a fault shows
  // up in the op that caused it.
  ~Launcher() {
    AGORA_CUDA_CHECK(cudaDeviceSynchronize());
    for (const Staged& s : staged_) {
      if (s.copy_back) {
        CudaCheck(cudaMemcpy(s.host, s.device, s.bytes, cudaMemcpyDeviceToHost),
                  "cudaMemcpy (device to host)");
      }
    }
    for (void* p : owned_) (void)cudaFree(p);
  }

  template <class F>
  void For(int64_t n, F f) {
    if (n <= 0) return;
    int64_t blocks = (n + kThreadsPerBlock - 1) / kThreadsPerBlock;
    if (blocks > kBlocksMax) blocks = kBlocksMax;
    ForEachKernel<<<static_cast<unsigned>(blocks), kThreadsPerBlock>>>(n, f);
    AGORA_CUDA_CHECK(cudaGetLastError());
  }

  void Gemm(const exact::Gemm& g) {
    if (g.m <= 0 || g.n <= 0) return;
    const int64_t blocks_m = (g.m + exact::kGemmBM - 1) / exact::kGemmBM;
    const int64_t blocks_n = (g.n + exact::kGemmBN - 1) / exact::kGemmBN;
    AGORA_CHECK_MSG(blocks_m <= 65535 && blocks_n <= (int64_t{1} << 31) - 1,
                    "CUDA kernels: a matmul with more than 8,388,480 rows");
    GemmKernel<<<dim3(static_cast<unsigned>(blocks_n), static_cast<unsigned>(blocks_m)),
                 exact::kGemmThreads>>>(g);
    AGORA_CUDA_CHECK(cudaGetLastError());
  }

  float* Scratch(size_t count) { return static_cast<float*>(Allocate(count * sizeof(float))); }

  float Read(const float* p) {
    float value = 0.0f;
    AGORA_CUDA_CHECK(cudaMemcpy(&value, p, sizeof(float), cudaMemcpyDeviceToHost));
    return value;
  }

  // A device address for `count` elements at `p`: p itself when the GPU
  // can reach it, else a device copy (filled when `read`, copied back at the
  // end of the op when `write`). Null stays null.
  template <class T>
  T* Use(T* p, size_t count, bool read, bool write) {
    if (p == nullptr || OnDevice(p)) return p;
    const size_t bytes = count * sizeof(T);
    void* device = Allocate(bytes);
    if (read && bytes > 0) {
      AGORA_CUDA_CHECK(cudaMemcpy(device, p, bytes, cudaMemcpyHostToDevice));
    }
    if (write) {
      staged_.push_back({const_cast<void*>(static_cast<const void*>(p)), device, bytes, true});
    }
    return static_cast<T*>(device);
  }
  template <class T>
  const T* In(const T* p, size_t count) {
    return Use(p, count, true, false);
  }
  float* Out(float* p, size_t count) { return Use(p, count, false, true); }
  float* InOut(float* p, size_t count) { return Use(p, count, true, true); }

 private:
  struct Staged {
    void* host;
    void* device;
    size_t bytes;
    bool copy_back;
  };

  void* Allocate(size_t bytes) {
    void* p = nullptr;
    AGORA_CUDA_CHECK(cudaMalloc(&p, bytes > 0 ? bytes : 1));
    owned_.push_back(p);
    return p;
  }

  std::vector<Staged> staged_;
  std::vector<void*> owned_;
};

size_t Count(int64_t a, int64_t b = 1, int64_t c = 1) { return static_cast<size_t>(a * b * c); }

// The largest token + 1: how much of wte an embedding op touches. Reads the
// tokens where they are (host, or copied back from the device).
int64_t TokenRows(const int32_t* tokens, int64_t n) {
  std::vector<int32_t> host(static_cast<size_t>(n));
  if (n > 0) {
    AGORA_CUDA_CHECK(cudaMemcpy(host.data(), tokens, host.size() * sizeof(int32_t), cudaMemcpyDefault));
  }
  int64_t rows = 0;
  for (int32_t t : host) rows = t + 1 > rows ? t + 1 : rows;
  return rows;
}

void MatmulForwardCuda(float* out, const float* inp, const float* weight, const float* bias,
                       int rows, int in_dim, int out_dim) {
  Launcher l;
  exact::MatmulForwardPlan(l, l.Out(out, Count(rows, out_dim)), l.In(inp, Count(rows, in_dim)),
                           l.In(weight, Count(out_dim, in_dim)), l.In(bias, Count(out_dim)), rows,
                           in_dim, out_dim);
}

void MatmulBackwardCuda(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, int rows, int in_dim, int out_dim) {
  Launcher l;
  exact::MatmulBackwardPlan(l, l.InOut(dinp, Count(rows, in_dim)),
                            l.InOut(dweight, Count(out_dim, in_dim)), l.InOut(dbias, Count(out_dim)),
                            l.In(dout, Count(rows, out_dim)),
                            dweight != nullptr ? l.In(inp, Count(rows, in_dim)) : nullptr,
                            dinp != nullptr ? l.In(weight, Count(out_dim, in_dim)) : nullptr, rows,
                            in_dim, out_dim);
}

void BiasForwardCuda(float* out, const float* inp, const float* bias, int rows, int channels) {
  Launcher l;
  // out may alias inp: stage it once, read and written.
  float* out_d = l.InOut(out, Count(rows, channels));
  const float* inp_d = inp == out ? out_d : l.In(inp, Count(rows, channels));
  exact::BiasForwardPlan(l, out_d, inp_d, l.In(bias, Count(channels)), rows, channels);
}

void BiasBackwardCuda(float* dbias, const float* dout, int rows, int channels) {
  Launcher l;
  exact::BiasBackwardPlan(l, l.InOut(dbias, Count(channels)), l.In(dout, Count(rows, channels)),
                          rows, channels);
}

void LayerNormForwardCuda(float* out, float* mean, float* rstd, const float* inp,
                          const float* weight, const float* bias, int rows, int channels) {
  Launcher l;
  exact::LayerNormForwardPlan(l, l.Out(out, Count(rows, channels)), l.Out(mean, Count(rows)),
                              l.Out(rstd, Count(rows)), l.In(inp, Count(rows, channels)),
                              l.In(weight, Count(channels)), l.In(bias, Count(channels)), rows,
                              channels);
}

void LayerNormBackwardCuda(float* dinp, float* dweight, float* dbias, const float* dout,
                           const float* inp, const float* weight, const float* mean,
                           const float* rstd, int rows, int channels) {
  Launcher l;
  exact::LayerNormBackwardPlan(
      l, l.InOut(dinp, Count(rows, channels)), l.InOut(dweight, Count(channels)),
      l.InOut(dbias, Count(channels)), l.In(dout, Count(rows, channels)),
      l.In(inp, Count(rows, channels)), l.In(weight, Count(channels)), l.In(mean, Count(rows)),
      l.In(rstd, Count(rows)), rows, channels);
}

void GeluForwardCuda(float* out, const float* inp, int64_t n) {
  Launcher l;
  exact::GeluForwardPlan(l, l.Out(out, Count(n)), l.In(inp, Count(n)), n);
}

void GeluBackwardCuda(float* dinp, const float* inp, const float* dout, int64_t n) {
  Launcher l;
  exact::GeluBackwardPlan(l, l.InOut(dinp, Count(n)), l.In(inp, Count(n)), l.In(dout, Count(n)),
                          n);
}

void ResidualForwardCuda(float* out, const float* a, const float* b, int64_t n) {
  Launcher l;
  // out may alias a or b.
  float* out_d = l.InOut(out, Count(n));
  const float* a_d = a == out ? out_d : l.In(a, Count(n));
  const float* b_d = b == out ? out_d : l.In(b, Count(n));
  exact::ResidualForwardPlan(l, out_d, a_d, b_d, n);
}

void ResidualBackwardCuda(float* da, float* db, const float* dout, int64_t n) {
  Launcher l;
  exact::ResidualBackwardPlan(l, l.InOut(da, Count(n)), l.InOut(db, Count(n)),
                              l.In(dout, Count(n)), n);
}

void AttentionForwardCuda(float* out, float* att, const float* qkv, int batch, int seq_len,
                          int channels, int heads) {
  Launcher l;
  exact::AttentionForwardPlan(l, l.Out(out, Count(batch, seq_len, channels)),
                              l.Out(att, Count(batch, heads, Count(seq_len, seq_len))),
                              l.In(qkv, Count(batch, seq_len, 3 * int64_t{channels})), batch,
                              seq_len, channels, heads);
}

void AttentionBackwardCuda(float* dqkv, const float* dout, const float* qkv, const float* att,
                           int batch, int seq_len, int channels, int heads) {
  Launcher l;
  exact::AttentionBackwardPlan(l, l.InOut(dqkv, Count(batch, seq_len, 3 * int64_t{channels})),
                               l.In(dout, Count(batch, seq_len, channels)),
                               l.In(qkv, Count(batch, seq_len, 3 * int64_t{channels})),
                               l.In(att, Count(batch, heads, Count(seq_len, seq_len))), batch,
                               seq_len, channels, heads);
}

void SoftmaxForwardCuda(float* probs, const float* logits, int rows, int vocab) {
  Launcher l;
  exact::SoftmaxForwardPlan(l, l.Out(probs, Count(rows, vocab)), l.In(logits, Count(rows, vocab)),
                            rows, vocab);
}

void CrossEntropyForwardCuda(float* losses, float* probs, const float* logits,
                             const int32_t* targets, int rows, int vocab) {
  Launcher l;
  exact::CrossEntropyForwardPlan(l, l.Out(losses, Count(rows)), l.Out(probs, Count(rows, vocab)),
                                 l.In(logits, Count(rows, vocab)), l.In(targets, Count(rows)), rows,
                                 vocab);
}

void CrossEntropyBackwardCuda(float* dlogits, const float* dlosses, const float* probs,
                              const int32_t* targets, int rows, int vocab) {
  Launcher l;
  exact::CrossEntropyBackwardPlan(l, l.InOut(dlogits, Count(rows, vocab)),
                                  l.In(dlosses, Count(rows)), l.In(probs, Count(rows, vocab)),
                                  l.In(targets, Count(rows)), rows, vocab);
}

void EmbeddingForwardCuda(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                          int batch, int seq_len, int channels) {
  Launcher l;
  const int64_t positions = int64_t{batch} * seq_len;
  exact::EmbeddingForwardPlan(l, l.Out(out, Count(positions, channels)),
                              l.In(tokens, Count(positions)),
                              l.In(wte, Count(TokenRows(tokens, positions), channels)),
                              l.In(wpe, Count(seq_len, channels)), batch, seq_len, channels);
}

void EmbeddingBackwardCuda(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                           int batch, int seq_len, int channels) {
  Launcher l;
  const int64_t positions = int64_t{batch} * seq_len;
  exact::EmbeddingBackwardPlan(
      l, dwte != nullptr ? l.InOut(dwte, Count(TokenRows(tokens, positions), channels)) : nullptr,
      l.InOut(dwpe, Count(seq_len, channels)), l.In(dout, Count(positions, channels)),
      l.In(tokens, Count(positions)), batch, seq_len, channels);
}

void AdamWUpdateCuda(float* params, const float* grads, float* m, float* v, int64_t n,
                     float learning_rate, float beta1, float beta2, float eps, float weight_decay,
                     float bias_correction1, float bias_correction2) {
  Launcher l;
  exact::AdamWUpdatePlan(l, l.InOut(params, Count(n)), l.In(grads, Count(n)),
                         l.InOut(m, Count(n)), l.InOut(v, Count(n)), n, learning_rate, beta1,
                         beta2, eps, weight_decay, bias_correction1, bias_correction2);
}

float SumCuda(const float* x, int64_t n) {
  Launcher l;
  return exact::ChunkedTotalPlan(l, l.In(x, Count(n)), n, false);
}

float SumSquaresCuda(const float* x, int64_t n) {
  Launcher l;
  return exact::ChunkedTotalPlan(l, l.In(x, Count(n)), n, true);
}

void ScaleCuda(float* x, int64_t n, float factor) {
  Launcher l;
  exact::ScalePlan(l, l.InOut(x, Count(n)), n, factor);
}

void FillCuda(float* x, int64_t n, float value) {
  Launcher l;
  exact::FillPlan(l, l.Out(x, Count(n)), n, value);
}

// Tensors a trainer keeps on the GPU: managed memory, so the kernels use
// them in place (no staging) and the host can still read them (sampling
// reads logits; a checkpoint reads the weights back).
void* AllocateCuda(size_t bytes) {
  void* p = nullptr;
  if (cudaMallocManaged(&p, bytes == 0 ? 1 : bytes) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  return p;
}

void ReleaseCuda(void* p) {
  if (p != nullptr) AGORA_CUDA_CHECK(cudaFree(p));
}

void CopyCuda(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  AGORA_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}


#if AGORA_HAVE_CUBLAS
// ---- the native tier: matmuls on cuBLAS, TF32 tensor cores ----
//
// Row-major to cuBLAS's column-major: a row-major (r, c) array is the
// column-major (c, r) array, its transpose. So with W (out_dim, in_dim),
//   out  = inp W^T        is  out^T (out_dim x rows) = W'^T inp'   (T, N)
//   dinp += dout W        is  dinp^T (in_dim x rows) += W' dout'   (N, N)
//   dW  += dout^T inp     is  dW^T (in_dim x out_dim) += inp' dout'^T  (N, T)
// where X' is X's memory read column-major. cuBLAS gives the same bits
// on every run on one GPU model with one toolkit (its documentation's
// reproducibility rule: one GPU architecture and SM count, one stream, no
// atomics mode), not across models, and not necessarily across shapes or
// alignments that pick other kernels.

void CublasCheck(cublasStatus_t status, const char* call) {
  AGORA_CHECK_MSG(status == CUBLAS_STATUS_SUCCESS,
                  std::string("CUDA native tier: ") + call + " failed: " +
                      cublasGetStatusString(status));
}

// One handle per host thread, on the default stream, in TF32 mode.
cublasHandle_t Cublas() {
  struct Handle {
    cublasHandle_t handle = nullptr;
    Handle() {
      CublasCheck(cublasCreate(&handle), "cublasCreate");
      CublasCheck(cublasSetMathMode(handle, CUBLAS_TF32_TENSOR_OP_MATH), "cublasSetMathMode");
      CublasCheck(cublasSetAtomicsMode(handle, CUBLAS_ATOMICS_NOT_ALLOWED),
                  "cublasSetAtomicsMode");
    }
    ~Handle() { (void)cublasDestroy(handle); }
  };
  thread_local Handle h;
  return h.handle;
}

// C (m x n, ldc) = alpha op(A) op(B) + beta C, column-major, FP32 storage
// and TF32 products.
void Tf32Gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float* a,
              int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  const float alpha = 1.0f;
  CublasCheck(cublasGemmEx(Cublas(), ta, tb, m, n, k, &alpha, a, CUDA_R_32F, lda, b, CUDA_R_32F,
                           ldb, &beta, c, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F_FAST_TF32,
                           CUBLAS_GEMM_DEFAULT),
              "cublasGemmEx");
}

void MatmulForwardNative(float* out, const float* inp, const float* weight, const float* bias,
                         int rows, int in_dim, int out_dim) {
  Launcher l;
  float* o = l.Out(out, Count(rows, out_dim));
  const float* x = l.In(inp, Count(rows, in_dim));
  const float* w = l.In(weight, Count(out_dim, in_dim));
  const float* b = l.In(bias, Count(out_dim));
  if (rows == 0 || out_dim == 0) return;
  if (in_dim == 0) {
    exact::FillPlan(l, o, static_cast<int64_t>(rows) * out_dim, 0.0f);
  } else {
    Tf32Gemm(CUBLAS_OP_T, CUBLAS_OP_N, out_dim, rows, in_dim, w, in_dim, x, in_dim, 0.0f, o,
             out_dim);
  }
  if (b != nullptr) {
    const int64_t n = static_cast<int64_t>(rows) * out_dim;
    const int64_t cols = out_dim;
    l.For(n, [=] AGORA_HD(int64_t i) { o[i] = o[i] + b[i % cols]; });
  }
}

void MatmulBackwardNative(float* dinp, float* dweight, float* dbias, const float* dout,
                          const float* inp, const float* weight, int rows, int in_dim,
                          int out_dim) {
  Launcher l;
  float* di = l.InOut(dinp, Count(rows, in_dim));
  float* dw = l.InOut(dweight, Count(out_dim, in_dim));
  float* db = l.InOut(dbias, Count(out_dim));
  const float* d = l.In(dout, Count(rows, out_dim));
  const float* x = dw != nullptr ? l.In(inp, Count(rows, in_dim)) : nullptr;
  const float* w = di != nullptr ? l.In(weight, Count(out_dim, in_dim)) : nullptr;
  if (rows == 0 || out_dim == 0) return;
  if (di != nullptr && in_dim > 0) {
    Tf32Gemm(CUBLAS_OP_N, CUBLAS_OP_N, in_dim, rows, out_dim, w, in_dim, d, out_dim, 1.0f, di,
             in_dim);
  }
  if (dw != nullptr && in_dim > 0) {
    Tf32Gemm(CUBLAS_OP_N, CUBLAS_OP_T, in_dim, out_dim, rows, x, in_dim, d, out_dim, 1.0f, dw,
             in_dim);
  }
  if (db != nullptr) exact::BiasBackwardPlan(l, db, d, rows, out_dim);
}
#endif  // AGORA_HAVE_CUBLAS

constexpr OpTable kCudaTable = {
    MatmulForwardCuda,       MatmulBackwardCuda,      BiasForwardCuda,
    BiasBackwardCuda,        LayerNormForwardCuda,    LayerNormBackwardCuda,
    GeluForwardCuda,         GeluBackwardCuda,        ResidualForwardCuda,
    ResidualBackwardCuda,    AttentionForwardCuda,    AttentionBackwardCuda,
    SoftmaxForwardCuda,      CrossEntropyForwardCuda, CrossEntropyBackwardCuda,
    EmbeddingForwardCuda,    EmbeddingBackwardCuda,   AdamWUpdateCuda,
    SumCuda,                 SumSquaresCuda,          ScaleCuda,
    FillCuda,                AllocateCuda,            ReleaseCuda,
    CopyCuda,
};

#if AGORA_HAVE_CUBLAS
// The exact tier's table with cuBLAS's matmuls.
constexpr OpTable NativeTable() {
  OpTable table = kCudaTable;
  table.matmul_forward = MatmulForwardNative;
  table.matmul_backward = MatmulBackwardNative;
  return table;
}
constexpr OpTable kCudaNativeTable = NativeTable();
#endif

}  // namespace

namespace cuda {
const OpTable* ExactOpTableImpl() { return &kCudaTable; }
const OpTable* NativeOpTableImpl() {
#if AGORA_HAVE_CUBLAS
  return &kCudaNativeTable;
#else
  return nullptr;
#endif
}
}  // namespace cuda

}  // namespace agora::kernels
