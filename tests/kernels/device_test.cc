#include "kernels/device.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace agora::kernels
