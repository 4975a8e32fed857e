#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/encoding.h"
#include "common/sodium.h"

namespace agora {

Status ErrnoStatus(const std::string& what, const std::filesystem::path& path, int err) {
  std::string message = what + " '" + path.string() + "': " + std::strerror(err);
  if (err == EACCES || err == EPERM) return Status::PermissionDenied(message);
  if (err == ENOENT) return Status::NotFound(message);
  if (err == EEXIST) return Status::AlreadyExists(message);
  return Status::IoError(message);
}

Status WriteAll(int fd, ByteSpan data, const std::filesystem::path& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status SyncDirectory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("cannot fsync directory", dir, err);
  return Status::Ok();
}

Status WriteFileAtomic(const std::filesystem::path& path, ByteSpan data, mode_t mode,
                       Overwrite overwrite) {
  EnsureSodium();
  std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  uint8_t nonce[8];
  randombytes_buf(nonce, sizeof nonce);
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + HexEncode(nonce);

  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("cannot create", tmp, errno);
  // open() applies the umask; set the mode exactly so a key file is 0600
  // even under an unusual umask.
  Status status = ::fchmod(fd, mode) == 0 ? Status::Ok() : ErrnoStatus("cannot chmod", tmp, errno);
  if (status.ok()) status = WriteAll(fd, data, tmp);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoStatus("cannot fsync", tmp, errno);
  if (::close(fd) != 0 && status.ok()) status = ErrnoStatus("cannot close", tmp, errno);
  if (status.ok()) {
    if (overwrite == Overwrite::kAllow) {
      if (::rename(tmp.c_str(), path.c_str()) != 0) {
        status = ErrnoStatus("cannot rename into place", path, errno);
      }
    } else if (::link(tmp.c_str(), path.c_str()) != 0) {
      // link() fails with EEXIST instead of replacing, which rename() would.
      status = ErrnoStatus("refusing to overwrite", path, errno);
    }
  }
  // The temporary name is gone after a rename; after link() or a failure it
  // must go. A failed unlink leaves only a stray temp file, so it is ignored.
  if (!status.ok() || overwrite == Overwrite::kRefuse) ::unlink(tmp.c_str());
  if (!status.ok()) return status;
  return SyncDirectory(dir);
}

Result<std::string> ReadFile(const std::filesystem::path& path, size_t bytes_max) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", path, errno);
  std::string out;
  char buffer[16384];
  Status status;
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = ErrnoStatus("cannot read", path, errno);
      break;
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > bytes_max) {
      status = Status::ResourceExhausted("'" + path.string() + "' is larger than " +
                                         std::to_string(bytes_max) + " bytes");
      break;
    }
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  if (!status.ok()) return status;
  return out;
}

}  // namespace agora
