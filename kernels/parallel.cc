#include "kernels/parallel.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace agora::kernels {
namespace {

thread_local bool t_in_worker = false;

// The CPUs this process may run on (as nproc counts them): a process
// started under taskset, or in a container limited to a CPU set, must not
// start a worker per CPU of the host, since spinning workers that share a
// core slow each other down. hardware_concurrency() counts every online CPU.
// Read once, at the first parallel op, from the mask of the thread that runs
// it.
int DefaultThreads() {
  static const int threads = [] {
    int allowed = 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) allowed = CPU_COUNT(&set);
    if (allowed <= 0) allowed = static_cast<int>(std::thread::hardware_concurrency());
    return std::clamp(allowed, 1, kThreadsMax);
  }();
  return threads;
}

std::atomic<int> g_threads{0};  // 0: not chosen yet, use the default

// Workers wait on a generation counter; each job is one (fn, context, count)
// with an atomic cursor from which workers and the caller take items.
//
// A worker that finishes a job spins on the counter for up to kSpinSeconds
// before it sleeps on the condition variable, and the caller spins the same
// way on the count of unfinished workers. A training step is a run of short
// parallel ops (a 2048x128x256 product takes ~0.3 ms on two cores); waking a
// sleeping thread costs tens of microseconds, and when another process keeps
// the second core busy the woken worker may not run at all before the caller
// has done every item itself. The spin keeps the worker on its core between
// ops; after kSpinSeconds of no work it sleeps and costs nothing.
constexpr double kSpinSeconds = 200e-6;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until done() or kSpinSeconds have passed; returns done().
template <typename Done>
bool SpinUntil(Done done) {
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(kSpinSeconds));
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      CpuRelax();
    }
    if (Clock::now() >= deadline) return done();
  }
}

class Pool {
 public:
  static Pool& Get() {
    static Pool* pool = new Pool();  // never destroyed: workers may outlive main's statics
    return *pool;
  }

  void Run(int threads, int64_t count, void (*fn)(void*, int64_t), void* context) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    EnsureWorkers(threads - 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = fn;
      context_ = context;
      count_ = count;
      next_.store(0, std::memory_order_relaxed);
      active_workers_ = threads - 1;
      pending_.store(threads - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();  // cheap when every worker is still spinning
    t_in_worker = true;
    Drain();
    t_in_worker = false;
    if (SpinUntil([this] { return pending_.load(std::memory_order_acquire) == 0; })) return;
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
  }

 private:
  void EnsureWorkers(int wanted) {
    while (static_cast<int>(workers_.size()) < wanted) {
      const int index = static_cast<int>(workers_.size());
      workers_.emplace_back([this, index] { WorkerLoop(index); });
      workers_.back().detach();
    }
  }

  void Drain() {
    for (;;) {
      const int64_t item = next_.fetch_add(1, std::memory_order_relaxed);
      if (item >= count_) return;
      fn_(context_, item);
    }
  }

  void WorkerLoop(int index) {
    t_in_worker = true;
    uint64_t seen = 0;
    for (;;) {
      SpinUntil([&] { return generation_.load(std::memory_order_acquire) != seen; });
      {
        // The job's fields are written under mutex_: reading them under it
        // orders this worker after the caller's writes whether it woke from
        // the spin or from the condition variable.
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
        seen = generation_.load(std::memory_order_relaxed);
        if (index >= active_workers_) continue;
      }
      Drain();
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);  // the caller may be between check and wait
        done_.notify_one();
      }
    }
  }

  std::mutex run_mutex_;  // one job at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  int active_workers_ = 0;
  std::atomic<int> pending_{0};
  void (*fn_)(void*, int64_t) = nullptr;
  void* context_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
};

}  // namespace

int ThreadCount() {
  const int threads = g_threads.load(std::memory_order_relaxed);
  return threads == 0 ? DefaultThreads() : threads;
}

void SetThreadCount(int threads) {
  g_threads.store(std::clamp(threads, 1, kThreadsMax), std::memory_order_relaxed);
}

void ParallelForRaw(int64_t count, void (*fn)(void* context, int64_t item), void* context) {
  if (count <= 0) return;
  const int threads = static_cast<int>(std::min<int64_t>(ThreadCount(), count));
  if (threads <= 1 || t_in_worker) {
    for (int64_t item = 0; item < count; ++item) fn(context, item);
    return;
  }
  Pool::Get().Run(threads, count, fn, context);
}

}  // namespace agora::kernels
