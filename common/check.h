// AGORA_CHECK: invariants that must hold in every build, release included.
//
// A failed check means Agora itself is wrong: it prints the file, line and
// condition and aborts, so the bug is seen at once instead of corrupting a
// ledger later. Never use it on network, file or user input; that is what
// Status is for.
#ifndef AGORA_COMMON_CHECK_H_
#define AGORA_COMMON_CHECK_H_

#include <string_view>

namespace agora {

[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              std::string_view message);

}  // namespace agora

#define AGORA_CHECK(condition)                                         \
  do {                                                                 \
    if (!(condition)) [[unlikely]] {                                   \
      ::agora::CheckFailed(__FILE__, __LINE__, #condition, {});        \
    }                                                                  \
  } while (0)

#define AGORA_CHECK_MSG(condition, message)                            \
  do {                                                                 \
    if (!(condition)) [[unlikely]] {                                   \
      ::agora::CheckFailed(__FILE__, __LINE__, #condition, (message)); \
    }                                                                  \
  } while (0)

#endif  // AGORA_COMMON_CHECK_H_
