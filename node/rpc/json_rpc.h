// JSON-RPC 2.0 (https://www.jsonrpc.org/specification): parsing, validation,
// error codes and dispatch to registered methods, independent of transport.
// The HTTP and WebSocket sessions of RpcServer hand each body or message to a
// Dispatcher and write back the text it produces.
//
// Decisions the specification leaves open, made here (docs/rpc.md repeats
// them):
// - Duplicate object keys and anything after the JSON value are parse errors
//   (-32700): a duplicated "amount" must not be read two ways.
// - Unknown members of a request object are an invalid request (-32600), so a
//   typo such as "param" fails loudly instead of calling with no params.
// - An id is a string, an integer or null; a fractional number is an invalid
//   request, because it could not be echoed back byte for byte.
// - Absent params reach the handler as a null value.
// - A batch's responses come back in the order of its requests.
//
// Thread safety: a Dispatcher is used on one executor (the server's
// io_context). Handlers run there. A handler's Reply may be called from any
// thread while the executor's io_context exists: it hops onto the executor.
#ifndef AGORA_NODE_RPC_JSON_RPC_H_
#define AGORA_NODE_RPC_JSON_RPC_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace agora::node::rpc {

// Standard JSON-RPC 2.0 error codes.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
// Server-defined codes (-32000..-32099), one per StatusCode a handler returns.
inline constexpr int kServerError = -32000;  // a code with no entry below
inline constexpr int kFailedPreconditionError = -32002;
inline constexpr int kUnavailableError = -32003;
inline constexpr int kNotFoundError = -32004;
inline constexpr int kResourceExhaustedError = -32005;
inline constexpr int kAlreadyExistsError = -32006;
inline constexpr int kUnauthenticatedError = -32007;
inline constexpr int kPermissionDeniedError = -32008;
inline constexpr int kOutOfRangeError = -32009;
inline constexpr int kCorruptionError = -32010;
inline constexpr int kIoError = -32011;

// The JSON-RPC error code for a handler's non-OK status: kInvalidArgument is
// invalid params, kInternal is internal error, the rest are server-defined.
int ErrorCodeFor(StatusCode code);
// The inverse, for clients: which StatusCode an error code stands for.
StatusCode StatusCodeForError(int64_t code);

// A handler answers by calling Reply exactly once, now or later, from any
// thread. A second call is ignored. A Reply whose connection has gone away in
// the meantime drops the answer. If every copy of a Reply is destroyed
// without a call, the client gets an internal error (-32603) rather than
// waiting. A Reply must not be called or destroyed after the io_context it
// belongs to has been destroyed.
using Reply = std::function<void(Result<boost::json::value>)>;
using Handler = std::function<void(const boost::json::value& params, Reply reply)>;
using SyncHandler = std::function<Result<boost::json::value>(const boost::json::value& params)>;
using MethodTable = std::map<std::string, std::shared_ptr<const Handler>, std::less<>>;

struct DispatchLimits {
  size_t batch_requests_max = 100;  // requests in one batch
  size_t json_depth_max = 64;       // nesting of arrays and objects
};

// Parses one complete JSON text: standard JSON only, no duplicate keys, no
// trailing bytes, at most `depth_max` levels. The error says where and why.
Result<boost::json::value> ParseStrictJson(std::string_view text, size_t depth_max);

// Serialized response objects ({"jsonrpc":"2.0",...,"id":...}).
std::string MakeResultResponse(const boost::json::value& id, const boost::json::value& result);
std::string MakeErrorResponse(const boost::json::value& id, int code, std::string_view message,
                              const boost::json::value* data = nullptr);

class Dispatcher {
 public:
  // Receives the serialized response, or an empty string when nothing must
  // be sent (notifications only). Always called on the executor, exactly once.
  using Done = std::function<void(std::string response)>;

  Dispatcher(boost::asio::any_io_executor executor, DispatchLimits limits);

  // Adds or replaces a method.
  void Register(std::string method, Handler handler);
  // Forgets every method, so handlers' captures are released (RpcServer::Stop).
  void Clear() { methods_.clear(); }
  const DispatchLimits& limits() const { return limits_; }

  // Handles one payload: a request or a batch. `local` holds per-connection
  // methods (the WebSocket session's subscribe) looked up before the shared
  // ones; it may be null and is only read during this call.
  void Handle(std::string_view payload, const MethodTable* local, Done done);

 private:
  using ElementDone = std::function<void(std::string)>;
  void HandleRequest(const boost::json::value& request, const MethodTable* local, ElementDone done);
  void HandleBatch(const boost::json::array& batch, const MethodTable* local, Done done);
  std::shared_ptr<const Handler> Find(std::string_view method, const MethodTable* local) const;

  boost::asio::any_io_executor executor_;
  DispatchLimits limits_;
  MethodTable methods_;
};

// Wraps a synchronous handler as a Handler.
Handler MakeHandler(SyncHandler handler);

}  // namespace agora::node::rpc

#endif  // AGORA_NODE_RPC_JSON_RPC_H_
