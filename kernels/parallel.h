// A small fixed pool of worker threads for the fast CPU kernels.
//
// ParallelFor hands out the items 0..count-1; every item must write outputs
// that no other item touches and must compute them in the order the op's
// specification fixes. Which thread runs which item, and in what order items
// run, then cannot change a single bit: results do not depend on the thread
// count (tests check 1 thread against all of them).
//
// Thread safety: all functions are thread-safe. Concurrent ParallelFor calls
// are serialised; a ParallelFor called from inside a worker runs its items
// inline on that worker.
#ifndef AGORA_KERNELS_PARALLEL_H_
#define AGORA_KERNELS_PARALLEL_H_

#include <cstdint>

namespace agora::kernels {

// The most threads the pool will ever run, whatever the caller asks for.
inline constexpr int kThreadsMax = 256;

// Number of threads the fast kernels use (default: the CPUs in the process's
// affinity mask when first asked, as nproc counts them).
int ThreadCount();

// Sets the number of threads, clamped to [1, kThreadsMax]. Takes effect at the
// next ParallelFor.
void SetThreadCount(int threads);

// Calls fn(context, item) once for every item in [0, count), spread over the
// pool. Returns when all items are done.
void ParallelForRaw(int64_t count, void (*fn)(void* context, int64_t item), void* context);

template <typename Fn>
void ParallelFor(int64_t count, Fn&& fn) {
  ParallelForRaw(
      count, [](void* context, int64_t item) { (*static_cast<Fn*>(context))(item); },
      const_cast<void*>(static_cast<const void*>(&fn)));
}

}  // namespace agora::kernels

#endif  // AGORA_KERNELS_PARALLEL_H_
