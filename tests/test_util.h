// Helpers shared by the tests: temporary directories and running the real
// binaries.
#ifndef AGORA_TESTS_TEST_UTIL_H_
#define AGORA_TESTS_TEST_UTIL_H_

#include <filesystem>
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

void WriteTextFile(const std::filesystem::path& path, const std::string& text);
std::string ReadTextFile(const std::filesystem::path& path);

}  // namespace agora::testing

#endif  // AGORA_TESTS_TEST_UTIL_H_
