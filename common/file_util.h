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

// Writes all of `data` to `fd` (retrying short writes and EINTR); errors name `path`.
Status WriteAll(int fd, ByteSpan data, const std::filesystem::path& path);

// fsyncs a directory, so a rename or unlink inside it survives a crash.
Status SyncDirectory(const std::filesystem::path& dir);

// A Status for a failed system call on `path`: NotFound for ENOENT,
// PermissionDenied for EACCES/EPERM, AlreadyExists for EEXIST, IoError
// otherwise; the message is "<what> '<path>': <strerror>".
Status ErrnoStatus(const std::string& what, const std::filesystem::path& path, int err);

// Reads a whole file; ResourceExhausted if it is larger than `bytes_max`.
Result<std::string> ReadFile(const std::filesystem::path& path, size_t bytes_max);

}  // namespace agora

#endif  // AGORA_COMMON_FILE_UTIL_H_
