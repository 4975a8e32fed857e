// Helpers shared by the tests: temporary directories and running the real
// binaries.
#ifndef AGORA_TESTS_TEST_UTIL_H_
#define AGORA_TESTS_TEST_UTIL_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace agora::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it
// when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] is a path, no shell) with stdin from /dev/null and
// extra environment entries `env` ("NAME=value"), and collects its output.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {});

// Randomized tests take their seed from one variable, AGORA_TEST_SEED, and
// print a line that reruns exactly the failing case.
//
// The seed a test uses: AGORA_TEST_SEED when set, else `fallback`.
uint64_t TestSeed(uint64_t fallback);
// AGORA_TEST_SEED when set: a test that sweeps many seeds then runs only it.
std::optional<uint64_t> TestSeedOverride();
// The seeds a sweep runs: only AGORA_TEST_SEED when set, else `count` from
// `first`.
std::vector<uint64_t> TestSeeds(uint64_t first, uint64_t count);
// "reproduce: AGORA_TEST_SEED=<seed> <this test binary> --gtest_filter=<this
// test>" (the binary from /proc/self/exe, the filter from GoogleTest's
// current test, with `filter` instead when given).
std::string ReproduceLine(uint64_t seed, const std::string& filter = "");

// True in a build with AddressSanitizer (the asan preset, CI's second
// stage). Statistical sweeps run fewer samples there, or skip saying why:
// sanitizers look for memory and undefined-behaviour errors, which the
// first samples reach as well as the last, at several times the cost.
constexpr bool UnderSanitizer() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

void WriteTextFile(const std::filesystem::path& path, const std::string& text);
std::string ReadTextFile(const std::filesystem::path& path);

}  // namespace agora::testing

#endif  // AGORA_TESTS_TEST_UTIL_H_
