// The kernels' thread pool: how many threads it uses by default.
#include <gtest/gtest.h>
#include <sched.h>

#include <cstdlib>

#include "kernels/parallel.h"

namespace agora::kernels {
namespace {

// A process pinned to one CPU (taskset, a container's CPU set) gets one
// kernel thread, not one per CPU of the host: spinning workers sharing a
// core would slow each other down. The count is read once, so the check
// runs in a fresh process (a threadsafe death test re-executes the binary).
TEST(ParallelTest, DefaultThreadsFollowTheAffinityMask) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  if (CPU_COUNT(&allowed) < 2) GTEST_SKIP() << "one CPU only: nothing to narrow";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  int first = 0;
  while (!CPU_ISSET(first, &allowed)) ++first;
  EXPECT_EXIT(
      {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(first, &one);
        if (sched_setaffinity(0, sizeof(one), &one) != 0) std::_Exit(100);
        std::_Exit(ThreadCount());
      },
      ::testing::ExitedWithCode(1), "");
  // Two CPUs: two threads.
  int second = first + 1;
  while (!CPU_ISSET(second, &allowed)) ++second;
  EXPECT_EXIT(
      {
        cpu_set_t two;
        CPU_ZERO(&two);
        CPU_SET(first, &two);
        CPU_SET(second, &two);
        if (sched_setaffinity(0, sizeof(two), &two) != 0) std::_Exit(100);
        std::_Exit(ThreadCount());
      },
      ::testing::ExitedWithCode(2), "");
}

}  // namespace
}  // namespace agora::kernels
