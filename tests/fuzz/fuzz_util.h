// What every fuzzer shares: a property that fails stops the run with a
// message (libFuzzer then saves the input as a crash).
#ifndef AGORA_TESTS_FUZZ_FUZZ_UTIL_H_
#define AGORA_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstdio>
#include <cstdlib>

#define AGORA_FUZZ_EXPECT(cond)                                                        \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

#endif  // AGORA_TESTS_FUZZ_FUZZ_UTIL_H_
