#include "node/rpc/json_rpc.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "common/log.h"

namespace agora::node::rpc {
namespace json = boost::json;

namespace {

// A SAX handler that only checks that no object repeats a key. The syntax
// itself is checked by boost::json::parser in the first pass.
class DuplicateKeyCheck {
 public:
  static constexpr size_t max_object_size = size_t(-1);
  static constexpr size_t max_array_size = size_t(-1);
  static constexpr size_t max_key_size = size_t(-1);
  static constexpr size_t max_string_size = size_t(-1);

  bool found() const { return found_; }
  const std::string& key() const { return key_; }
  bool overflow() const { return overflow_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(size_t, json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    keys_.emplace_back();
    return true;
  }
  bool on_object_end(size_t, json::error_code&) {
    keys_.pop_back();
    return true;
  }
  bool on_string_part(json::string_view, size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code& ec) {
    key_.append(s.data(), s.size());
    if (!keys_.back().insert(key_).second) {
      found_ = true;
      // Any error stops the parser; which one does not matter.
      ec = json::error::syntax;
      return false;
    }
    key_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double d, json::string_view, json::error_code&) {
    // 1e500 parses to infinity, which no JSON text can hold: refuse it
    // rather than hand handlers a value that cannot be printed back.
    if (!std::isfinite(d)) overflow_ = true;
    return true;
  }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  std::vector<std::set<std::string>> keys_;  // one set per open object
  std::string key_;
  bool found_ = false;
  bool overflow_ = false;
};

bool IsValidId(const json::value& id) {
  return id.is_string() || id.is_int64() || id.is_uint64() || id.is_null();
}

const json::value kNullId = nullptr;

std::string InvalidRequest(const json::value& id, std::string_view why) {
  return MakeErrorResponse(id, kInvalidRequest,
                           std::string("invalid request: ") + std::string(why));
}

// Checks the members of a request object; returns an empty string if it is
// well formed, else the reason.
std::string ValidateRequest(const json::object& request) {
  for (const auto& member : request) {
    const std::string_view key = member.key();
    if (key != "jsonrpc" && key != "id" && key != "method" && key != "params") {
      return "unknown member \"" + std::string(key) + "\" (allowed: jsonrpc, id, method, params)";
    }
  }
  const json::value* version = request.if_contains("jsonrpc");
  if (version == nullptr || !version->is_string() || version->get_string() != "2.0") {
    return "\"jsonrpc\" must be \"2.0\"";
  }
  const json::value* id = request.if_contains("id");
  if (id != nullptr && !IsValidId(*id)) return "\"id\" must be a string, an integer or null";
  const json::value* method = request.if_contains("method");
  if (method == nullptr || !method->is_string()) return "\"method\" must be a string";
  const json::value* params = request.if_contains("params");
  if (params != nullptr && !params->is_array() && !params->is_object()) {
    return "\"params\" must be an array or an object when present";
  }
  return {};
}

// One call in flight: the id to answer with and where the answer goes.
struct Call {
  json::value id;
  bool notification = false;
  bool finished = false;
  std::string method;
  std::function<void(std::string)> done;  // released once called

  void Finish(Result<json::value> result) {
    if (finished) {
      spdlog::warn("rpc: method {} replied twice; the second reply is ignored", method);
      return;
    }
    finished = true;
    // Let go of the connection now, not when the last copy of the Reply dies.
    std::function<void(std::string)> send = std::move(done);
    done = nullptr;
    if (notification) {
      send(std::string());
    } else if (result.ok()) {
      send(MakeResultResponse(id, result.value()));
    } else {
      const Status& s = result.status();
      const json::value data = json::string(StatusCodeName(s.code()));
      send(MakeErrorResponse(id, ErrorCodeFor(s.code()), s.message(), &data));
    }
  }
};

// Shared by every copy of one Reply. When the last copy goes away, wherever
// that is, the call is released on the executor: an unanswered call then gets
// an internal error instead of leaving its client waiting, and the connection
// it holds is never destroyed on a foreign thread.
struct ReplyHolder {
  ReplyHolder(boost::asio::any_io_executor e, std::shared_ptr<Call> c)
      : executor(std::move(e)), call(std::move(c)) {}
  ReplyHolder(const ReplyHolder&) = delete;
  ReplyHolder& operator=(const ReplyHolder&) = delete;

  boost::asio::any_io_executor executor;
  std::shared_ptr<Call> call;

  ~ReplyHolder() {
    boost::asio::post(executor, [released = std::move(call)] {
      if (released->finished) return;
      released->Finish(
          Status::Internal("method " + released->method + " dropped the request without replying"));
    });
  }
};

}  // namespace

int ErrorCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
      return kInvalidParams;
    case StatusCode::kInternal:
      return kInternalError;
    case StatusCode::kFailedPrecondition:
      return kFailedPreconditionError;
    case StatusCode::kUnavailable:
      return kUnavailableError;
    case StatusCode::kNotFound:
      return kNotFoundError;
    case StatusCode::kResourceExhausted:
      return kResourceExhaustedError;
    case StatusCode::kAlreadyExists:
      return kAlreadyExistsError;
    case StatusCode::kUnauthenticated:
      return kUnauthenticatedError;
    case StatusCode::kPermissionDenied:
      return kPermissionDeniedError;
    case StatusCode::kOutOfRange:
      return kOutOfRangeError;
    case StatusCode::kCorruption:
      return kCorruptionError;
    case StatusCode::kIoError:
      return kIoError;
    case StatusCode::kOk:
      break;  // an OK status is never an error; treat as a bug
  }
  return kInternalError;
}

StatusCode StatusCodeForError(int64_t code) {
  switch (code) {
    case kParseError:
    case kInvalidRequest:
    case kInvalidParams:
      return StatusCode::kInvalidArgument;
    case kMethodNotFound:
    case kNotFoundError:
      return StatusCode::kNotFound;
    case kFailedPreconditionError:
      return StatusCode::kFailedPrecondition;
    case kUnavailableError:
      return StatusCode::kUnavailable;
    case kResourceExhaustedError:
      return StatusCode::kResourceExhausted;
    case kAlreadyExistsError:
      return StatusCode::kAlreadyExists;
    case kUnauthenticatedError:
      return StatusCode::kUnauthenticated;
    case kPermissionDeniedError:
      return StatusCode::kPermissionDenied;
    case kOutOfRangeError:
      return StatusCode::kOutOfRange;
    case kCorruptionError:
      return StatusCode::kCorruption;
    case kIoError:
      return StatusCode::kIoError;
    default:
      return StatusCode::kInternal;
  }
}

Result<json::value> ParseStrictJson(std::string_view text, size_t depth_max) {
  json::parse_options options;
  options.max_depth = depth_max;
  json::parser parser(json::storage_ptr(), options);
  json::error_code ec;
  const size_t consumed = parser.write(text.data(), text.size(), ec);
  if (ec) {
    return Status::InvalidArgument("JSON " + ec.message() + " at byte " + std::to_string(consumed));
  }
  json::value value = parser.release();
  json::basic_parser<DuplicateKeyCheck> check(options);
  check.write_some(/*more=*/false, text.data(), text.size(), ec);
  if (check.handler().found()) {
    return Status::InvalidArgument("JSON object repeats the key \"" + check.handler().key() + "\"");
  }
  if (check.handler().overflow()) {
    return Status::InvalidArgument("JSON number out of the range of a double (e.g. 1e500)");
  }
  return value;
}

std::string MakeResultResponse(const json::value& id, const json::value& result) {
  json::object response;
  response["jsonrpc"] = "2.0";
  response["result"] = result;
  response["id"] = id;
  return json::serialize(response);
}

std::string MakeErrorResponse(const json::value& id, int code, std::string_view message,
                              const json::value* data) {
  json::object error;
  error["code"] = code;
  error["message"] = message;
  if (data != nullptr) error["data"] = *data;
  json::object response;
  response["jsonrpc"] = "2.0";
  response["error"] = std::move(error);
  response["id"] = id;
  return json::serialize(response);
}

Handler MakeHandler(SyncHandler handler) {
  return [handler = std::move(handler)](const json::value& params, Reply reply) {
    reply(handler(params));
  };
}

Dispatcher::Dispatcher(boost::asio::any_io_executor executor, DispatchLimits limits)
    : executor_(std::move(executor)), limits_(limits) {}

void Dispatcher::Register(std::string method, Handler handler) {
  AGORA_CHECK(handler != nullptr);
  methods_[std::move(method)] = std::make_shared<const Handler>(std::move(handler));
}

std::shared_ptr<const Handler> Dispatcher::Find(std::string_view method,
                                                const MethodTable* local) const {
  if (local != nullptr) {
    if (auto it = local->find(method); it != local->end()) return it->second;
  }
  if (auto it = methods_.find(method); it != methods_.end()) return it->second;
  return nullptr;
}

void Dispatcher::Handle(std::string_view payload, const MethodTable* local, Done done) {
  Result<json::value> parsed = ParseStrictJson(payload, limits_.json_depth_max);
  if (!parsed.ok()) {
    done(MakeErrorResponse(kNullId, kParseError, "parse error: " + parsed.status().message()));
    return;
  }
  if (!parsed->is_array()) {
    HandleRequest(*parsed, local, std::move(done));
    return;
  }
  const json::array& batch = parsed->get_array();
  if (batch.empty()) {
    done(InvalidRequest(kNullId, "a batch must hold at least one request"));
    return;
  }
  if (batch.size() > limits_.batch_requests_max) {
    done(MakeErrorResponse(kNullId, kResourceExhaustedError,
                           "batch of " + std::to_string(batch.size()) +
                               " requests exceeds the limit of " +
                               std::to_string(limits_.batch_requests_max)));
    return;
  }
  HandleBatch(batch, local, std::move(done));
}

void Dispatcher::HandleBatch(const json::array& batch, const MethodTable* local, Done done) {
  struct Gather {
    std::vector<std::string> parts;
    size_t pending = 0;
    Done done;
  };
  auto gather = std::make_shared<Gather>();
  gather->parts.resize(batch.size());
  gather->pending = batch.size();
  gather->done = std::move(done);
  for (size_t i = 0; i < batch.size(); ++i) {
    HandleRequest(batch[i], local, [gather, i](std::string part) {
      gather->parts[i] = std::move(part);
      if (--gather->pending > 0) return;
      std::string joined;
      for (const std::string& p : gather->parts) {
        if (p.empty()) continue;  // a notification
        joined += joined.empty() ? "[" : ",";
        joined += p;
      }
      if (!joined.empty()) joined += "]";
      gather->done(std::move(joined));
    });
  }
}

void Dispatcher::HandleRequest(const json::value& request, const MethodTable* local,
                               ElementDone done) {
  if (!request.is_object()) {
    done(InvalidRequest(kNullId, "a request must be a JSON object"));
    return;
  }
  const json::object& object = request.get_object();
  const json::value* id = object.if_contains("id");
  const json::value& reply_id = id != nullptr && IsValidId(*id) ? *id : kNullId;
  if (std::string why = ValidateRequest(object); !why.empty()) {
    done(InvalidRequest(reply_id, why));
    return;
  }
  const std::string_view method = object.at("method").get_string();
  std::shared_ptr<const Handler> handler = Find(method, local);
  if (handler == nullptr) {
    // Notifications are never answered, not even with an error.
    done(id == nullptr ? std::string()
                       : MakeErrorResponse(reply_id, kMethodNotFound,
                                           "method not found: \"" + std::string(method) + "\""));
    return;
  }
  auto call = std::make_shared<Call>();
  call->id = reply_id;
  call->notification = id == nullptr;
  call->method = std::string(method);
  call->done = std::move(done);
  auto holder = std::make_shared<ReplyHolder>(executor_, call);
  Reply reply = [holder = std::move(holder)](Result<json::value> result) {
    boost::asio::dispatch(holder->executor,
                          [call = holder->call, result = std::move(result)]() mutable {
                            call->Finish(std::move(result));
                          });
  };
  const json::value* params = object.if_contains("params");
  // Handlers check their params and return Status; one that throws has a
  // bug, whatever it threw (a Boost.JSON accessor on the node's own data
  // throws the same exceptions as one on the params). It must not take the
  // node down: the caller gets an internal error, and the log says where.
  auto fail = [&call](const char* what) {
    spdlog::error("rpc: method {} threw: {}", call->method, what);
    if (call->finished) return;
    call->Finish(Status::Internal("internal error in method " + call->method + ": " + what +
                                  " (a bug in the node; its log has the details)"));
  };
  try {
    (*handler)(params != nullptr ? *params : kNullId, std::move(reply));
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

}  // namespace agora::node::rpc
