#include "node/home.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace agora::node {

Result<std::filesystem::path> DefaultHome() {
  if (const char* home = std::getenv("AGORA_HOME"); home != nullptr && *home != '\0') {
    return std::filesystem::path(home);
  }
  if (const char* user_home = std::getenv("HOME"); user_home != nullptr && *user_home != '\0') {
    return std::filesystem::path(user_home) / ".agora";
  }
  return Status::FailedPrecondition("neither AGORA_HOME nor HOME is set; pass --home DIR");
}

Status EnsurePrivateDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create '" + dir.string() + "': " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) {
    return Status::PermissionDenied("cannot restrict '" + dir.string() +
                                    "' to its owner: " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace agora::node
