// Status and Result<T>: how every expected failure travels in Agora.
//
// An expected failure (bad input, I/O, a peer's garbage, a wrong password) is
// returned, never thrown and never asserted: the caller decides whether to ban
// a peer, retry or tell the user. The message is written for the person who
// reads it and says what to do next where that is known.
//
// Thread safety: values; safe to copy between threads.
#ifndef AGORA_COMMON_STATUS_H_
#define AGORA_COMMON_STATUS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "common/check.h"

namespace agora {

enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong; retrying will not help
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // refusing to overwrite
  kCorruption,          // stored or received bytes are damaged or malformed
  kIoError,             // the operating system refused a read or write
  kPermissionDenied,    // file permissions or a policy forbid it
  kUnauthenticated,     // a signature or password did not check out
  kFailedPrecondition,  // the system is not in a state that allows this
  kResourceExhausted,   // a bound was hit (size, count, rate)
  kOutOfRange,          // a value is outside its allowed range
  kUnavailable,         // try again later
  kInternal,            // a bug; report it
};

// Returns a short lower-case name such as "invalid argument".
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status PermissionDenied(std::string m) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  static Status Unauthenticated(std::string m) {
    return {StatusCode::kUnauthenticated, std::move(m)};
  }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "ok", or "<code name>: <message>".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

  // Marks a status whose failure is ignored on purpose; say why at the call.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Result<T> holds either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit on purpose
    AGORA_CHECK_MSG(!std::get<Status>(v_).ok(), "a Result needs a value or an error");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // Returns OK when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  // REQUIRES: ok()
  T& value() & {
    AGORA_CHECK_MSG(ok(), status().ToString());
    return std::get<T>(v_);
  }
  const T& value() const& {
    AGORA_CHECK_MSG(ok(), status().ToString());
    return std::get<T>(v_);
  }
  T&& value() && {
    AGORA_CHECK_MSG(ok(), status().ToString());
    return std::get<T>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace agora

#define AGORA_STATUS_CONCAT_INNER_(a, b) a##b
#define AGORA_STATUS_CONCAT_(a, b) AGORA_STATUS_CONCAT_INNER_(a, b)

// Returns the Status of `expr` from the enclosing function if it is not OK.
#define AGORA_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::agora::Status agora_status_ = (expr);        \
    if (!agora_status_.ok()) return agora_status_; \
  } while (0)

// `AGORA_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a Result or
// returns its error.
#define AGORA_ASSIGN_OR_RETURN(lhs, expr) \
  AGORA_ASSIGN_OR_RETURN_IMPL_(AGORA_STATUS_CONCAT_(agora_result_, __LINE__), lhs, expr)
#define AGORA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#endif  // AGORA_COMMON_STATUS_H_
