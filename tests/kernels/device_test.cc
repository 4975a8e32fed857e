#include "kernels/device.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/kernels/kernel_test_util.h"

namespace agora::kernels {
namespace {

TEST(DeviceTest, BuildNoteMatchesBuild) {
  std::string note = CudaBuildNote();
  if (CudaBuilt()) {
    EXPECT_EQ(note.rfind("built", 0), 0u) << note;
  } else {
    EXPECT_EQ(note.rfind("off", 0), 0u) << note;
    EXPECT_EQ(*CudaDeviceCount(), 0);
    EXPECT_EQ(CudaSelfTest(4, 1).status().code(), StatusCode::kFailedPrecondition);
  }
}

TEST(DeviceTest, GpuRunsAKernel) {
  if (!CudaBuilt()) {
    if (testing::GpuRequired()) FAIL() << "AGORA_REQUIRE_GPU=1 but CUDA is not built";
    GTEST_SKIP() << "CUDA is not built into this binary (" << CudaBuildNote() << ")";
  }
  auto count = CudaDeviceCount();
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  if (*count == 0) {
    if (testing::GpuRequired()) FAIL() << "AGORA_REQUIRE_GPU=1 but no CUDA GPU is visible";
    GTEST_SKIP() << "no CUDA GPU is visible on this machine";
  }
  const uint32_t n = 1000, multiplier = 3;
  auto out = CudaSelfTest(n, multiplier);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), n);
  for (uint32_t i = 0; i < n; ++i) ASSERT_EQ((*out)[i], i * multiplier) << "index " << i;
}

// The CUDA kernels are loaded from libagora_cuda.so on first use
// (kernels/cuda/plugin.h). The loader runs once per process, so each case
// runs in a child of its own (a death test, re-executed: "threadsafe"),
// sets the environment the loader reads, and reports through its exit code
// and stderr. AGORA_CUDA_DRIVER_LIBRARY stands a library every machine has
// in for the NVIDIA driver, so the loading is exercised without a GPU too.
class CudaLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CudaBuilt()) GTEST_SKIP() << "CUDA is not built into this binary (" << CudaBuildNote() << ")";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

// Whether a library whose file name contains `name` is mapped into this
// process.
bool Mapped(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::stringstream text;
  text << maps.rdbuf();
  return text.str().find(name) != std::string::npos;
}

// Ends the child: exit code 0 iff `ok`, with `what` on stderr for the
// parent's regex. _Exit skips the exit-time leak check, which would judge
// the CUDA libraries' own allocations.
[[noreturn]] void Report(bool ok, const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(ok ? 0 : 1);
}

TEST_F(CudaLoaderTest, WithoutTheDriverNothingIsLoaded) {
  EXPECT_EXIT(
      {
        setenv("AGORA_CUDA_DRIVER_LIBRARY", "libagora-no-such-driver.so.1", 1);
        auto count = CudaDeviceCount();
        const Status ready = CudaOpsReady();
        Report(count.ok() && *count == 0 && ready.code() == StatusCode::kFailedPrecondition &&
                   !Mapped("libagora_cuda") && !Mapped("libcudart") && !Mapped("libcublas"),
               "count " + (count.ok() ? std::to_string(*count) : count.status().ToString()) +
                   "; ready: " + ready.ToString());
      },
      ::testing::ExitedWithCode(0), "count 0; ready: .*no CUDA GPU is visible");
}

TEST_F(CudaLoaderTest, AMissingLibraryIsNamedWithWhatToDo) {
  EXPECT_EXIT(
      {
        setenv("AGORA_CUDA_DRIVER_LIBRARY", "libm.so.6", 1);
        setenv("AGORA_CUDA_LIBRARY", "/nonexistent/agora/libagora_cuda.so", 1);
        auto count = CudaDeviceCount();
        const Status ready = CudaOpsReady();
        Report(!count.ok() && count.status().code() == StatusCode::kUnavailable &&
                   ready.code() == StatusCode::kUnavailable,
               count.status().ToString());
      },
      ::testing::ExitedWithCode(0),
      "libagora_cuda.so, which could not be loaded.*/nonexistent/agora/libagora_cuda.so: .*"
      "AGORA_CUDA_LIBRARY");
}

TEST_F(CudaLoaderTest, ALibraryThatIsNotAgorasIsRefused) {
  EXPECT_EXIT(
      {
        setenv("AGORA_CUDA_DRIVER_LIBRARY", "libm.so.6", 1);
        setenv("AGORA_CUDA_LIBRARY", "libm.so.6", 1);
        auto info = CudaSelfTest(4, 1);
        Report(!info.ok() && info.status().code() == StatusCode::kUnavailable,
               info.status().ToString());
      },
      ::testing::ExitedWithCode(0), "libm.so.6: has no agora_cuda_plugin, so is not Agora's");
}

// The library this build made is found where the build wrote it, and
// brings the CUDA runtime and cuBLAS with it; without a real driver the
// runtime then counts no GPU.
TEST_F(CudaLoaderTest, TheBuiltLibraryLoadsOnFirstUse) {
  EXPECT_EXIT(
      {
        unsetenv("AGORA_CUDA_LIBRARY");
        setenv("AGORA_CUDA_DRIVER_LIBRARY", "libm.so.6", 1);
        const bool before = Mapped("libagora_cuda") || Mapped("libcudart");
        auto count = CudaDeviceCount();
        Report(!before && count.ok() && Mapped("libagora_cuda") && Mapped("libcudart"),
               std::string("before ") + (before ? "mapped" : "not mapped") + ", count " +
                   (count.ok() ? std::to_string(*count) : count.status().ToString()));
      },
      ::testing::ExitedWithCode(0), "before not mapped, count [0-9]+");
}

}  // namespace
}  // namespace agora::kernels
