// The main() of the fuzz targets in the test builds (gcc, default and asan
// presets), where libFuzzer is not available: it runs every file of the
// seed corpus, then --runs inputs made from them by random mutations (bit
// flips, byte changes, inserts, deletions, copies, splices, truncations),
// drawn from AGORA_TEST_SEED. No coverage guidance: that is what the
// libFuzzer build (scripts/fuzz.sh) adds. Under ASan+UBSan this checks each
// target's memory safety and properties on a fixed set of inputs in every
// CI run.
//
// A failing input (a property's abort, a signal or a sanitizer report) is
// written to ./<target>-crash-<seed>-<index> and named on stderr with a
// reproduce line; passing that file as the only argument replays it.
//
//   fuzz_tx_replay [--runs N] [--max-len BYTES] CORPUS_DIR_OR_FILE...
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;
using Input = std::vector<uint8_t>;

// What the crash handlers write: the input being run and where to put it.
const Input* g_current = nullptr;
char g_crash_path[512] = {};

void SaveCurrent() {
  if (g_current == nullptr || g_crash_path[0] == '\0') return;
  const int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  size_t done = 0;
  while (done < g_current->size()) {
    const ssize_t n = ::write(fd, g_current->data() + done, g_current->size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  static const char kSaved[] = "\nfuzz replay: the failing input was saved to ";
  (void)!::write(2, kSaved, sizeof kSaved - 1);
  (void)!::write(2, g_crash_path, std::strlen(g_crash_path));
  (void)!::write(2, "\n", 1);
}

void OnSignal(int signal) {
  SaveCurrent();
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

// splitmix64: small, fast, and the same sequence on every machine.
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }
};

void MutateOnce(Rng& rng, Input& in, const std::vector<Input>& corpus, size_t max_len) {
  static constexpr uint8_t kInteresting[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0x0a,
                                             0x12, 0x22, 0x3a, '"',  '{',  '[',  '\\'};
  switch (rng.Below(8)) {
    case 0:  // flip a bit
      if (!in.empty()) in[rng.Below(in.size())] ^= static_cast<uint8_t>(1u << rng.Below(8));
      break;
    case 1:  // an interesting byte
      if (!in.empty()) in[rng.Below(in.size())] = kInteresting[rng.Below(sizeof kInteresting)];
      break;
    case 2:  // a random byte
      if (!in.empty()) in[rng.Below(in.size())] = static_cast<uint8_t>(rng.Next());
      break;
    case 3: {  // insert 1..8 random bytes
      const size_t n = 1 + rng.Below(8);
      const size_t at = rng.Below(in.size() + 1);
      Input bytes(n);
      for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng.Next());
      in.insert(in.begin() + static_cast<std::ptrdiff_t>(at), bytes.begin(), bytes.end());
      break;
    }
    case 4: {  // delete a range
      if (in.empty()) break;
      const size_t at = rng.Below(in.size());
      const size_t n = 1 + rng.Below(std::min<size_t>(16, in.size() - at));
      in.erase(in.begin() + static_cast<std::ptrdiff_t>(at),
               in.begin() + static_cast<std::ptrdiff_t>(at + n));
      break;
    }
    case 5: {  // copy a range of the input over another place
      if (in.size() < 2) break;
      const size_t from = rng.Below(in.size());
      const size_t n = 1 + rng.Below(std::min<size_t>(32, in.size() - from));
      const Input chunk(in.begin() + static_cast<std::ptrdiff_t>(from),
                        in.begin() + static_cast<std::ptrdiff_t>(from + n));
      const size_t to = rng.Below(in.size() + 1);
      in.insert(in.begin() + static_cast<std::ptrdiff_t>(to), chunk.begin(), chunk.end());
      break;
    }
    case 6: {  // splice: a prefix of this one, a suffix of another
      const Input& other = corpus[rng.Below(corpus.size())];
      const size_t keep = rng.Below(in.size() + 1);
      const size_t from = rng.Below(other.size() + 1);
      in.resize(keep);
      in.insert(in.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
      break;
    }
    default:  // truncate
      in.resize(rng.Below(in.size() + 1));
      break;
  }
  if (in.size() > max_len) in.resize(max_len);
}

bool ReadInput(const fs::path& path, Input* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string name = fs::path(argv[0]).filename().string();
  size_t runs = 0;
  size_t max_len = 1 << 16;
  std::vector<fs::path> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) {
      runs = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--max-len" && i + 1 < argc) {
      max_len = std::strtoull(argv[++i], nullptr, 10);
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "usage: %s [--runs N] [--max-len BYTES] CORPUS_DIR_OR_FILE...\n",
                   name.c_str());
      return 2;
    } else {
      paths.emplace_back(arg);
    }
  }
  std::vector<Input> corpus;
  for (const fs::path& p : paths) {
    std::vector<fs::path> files;
    if (fs::is_directory(p)) {
      for (const auto& e : fs::directory_iterator(p)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());  // the same order on every machine
    } else {
      files.push_back(p);
    }
    for (const fs::path& f : files) {
      Input in;
      if (!ReadInput(f, &in)) {
        std::fprintf(stderr, "%s: cannot read %s\n", name.c_str(), f.c_str());
        return 2;
      }
      corpus.push_back(std::move(in));
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "%s: no inputs (give a corpus directory or files)\n", name.c_str());
    return 2;
  }
  const char* env = std::getenv("AGORA_TEST_SEED");
  uint64_t seed = 1;
  if (env != nullptr && *env != '\0') {
    char* end = nullptr;
    seed = std::strtoull(env, &end, 10);
    if (end == nullptr || *end != '\0') {
      std::fprintf(stderr, "%s: AGORA_TEST_SEED must be a decimal number, not '%s'\n",
                   name.c_str(), env);
      return 2;
    }
  }

  ::signal(SIGABRT, OnSignal);
  ::signal(SIGSEGV, OnSignal);
  ::signal(SIGBUS, OnSignal);
  ::signal(SIGFPE, OnSignal);
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_set_death_callback(SaveCurrent);
#endif
  auto run = [&](const Input& in, size_t index) {
    std::snprintf(g_crash_path, sizeof g_crash_path, "%s-crash-%llu-%zu", name.c_str(),
                  static_cast<unsigned long long>(seed), index);
    g_current = &in;
    LLVMFuzzerTestOneInput(in.data(), in.size());
    g_current = nullptr;
  };
  std::fprintf(stderr,
               "%s: %zu corpus inputs, then %zu mutated ones; reproduce: AGORA_TEST_SEED=%llu %s "
               "--runs %zu --max-len %zu",
               name.c_str(), corpus.size(), runs, static_cast<unsigned long long>(seed), argv[0],
               runs, max_len);
  for (const fs::path& p : paths) std::fprintf(stderr, " %s", p.c_str());
  std::fprintf(stderr, "\n");

  for (size_t i = 0; i < corpus.size(); ++i) run(corpus[i], i);
  const unsigned long long corpus_accepted = agora::fuzz::Accepted();
  // A corpus that no longer reaches the properties (the format or the
  // fixtures changed) would leave the target silently vacuous.
  if (corpus_accepted == 0) {
    std::fprintf(stderr,
                 "%s: no corpus input was accepted; regenerate the seeds "
                 "(build/default/tests/fuzz/make_seeds tests/fuzz/corpus)\n",
                 name.c_str());
    return 1;
  }
  Rng rng{seed};
  for (size_t i = 0; i < runs; ++i) {
    Input in = corpus[rng.Below(corpus.size())];
    const size_t stacked = 1 + rng.Below(6);
    for (size_t k = 0; k < stacked; ++k) MutateOnce(rng, in, corpus, max_len);
    run(in, corpus.size() + i);
  }
  std::printf("%s: %zu inputs, no finding; accepted: %llu of %zu corpus inputs, %llu of %zu "
              "mutated\n",
              name.c_str(), corpus.size() + runs, corpus_accepted, corpus.size(),
              agora::fuzz::Accepted() - corpus_accepted, runs);
  return 0;
}
