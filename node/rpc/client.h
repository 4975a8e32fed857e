// Blocking JSON-RPC clients for the `agora` CLI and for tests: RpcClient
// calls methods over HTTP (POST /rpc), WsSubscription follows events over a
// WebSocket (/ws).
//
// A call that fails returns a Status: the server's JSON-RPC error (message
// ending in "(code N)", the code mapped back to a StatusCode, all of it in
// *error when asked for), or kUnavailable when the node cannot be reached,
// with advice on starting it.
//
// Thread safety: not thread-safe; use one client per thread. Each call
// returns within its timeout. A client keeps its HTTP connection open
// between calls (keep-alive) and reconnects when the server has closed it.
#ifndef AGORA_NODE_RPC_CLIENT_H_
#define AGORA_NODE_RPC_CLIENT_H_

#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace agora::node::rpc {

// A JSON-RPC error object as the server sent it.
struct RpcError {
  int64_t code = 0;
  std::string message;
  boost::json::value data;  // null when absent
};

// Where a node's RPC listens: "http://127.0.0.1:26657" (ws:// too; the port
// defaults to 26657; a path other than "/" is refused).
struct RpcUrl {
  std::string host;  // without IPv6 brackets
  uint16_t port = 0;
  std::string ToString() const;  // "http://host:port"
};
Result<RpcUrl> ParseRpcUrl(std::string_view url);

inline constexpr std::chrono::milliseconds kRpcTimeoutDefault{10'000};

struct HttpAnswer;

class RpcClient {
 public:
  // Largest response body accepted.
  static constexpr size_t kResponseBytesMax = 64 << 20;

  // A bad URL is reported by every call.
  explicit RpcClient(std::string_view url);
  ~RpcClient();
  RpcClient(RpcClient&&) noexcept;
  RpcClient& operator=(RpcClient&&) noexcept;

  // Calls `method` and returns its result. `params` must be null (omitted),
  // an array or an object. On a JSON-RPC error, fills *error if given.
  Result<boost::json::value> Call(std::string_view method, boost::json::value params = nullptr,
                                  std::chrono::milliseconds timeout = kRpcTimeoutDefault,
                                  RpcError* error = nullptr);

  // Sends the calls as one JSON-RPC batch (one HTTP request); returns each
  // call's result or error in the order given. The whole batch fails only
  // when the server cannot be reached or refused it as a whole.
  Result<std::vector<Result<boost::json::value>>> CallBatch(
      const std::vector<std::pair<std::string, boost::json::value>>& calls,
      std::chrono::milliseconds timeout = kRpcTimeoutDefault);

  // GET `path` ("/metrics", "/health"); returns the body of a 200 answer.
  Result<std::string> Get(std::string_view path,
                          std::chrono::milliseconds timeout = kRpcTimeoutDefault);

  const std::string& url() const { return url_text_; }

  struct Connection;

 private:
  Result<HttpAnswer> Exchange(bool post, std::string_view target, std::string body,
                              std::chrono::milliseconds timeout);

  std::string url_text_;
  Result<RpcUrl> url_;
  int64_t next_id_ = 1;
  std::unique_ptr<Connection> conn_;  // the kept-alive connection, when open
};

// A WebSocket connection to /ws that subscribes to topics and returns their
// events one at a time, in the order the server sent them.
class WsSubscription {
 public:
  // Events that arrive while a Call waits for its answer are kept for Next,
  // up to this many; beyond it the connection is considered broken.
  static constexpr size_t kPendingEventsMax = 10'000;
  static constexpr size_t kMessageBytesMax = 64 << 20;

  static Result<std::unique_ptr<WsSubscription>> Connect(
      std::string_view url, std::chrono::milliseconds timeout = kRpcTimeoutDefault);
  ~WsSubscription();
  WsSubscription(const WsSubscription&) = delete;
  WsSubscription& operator=(const WsSubscription&) = delete;

  // Any JSON-RPC method over the WebSocket.
  Result<boost::json::value> Call(std::string_view method, boost::json::value params,
                                  std::chrono::milliseconds timeout = kRpcTimeoutDefault,
                                  RpcError* error = nullptr);
  // Returns the subscription id.
  Result<int64_t> Subscribe(std::string_view topic,
                            std::chrono::milliseconds timeout = kRpcTimeoutDefault);
  Status Unsubscribe(int64_t subscription, std::chrono::milliseconds timeout = kRpcTimeoutDefault);

  // The next event's params: {"subscription": N, "topic": "...", "data": ...}.
  // kUnavailable when none arrives within `timeout` (the connection stays
  // usable) or when the connection is gone (it does not come back).
  Result<boost::json::value> Next(std::chrono::milliseconds timeout = kRpcTimeoutDefault);

  // Sends a close frame (waiting briefly) and closes. Idempotent.
  void Close();

 private:
  struct Impl;
  explicit WsSubscription(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace agora::node::rpc

#endif  // AGORA_NODE_RPC_CLIENT_H_
