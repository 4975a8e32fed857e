#include "node/rpc/server.h"

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/hash.h"
#include "common/log.h"
#include "node/rpc/byte_range.h"
#include "node/storage/blob_store.h"

namespace agora::node::rpc {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace internal {
class HttpSession;
class WsSession;

// After an error response the server stops reading requests but keeps
// draining what the client still sends (up to this much, within
// request_timeout) before closing. Closing a socket with unread bytes makes
// the kernel send a reset, which can destroy the error response before the
// client reads it: the 413 would turn into "connection reset".
constexpr size_t kDrainBytesMax = 64 << 20;
constexpr size_t kDrainChunkBytes = 16 * 1024;
// Pause after a failed accept (out of file descriptors), so the loop does not spin.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
// Room in the read buffer beyond the header limit for the body's first bytes.
constexpr size_t kReadBufferSlackBytes = 64 * 1024;
constexpr std::string_view kJsonType = "application/json";
constexpr std::string_view kTextType = "text/plain; charset=utf-8";
constexpr std::string_view kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kBlobType = "application/octet-stream";
constexpr std::string_view kEndpoints =
    "POST /rpc (JSON-RPC 2.0), GET /ws (WebSocket), GET /metrics, GET /health, GET /, "
    "GET|HEAD /blob/<hash>, POST /blob, GET|POST /manifest/<root>";
constexpr size_t kBlobChunkBytes = 64 * 1024;

// A response body of `length` bytes read from `file` at `offset`, in chunks,
// so a blob of gigabytes is never held in memory.
struct FileRangeBody {
  struct value_type {
    beast::file file;
    uint64_t offset = 0;
    uint64_t length = 0;
  };
  static uint64_t size(const value_type& body) { return body.length; }

  class writer {
   public:
    using const_buffers_type = asio::const_buffer;
    template <bool isRequest, class Fields>
    writer(const http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(beast::error_code& ec) {
      body_.file.seek(body_.offset, ec);
      remain_ = body_.length;
    }
    boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec) {
      ec = {};
      const size_t want = static_cast<size_t>(std::min<uint64_t>(remain_, chunk_.size()));
      if (want == 0) return boost::none;
      const size_t got = body_.file.read(chunk_.data(), want, ec);
      if (ec) return boost::none;
      if (got == 0) {  // the file shrank under us: end the connection, never pad
        ec = beast::errc::make_error_code(beast::errc::io_error);
        return boost::none;
      }
      remain_ -= got;
      return std::make_pair(const_buffers_type(chunk_.data(), got), remain_ > 0);
    }

   private:
    value_type& body_;
    uint64_t remain_ = 0;
    std::array<char, kBlobChunkBytes> chunk_{};
  };
};
}  // namespace internal

struct RpcServer::State {
  State(asio::io_context& io_context, RpcConfig cfg)
      : io(io_context),
        config(std::move(cfg)),
        dispatcher(io_context.get_executor(),
                   DispatchLimits{config.batch_requests_max, config.json_depth_max}),
        http_requests(metrics.AddCounter("agora_rpc_http_requests_total",
                                         "HTTP requests received, all paths")),
        http_errors(metrics.AddCounter("agora_rpc_http_errors_total",
                                       "HTTP requests refused (4xx, 5xx) or malformed")),
        connections(
            metrics.AddGauge("agora_rpc_connections", "Open RPC connections, WebSocket included")),
        connections_accepted(metrics.AddCounter("agora_rpc_connections_accepted_total",
                                                "Connections accepted and served")),
        connections_rejected(
            metrics.AddCounter("agora_rpc_connections_rejected_total",
                               "Connections closed on accept because connections_max was reached")),
        ws_clients(metrics.AddGauge("agora_rpc_ws_clients", "Open WebSocket connections")),
        ws_events(metrics.AddCounter("agora_rpc_ws_events_total",
                                     "Events queued to WebSocket subscribers")),
        ws_dropped_slow(
            metrics.AddCounter("agora_rpc_ws_dropped_slow_total",
                               "WebSocket clients disconnected because their send queue was full")),
        blob_bytes_served(metrics.AddCounter("agora_blob_bytes_served_total",
                                             "Blob bytes sent by GET /blob (ranges included)")),
        call_seconds(metrics.AddHistogram("agora_rpc_call_seconds",
                                          "Time from a POST /rpc body read to its response ready",
                                          LatencySecondsBuckets())),
        acceptor(io_context),
        accept_retry(io_context) {}

  asio::io_context& io;
  const RpcConfig config;
  Dispatcher dispatcher;
  // RegisterLocalOnly's handlers, looked up before the shared table for a
  // client on this machine (the shared table refuses them).
  MethodTable local_only;
  MetricsRegistry metrics;
  Counter& http_requests;
  Counter& http_errors;
  Gauge& connections;
  Counter& connections_accepted;
  Counter& connections_rejected;
  Gauge& ws_clients;
  Counter& ws_events;
  Counter& ws_dropped_slow;
  Counter& blob_bytes_served;
  Histogram& call_seconds;

  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  std::set<std::string, std::less<>> topics;
  struct StaticFile {
    std::string content_type;
    std::string body;
    std::string etag;
    std::string csp;
  };
  std::map<std::string, StaticFile, std::less<>> static_files;
  std::function<std::string()> status_page;
  std::string status_content_type;
  std::function<Status()> health;
  storage::BlobStore* blobs = nullptr;
  bool blob_uploads = false;
  // Hashes finished uploads (BlobStore::Adopt: about 1 s per GB) off the
  // node's loop, which also runs consensus. One thread: uploads queue, and
  // the disk is the bound anyway. Made by SetBlobStore, joined by Stop.
  std::unique_ptr<asio::thread_pool> hasher;

  bool started = false;
  bool stopped = false;
  uint16_t port = 0;
  size_t connection_count = 0;
  uint64_t next_session_id = 1;
  // Live sessions, for Stop() and Publish(). Each erases itself when destroyed.
  std::map<uint64_t, std::weak_ptr<internal::HttpSession>> http_sessions;
  std::map<uint64_t, std::weak_ptr<internal::WsSession>> ws_sessions;
};

namespace internal {
using State = RpcServer::State;

// Counts one open connection for as long as it lives; moves from the HTTP
// session to the WebSocket session on upgrade.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(std::shared_ptr<State> state) : state_(std::move(state)) {
    ++state_->connection_count;
    state_->connections.Set(static_cast<double>(state_->connection_count));
  }
  ConnectionSlot(ConnectionSlot&& other) noexcept : state_(std::move(other.state_)) {}
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() {
    if (state_ == nullptr) return;
    --state_->connection_count;
    state_->connections.Set(static_cast<double>(state_->connection_count));
  }

 private:
  std::shared_ptr<State> state_;
};

std::string_view ToStringView(beast::string_view s) { return {s.data(), s.size()}; }

bool IsHttpProtocolError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

// Accepts a missing Content-Type (curl -d without -H) and application/json
// with parameters; anything else is a client mistake worth naming.
// Whether a Content-Type header names `type` (lower case), ignoring case,
// parameters and surrounding spaces.
bool IsContentType(std::string_view value, std::string_view type) {
  value = value.substr(0, value.find(';'));
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) {
    value.remove_suffix(1);
  }
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) {
    value.remove_prefix(1);
  }
  if (value.size() != type.size()) return false;
  return std::equal(value.begin(), value.end(), type.begin(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == b;
  });
}

bool IsJsonContentType(std::string_view value) { return IsContentType(value, kJsonType); }
bool IsFormContentType(std::string_view value) {
  return IsContentType(value, "application/x-www-form-urlencoded");
}

// One WebSocket client: JSON-RPC calls in, responses and events out through
// a bounded queue.
// Whether the client of `socket` is on this machine (an address that cannot
// be read counts as remote).
bool IsLocalPeer(const State& state, const tcp::socket& socket) {
  beast::error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  return !ec && state.config.is_local && state.config.is_local(peer.address());
}

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(std::shared_ptr<State> state, ConnectionSlot slot, tcp::socket socket)
      : state_(std::move(state)),
        slot_(std::move(slot)),
        id_(state_->next_session_id++),
        local_(IsLocalPeer(*state_, socket)),
        ws_(std::move(socket)) {}
  ~WsSession() {
    state_->ws_sessions.erase(id_);
    state_->ws_clients.Set(static_cast<double>(state_->ws_sessions.size()));
  }

  void Run(http::request<http::string_body> request);
  // Drops the connection at once: pending operations end with an error.
  void Close();
  // Queues an event if this client subscribed to `topic`.
  void Deliver(std::string_view topic, std::string_view data_json);
  bool Subscribed(std::string_view topic) const {
    return accepted_ && !closed_ && subscriptions_.find(topic) != subscriptions_.end();
  }

 private:
  void InstallMethods();
  void OnAccept(beast::error_code ec);
  void MaybeRead();
  void OnRead(beast::error_code ec);
  void OnCallDone(std::string response);
  void Enqueue(std::string message);
  void DoWrite();
  void OnWrite(beast::error_code ec);
  Result<json::value> Subscribe(const json::value& params);
  Result<json::value> Unsubscribe(const json::value& params);

  std::shared_ptr<State> state_;
  ConnectionSlot slot_;
  const uint64_t id_;
  const bool local_;  // the client is on this machine (RegisterLocalOnly)
  websocket::stream<beast::tcp_stream> ws_;
  http::request<http::string_body> upgrade_request_;
  beast::flat_buffer read_buffer_;
  MethodTable local_methods_;
  std::deque<std::string> send_queue_;  // front is being written while writing_
  size_t send_queue_bytes_ = 0;
  bool writing_ = false;
  bool reading_ = false;
  bool accepted_ = false;
  bool closed_ = false;
  size_t in_flight_ = 0;
  std::map<std::string, int64_t, std::less<>> subscriptions_;  // topic -> id
  int64_t next_subscription_id_ = 1;
};

void WsSession::Run(http::request<http::string_body> request) {
  state_->ws_sessions[id_] = weak_from_this();
  state_->ws_clients.Set(static_cast<double>(state_->ws_sessions.size()));
  InstallMethods();
  // The HTTP deadline must not apply to a long-lived WebSocket; the
  // WebSocket's own timeouts (handshake, idle with pings) take over.
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = state_->config.request_timeout;
  timeouts.idle_timeout = state_->config.ws_idle_timeout;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [name = state_->config.server_name](websocket::response_type& response) {
        response.set(http::field::server, name);
      }));
  ws_.read_message_max(state_->config.ws_message_bytes_max);
  // Kept until the handshake completes, in case Beast still reads it.
  upgrade_request_ = std::move(request);
  ws_.async_accept(upgrade_request_,
                   [self = shared_from_this()](beast::error_code ec) { self->OnAccept(ec); });
}

void WsSession::InstallMethods() {
  std::weak_ptr<WsSession> weak = weak_from_this();
  auto bind = [weak](Result<json::value> (WsSession::*method)(const json::value&)) {
    return std::make_shared<const Handler>(
        MakeHandler([weak, method](const json::value& params) -> Result<json::value> {
          auto self = weak.lock();
          if (self == nullptr) return Status::Unavailable("the WebSocket connection is closed");
          return ((*self).*method)(params);
        }));
  };
  local_methods_["subscribe"] = bind(&WsSession::Subscribe);
  local_methods_["unsubscribe"] = bind(&WsSession::Unsubscribe);
  if (local_) {
    for (const auto& [name, handler] : state_->local_only) local_methods_[name] = handler;
  }
}

void WsSession::OnAccept(beast::error_code ec) {
  if (ec || closed_ || state_->stopped) {
    Close();
    return;
  }
  accepted_ = true;
  MaybeRead();
}

void WsSession::Close() {
  if (closed_) return;
  closed_ = true;
  subscriptions_.clear();
  beast::error_code ignored;  // closing an already broken socket may fail; nothing to do
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

void WsSession::MaybeRead() {
  if (closed_ || reading_ || in_flight_ >= state_->config.ws_in_flight_max) return;
  reading_ = true;
  ws_.async_read(read_buffer_,
                 [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
}

void WsSession::OnRead(beast::error_code ec) {
  reading_ = false;
  if (closed_ || state_->stopped) return;
  if (ec) {
    // The client closed, timed out, or sent a message over the limit (Beast
    // has already sent the close frame with the reason).
    if (ec == websocket::error::message_too_big) state_->http_errors.Inc();
    Close();
    return;
  }
  std::string payload = beast::buffers_to_string(read_buffer_.data());
  read_buffer_.consume(read_buffer_.size());
  ++in_flight_;
  state_->dispatcher.Handle(
      payload, &local_methods_,
      [self = shared_from_this()](std::string response) { self->OnCallDone(std::move(response)); });
  MaybeRead();
}

void WsSession::OnCallDone(std::string response) {
  --in_flight_;
  if (!response.empty()) Enqueue(std::move(response));
  MaybeRead();
}

void WsSession::Deliver(std::string_view topic, std::string_view data_json) {
  if (!accepted_ || closed_) return;
  auto it = subscriptions_.find(topic);
  if (it == subscriptions_.end()) return;
  // Built by hand so `data` is serialized once per Publish, not per client.
  std::string message = R"({"jsonrpc":"2.0","method":"event","params":{"subscription":)";
  message += std::to_string(it->second);
  message += R"(,"topic":)";
  message += json::serialize(json::string(topic));
  message += R"(,"data":)";
  message += data_json;
  message += "}}";
  state_->ws_events.Inc();
  Enqueue(std::move(message));
}

void WsSession::Enqueue(std::string message) {
  if (closed_) return;
  const RpcConfig& config = state_->config;
  if (send_queue_.size() >= config.ws_send_queue_messages_max ||
      send_queue_bytes_ + message.size() > config.ws_send_queue_bytes_max) {
    // A client that does not read must not make the server hold its events
    // without bound or wait for it: drop it; it can reconnect and catch up.
    state_->ws_dropped_slow.Inc();
    spdlog::info("rpc: dropping WebSocket client {}: {} messages ({} bytes) wait to be sent", id_,
                 send_queue_.size(), send_queue_bytes_);
    Close();
    return;
  }
  send_queue_bytes_ += message.size();
  send_queue_.push_back(std::move(message));
  if (!writing_) DoWrite();
}

void WsSession::DoWrite() {
  writing_ = true;
  ws_.text(true);
  ws_.async_write(asio::buffer(send_queue_.front()),
                  [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
}

void WsSession::OnWrite(beast::error_code ec) {
  writing_ = false;
  if (closed_) return;
  if (ec) {
    Close();
    return;
  }
  send_queue_bytes_ -= send_queue_.front().size();
  send_queue_.pop_front();
  if (!send_queue_.empty()) DoWrite();
}

Result<json::value> WsSession::Subscribe(const json::value& params) {
  const json::value* topic = nullptr;
  if (params.is_object()) topic = params.get_object().if_contains("topic");
  if (params.is_array() && params.get_array().size() == 1) topic = &params.get_array()[0];
  if (topic == nullptr || !topic->is_string()) {
    return Status::InvalidArgument(R"(subscribe needs params {"topic": "<name>"})");
  }
  const std::string_view name = topic->get_string();
  if (!state_->topics.contains(name)) {
    std::string known;
    for (const std::string& t : state_->topics) known += (known.empty() ? "" : ", ") + t;
    return Status::InvalidArgument("unknown topic \"" + std::string(name) + "\"; topics: " + known);
  }
  auto it = subscriptions_.find(name);
  if (it == subscriptions_.end()) {
    if (subscriptions_.size() >= state_->config.ws_subscriptions_max) {
      return Status::ResourceExhausted("at most " +
                                       std::to_string(state_->config.ws_subscriptions_max) +
                                       " subscriptions per connection");
    }
    it = subscriptions_.emplace(std::string(name), next_subscription_id_++).first;
  }
  // Subscribing twice to one topic returns the same subscription.
  json::object result;
  result["subscription"] = it->second;
  result["topic"] = it->first;
  return json::value(std::move(result));
}

Result<json::value> WsSession::Unsubscribe(const json::value& params) {
  const json::value* id = nullptr;
  if (params.is_object()) id = params.get_object().if_contains("subscription");
  if (params.is_array() && params.get_array().size() == 1) id = &params.get_array()[0];
  if (id == nullptr || !id->is_int64()) {
    return Status::InvalidArgument(R"(unsubscribe needs params {"subscription": <id>})");
  }
  for (auto it = subscriptions_.begin(); it != subscriptions_.end(); ++it) {
    if (it->second != id->get_int64()) continue;
    subscriptions_.erase(it);
    return json::value(true);
  }
  return Status::NotFound("no subscription " + std::to_string(id->get_int64()) +
                          " on this connection");
}

// One HTTP/1.1 connection: reads a request, answers it, and repeats while
// the client keeps the connection alive.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(std::shared_ptr<State> state, tcp::socket socket)
      : state_(std::move(state)),
        slot_(state_),
        id_(state_->next_session_id++),
        local_(IsLocalPeer(*state_, socket)),
        stream_(std::move(socket)),
        buffer_(state_->config.header_bytes_max + kReadBufferSlackBytes) {}
  ~HttpSession() { state_->http_sessions.erase(id_); }

  void Run() {
    state_->http_sessions[id_] = weak_from_this();
    DoRead();
  }
  void Close() {
    if (closed_) return;
    closed_ = true;
    // The room an unfinished upload held goes back now, not when the last
    // handler lets go of the session (which may be after the store is gone
    // at shutdown). A finished one's moved to its hashing job already.
    upload_reservation_.reset();
    beast::error_code ignored;  // the socket may already be broken; nothing to do
    stream_.socket().close(ignored);
  }

 private:
  using Response = http::response<http::string_body>;

  void DoRead();
  void OnHeader(beast::error_code ec);
  void ReadBody();
  void OnRead(beast::error_code ec);
  void Route(http::request<http::string_body>& request);
  void ServeRpc(http::request<http::string_body>& request);
  void ServeGet(std::string_view path);
  void ServeStatic(const State::StaticFile& file, const http::request<http::string_body>& request);
  void ServeBlob(const http::request<http::string_body>& request, std::string_view hex);
  // POST /blob: switches to a parser that streams the body into a file.
  void StartUpload();
  void ReadUploadSome();
  void OnUpload(beast::error_code ec);
  void OnAdopted(Result<Hash256> stored);
  struct BlobWrite;
  void WriteBlobSome(std::shared_ptr<BlobWrite> write);
  template <class Body>
  void WriteMessage(http::response<Body> message, std::chrono::milliseconds timeout);
  void OnWritten(beast::error_code ec, bool keep_alive);
  void Upgrade(http::request<http::string_body> request);
  void OnRpcDone(std::string response);
  // Sends a response; `keep_alive` false closes the connection after it.
  void Send(http::status status, std::string_view content_type, std::string body, bool keep_alive,
            std::string_view allow = {});
  void SendError(http::status status, std::string body, bool keep_alive);
  void SendRpcError(http::status status, int code, std::string message, bool keep_alive);
  void MethodNotAllowed(std::string_view allow);
  void StoreManifest(const Hash256& root, const std::string& body);
  void OnWrite(beast::error_code ec);
  void Drain();

  std::shared_ptr<State> state_;
  std::optional<ConnectionSlot> slot_;  // empty once handed to a WsSession
  const uint64_t id_;
  const bool local_;  // the client is on this machine (RegisterLocalOnly)
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::request_parser<http::file_body>> upload_parser_;
  std::filesystem::path upload_path_;
  std::chrono::steady_clock::time_point upload_started_;
  uint64_t upload_received_ = 0;  // bytes the upload's parser took so far
  std::optional<Hash256> upload_expected_;
  // The quota's room this upload holds until it is installed or dropped.
  std::shared_ptr<storage::BlobStore::Reservation> upload_reservation_;
  std::optional<Response> response_;  // the one being written
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool closed_ = false;
  std::array<char, kDrainChunkBytes> drain_buffer_{};
  size_t drained_bytes_ = 0;
};

void HttpSession::DoRead() {
  if (closed_ || state_->stopped) return;
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(state_->config.header_bytes_max));
  // The header is checked against the larger of the two limits; OnHeader
  // applies the RPC limit to everything but a blob upload.
  uint64_t body_max = state_->config.body_bytes_max;
  if (state_->blobs != nullptr) {
    body_max = std::max(body_max, state_->blobs->options().blob_bytes_max);
  }
  parser_->body_limit(body_max);
  stream_.expires_after(state_->config.request_timeout);
  // The header first: a Content-Length over the limit fails here, before any
  // body byte is read, and a client that sent "Expect: 100-continue" (curl
  // does for bodies over 1 KiB) must be told to go on.
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
}

void HttpSession::OnHeader(beast::error_code ec) {
  if (closed_ || state_->stopped) return;
  if (ec || parser_->is_done()) return OnRead(ec);
  const auto& header = parser_->get();
  const std::string_view target = ToStringView(header.target());
  if (header.method() == http::verb::post && target.substr(0, target.find('?')) == "/blob" &&
      state_->blobs != nullptr) {
    return StartUpload();
  }
  if (target.substr(0, target.find('?')) == "/blob" && state_->blobs != nullptr) {
    state_->http_requests.Inc();
    version_ = header.version();
    keep_alive_ = false;  // the body, if any, is not read
    return MethodNotAllowed("POST");
  }
  parser_->body_limit(state_->config.body_bytes_max);
  if (parser_->content_length() && *parser_->content_length() > state_->config.body_bytes_max) {
    return OnRead(http::error::body_limit);
  }
  const auto expect = header.find(http::field::expect);
  if (expect == header.end() || !beast::iequals(expect->value(), "100-continue")) {
    return ReadBody();
  }
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                    [self = shared_from_this()](beast::error_code write_ec, size_t) {
                      if (write_ec) return self->Close();
                      self->ReadBody();
                    });
}

void HttpSession::ReadBody() {
  if (closed_ || state_->stopped) return;
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
}

void HttpSession::OnRead(beast::error_code ec) {
  if (closed_ || state_->stopped) return;
  if (ec == http::error::body_limit) {
    SendRpcError(http::status::payload_too_large, kResourceExhaustedError,
                 "request body exceeds the limit of " +
                     std::to_string(state_->config.body_bytes_max) + " bytes",
                 /*keep_alive=*/false);
  } else if (ec == http::error::header_limit) {
    SendError(http::status::request_header_fields_too_large,
              "request headers exceed the limit of " +
                  std::to_string(state_->config.header_bytes_max) + " bytes",
              /*keep_alive=*/false);
  } else if (ec && ec != http::error::end_of_stream && ec != http::error::partial_message &&
             IsHttpProtocolError(ec)) {
    SendError(http::status::bad_request, "malformed HTTP request: " + ec.message(),
              /*keep_alive=*/false);
  } else if (ec) {
    // The client left, went quiet past request_timeout, or the socket broke.
    Close();
  } else {
    http::request<http::string_body> request = parser_->release();
    Route(request);
  }
}

void HttpSession::Route(http::request<http::string_body>& request) {
  state_->http_requests.Inc();
  version_ = request.version();
  keep_alive_ = request.keep_alive();
  const std::string_view target = ToStringView(request.target());
  const std::string_view path = target.substr(0, target.find('?'));
  const http::verb verb = request.method();
  if (path == "/rpc") {
    if (verb != http::verb::post) return MethodNotAllowed("POST");
    return ServeRpc(request);
  }
  if (path == "/ws") {
    if (verb != http::verb::get) return MethodNotAllowed("GET");
    if (websocket::is_upgrade(request)) return Upgrade(std::move(request));
    return SendError(http::status::upgrade_required,
                     "GET /ws needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)",
                     keep_alive_);
  }
  if (path.starts_with("/blob/") && state_->blobs != nullptr) {
    if (verb != http::verb::get && verb != http::verb::head) return MethodNotAllowed("GET, HEAD");
    return ServeBlob(request, path.substr(6));
  }
  if (path.starts_with("/manifest/") && state_->blobs != nullptr) {
    if (verb != http::verb::get && verb != http::verb::post) return MethodNotAllowed("GET, POST");
    Result<Hash256> root = Hash256::FromHex(path.substr(10));
    if (!root.ok()) {
      return SendError(http::status::bad_request,
                       "a manifest is named by the 64 hex digits of its Merkle root", keep_alive_);
    }
    if (verb == http::verb::post) return StoreManifest(*root, request.body());
    Result<std::vector<Hash256>> hashes = state_->blobs->GetManifest(*root);
    if (!hashes.ok()) {
      return SendError(hashes.status().code() == StatusCode::kNotFound
                           ? http::status::not_found
                           : http::status::internal_server_error,
                       hashes.status().message(), keep_alive_);
    }
    const Bytes bytes = storage::EncodeManifest(*hashes);
    return Send(http::status::ok, kBlobType, std::string(bytes.begin(), bytes.end()), keep_alive_);
  }
  if (path == "/blob" && state_->blobs != nullptr) {
    // A POST with a body went to StartUpload; one without (nothing to store) lands here.
    if (verb != http::verb::post) return MethodNotAllowed("POST");
    return SendError(http::status::bad_request, "POST /blob needs the blob's bytes as the body",
                     keep_alive_);
  }
  if (auto file = state_->static_files.find(path); file != state_->static_files.end()) {
    if (verb != http::verb::get && verb != http::verb::head) return MethodNotAllowed("GET, HEAD");
    return ServeStatic(file->second, request);
  }
  if (path == "/metrics" || path == "/health" || path == "/") {
    if (verb != http::verb::get) return MethodNotAllowed("GET");
    return ServeGet(path);
  }
  SendError(http::status::not_found,
            "no such path: " + std::string(path) + "; endpoints: " + std::string(kEndpoints),
            keep_alive_);
}

// POST /manifest/<root>: the body is EncodeManifest(hashes); it is kept only
// if the hashes' Merkle root is `root` (self-certifying, like a blob) and
// this node holds every blob it lists, so a provider whose own node cannot
// serve may publish its checkpoints and their manifest elsewhere. Counted
// against the quota (507 when full).
void HttpSession::StoreManifest(const Hash256& root, const std::string& body) {
  if (!state_->blob_uploads) {
    return SendError(http::status::forbidden,
                     "this node does not accept uploads ([blobs] uploads = false in its "
                     "config.toml)",
                     keep_alive_);
  }
  Result<std::vector<Hash256>> hashes = storage::DecodeManifest(root, AsBytes(body));
  if (!hashes.ok()) return SendError(http::status::bad_request, hashes.status().message(), keep_alive_);
  // Only a list of checkpoints this node serves: a manifest is published
  // beside its blobs, never instead of them.
  for (const Hash256& h : *hashes) {
    if (!state_->blobs->Has(h)) {
      return SendError(http::status::conflict,
                       "this node holds no blob " + h.ToHex() +
                           " of the manifest; upload the checkpoints first",
                       keep_alive_);
    }
  }
  if (Status put = state_->blobs->PutManifest(root, *hashes); !put.ok()) {
    return SendError(put.code() == StatusCode::kResourceExhausted
                         ? http::status::insufficient_storage
                         : http::status::internal_server_error,
                     put.message(), keep_alive_);
  }
  Send(http::status::ok, kJsonType,
       "{\"root\":\"" + root.ToHex() + "\",\"checkpoints\":" + std::to_string(hashes->size()) +
           "}",
       keep_alive_);
}

void HttpSession::MethodNotAllowed(std::string_view allow) {
  state_->http_errors.Inc();
  Send(http::status::method_not_allowed, kTextType,
       "this path accepts " + std::string(allow) + " only\n", keep_alive_, allow);
}

void HttpSession::ServeRpc(http::request<http::string_body>& request) {
  auto content_type = request.find(http::field::content_type);
  // `curl -d '{...}'` sends its JSON as a form (what README shows and what
  // CometBFT accepts): the body is parsed as JSON either way.
  if (content_type != request.end() && !IsJsonContentType(ToStringView(content_type->value())) &&
      !IsFormContentType(ToStringView(content_type->value()))) {
    return SendRpcError(http::status::unsupported_media_type, kInvalidRequest,
                        "invalid request: Content-Type must be application/json (or curl's "
                        "default application/x-www-form-urlencoded), not " +
                            std::string(ToStringView(content_type->value())),
                        keep_alive_);
  }
  const auto start = std::chrono::steady_clock::now();
  state_->dispatcher.Handle(
      request.body(), local_ ? &state_->local_only : nullptr,
      [self = shared_from_this(), start](std::string response) {
        const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
        self->state_->call_seconds.Observe(elapsed.count());
        self->OnRpcDone(std::move(response));
      });
}

void HttpSession::OnRpcDone(std::string response) {
  // The connection may have been closed (client gone, Stop()) while an
  // asynchronous handler worked; the answer is then dropped.
  if (closed_ || state_->stopped) return;
  if (response.empty()) {
    Send(http::status::no_content, kJsonType, {}, keep_alive_);  // notifications only
  } else {
    Send(http::status::ok, kJsonType, std::move(response), keep_alive_);
  }
}

void HttpSession::ServeGet(std::string_view path) {
  if (path == "/metrics") {
    return Send(http::status::ok, kMetricsType, state_->metrics.Render(), keep_alive_);
  }
  if (path == "/health") {
    const Status health = state_->health ? state_->health() : Status::Ok();
    if (health.ok()) return Send(http::status::ok, kJsonType, R"({"status":"ok"})", keep_alive_);
    json::object body;
    body["status"] = "unhealthy";
    body["error"] = health.ToString();
    state_->http_errors.Inc();
    return Send(http::status::service_unavailable, kJsonType, json::serialize(body), keep_alive_);
  }
  if (state_->status_page) {
    return Send(http::status::ok, state_->status_content_type, state_->status_page(), keep_alive_);
  }
  Send(http::status::ok, kTextType, "agorad RPC\n" + std::string(kEndpoints) + "\n", keep_alive_);
}

void HttpSession::ServeStatic(const State::StaticFile& file,
                              const http::request<http::string_body>& request) {
  auto set_common = [&](auto& response) {
    response.set(http::field::server, state_->config.server_name);
    response.set(http::field::etag, file.etag);
    response.set(http::field::cache_control, "no-cache");
    response.set(http::field::content_type, file.content_type);
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Referrer-Policy", "no-referrer");
    if (!file.csp.empty()) response.set("Content-Security-Policy", file.csp);
    response.keep_alive(keep_alive_);
  };
  if (auto match = request.find(http::field::if_none_match); match != request.end()) {
    const std::string_view tags = ToStringView(match->value());
    if (tags == "*" || tags.find(file.etag) != std::string_view::npos) {
      http::response<http::empty_body> response{http::status::not_modified, version_};
      set_common(response);
      return WriteMessage(std::move(response), state_->config.write_timeout);
    }
  }
  if (request.method() == http::verb::head) {
    http::response<http::empty_body> response{http::status::ok, version_};
    set_common(response);
    response.content_length(file.body.size());
    return WriteMessage(std::move(response), state_->config.write_timeout);
  }
  http::response<http::string_body> response{http::status::ok, version_};
  set_common(response);
  response.body() = file.body;
  response.prepare_payload();
  WriteMessage(std::move(response), state_->config.write_timeout);
}

void HttpSession::Upgrade(http::request<http::string_body> request) {
  if (state_->ws_sessions.size() >= state_->config.ws_clients_max) {
    return SendError(http::status::service_unavailable,
                     "too many WebSocket clients (ws_clients_max=" +
                         std::to_string(state_->config.ws_clients_max) + "); try again later",
                     /*keep_alive=*/false);
  }
  // The socket and the connection slot move to the WebSocket session; this
  // object ends when this handler returns.
  closed_ = true;
  auto session = std::make_shared<WsSession>(state_, std::move(*slot_), stream_.release_socket());
  slot_.reset();
  session->Run(std::move(request));
}

void HttpSession::SendError(http::status status, std::string body, bool keep_alive) {
  state_->http_errors.Inc();
  Send(status, kTextType, std::move(body) + "\n", keep_alive);
}

void HttpSession::SendRpcError(http::status status, int code, std::string message,
                               bool keep_alive) {
  state_->http_errors.Inc();
  Send(status, kJsonType, MakeErrorResponse(nullptr, code, message), keep_alive);
}

void HttpSession::Send(http::status status, std::string_view content_type, std::string body,
                       bool keep_alive, std::string_view allow) {
  Response response{status, version_};
  response.set(http::field::server, state_->config.server_name);
  if (!allow.empty()) response.set(http::field::allow, allow);
  response.set(http::field::content_type, content_type);
  response.body() = std::move(body);
  response.keep_alive(keep_alive);
  response.prepare_payload();
  response_ = std::move(response);
  stream_.expires_after(state_->config.write_timeout);
  http::async_write(stream_, *response_, [self = shared_from_this()](beast::error_code ec, size_t) {
    self->OnWrite(ec);
  });
}

void HttpSession::OnWrite(beast::error_code ec) {
  const bool keep_alive = response_.has_value() && response_->keep_alive();
  response_.reset();
  OnWritten(ec, keep_alive);
}

void HttpSession::OnWritten(beast::error_code ec, bool keep_alive) {
  if (closed_ || state_->stopped) return;
  if (ec) {
    Close();
    return;
  }
  if (keep_alive) {
    DoRead();
    return;
  }
  beast::error_code ignored;  // the client may be gone already; the drain below ends either way
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.expires_after(state_->config.request_timeout);
  Drain();
}

template <class Body>
void HttpSession::WriteMessage(http::response<Body> message, std::chrono::milliseconds timeout) {
  auto held = std::make_shared<http::response<Body>>(std::move(message));
  const bool keep_alive = held->keep_alive();
  stream_.expires_after(timeout);
  http::async_write(stream_, *held,
                    [self = shared_from_this(), held, keep_alive](beast::error_code ec, size_t) {
                      self->OnWritten(ec, keep_alive);
                    });
}

std::chrono::milliseconds TransferAllowance(const RpcConfig& config, uint64_t bytes) {
  const uint64_t rate = std::max<uint64_t>(config.blob_bytes_per_second_min, 1);
  return std::chrono::milliseconds(bytes / rate * 1000);
}

// A blob's response, written a piece at a time (see WriteBlobSome).
struct HttpSession::BlobWrite {
  explicit BlobWrite(http::response<FileRangeBody> m) : message(std::move(m)), serializer(message) {}
  http::response<FileRangeBody> message;
  http::serializer<false, FileRangeBody> serializer;  // refers to `message`: never moved
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  uint64_t sent = 0;
};

void HttpSession::ServeBlob(const http::request<http::string_body>& request,
                            std::string_view hex) {
  Result<Hash256> hash = Hash256::FromHex(hex);
  if (!hash.ok()) {
    return SendError(http::status::bad_request,
                     "a blob is named by the 64 hex digits of its BLAKE2b-256, not \"" +
                         std::string(hex.substr(0, 80)) + "\"",
                     keep_alive_);
  }
  storage::BlobStore& blobs = *state_->blobs;
  Result<uint64_t> size = blobs.Size(*hash);
  if (!size.ok()) {
    return SendError(http::status::not_found,
                     "this node holds no blob " + hash->ToHex() +
                         "; ask a node that does, or upload it with `agora blob put FILE`",
                     keep_alive_);
  }
  ByteRange range;
  range.length = *size;
  if (auto field = request.find(http::field::range); field != request.end()) {
    range = ParseByteRange(ToStringView(field->value()), *size);
  }
  auto set_common = [&](auto& response) {
    response.set(http::field::server, state_->config.server_name);
    response.set(http::field::accept_ranges, "bytes");
    // Content-addressed: the bytes behind a name never change.
    response.set(http::field::etag, "\"" + hash->ToHex() + "\"");
    response.set(http::field::cache_control, "public, max-age=31536000, immutable");
    response.keep_alive(keep_alive_);
  };
  if (range.kind == ByteRange::Kind::kUnsatisfiable) {
    state_->http_errors.Inc();
    http::response<http::string_body> response{http::status::range_not_satisfiable, version_};
    set_common(response);
    response.set(http::field::content_type, kTextType);
    response.set(http::field::content_range, "bytes */" + std::to_string(*size));
    response.body() = "the range asked for starts past the end of the blob (" +
                      std::to_string(*size) + " bytes)\n";
    response.prepare_payload();
    return WriteMessage(std::move(response), state_->config.write_timeout);
  }
  const http::status status = range.kind == ByteRange::Kind::kPart ? http::status::partial_content
                                                                    : http::status::ok;
  auto set_range = [&](auto& response) {
    set_common(response);
    response.set(http::field::content_type, kBlobType);
    if (status == http::status::partial_content) {
      response.set(http::field::content_range,
                   "bytes " + std::to_string(range.offset) + "-" +
                       std::to_string(range.offset + range.length - 1) + "/" +
                       std::to_string(*size));
    }
    response.content_length(range.length);
  };
  if (request.method() == http::verb::head) {
    http::response<http::empty_body> response{status, version_};
    set_range(response);
    return WriteMessage(std::move(response), state_->config.write_timeout);
  }
  http::response<FileRangeBody> response{status, version_};
  beast::error_code ec;
  response.body().file.open(blobs.PathOf(*hash).c_str(), beast::file_mode::scan, ec);
  if (ec) {
    return SendError(http::status::not_found,
                     "blob " + hash->ToHex() + " was removed while being asked for", keep_alive_);
  }
  response.body().offset = range.offset;
  response.body().length = range.length;
  set_range(response);
  state_->blob_bytes_served.Inc(range.length);
  auto write = std::make_shared<BlobWrite>(std::move(response));
  WriteBlobSome(std::move(write));
}

// The deadline follows the bytes the client has taken: write_timeout plus
// the time those take at blob_bytes_per_second_min. A client that stops
// reading, or reads slower than that, is cut off however large the blob.
// (One deadline for the whole blob, from its size, let a client that read
// nothing hold a connection for about an hour per 4 GiB; found in review.)
void HttpSession::WriteBlobSome(std::shared_ptr<BlobWrite> write) {
  stream_.expires_at(write->started + state_->config.write_timeout +
                     TransferAllowance(state_->config, write->sent));
  http::async_write_some(stream_, write->serializer,
                         [self = shared_from_this(), write](beast::error_code ec, size_t n) {
                           write->sent += n;
                           if (ec || write->serializer.is_done()) {
                             return self->OnWritten(ec, write->message.keep_alive());
                           }
                           self->WriteBlobSome(write);
                         });
}

void HttpSession::StartUpload() {
  state_->http_requests.Inc();
  const auto& header = parser_->get();
  version_ = header.version();
  // Until the body is read, an error answer must end the connection.
  keep_alive_ = false;
  if (!state_->blob_uploads) {
    return SendError(http::status::forbidden,
                     "this node does not accept blob uploads ([blobs] uploads = false in its "
                     "config.toml); upload to your own node",
                     false);
  }
  const std::string_view target = ToStringView(header.target());
  const size_t query = target.find('?');
  upload_expected_.reset();
  if (query != std::string_view::npos) {
    const std::string_view q = target.substr(query + 1);
    Result<Hash256> expected = Hash256::FromHex(q.substr(q.starts_with("hash=") ? 5 : 0));
    if (!q.starts_with("hash=") || !expected.ok()) {
      return SendError(http::status::bad_request,
                       "POST /blob takes one query parameter, hash=<64 hex digits>", false);
    }
    upload_expected_ = *expected;
  }
  const storage::BlobStore& blobs = *state_->blobs;
  const uint64_t limit = blobs.options().blob_bytes_max;
  const auto length = parser_->content_length();
  if (length && *length > limit) {
    return SendError(http::status::payload_too_large,
                     "a blob of " + std::to_string(*length) + " bytes is over this node's limit of " +
                         std::to_string(limit) + " bytes per blob",
                     false);
  }
  // The room is held from here: concurrent uploads each checked against the
  // quota alone could together write far past it under tmp/. An upload
  // without Content-Length may grow to blob_bytes_max, so holds that.
  Result<storage::BlobStore::Reservation> room = state_->blobs->Reserve(length.value_or(limit));
  if (!room.ok()) {
    return SendError(http::status::insufficient_storage, room.status().message(), false);
  }
  upload_reservation_ = std::make_shared<storage::BlobStore::Reservation>(std::move(*room));
  upload_path_ = state_->blobs->NewTempPath();
  const bool expect_continue = [&] {
    auto expect = header.find(http::field::expect);
    return expect != header.end() && beast::iequals(expect->value(), "100-continue");
  }();
  upload_parser_.emplace(std::move(*parser_));
  parser_.reset();
  upload_parser_->body_limit(limit);
  beast::error_code ec;
  upload_parser_->get().body().open(upload_path_.c_str(), beast::file_mode::write_new, ec);
  if (ec) {
    upload_parser_.reset();
    upload_reservation_.reset();
    return SendError(http::status::internal_server_error,
                     "cannot create a file for the upload: " + ec.message(), false);
  }
  upload_started_ = std::chrono::steady_clock::now();
  upload_received_ = 0;
  auto read_body = [self = shared_from_this()] { self->ReadUploadSome(); };
  if (!expect_continue) return read_body();
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                    [self = shared_from_this(), read_body](beast::error_code write_ec, size_t) {
                      if (write_ec) {
                        std::error_code ignored;
                        std::filesystem::remove(self->upload_path_, ignored);
                        self->upload_reservation_.reset();
                        return self->Close();
                      }
                      read_body();
                    });
}

// Reads the upload a piece at a time. The deadline follows what has
// arrived: request_timeout plus the time the bytes so far take at
// blob_bytes_per_second_min, so a client that stops sending, or sends slower
// than that, is cut off however large a blob it announced (one deadline from
// the announced size let a silent client hold a connection for about an
// hour; found in review).
void HttpSession::ReadUploadSome() {
  stream_.expires_at(upload_started_ + state_->config.request_timeout +
                     TransferAllowance(state_->config, upload_received_));
  http::async_read_some(stream_, buffer_, *upload_parser_,
                        [self = shared_from_this()](beast::error_code ec, size_t n) {
                          self->upload_received_ += n;
                          if (ec || self->upload_parser_->is_done()) return self->OnUpload(ec);
                          self->ReadUploadSome();
                        });
}

void HttpSession::OnUpload(beast::error_code ec) {
  upload_parser_->get().body().close();
  auto discard = [&] {
    std::error_code remove_ec;  // Open() empties tmp/ should this fail
    std::filesystem::remove(upload_path_, remove_ec);
    upload_reservation_.reset();
  };
  if (closed_ || state_->stopped) return discard();
  if (ec == http::error::body_limit) {
    discard();
    return SendError(http::status::payload_too_large,
                     "the blob is over this node's limit of " +
                         std::to_string(state_->blobs->options().blob_bytes_max) +
                         " bytes per blob",
                     false);
  }
  if (ec) {
    discard();
    if (IsHttpProtocolError(ec)) {
      return SendError(http::status::bad_request, "malformed upload: " + ec.message(), false);
    }
    return Close();  // the client left or went quiet
  }
  keep_alive_ = upload_parser_->get().keep_alive();
  upload_parser_.reset();
  // Adopt hashes the file and removes it whatever the outcome. It runs on
  // the hashing thread: a 4 GiB upload hashed here would hold the node's
  // loop, consensus included, for seconds. The session does no I/O until
  // OnAdopted, back on the loop.
  asio::post(*state_->hasher, [self = shared_from_this(), store = state_->blobs,
                               path = upload_path_, expected = upload_expected_,
                               reservation = std::move(upload_reservation_),
                               loop = stream_.get_executor()]() mutable {
    if (self->state_->config.before_upload_hashed) self->state_->config.before_upload_hashed();
    Result<Hash256> stored = store->Adopt(path, expected, reservation.get());
    reservation.reset();  // whatever the outcome: the file is installed or gone
    asio::post(loop, [self = std::move(self), stored = std::move(stored)]() mutable {
      self->OnAdopted(std::move(stored));
    });
  });
}

void HttpSession::OnAdopted(Result<Hash256> stored) {
  // Stopped or closed meanwhile: a blob that arrived whole stays stored.
  if (closed_ || state_->stopped) return;
  if (!stored.ok()) {
    const StatusCode code = stored.status().code();
    const http::status status = code == StatusCode::kCorruption ? http::status::bad_request
                                : code == StatusCode::kResourceExhausted
                                    ? http::status::insufficient_storage
                                    : http::status::internal_server_error;
    return SendError(status, stored.status().message(), keep_alive_);
  }
  json::object body;
  body["hash"] = stored->ToHex();
  const Result<uint64_t> size = state_->blobs->Size(*stored);
  body["size"] = size.ok() ? *size : 0;
  Send(http::status::ok, kJsonType, json::serialize(body), keep_alive_);
}

void HttpSession::Drain() {
  stream_.async_read_some(asio::buffer(drain_buffer_),
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            self->drained_bytes_ += n;
                            if (ec || self->closed_ || self->drained_bytes_ > kDrainBytesMax) {
                              self->Close();
                              return;
                            }
                            self->Drain();
                          });
}

void DoAccept(const std::shared_ptr<State>& state);

void OnAccept(const std::shared_ptr<State>& state, beast::error_code ec, tcp::socket socket) {
  if (state->stopped) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    spdlog::warn("rpc: accept failed: {}; retrying", ec.message());
    state->accept_retry.expires_after(kAcceptRetryDelay);
    state->accept_retry.async_wait([state](beast::error_code wait_ec) {
      if (!wait_ec && !state->stopped) DoAccept(state);
    });
    return;
  }
  if (state->connection_count >= state->config.connections_max) {
    state->connections_rejected.Inc();
    beast::error_code ignored;  // refusing the connection; its errors do not matter
    socket.close(ignored);
  } else {
    state->connections_accepted.Inc();
    std::make_shared<HttpSession>(state, std::move(socket))->Run();
  }
  DoAccept(state);
}

void DoAccept(const std::shared_ptr<State>& state) {
  state->acceptor.async_accept([state](beast::error_code ec, tcp::socket socket) {
    OnAccept(state, ec, std::move(socket));
  });
}

void PublishNow(State& state, std::string_view topic, const json::value& data) {
  AGORA_CHECK_MSG(state.topics.contains(topic),
                  "Publish to topic \"" + std::string(topic) + "\" that AddTopic never declared");
  if (state.stopped) return;
  // Deliver may close a session; collect first so no session dies mid-walk.
  std::vector<std::shared_ptr<WsSession>> sessions;
  for (const auto& [id, weak] : state.ws_sessions) {
    auto session = weak.lock();
    if (session && session->Subscribed(topic)) sessions.push_back(std::move(session));
  }
  if (sessions.empty()) return;  // nobody listens: not even serialized
  const std::string data_json = json::serialize(data);
  for (const auto& session : sessions) session->Deliver(topic, data_json);
}

bool HasSubscribers(const State& state, std::string_view topic) {
  if (state.stopped) return false;
  for (const auto& [id, weak] : state.ws_sessions) {
    auto session = weak.lock();
    if (session && session->Subscribed(topic)) return true;
  }
  return false;
}

}  // namespace internal

RpcServer::RpcServer(asio::io_context& io, RpcConfig config)
    : state_(std::make_shared<State>(io, std::move(config))) {}

RpcServer::~RpcServer() { Stop(); }

void RpcServer::Register(std::string method, Handler handler) {
  state_->dispatcher.Register(std::move(method), std::move(handler));
}

void RpcServer::RegisterSync(std::string method, SyncHandler handler) {
  AGORA_CHECK(handler != nullptr);
  state_->dispatcher.Register(std::move(method), MakeHandler(std::move(handler)));
}

void RpcServer::RegisterLocalOnly(std::string method, SyncHandler handler) {
  state_->local_only[method] = std::make_shared<const Handler>(MakeHandler(std::move(handler)));
  const std::string refusal =
      method + " is answered only to a client on the node's own machine (127.0.0.1 or ::1): it "
               "changes what the node holds; run it there (e.g. `agora` on that host, or over "
               "an SSH tunnel to the RPC port)";
  state_->dispatcher.Register(
      std::move(method), MakeHandler([refusal](const json::value&) -> Result<json::value> {
        return Status::PermissionDenied(refusal);
      }));
}

bool RpcServer::HasSubscribers(std::string_view topic) const {
  return internal::HasSubscribers(*state_, topic);
}

void RpcServer::AddTopic(std::string topic) { state_->topics.insert(std::move(topic)); }

void RpcServer::Publish(std::string_view topic, const json::value& data) {
  if (state_->io.get_executor().running_in_this_thread()) {
    internal::PublishNow(*state_, topic, data);
    return;
  }
  asio::post(state_->io, [state = state_, topic = std::string(topic), data]() {
    internal::PublishNow(*state, topic, data);
  });
}

void RpcServer::AddStaticFile(std::string path, std::string content_type, std::string body,
                              std::string content_security_policy) {
  AGORA_CHECK(!path.empty() && path.front() == '/');
  std::string etag = "\"" + Blake2b256(body).ToHex().substr(0, 32) + "\"";
  state_->static_files[std::move(path)] =
      State::StaticFile{std::move(content_type), std::move(body), std::move(etag),
                        std::move(content_security_policy)};
}

void RpcServer::SetStatusPage(std::function<std::string()> render, std::string content_type) {
  state_->status_page = std::move(render);
  state_->status_content_type = std::move(content_type);
}

void RpcServer::SetHealthCheck(std::function<Status()> check) { state_->health = std::move(check); }

void RpcServer::SetBlobStore(storage::BlobStore* store, bool accept_uploads) {
  state_->blobs = store;
  state_->blob_uploads = accept_uploads;
  if (store != nullptr && accept_uploads && state_->hasher == nullptr) {
    state_->hasher = std::make_unique<asio::thread_pool>(1);
  }
}

Status RpcServer::Start() {
  if (state_->started) return Status::FailedPrecondition("the RPC server was already started");
  const RpcConfig& config = state_->config;
  const std::string where = config.host + ":" + std::to_string(config.port);
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(config.host, ec);
  if (ec) {
    return Status::InvalidArgument("RPC host \"" + config.host +
                                   "\" is not an IP address; use 127.0.0.1 (this machine only) "
                                   "or 0.0.0.0 (every interface)");
  }
  const tcp::endpoint endpoint(address, config.port);
  tcp::acceptor& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;  // cleaning up after the real error reported below
    acceptor.close(ignored);
    return Status::Unavailable("cannot listen for RPC on " + where + ": " + ec.message() +
                               "; is another agorad using this port?");
  }
  state_->port = acceptor.local_endpoint(ec).port();
  state_->started = true;
  internal::DoAccept(state_);
  spdlog::info("rpc: listening on http://{}:{}", config.host, state_->port);
  return Status::Ok();
}

void RpcServer::Stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  beast::error_code ignored;  // stopping: a close that fails leaves nothing to undo
  state_->acceptor.close(ignored);
  state_->accept_retry.cancel();
  std::vector<std::shared_ptr<internal::HttpSession>> http_sessions;
  for (const auto& [id, weak] : state_->http_sessions) {
    if (auto session = weak.lock()) http_sessions.push_back(std::move(session));
  }
  std::vector<std::shared_ptr<internal::WsSession>> ws_sessions;
  for (const auto& [id, weak] : state_->ws_sessions) {
    if (auto session = weak.lock()) ws_sessions.push_back(std::move(session));
  }
  for (const auto& session : http_sessions) session->Close();
  for (const auto& session : ws_sessions) session->Close();
  state_->dispatcher.Clear();
  state_->status_page = nullptr;
  state_->health = nullptr;
  // An upload being hashed finishes (it is kept); its answer is dropped.
  // Nothing touches the blob store after this returns.
  if (state_->hasher != nullptr) state_->hasher->join();
}

uint16_t RpcServer::port() const {
  AGORA_CHECK_MSG(state_->started, "port() before a successful Start()");
  return state_->port;
}

const RpcConfig& RpcServer::config() const { return state_->config; }

MetricsRegistry& RpcServer::metrics() { return state_->metrics; }

}  // namespace agora::node::rpc
