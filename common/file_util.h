// Files that must never be seen half-written.
//
// Thread safety: functions are thread-safe; concurrent writers of one path
// race, and the last rename wins.
#ifndef AGORA_COMMON_FILE_UTIL_H_
#define AGORA_COMMON_FILE_UTIL_H_

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "common/bytes.h"
#include "common/status.h"

namespace agora {

enum class Overwrite : uint8_t { kAllow, kRefuse };

// Writes `data` to a temporary file beside `path` created with `mode`, fsyncs
// it, moves it into place and fsyncs the directory, so after a crash `path`
// holds either the old content or the new, never a mix. With
// Overwrite::kRefuse an existing `path` gives AlreadyExists and is left as is.
Status WriteFileAtomic(const std::filesystem::path& path, ByteSpan data, mode_t mode,
                       Overwrite overwrite = Overwrite::kAllow);

// Reads a whole file; ResourceExhausted if it is larger than `bytes_max`.
Result<std::string> ReadFile(const std::filesystem::path& path, size_t bytes_max);

}  // namespace agora

#endif  // AGORA_COMMON_FILE_UTIL_H_
