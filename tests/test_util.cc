#include "tests/test_util.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "common/check.h"

extern char** environ;

namespace agora::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base ? base : "/tmp") + "/agora-test-XXXXXX";
  AGORA_CHECK(::mkdtemp(pattern.data()) != nullptr);
  path_ = pattern;
}

TempDir::~TempDir() {
  // AGORA_KEEP_FAILED=1 keeps a failed test's directory (node homes, logs)
  // for a post-mortem.
  const char* keep = std::getenv("AGORA_KEEP_FAILED");
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (keep != nullptr && *keep == '1' && info != nullptr && info->result()->Failed()) {
    std::fprintf(stderr, "kept %s (AGORA_KEEP_FAILED=1)\n", path_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);  // best effort: a leftover temp dir harms nothing
}

std::optional<uint64_t> TestSeedOverride() {
  const char* env = std::getenv("AGORA_TEST_SEED");
  if (env == nullptr || *env == '\0') return std::nullopt;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(env, &end, 10);
  AGORA_CHECK_MSG(end != nullptr && *end == '\0',
                  std::string("AGORA_TEST_SEED must be a decimal number, not '") + env + "'");
  return v;
}

uint64_t TestSeed(uint64_t fallback) { return TestSeedOverride().value_or(fallback); }

std::vector<uint64_t> TestSeeds(uint64_t first, uint64_t count) {
  if (auto one = TestSeedOverride()) return {*one};
  std::vector<uint64_t> seeds;
  for (uint64_t s = first; s < first + count; ++s) seeds.push_back(s);
  return seeds;
}

std::string ReproduceLine(uint64_t seed, const std::string& filter) {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::string test = filter;
  if (test.empty()) {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    if (info != nullptr) test = std::string(info->test_suite_name()) + "." + info->name();
  }
  return "reproduce: AGORA_TEST_SEED=" + std::to_string(seed) + " " +
         (ec ? std::string("<test binary>") : self.string()) + " --gtest_filter='" + test + "'";
}

void WriteTextFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  AGORA_CHECK(out.good());
}

std::string ReadTextFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env) {
  TempDir dir;
  std::filesystem::path out_path = dir.path() / "stdout";
  std::filesystem::path err_path = dir.path() / "stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT, 0600);
  // Detach from the controlling terminal so a password prompt cannot block.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  AGORA_CHECK_MSG(rc == 0, "cannot start " + argv[0]);
  int wstatus = 0;
  AGORA_CHECK(::waitpid(pid, &wstatus, 0) == pid);
  CommandResult result;
  result.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  result.out = ReadTextFile(out_path);
  result.err = ReadTextFile(err_path);
  return result;
}

}  // namespace agora::testing
