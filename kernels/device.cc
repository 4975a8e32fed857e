#include "kernels/device.h"

#include <string>
#include <vector>

#include "common/check.h"
#include "kernels/op_table.h"

#if AGORA_HAVE_CUDA
#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>

#include "kernels/cuda/plugin.h"
#endif

#ifndef AGORA_CUDA_NOTE
#error "AGORA_CUDA_NOTE must be defined by the build"
#endif

namespace agora::kernels {

#if AGORA_HAVE_CUDA
namespace {

// What loading libagora_cuda.so came to, once per process.
struct LoadedPlugin {
  bool driver = false;  // libcuda.so.1 (the NVIDIA driver) is installed
  const CudaPlugin* plugin = nullptr;
  Status status;  // why plugin is null where the driver is there
};

// The places to look for the library, in order: $AGORA_CUDA_LIBRARY alone
// when set; else beside the binary, in ../lib beside it, and where this
// build wrote it (AGORA_CUDA_LIBRARY_BUILT, for binaries run from the build
// tree).
std::vector<std::string> PluginCandidates() {
  if (const char* env = std::getenv("AGORA_CUDA_LIBRARY"); env != nullptr && *env != '\0') {
    return {env};
  }
  std::vector<std::string> out;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back((exe.parent_path() / "libagora_cuda.so").string());
    out.push_back((exe.parent_path().parent_path() / "lib" / "libagora_cuda.so").string());
  }
  out.push_back(AGORA_CUDA_LIBRARY_BUILT);
  return out;
}

LoadedPlugin Load() {
  LoadedPlugin loaded;
  // Without the driver there is no GPU to find, and the CUDA runtime would
  // say so only after the 0.4 s of loading cuBLAS: ask the dynamic linker
  // first. The handle stays open; the runtime opens the same library.
  // $AGORA_CUDA_DRIVER_LIBRARY names another library to ask for, so tests
  // on machines without the driver reach the loading below
  // (tests/kernels/device_test.cc).
  const char* driver = std::getenv("AGORA_CUDA_DRIVER_LIBRARY");
  if (driver == nullptr || *driver == '\0') driver = "libcuda.so.1";
  if (dlopen(driver, RTLD_LAZY | RTLD_LOCAL) == nullptr) return loaded;
  loaded.driver = true;
  std::string tried;
  for (const std::string& path : PluginCandidates()) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      tried += "\n  " + path + ": " + (why != nullptr ? why : "not loadable");
      continue;
    }
    using Entry = const CudaPlugin* (*)();
    auto entry = reinterpret_cast<Entry>(dlsym(handle, kCudaPluginSymbol));
    if (entry == nullptr) {
      tried += "\n  " + path + ": has no " + kCudaPluginSymbol + ", so is not Agora's CUDA library";
      continue;
    }
    const CudaPlugin* plugin = entry();
    if (plugin == nullptr || plugin->abi != kCudaPluginAbi ||
        plugin->plugin_size != sizeof(CudaPlugin) || plugin->op_table_size != sizeof(OpTable)) {
      // Kept loaded: a library that another build made may not unload cleanly.
      tried += "\n  " + path + ": built from another version of Agora (ABI mismatch)";
      continue;
    }
    loaded.plugin = plugin;
    return loaded;
  }
  loaded.status = Status::Unavailable(
      "this binary keeps its CUDA kernels in libagora_cuda.so, which could not be loaded; "
      "tried:" + tried + "\nput the library from the same build beside the binary, or set "
      "AGORA_CUDA_LIBRARY to its path");
  return loaded;
}

const LoadedPlugin& Plugin() {
  static const LoadedPlugin loaded = Load();
  return loaded;
}

// The loaded plugin, or why there is none: FailedPrecondition without a
// driver, Unavailable when the library is missing or from another build.
Result<const CudaPlugin*> LoadedOrWhy() {
  const LoadedPlugin& loaded = Plugin();
  if (!loaded.driver) {
    return Status::FailedPrecondition(
        "no CUDA GPU is visible: the NVIDIA driver (libcuda.so.1) is not installed");
  }
  if (loaded.plugin == nullptr) return loaded.status;
  return loaded.plugin;
}

}  // namespace

namespace cuda {
namespace {
// Callers check CudaOpsReady() (kCuda) or CudaNativeReady() (kCudaNative)
// before running an op, so the library is loaded here.
const CudaPlugin& ReadyPlugin() {
  const LoadedPlugin& loaded = Plugin();
  AGORA_CHECK_MSG(loaded.plugin != nullptr,
                  "a CUDA backend without its library; callers check CudaOpsReady() first");
  return *loaded.plugin;
}
}  // namespace
const OpTable* CudaOpTable() { return ReadyPlugin().exact; }
const OpTable* CudaNativeOpTable() { return ReadyPlugin().native; }
}  // namespace cuda
#endif

bool CudaBuilt() { return AGORA_HAVE_CUDA != 0; }

std::string CudaBuildNote() { return AGORA_CUDA_NOTE; }

Result<int> CudaDeviceCount() {
#if AGORA_HAVE_CUDA
  if (!Plugin().driver) return 0;
  AGORA_ASSIGN_OR_RETURN(const CudaPlugin* plugin, LoadedOrWhy());
  return plugin->device_count();
#else
  return 0;
#endif
}

Result<std::vector<uint32_t>> CudaSelfTest(uint32_t n, uint32_t multiplier) {
#if AGORA_HAVE_CUDA
  AGORA_ASSIGN_OR_RETURN(const CudaPlugin* plugin, LoadedOrWhy());
  return plugin->self_test(n, multiplier);
#else
  (void)n;
  (void)multiplier;
  return Status::FailedPrecondition("this build has no CUDA (" + CudaBuildNote() + ")");
#endif
}

Result<CudaDeviceInfo> CudaDevice0Info() {
  AGORA_RETURN_IF_ERROR(CudaOpsReady());
#if AGORA_HAVE_CUDA
  AGORA_ASSIGN_OR_RETURN(const CudaPlugin* plugin, LoadedOrWhy());
  return plugin->device0_info();
#else
  return Status::FailedPrecondition("this build has no CUDA");
#endif
}

Result<std::shared_ptr<float>> CudaManagedFloats(size_t n) {
  AGORA_RETURN_IF_ERROR(CudaOpsReady());
#if AGORA_HAVE_CUDA
  AGORA_ASSIGN_OR_RETURN(const CudaPlugin* plugin, LoadedOrWhy());
  return plugin->managed_floats(n);
#else
  (void)n;
  return Status::FailedPrecondition("this build has no CUDA");
#endif
}

Status CudaNativeReady() {
  AGORA_RETURN_IF_ERROR(CudaOpsReady());
  if (!AGORA_HAVE_CUBLAS) {
    return Status::FailedPrecondition(
        "this binary has CUDA but no cuBLAS, which the native tier's matmuls need; rebuild "
        "with the CUDA toolkit's cuBLAS installed or use the exact tier");
  }
  return Status::Ok();
}

Status CudaOpsReady() {
  if (!CudaBuilt()) {
    return Status::FailedPrecondition("this binary has no CUDA kernels (" + CudaBuildNote() +
                                      "); rebuild with nvcc installed (AGORA_CUDA=ON) or use the "
                                      "CPU backend");
  }
  AGORA_ASSIGN_OR_RETURN(int count, CudaDeviceCount());
  if (count == 0) {
    return Status::FailedPrecondition(
        "no CUDA GPU is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES), or use the CPU "
        "backend");
  }
  return Status::Ok();
}

}  // namespace agora::kernels
