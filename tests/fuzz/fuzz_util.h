// What every fuzzer shares: a property that fails stops the run with a
// message (libFuzzer then saves the input as a crash).
#ifndef AGORA_TESTS_FUZZ_FUZZ_UTIL_H_
#define AGORA_TESTS_FUZZ_FUZZ_UTIL_H_

#include <google/protobuf/stubs/logging.h>

#include <cstdio>
#include <cstdlib>

namespace agora::fuzz {
// Inputs a target took all the way through (decoded and accepted), so a
// replay can report how many of its inputs reached the properties.
inline unsigned long long& Accepted() {
  static unsigned long long n = 0;
  return n;
}
// Protobuf logs every string field with bad UTF-8 it meets; fuzz inputs are
// full of them, and the lines slow a run down and bury its findings.
inline const bool kProtobufQuiet = [] {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}();
}  // namespace agora::fuzz

#define AGORA_FUZZ_ACCEPTED() (++::agora::fuzz::Accepted())

#define AGORA_FUZZ_EXPECT(cond)                                                        \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

#endif  // AGORA_TESTS_FUZZ_FUZZ_UTIL_H_
