#include "kernels/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace agora::kernels {
namespace {

thread_local bool t_in_worker = false;

int DefaultThreads() {
  const unsigned hardware = std::thread::hardware_concurrency();
  return std::clamp(static_cast<int>(hardware == 0 ? 1 : hardware), 1, kThreadsMax);
}

std::atomic<int> g_threads{0};  // 0: not chosen yet, use the default

// Workers sleep on a generation counter; each job is one (fn, context, count)
// with an atomic cursor from which workers and the caller take items.
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
      pending_ = threads - 1;
      ++generation_;
    }
    wake_.notify_all();
    t_in_worker = true;
    Drain();
    t_in_worker = false;
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
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
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (index >= active_workers_) continue;
      }
      Drain();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex run_mutex_;  // one job at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  uint64_t generation_ = 0;
  int active_workers_ = 0;
  int pending_ = 0;
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
