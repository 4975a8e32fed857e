#include "kernels/buffer.h"

#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "common/check.h"
#include "kernels/op_table.h"
#include "kernels/ops.h"

namespace agora::kernels {

FloatBuffer::~FloatBuffer() { clear(); }

FloatBuffer::FloatBuffer(FloatBuffer&& other) noexcept
    : backend_(other.backend_),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)),
      release_(std::exchange(other.release_, nullptr)) {}

FloatBuffer& FloatBuffer::operator=(FloatBuffer&& other) noexcept {
  if (this != &other) {
    clear();
    backend_ = other.backend_;
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    release_ = std::exchange(other.release_, nullptr);
  }
  return *this;
}

void FloatBuffer::resize(size_t n) {
  if (data_ != nullptr && n <= capacity_) {
    size_ = n;
    Fill(backend_, data_, static_cast<int64_t>(n), 0.0f);
    return;
  }
  clear();
  if (n == 0) return;
  const OpTable& table = internal::ActiveOpTable(backend_);
  if (table.allocate != nullptr) {
    data_ = static_cast<float*>(table.allocate(n * sizeof(float)));
    release_ = table.release;
  } else {
    data_ = new (std::nothrow) float[n];
  }
  AGORA_CHECK_MSG(data_ != nullptr, "cannot allocate " + std::to_string(n * sizeof(float)) +
                                        " bytes for a " + std::string(BackendName(backend_)) +
                                        " tensor");
  size_ = n;
  capacity_ = n;
  Fill(backend_, data_, static_cast<int64_t>(n), 0.0f);
}

void FloatBuffer::clear() {
  if (data_ == nullptr) return;
  if (release_ != nullptr) {
    release_(data_);
  } else {
    delete[] data_;
  }
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
  release_ = nullptr;
}

bool BackendHasOwnMemory(Backend backend) {
  return internal::ActiveOpTable(backend).allocate != nullptr;
}

void CopyFloats(Backend backend, float* dst, const float* src, size_t n) {
  if (n == 0) return;
  const OpTable& table = internal::ActiveOpTable(backend);
  if (table.copy != nullptr) {
    table.copy(dst, src, n * sizeof(float));
  } else {
    std::memcpy(dst, src, n * sizeof(float));
  }
}

}  // namespace agora::kernels
