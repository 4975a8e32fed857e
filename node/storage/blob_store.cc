#include "node/storage/blob_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include "common/check.h"
#include "common/file_util.h"
#include "common/merkle.h"
#include "common/sodium.h"

namespace agora::node::storage {

namespace fs = std::filesystem;

namespace {

constexpr size_t kChunkBytes = 1 << 20;
constexpr mode_t kBlobMode = 0644;  // blobs are public: peers fetch them

std::string MiB(uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

// Closes a descriptor on every path out of a scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports a failure (a write-back error shows up here).
  int Close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Status SyncFile(const fs::path& file) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("cannot open", file, errno);
  if (::fsync(fd.get()) != 0) return ErrnoStatus("cannot fsync", file, errno);
  return Status::Ok();
}

std::optional<Hash256> HashFromName(const std::string& name) {
  if (name.size() != 2 * Hash256::kSize) return std::nullopt;
  auto hash = Hash256::FromHex(name);
  if (!hash.ok()) return std::nullopt;
  return *hash;
}

// Marks a file stored again now, so that a collection running beside the
// put that found it does not take it for unused.
Status Touch(const fs::path& path) {
  std::error_code ec;
  fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
  if (ec) return Status::IoError("cannot touch '" + path.string() + "': " + ec.message());
  return Status::Ok();
}

// Calls f(entry) for each entry of `dir`. An error (the folder gone, a failed
// read) ends the walk and is left in `ec` instead of being thrown: gc runs on
// the node's timer, where an exception would stop the node.
template <typename F>
void ForEachEntry(const fs::path& dir, std::error_code& ec, F f) {
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) f(*it);
}

}  // namespace

Result<Hash256> HashFile(const fs::path& file, uint64_t bytes_max, uint64_t* size) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("cannot open", file, errno);
  Blake2b256Hasher hasher;
  std::vector<uint8_t> buffer(kChunkBytes);
  uint64_t total = 0;
  while (true) {
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot read", file, errno);
    }
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
    if (total > bytes_max) {
      return Status::ResourceExhausted("'" + file.string() + "' is larger than the blob limit of " +
                                       std::to_string(bytes_max) + " bytes");
    }
    hasher.Update(ByteSpan(buffer.data(), static_cast<size_t>(n)));
  }
  if (size != nullptr) *size = total;
  return hasher.Finish();
}

Bytes EncodeManifest(const std::vector<Hash256>& hashes) {
  Bytes out;
  out.reserve(hashes.size() * Hash256::kSize);
  for (const Hash256& h : hashes) out.insert(out.end(), h.bytes.begin(), h.bytes.end());
  return out;
}

Result<std::vector<Hash256>> DecodeManifest(const Hash256& root, ByteSpan bytes) {
  if (bytes.empty() || bytes.size() % Hash256::kSize != 0 ||
      bytes.size() / Hash256::kSize > kManifestHashesMax) {
    return Status::Corruption("a checkpoint manifest is 1 to " +
                              std::to_string(kManifestHashesMax) + " hashes of 32 bytes, not " +
                              std::to_string(bytes.size()) + " bytes");
  }
  std::vector<Hash256> hashes;
  for (size_t i = 0; i < bytes.size(); i += Hash256::kSize) {
    hashes.push_back(Hash256::FromBytes(bytes.subspan(i, Hash256::kSize)));
  }
  if (merkle::Root(hashes) != root) {
    return Status::Corruption("the checkpoint manifest does not have the Merkle root " +
                              root.ToHex());
  }
  return hashes;
}

BlobStore::BlobStore(fs::path dir, BlobStoreOptions options)
    : dir_(std::move(dir)), options_(options) {}

Result<std::unique_ptr<BlobStore>> BlobStore::Open(const fs::path& dir, BlobStoreOptions options) {
  if (options.blob_bytes_max == 0 || options.quota_bytes < options.blob_bytes_max) {
    return Status::InvalidArgument(
        "blob store limits: blob_bytes_max must be > 0 and at most quota_bytes (got " +
        std::to_string(options.blob_bytes_max) + " and " + std::to_string(options.quota_bytes) +
        ")");
  }
  std::error_code ec;
  for (const fs::path& sub :
       {dir, dir / "tmp", dir / "partial", dir / "manifests", dir / "models"}) {
    fs::create_directories(sub, ec);
    if (ec) return Status::IoError("cannot create '" + sub.string() + "': " + ec.message());
  }
  // Writes in progress when the process died: never renamed, never used.
  for (const auto& entry : fs::directory_iterator(dir / "tmp", ec))
    fs::remove_all(entry.path(), ec);
  if (ec) return Status::IoError("cannot empty '" + (dir / "tmp").string() + "': " + ec.message());

  std::unique_ptr<BlobStore> store(new BlobStore(dir, options));
  for (const auto& fan : fs::directory_iterator(dir, ec)) {
    const std::string fan_name = fan.path().filename().string();
    if (!fan.is_directory() || fan_name.size() != 2) continue;
    for (const auto& entry : fs::directory_iterator(fan.path(), ec)) {
      std::optional<Hash256> hash = HashFromName(entry.path().filename().string());
      if (!hash || !entry.is_regular_file() || hash->ToHex().substr(0, 2) != fan_name) continue;
      std::error_code size_ec;  // one unreadable file is skipped, not fatal
      const uint64_t size = entry.file_size(size_ec);
      if (size_ec) continue;
      store->sizes_[*hash] = size;
      store->used_bytes_ += size;
    }
  }
  if (ec) return Status::IoError("cannot list '" + dir.string() + "': " + ec.message());
  // Manifests count against the quota too (anyone who may upload may post
  // one). Other names there are writes a crash interrupted: removed.
  for (const auto& entry : fs::directory_iterator(dir / "manifests", ec)) {
    std::error_code size_ec;
    if (!HashFromName(entry.path().filename().string())) {
      if (entry.is_regular_file(size_ec)) fs::remove(entry.path(), size_ec);
      continue;
    }
    const uint64_t size = entry.file_size(size_ec);
    if (!size_ec && entry.is_regular_file()) store->used_bytes_ += size;
  }
  return store;
}

fs::path BlobStore::PathOf(const Hash256& hash) const {
  const std::string hex = hash.ToHex();
  return dir_ / hex.substr(0, 2) / hex;
}

fs::path BlobStore::PartialPath(const Hash256& hash) const {
  return dir_ / "partial" / hash.ToHex();
}

Result<BlobStore::FetchGuard> BlobStore::LockFetch(const Hash256& hash,
                                                   const std::function<bool()>& cancelled) {
  std::unique_lock lock(fetch_mu_);
  while (fetching_.contains(hash)) {
    if (cancelled && cancelled()) {
      return Status::Unavailable("cancelled while another fetch of " + hash.ToHex() + " ran");
    }
    fetch_cv_.wait_for(lock, std::chrono::milliseconds(200));
  }
  fetching_.insert(hash);
  return FetchGuard(this, hash);
}

BlobStore::FetchGuard::~FetchGuard() {
  if (store_ == nullptr) return;
  {
    std::lock_guard lock(store_->fetch_mu_);
    store_->fetching_.erase(hash_);
  }
  store_->fetch_cv_.notify_all();
}

fs::path BlobStore::NewTempPath() {
  EnsureSodium();
  uint64_t n;
  {
    std::lock_guard lock(mu_);
    n = next_temp_++;
  }
  return dir_ / "tmp" /
         (std::to_string(::getpid()) + "-" + std::to_string(n) + "-" +
          std::to_string(randombytes_random()));
}

Status BlobStore::LimitError(uint64_t size) const {
  if (size > options_.blob_bytes_max) {
    return Status::ResourceExhausted(
        "blob of " + std::to_string(size) + " bytes is over this node's limit of " +
        std::to_string(options_.blob_bytes_max) +
        " bytes per blob; raise [blobs] blob_bytes_max in config.toml if it should be kept");
  }
  // Each term is at most the quota (every addition was checked against it):
  // no overflow.
  if (used_bytes_ + reserved_bytes_ + size > options_.quota_bytes) {
    return Status::ResourceExhausted(
        "blob store is full: " + MiB(used_bytes_) + " of its " + MiB(options_.quota_bytes) +
        " quota used, " + MiB(reserved_bytes_) + " held for uploads in progress, and " +
        MiB(size) +
        " more asked; run `agora blob gc`, or raise [blobs] quota_bytes in config.toml (an "
        "upload without Content-Length holds blob_bytes_max until it ends)");
  }
  return Status::Ok();
}

Status BlobStore::CheckRoom(uint64_t bytes) const {
  std::lock_guard lock(mu_);
  return LimitError(bytes);
}

uint64_t BlobStore::reserved_bytes() const {
  std::lock_guard lock(mu_);
  return reserved_bytes_;
}

Result<BlobStore::Reservation> BlobStore::Reserve(uint64_t bytes) {
  std::lock_guard lock(mu_);
  AGORA_RETURN_IF_ERROR(LimitError(bytes));
  reserved_bytes_ += bytes;
  return Reservation(this, bytes);
}

void BlobStore::Reservation::Release() {
  if (store_ == nullptr) return;
  std::lock_guard lock(store_->mu_);
  AGORA_CHECK(store_->reserved_bytes_ >= bytes_);
  store_->reserved_bytes_ -= bytes_;
  store_ = nullptr;
  bytes_ = 0;
}

BlobStore::Reservation& BlobStore::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    store_ = std::exchange(other.store_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

// The data is hashed in memory, written and synced through one descriptor;
// reading the file back to hash it again would check nothing more (the read
// comes from the page cache that the write filled).
Result<Hash256> BlobStore::Put(ByteSpan data) {
  const Hash256 hash = Blake2b256(data);
  AGORA_RETURN_IF_ERROR(PutHashed(data, hash));
  return hash;
}

Status BlobStore::PutHashed(ByteSpan data, const Hash256& hash) {
  {
    std::lock_guard lock(mu_);
    if (sizes_.contains(hash)) return Touch(PathOf(hash));
    AGORA_RETURN_IF_ERROR(LimitError(data.size()));
  }
  const fs::path temp = NewTempPath();
  {
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kBlobMode));
    if (fd.get() < 0) return ErrnoStatus("cannot create", temp, errno);
    Status written = WriteAll(fd.get(), data, temp);
    if (written.ok() && ::fsync(fd.get()) != 0) written = ErrnoStatus("cannot fsync", temp, errno);
    if (written.ok() && fd.Close() != 0) written = ErrnoStatus("cannot close", temp, errno);
    if (!written.ok()) {
      ::unlink(temp.c_str());
      return written;
    }
  }
  return Install(temp, hash, data.size()).status();
}

Result<Hash256> BlobStore::Adopt(const fs::path& file, const std::optional<Hash256>& expected,
                                 Reservation* reservation) {
  uint64_t size = 0;
  Result<Hash256> hashed = HashFile(file, options_.blob_bytes_max, &size);
  Status synced = hashed.ok() ? SyncFile(file) : Status::Ok();
  auto fail = [&](Status status) -> Result<Hash256> {
    ::unlink(file.c_str());
    return status;
  };
  if (!hashed.ok()) return fail(hashed.status());
  if (!synced.ok()) return fail(synced);
  const Hash256 hash = *hashed;
  if (expected && *expected != hash) {
    return fail(Status::Corruption("blob content hashes to " + hash.ToHex() + ", not to " +
                                   expected->ToHex() + " as named; it was not kept"));
  }
  return Install(file, hash, size, reservation);
}

Result<Hash256> BlobStore::Install(const fs::path& file, const Hash256& hash, uint64_t size,
                                   Reservation* reservation) {
  auto fail = [&](Status status) -> Result<Hash256> {
    ::unlink(file.c_str());
    return status;
  };
  std::lock_guard lock(mu_);
  if (reservation != nullptr && reservation->store_ == this) {
    AGORA_CHECK(reserved_bytes_ >= reservation->bytes_);
    reserved_bytes_ -= reservation->bytes_;
    reservation->store_ = nullptr;
    reservation->bytes_ = 0;
  }
  if (sizes_.contains(hash)) {  // already kept: the copy is not needed
    ::unlink(file.c_str());
    AGORA_RETURN_IF_ERROR(Touch(PathOf(hash)));
    return hash;
  }
  if (Status room = LimitError(size); !room.ok()) return fail(room);
  const fs::path target = PathOf(hash);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec)
    return fail(
        Status::IoError("cannot create '" + target.parent_path().string() + "': " + ec.message()));
  ::chmod(file.c_str(), kBlobMode);  // a partial fetch is created 0600; best effort
  if (::rename(file.c_str(), target.c_str()) != 0) {
    return fail(ErrnoStatus("cannot move blob into place at", target, errno));
  }
  if (Status dir_synced = SyncDirectory(target.parent_path()); !dir_synced.ok()) {
    ::unlink(target.c_str());
    return dir_synced;
  }
  sizes_[hash] = size;
  used_bytes_ += size;
  return hash;
}

Result<Hash256> BlobStore::Import(const fs::path& file) {
  const fs::path temp = NewTempPath();
  std::error_code ec;
  fs::copy_file(file, temp, ec);
  if (ec) {
    fs::remove(temp, ec);
    return Status::IoError("cannot copy '" + file.string() +
                           "' into the blob store: " + std::error_code(ec).message());
  }
  return Adopt(temp);
}

bool BlobStore::Has(const Hash256& hash) const {
  std::lock_guard lock(mu_);
  return sizes_.contains(hash);
}

Result<uint64_t> BlobStore::Size(const Hash256& hash) const {
  std::lock_guard lock(mu_);
  auto it = sizes_.find(hash);
  if (it == sizes_.end()) return Status::NotFound("no blob " + hash.ToHex() + " in this store");
  return it->second;
}

Result<Bytes> BlobStore::ReadRange(const Hash256& hash, uint64_t offset, uint64_t length) const {
  AGORA_ASSIGN_OR_RETURN(uint64_t size, Size(hash));
  if (offset > size || length > size - offset) {
    return Status::OutOfRange("bytes " + std::to_string(offset) + "+" + std::to_string(length) +
                              " are past the end of blob " + hash.ToHex() + " (" +
                              std::to_string(size) + " bytes)");
  }
  const fs::path path = PathOf(hash);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("cannot open blob", path, errno);
  Bytes out(length);
  uint64_t done = 0;
  while (done < length) {
    ssize_t n =
        ::pread(fd.get(), out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot read blob", path, errno);
    if (n == 0) {
      return Status::Corruption("blob " + hash.ToHex() + " is shorter on disk than indexed");
    }
    done += static_cast<uint64_t>(n);
  }
  return out;
}

Result<Bytes> BlobStore::Read(const Hash256& hash, uint64_t bytes_max) const {
  AGORA_ASSIGN_OR_RETURN(uint64_t size, Size(hash));
  if (size > bytes_max) {
    return Status::ResourceExhausted("blob " + hash.ToHex() + " has " + std::to_string(size) +
                                     " bytes, more than the " + std::to_string(bytes_max) +
                                     " this reader takes");
  }
  return ReadRange(hash, 0, size);
}

Status BlobStore::Verify(const Hash256& hash) {
  AGORA_RETURN_IF_ERROR(Size(hash).status());
  Result<Hash256> actual = HashFile(PathOf(hash), options_.blob_bytes_max);
  if (actual.ok() && *actual == hash) return Status::Ok();
  AGORA_RETURN_IF_ERROR(Remove(hash));
  return Status::Corruption(
      "blob " + hash.ToHex() + " was damaged on disk (" +
      (actual.ok() ? "it hashes to " + actual->ToHex() : actual.status().ToString()) +
      ") and has been removed; fetch it again");
}

Status BlobStore::Remove(const Hash256& hash) { return RemoveIfWrittenBy(hash, std::nullopt); }

Status BlobStore::RemoveIfWrittenBy(const Hash256& hash,
                                    std::optional<fs::file_time_type> cutoff) {
  std::lock_guard lock(mu_);
  auto it = sizes_.find(hash);
  if (it == sizes_.end()) return Status::NotFound("no blob " + hash.ToHex() + " in this store");
  const fs::path path = PathOf(hash);
  if (cutoff) {
    std::error_code time_ec;
    const auto written = fs::last_write_time(path, time_ec);
    if (time_ec || written > *cutoff) {
      return Status::FailedPrecondition("blob " + hash.ToHex() + " was stored again");
    }
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus("cannot remove blob", path, errno);
  }
  used_bytes_ -= it->second;
  sizes_.erase(it);
  return Status::Ok();
}

Status BlobStore::PutManifest(const Hash256& root, const std::vector<Hash256>& hashes) {
  const Bytes bytes = EncodeManifest(hashes);
  AGORA_RETURN_IF_ERROR(DecodeManifest(root, bytes).status());
  const fs::path path = dir_ / "manifests" / root.ToHex();
  // Under the lock, so that two puts of one root count its bytes once and
  // Collect never sees a manifest half accounted for.
  std::lock_guard lock(mu_);
  std::error_code ec;
  if (fs::exists(path, ec)) return Touch(path);  // same root, same list
  AGORA_RETURN_IF_ERROR(LimitError(bytes.size()));
  AGORA_RETURN_IF_ERROR(WriteFileAtomic(path, bytes, kBlobMode));
  used_bytes_ += bytes.size();
  return Status::Ok();
}

Result<std::vector<Hash256>> BlobStore::GetManifest(const Hash256& root) const {
  const fs::path path = dir_ / "manifests" / root.ToHex();
  Result<std::string> text = ReadFile(path, (kManifestHashesMax + 1) * Hash256::kSize);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("no checkpoint manifest with root " + root.ToHex());
    }
    return text.status();
  }
  return DecodeManifest(root, AsBytes(*text));
}

Status BlobStore::SetModel(uint64_t job, const Hash256& hash) {
  return WriteFileAtomic(dir_ / "models" / std::to_string(job), AsBytes(hash.ToHex()), kBlobMode);
}

Result<Hash256> BlobStore::GetModel(uint64_t job) const {
  Result<std::string> text = ReadFile(dir_ / "models" / std::to_string(job), 128);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("this node holds no model of job " + std::to_string(job));
    }
    return text.status();
  }
  return Hash256::FromHex(*text);
}

BlobGcReport BlobStore::Collect(const BlobLive& live, std::chrono::seconds grace) {
  AGORA_CHECK(live.blob && live.manifest);
  const auto now = fs::file_time_type::clock::now();
  std::error_code ec;
  auto older_than = [&](const fs::path& path, std::chrono::seconds age) {
    std::error_code time_ec;
    const auto written = fs::last_write_time(path, time_ec);
    return !time_ec && written <= now - age;
  };
  BlobGcReport report;
  // The notes first, so that a caller's `live.blob`, read before this call,
  // never keeps a model whose note this call removes for longer than one
  // more collection.
  if (live.model_keep.count() > 0) {
    ForEachEntry(dir_ / "models", ec, [&](const fs::directory_entry& entry) {
      std::error_code remove_ec;
      if (older_than(entry.path(), live.model_keep) && fs::remove(entry.path(), remove_ec)) {
        ++report.removed_models;
      }
    });
  }
  // `live` may read the ledger: it runs without the lock.
  for (const BlobInfo& blob : List()) {
    // The age is checked again under the lock: a Put of the same bytes
    // meanwhile (which touches the file) keeps it.
    if (live.blob(blob.hash) || !older_than(PathOf(blob.hash), grace) ||
        !RemoveIfWrittenBy(blob.hash, now - grace).ok()) {
      ++report.kept_blobs;
      report.kept_bytes += blob.size;
      continue;
    }
    ++report.removed_blobs;
    report.removed_bytes += blob.size;
  }
  // Only manifests (named by their root); a PutManifest in progress writes
  // another name first.
  ForEachEntry(dir_ / "manifests", ec, [&](const fs::directory_entry& entry) {
    const std::optional<Hash256> root = HashFromName(entry.path().filename().string());
    if (!root) return;
    if (live.manifest(*root)) {
      ++report.kept_manifests;
      return;
    }
    // The age is read under the lock: a PutManifest of the same root (which
    // touches the file) has either happened before, and the file is young,
    // or waits and writes it anew.
    std::lock_guard lock(mu_);
    if (!older_than(entry.path(), grace)) {
      ++report.kept_manifests;
      return;
    }
    std::error_code size_ec;
    const uint64_t size = entry.file_size(size_ec);
    std::error_code remove_ec;
    if (!fs::remove(entry.path(), remove_ec)) return;
    ++report.removed_manifests;
    if (!size_ec) used_bytes_ -= std::min(used_bytes_, size);
  });
  ForEachEntry(dir_ / "partial", ec, [&](const fs::directory_entry& entry) {
    std::error_code remove_ec;
    if (older_than(entry.path(), grace) && fs::remove(entry.path(), remove_ec)) {
      ++report.removed_partials;
    }
  });
  return report;
}

std::vector<BlobInfo> BlobStore::List() const {
  std::lock_guard lock(mu_);
  std::vector<BlobInfo> out;
  out.reserve(sizes_.size());
  for (const auto& [hash, size] : sizes_) out.push_back({hash, size});
  return out;
}

uint64_t BlobStore::used_bytes() const {
  std::lock_guard lock(mu_);
  return used_bytes_;
}

uint64_t BlobStore::blob_count() const {
  std::lock_guard lock(mu_);
  return sizes_.size();
}

}  // namespace agora::node::storage
