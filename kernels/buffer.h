// FloatBuffer: floats in the memory a Backend's ops work on best. For the
// CPU backends that is host memory; for Backend::kCuda it is the GPU's
// managed memory, which the kernels use in place (nothing is staged over
// PCIe) and the host can still read and write, at the price of moving pages.
// The trainer keeps its activations, gradients and working copy of the
// weights and moments in these, so that a step on a GPU stays on the GPU.
//
// Thread safety: as a std::vector.
#ifndef AGORA_KERNELS_BUFFER_H_
#define AGORA_KERNELS_BUFFER_H_

#include <cstddef>
#include <span>

#include "kernels/backend.h"

namespace agora::kernels {

class FloatBuffer {
 public:
  explicit FloatBuffer(Backend backend = Backend::kCpu) : backend_(backend) {}
  ~FloatBuffer();
  FloatBuffer(FloatBuffer&& other) noexcept;
  FloatBuffer& operator=(FloatBuffer&& other) noexcept;
  FloatBuffer(const FloatBuffer&) = delete;
  FloatBuffer& operator=(const FloatBuffer&) = delete;

  // Makes the buffer n floats long, every one +0 (written by the backend's
  // Fill, so on a GPU no page moves to the host). Earlier contents are
  // dropped, even when n equals size(); the memory is kept when n fits it
  // (a sampler's window grows one token a call). A fatal AGORA_CHECK when
  // the backend cannot allocate n floats.
  void resize(size_t n);
  // Frees the memory; size() becomes 0.
  void clear();

  float* data() { return data_; }
  const float* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<float> span() { return {data_, size_}; }
  std::span<const float> span() const { return {data_, size_}; }
  Backend backend() const { return backend_; }

 private:
  Backend backend_;
  float* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  // How data_ is freed, taken when it was allocated (a test may swap the
  // backend's table in between); null: delete[].
  void (*release_)(void*) = nullptr;
};

// True iff `backend` keeps its tensors in memory of its own (kCuda), so that
// host arrays handed to its ops are copied in and out on every call.
bool BackendHasOwnMemory(Backend backend);

// Copies n floats between host memory and the backend's memory, either way
// (memcpy for the CPU backends, cudaMemcpy for kCuda).
void CopyFloats(Backend backend, float* dst, const float* src, size_t n);

}  // namespace agora::kernels

#endif  // AGORA_KERNELS_BUFFER_H_
