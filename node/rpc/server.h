// RpcServer: the node's JSON-RPC 2.0 server on one TCP port.
//
//   POST /rpc     JSON-RPC 2.0, a request or a batch, in the body
//   GET  /ws      WebSocket: the same methods, plus subscribe/unsubscribe to
//                 topics and pushed "event" notifications
//   GET  /metrics Prometheus text format 0.0.4 from metrics()
//   GET  /health  200 {"status":"ok"}, or 503 with the health check's error
//   GET  /        the status page (SetStatusPage), or a static file
//   GET  /<file>  static files (AddStaticFile): the node's web page
//   GET  /blob/<hash>  a blob's bytes (one Range allowed), HEAD its size;
//   POST /blob[?hash=<hash>]  stores the body as a blob (SetBlobStore)
// Anything else is 404; a known path with the wrong method is 405 with Allow.
// docs/rpc.md describes the protocol, the limits and the error codes.
//
// Every input is bounded (RpcConfig): header and body bytes (a body over the
// limit is refused from its Content-Length, never buffered), connections,
// batch size, JSON depth, time to receive a request (slow clients are
// dropped), WebSocket clients, message size, subscriptions and each client's
// send queue (a subscriber that does not keep up is disconnected; the server
// never waits for it). Malformed input gets an error or a closed connection,
// never a crash.
//
// Thread safety: single-threaded. The server runs on the caller's
// io_context and calls handlers there. Call Register*, AddTopic, Set*, Start,
// Stop and the destructor on that io_context's thread, or while it is not
// running. Two exceptions are safe from any thread while the io_context
// exists: Publish (it hops onto the io_context) and a handler's Reply. The
// metrics registry is thread-safe. After Stop() the object may be destroyed
// once the io_context has run the handlers that Stop() cancelled; a Reply
// kept past that point may still be called (the answer is dropped) until the
// io_context itself is destroyed.
#ifndef AGORA_NODE_RPC_SERVER_H_
#define AGORA_NODE_RPC_SERVER_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "node/rpc/json_rpc.h"
#include "node/rpc/metrics.h"

namespace agora::node::storage {
class BlobStore;
}

namespace agora::node::rpc {

struct RpcConfig {
  // An IP address; 0.0.0.0 or :: exposes the node to the network, which only
  // an operator should decide.
  std::string host = "127.0.0.1";
  uint16_t port = 26657;  // 0 picks a free port; port() reports it

  size_t header_bytes_max = 16 * 1024;  // request line and headers (431 above)
  size_t body_bytes_max = 1024 * 1024;  // request body (413 above)
  size_t connections_max = 256;         // open TCP connections, WebSocket included
  // Time allowed to receive one whole request, counted from when the server
  // starts waiting for it: a slow or idle keep-alive client is dropped.
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};  // to send one response

  size_t batch_requests_max = 100;  // requests in one JSON-RPC batch
  size_t json_depth_max = 64;       // nesting of JSON arrays and objects

  size_t ws_clients_max = 64;                         // WebSocket connections (503 above)
  size_t ws_message_bytes_max = 1024 * 1024;          // one incoming message
  size_t ws_subscriptions_max = 16;                   // per client
  size_t ws_in_flight_max = 32;                       // unanswered calls per client; reading pauses
  size_t ws_send_queue_messages_max = 256;            // per client; over it the client is dropped
  size_t ws_send_queue_bytes_max = 16 << 20;          // per client; over it the client is dropped
  std::chrono::milliseconds ws_idle_timeout{60'000};  // pings keep a quiet client alive

  std::string server_name = "agorad";  // the Server: header

  // Blob transfers must keep up this rate on average: the deadline is
  // write_timeout (downloads) or request_timeout (uploads) from the start,
  // plus one second per this many bytes moved so far. A large blob on a slow
  // link is not cut off; a client that stalls (sends or reads nothing) is,
  // however large the blob it announced or asked for.
  uint64_t blob_bytes_per_second_min = 1 << 20;

  // For tests: called on the hashing thread before each finished upload is
  // hashed (a test holds it there to show that the loop keeps serving).
  std::function<void()> before_upload_hashed;

  // Whether a client at this address is on this machine, for methods
  // registered with RegisterLocalOnly: loopback (127.0.0.0/8, ::1, and
  // 127.x mapped into IPv6, as a node listening on "::" sees a local IPv4
  // client) by default; tests replace it to play a remote client. A reverse
  // proxy on the same host makes every client look local: do not put one
  // in front of the RPC port without refusing those methods there.
  std::function<bool(const boost::asio::ip::address&)> is_local =
      [](const boost::asio::ip::address& a) {
        if (a.is_v6() && a.to_v6().is_v4_mapped()) {
          return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6())
              .is_loopback();
        }
        return a.is_loopback();
      };
};

class RpcServer {
 public:
  RpcServer(boost::asio::io_context& io, RpcConfig config);
  // Stops the server if it is running.
  ~RpcServer();
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  // Adds (or replaces) a method. The handler gets the request's params (null
  // when absent; copy what it needs later, the reference dies on return) and
  // answers through `reply`, now or later; see json_rpc.h for the contract.
  // A Status error becomes a JSON-RPC error: kInvalidArgument is -32602, the
  // other codes map as ErrorCodeFor says. "subscribe" and "unsubscribe" are
  // taken over WebSocket by the server's own.
  void Register(std::string method, Handler handler);
  void RegisterSync(std::string method, SyncHandler handler);
  // A method that changes or deletes what the node holds (blob_gc): answered
  // only to clients on this machine (RpcConfig::is_local), over HTTP or
  // WebSocket; a remote client gets a PermissionDenied error that says
  // where to run it. The RPC port must be public for /blob, so anything
  // else could be called by anyone who can reach it.
  void RegisterLocalOnly(std::string method, SyncHandler handler);

  // Declares a topic WebSocket clients may subscribe to ("new_block").
  void AddTopic(std::string topic);
  // Sends `data` to every subscriber of `topic` as
  // {"jsonrpc":"2.0","method":"event","params":{"subscription":N,"topic":...,"data":...}}.
  // REQUIRES: AddTopic(topic) was called (a typo here is a bug: checked).
  // Safe from any thread while the io_context exists.
  void Publish(std::string_view topic, const boost::json::value& data);
  // Whether any WebSocket client is subscribed to `topic` now, so a caller
  // can skip building events nobody reads. REQUIRES: on the io_context's
  // thread.
  bool HasSubscribers(std::string_view topic) const;

  // GET / answers render() with `content_type`. Without one, a short page
  // lists the endpoints.
  void SetStatusPage(std::function<std::string()> render,
                     std::string content_type = "text/html; charset=utf-8");
  // GET/HEAD `path` answers `body` with
  // `content_type`, a strong ETag (304 to a matching If-None-Match),
  // "Cache-Control: no-cache" (revalidate, so a new build shows at once),
  // nosniff and, when not empty, `content_security_policy`. Served before
  // the status page, so a file at "/" replaces it. Call before Start().
  void AddStaticFile(std::string path, std::string content_type, std::string body,
                     std::string content_security_policy = "");
  // Serves GET/HEAD /blob/<hash> from `store` and, when `accept_uploads`,
  // POST /blob into it. `store` must outlive the server (or Stop()). Without
  // a store those paths are 404.
  void SetBlobStore(storage::BlobStore* store, bool accept_uploads);

  // GET /health answers 503 with the message while `check` returns an error.
  void SetHealthCheck(std::function<Status()> check);

  // Binds and starts accepting. Fails with a message that names the address
  // if it is taken or invalid.
  Status Start();
  // Stops accepting, closes every connection and forgets the handlers (so
  // what they captured may be destroyed). Idempotent; no restart.
  void Stop();

  // The bound port (the real one when config.port was 0). REQUIRES: Start() ok.
  uint16_t port() const;
  const RpcConfig& config() const;
  // The registry GET /metrics renders. Add the node's metrics here.
  MetricsRegistry& metrics();

  struct State;  // shared with the sessions; defined in server.cc

 private:
  std::shared_ptr<State> state_;
};

}  // namespace agora::node::rpc

#endif  // AGORA_NODE_RPC_SERVER_H_
