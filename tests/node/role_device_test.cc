// Which kernels the roles run a job on ([roles] device, BackendForJob): an
// exact job on the device's exact backend, a native job on its class's
// kernels only, and a clear refusal, before any fetch, of a native job of a
// class this machine is not.
#include <gtest/gtest.h>

#include "kernels/device.h"
#include "market/job_spec.h"
#include "node/roles/role_util.h"

namespace agora::node::roles {
namespace {

using kernels::Backend;
using market::HardwareClass;
using market::Tier;

market::JobSpec Spec(Tier tier, HardwareClass hardware) {
  market::JobSpec spec;
  spec.tier = tier;
  spec.hardware = hardware;
  return spec;
}

TEST(RoleDeviceTest, EachJobRunsOnTheKernelsOfItsTierAndClass) {
  RoleDevice cpu;
  cpu.description = "cpu";
  RoleDevice h200;  // what OpenRoleDevice("cuda") gives on an H200 with cuBLAS
  h200.exact = Backend::kCuda;
  h200.gpu_class = HardwareClass::kGpuSm90;
  h200.description = "cuda: NVIDIA H200";
  RoleDevice no_class = h200;  // a GPU of no market class (or no cuBLAS)
  no_class.gpu_class.reset();
  no_class.description = "cuda: NVIDIA RTX 4090";

  struct Case {
    const RoleDevice* device;
    Tier tier;
    HardwareClass hardware;
    std::optional<Backend> want;  // nullopt: refused
  };
  const Case cases[] = {
      {&cpu, Tier::kExact, HardwareClass::kCpu, Backend::kCpu},
      {&cpu, Tier::kExact, HardwareClass::kGpuSm90, Backend::kCpu},  // the class binds native only
      {&cpu, Tier::kNative, HardwareClass::kCpu, Backend::kCpu},
      {&cpu, Tier::kNative, HardwareClass::kGpuSm90, std::nullopt},
      {&h200, Tier::kExact, HardwareClass::kCpu, Backend::kCuda},
      {&h200, Tier::kNative, HardwareClass::kGpuSm90, Backend::kCudaNative},
      {&h200, Tier::kNative, HardwareClass::kCpu, Backend::kCpu},
      {&h200, Tier::kNative, HardwareClass::kGpuSm80, std::nullopt},
      {&h200, Tier::kNative, HardwareClass::kGpuSm100, std::nullopt},
      {&no_class, Tier::kExact, HardwareClass::kCpu, Backend::kCuda},
      {&no_class, Tier::kNative, HardwareClass::kGpuSm90, std::nullopt},
  };
  for (const Case& c : cases) {
    const Result<Backend> got = BackendForJob(*c.device, Spec(c.tier, c.hardware));
    const std::string what = c.device->description + ", " + std::string(market::TierName(c.tier)) +
                             " job on " + std::string(market::HardwareClassName(c.hardware));
    if (c.want) {
      ASSERT_TRUE(got.ok()) << what << ": " << got.status().ToString();
      EXPECT_EQ(*got, *c.want) << what;
    } else {
      ASSERT_FALSE(got.ok()) << what << " ran on " << kernels::BackendName(*got);
      EXPECT_EQ(got.status().code(), StatusCode::kFailedPrecondition) << what;
      // It names the job's class, the machine, and what to change.
      const std::string m = got.status().message();
      EXPECT_NE(m.find("native tier on " + std::string(market::HardwareClassName(c.hardware))),
                std::string::npos)
          << m;
      EXPECT_NE(m.find(c.device->description), std::string::npos) << m;
      EXPECT_NE(m.find("[roles] device"), std::string::npos) << m;
    }
  }
}

TEST(RoleDeviceTest, OpeningADeviceSaysWhatIsMissing) {
  Result<RoleDevice> cpu = OpenRoleDevice("cpu");
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(cpu->exact, Backend::kCpu);
  EXPECT_FALSE(cpu->gpu_class.has_value());
  EXPECT_EQ(OpenRoleDevice("tpu").status().code(), StatusCode::kInvalidArgument);
  Result<RoleDevice> cuda = OpenRoleDevice("cuda");
  if (kernels::CudaOpsReady().ok()) {
    ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
    EXPECT_EQ(cuda->exact, Backend::kCuda);
    const kernels::CudaDeviceInfo gpu = kernels::CudaDevice0Info().value();
    const bool classed = market::HardwareClassOfGpu(gpu.major, gpu.minor).has_value() &&
                         kernels::CudaNativeReady().ok();
    EXPECT_EQ(cuda->gpu_class.has_value(), classed) << cuda->description;
    EXPECT_NE(cuda->description.find(gpu.name), std::string::npos) << cuda->description;
  } else {
    ASSERT_FALSE(cuda.ok());
    EXPECT_EQ(cuda.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(cuda.status().message().find("[roles] device = \"cuda\""), std::string::npos)
        << cuda.status().ToString();
    EXPECT_NE(cuda.status().message().find(kernels::CudaOpsReady().message()), std::string::npos)
        << cuda.status().ToString();
  }
}

// The ledger cannot check an offer's or a profile's hardware: each role
// checks its own declaration against its machine and says what to change.
TEST(RoleDeviceTest, ADeclaredClassThisMachineDoesNotRunIsAProblem) {
  RoleDevice cpu;
  cpu.description = "cpu";
  RoleDevice h200;
  h200.exact = Backend::kCuda;
  h200.gpu_class = HardwareClass::kGpuSm90;
  h200.description = "cuda: NVIDIA H200";
  const std::string whose = "the provider's offer", fix = "agora provider update --hardware";
  EXPECT_EQ(DeclaredClassesProblem(cpu, {"cpu"}, whose, fix), "");
  EXPECT_EQ(DeclaredClassesProblem(cpu, {}, whose, fix), "");
  EXPECT_EQ(DeclaredClassesProblem(h200, {"gpu-sm90", "cpu"}, whose, fix), "");
  struct Case {
    const RoleDevice* device;
    std::vector<std::string> classes;
    std::string named, instead;
  };
  for (const Case& c : {Case{&cpu, {"gpu-sm90"}, "names gpu-sm90,", "Declare only cpu"},
                        Case{&cpu, {"cpu", "gpu-sm80", "gpu-sm100"}, "names gpu-sm80, gpu-sm100,",
                             "Declare only cpu"},
                        Case{&h200, {"gpu-sm80"}, "names gpu-sm80,", "Declare only gpu-sm90"},
                        Case{&h200, {"tpu"}, "names tpu,", "Declare only gpu-sm90"}}) {
    const std::string m = DeclaredClassesProblem(*c.device, c.classes, whose, fix);
    EXPECT_TRUE(m.starts_with(whose + " " + c.named)) << m;
    EXPECT_NE(m.find("[roles] device is " + c.device->description), std::string::npos) << m;
    EXPECT_NE(m.find(c.instead + " (" + fix + ")"), std::string::npos) << m;
  }
}

// A class is one compute capability: cuBLAS picks its kernels per
// architecture, so 8.6 or 8.9 is not 8.0's class.
TEST(RoleDeviceTest, AGpuClassIsOneComputeCapability) {
  EXPECT_EQ(market::HardwareClassOfGpu(8, 0), HardwareClass::kGpuSm80);
  EXPECT_EQ(market::HardwareClassOfGpu(9, 0), HardwareClass::kGpuSm90);
  EXPECT_EQ(market::HardwareClassOfGpu(10, 0), HardwareClass::kGpuSm100);
  for (auto [major, minor] : {std::pair{8, 6}, std::pair{8, 9}, std::pair{7, 5}, std::pair{12, 0},
                              std::pair{9, 1}}) {
    EXPECT_FALSE(market::HardwareClassOfGpu(major, minor).has_value()) << major << "." << minor;
  }
}

}  // namespace
}  // namespace agora::node::roles
