#include "node/rpc/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <deque>
#include <utility>
#include <vector>

#include "node/rpc/json_rpc.h"

namespace agora::node::rpc {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint16_t kPortDefault = 26657;
constexpr size_t kJsonDepthMax = 64;
constexpr std::string_view kUserAgent = "agora-rpc-client";
// How long Close() waits for the server to answer a close frame.
constexpr std::chrono::milliseconds kCloseWait{1000};
// How much of an unexpected body an error message quotes.
constexpr size_t kQuoteBytesMax = 200;

std::string Quote(std::string_view body) {
  std::string out(body.substr(0, kQuoteBytesMax));
  if (body.size() > kQuoteBytesMax) out += "...";
  return out;
}

// Turns a transport failure into a message that says what to do.
Status TransportError(const RpcUrl& url, std::string_view what, beast::error_code ec,
                      std::chrono::milliseconds timeout) {
  const std::string where = url.ToString();
  if (ec == asio::error::connection_refused) {
    return Status::Unavailable("cannot connect to " + where + " (connection refused); is agorad " +
                               "running at " + where + "? start it with `agorad --home DIR` " +
                               "or `agora devnet up`");
  }
  if (ec == beast::error::timeout) {
    return Status::Unavailable("no answer from " + where + " within " +
                               std::to_string(timeout.count()) + " ms while " + std::string(what));
  }
  return Status::Unavailable("RPC to " + where + " failed while " + std::string(what) + ": " +
                             ec.message());
}

// Runs `io` until `done` is set or `deadline` passes. Returns done.
bool RunUntil(asio::io_context& io, const bool& done, Clock::time_point deadline) {
  io.restart();
  while (!done) {
    if (io.run_one_until(deadline) == 0 && (io.stopped() || Clock::now() >= deadline)) break;
  }
  return done;
}

// Reads a JSON-RPC response object: the result, or the error as a Status.
Result<json::value> ReadResponse(const json::value& response, int64_t id, RpcError* error) {
  if (!response.is_object()) return Status::Internal("RPC response is not a JSON object");
  const json::object& object = response.get_object();
  if (const json::value* e = object.if_contains("error")) {
    RpcError parsed;
    if (e->is_object()) {
      const json::object& eo = e->get_object();
      if (const json::value* c = eo.if_contains("code"); c != nullptr && c->is_int64()) {
        parsed.code = c->get_int64();
      }
      if (const json::value* m = eo.if_contains("message"); m != nullptr && m->is_string()) {
        parsed.message = std::string(m->get_string());
      }
      if (const json::value* d = eo.if_contains("data")) parsed.data = *d;
    }
    Status status(StatusCodeForError(parsed.code),
                  parsed.message + " (code " + std::to_string(parsed.code) + ")");
    if (error != nullptr) *error = std::move(parsed);
    return status;
  }
  const json::value* got_id = object.if_contains("id");
  if (got_id == nullptr || !got_id->is_int64() || got_id->get_int64() != id) {
    return Status::Internal("RPC response answers another request (id " +
                            (got_id ? json::serialize(*got_id) : std::string("missing")) +
                            ", expected " + std::to_string(id) + ")");
  }
  const json::value* result = object.if_contains("result");
  if (result == nullptr) return Status::Internal("RPC response has neither result nor error");
  return *result;
}

Result<std::string> MakeRequestBody(std::string_view method, json::value params, int64_t id) {
  if (!params.is_null() && !params.is_array() && !params.is_object()) {
    return Status::InvalidArgument("RPC params must be an array, an object or omitted");
  }
  json::object request;
  request["jsonrpc"] = "2.0";
  request["id"] = id;
  request["method"] = method;
  if (!params.is_null()) request["params"] = std::move(params);
  return json::serialize(request);
}

}  // namespace

struct HttpAnswer {
  unsigned status = 0;
  std::string body;
};

// One kept-alive HTTP/1.1 connection: calls after the first skip the TCP
// connect (and the server its accept), which is most of a small call's cost.
struct RpcClient::Connection {
  asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
};

namespace {

// One request on `conn` (connecting first when `connect`), all of it within
// `timeout`. On failure *stage says how far it got.
Result<HttpAnswer> ExchangeOn(RpcClient::Connection& conn, bool connect, const RpcUrl& url,
                              http::request<http::string_body>& request,
                              std::chrono::milliseconds timeout, std::string_view* stage,
                              bool* keep_alive, bool* timed_out) {
  beast::error_code ec;
  tcp::resolver::results_type endpoints;
  if (connect) {
    tcp::resolver resolver(conn.io);
    endpoints = resolver.resolve(url.host, std::to_string(url.port), ec);
    if (ec) return TransportError(url, "resolving the host", ec, timeout);
  }
  request.set(http::field::host, url.host + ":" + std::to_string(url.port));
  request.set(http::field::user_agent, kUserAgent);
  request.keep_alive(true);
  request.prepare_payload();

  http::response_parser<http::string_body> parser;
  parser.body_limit(RpcClient::kResponseBytesMax);
  // A deadline for the whole exchange: it applies to every operation below.
  conn.stream.expires_after(timeout);
  bool done = false;
  auto send = [&] {
    *stage = "sending the request";
    http::async_write(conn.stream, request, [&](beast::error_code write_ec, size_t) {
      if ((ec = write_ec)) {
        done = true;
        return;
      }
      *stage = "reading the response";
      http::async_read(conn.stream, conn.buffer, parser, [&](beast::error_code read_ec, size_t) {
        ec = read_ec;
        done = true;
      });
    });
  };
  if (connect) {
    *stage = "connecting";
    conn.stream.async_connect(endpoints, [&](beast::error_code connect_ec, const tcp::endpoint&) {
      if ((ec = connect_ec)) {
        done = true;
        return;
      }
      send();
    });
  } else {
    send();
  }
  conn.io.restart();
  conn.io.run();
  if (!done) return Status::Internal("RPC exchange ended without finishing");
  *timed_out = ec == beast::error::timeout;
  if (ec) return TransportError(url, *stage, ec, timeout);
  HttpAnswer answer;
  answer.status = parser.get().result_int();
  *keep_alive = parser.get().keep_alive();
  answer.body = std::move(parser.get().body());
  return answer;
}

}  // namespace

Result<HttpAnswer> RpcClient::Exchange(bool post, std::string_view target, std::string body,
                                       std::chrono::milliseconds timeout) {
  http::request<http::string_body> request{post ? http::verb::post : http::verb::get, target, 11};
  if (post) {
    request.set(http::field::content_type, "application/json");
    request.body() = std::move(body);
  }
  const bool reused = conn_ != nullptr;
  if (!reused) conn_ = std::make_unique<Connection>();
  std::string_view stage;
  bool keep_alive = false;
  bool timed_out = false;
  Result<HttpAnswer> answer =
      ExchangeOn(*conn_, !reused, *url_, request, timeout, &stage, &keep_alive, &timed_out);
  if (!answer.ok()) {
    conn_.reset();
    // A kept-alive connection the server has since closed (idle, restarted)
    // fails before any answer: try once more on a fresh one.
    if (reused && stage != "connecting" && answer.status().code() == StatusCode::kUnavailable &&
        !timed_out) {
      conn_ = std::make_unique<Connection>();
      answer = ExchangeOn(*conn_, true, *url_, request, timeout, &stage, &keep_alive, &timed_out);
      if (!answer.ok()) conn_.reset();
    }
    return answer;
  }
  if (!keep_alive) conn_.reset();
  return answer;
}

namespace {
}  // namespace

std::string RpcUrl::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<RpcUrl> ParseRpcUrl(std::string_view url) {
  const std::string original(url);
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("bad RPC URL \"" + original + "\": " + std::string(why) +
                                   "; expected e.g. http://127.0.0.1:26657");
  };
  if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else if (url.starts_with("ws://")) {
    url.remove_prefix(5);
  } else if (url.starts_with("https://") || url.starts_with("wss://")) {
    return bad("TLS is not supported; put a TLS proxy in front of agorad");
  } else {
    return bad("it must start with http://");
  }
  const size_t slash = url.find('/');
  if (slash != std::string_view::npos) {
    if (url.substr(slash) != "/") return bad("it must not have a path");
    url = url.substr(0, slash);
  }
  RpcUrl parsed;
  std::string_view port_text;
  if (url.starts_with("[")) {
    const size_t close = url.find(']');
    if (close == std::string_view::npos) return bad("unclosed [ in the IPv6 address");
    parsed.host = std::string(url.substr(1, close - 1));
    std::string_view rest = url.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(":")) return bad("junk after the IPv6 address");
    if (!rest.empty()) port_text = rest.substr(1);
  } else {
    const size_t colon = url.find(':');
    parsed.host = std::string(url.substr(0, colon));
    if (colon != std::string_view::npos) port_text = url.substr(colon + 1);
    if (colon != std::string_view::npos && port_text.empty()) return bad("empty port");
  }
  if (parsed.host.empty()) return bad("no host");
  parsed.port = kPortDefault;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return bad("the port must be a number from 1 to 65535");
    }
    parsed.port = static_cast<uint16_t>(value);
  }
  return parsed;
}

RpcClient::RpcClient(std::string_view url) : url_text_(url), url_(ParseRpcUrl(url)) {}
RpcClient::~RpcClient() = default;
RpcClient::RpcClient(RpcClient&&) noexcept = default;
RpcClient& RpcClient::operator=(RpcClient&&) noexcept = default;

Result<json::value> RpcClient::Call(std::string_view method, json::value params,
                                    std::chrono::milliseconds timeout, RpcError* error) {
  if (!url_.ok()) return url_.status();
  const int64_t id = next_id_++;
  AGORA_ASSIGN_OR_RETURN(std::string body, MakeRequestBody(method, std::move(params), id));
  AGORA_ASSIGN_OR_RETURN(HttpAnswer answer, Exchange(/*post=*/true, "/rpc", std::move(body), timeout));
  Result<json::value> response = ParseStrictJson(answer.body, kJsonDepthMax);
  if (!response.ok()) {
    return Status::Unavailable("HTTP " + std::to_string(answer.status) + " from " +
                               url_->ToString() +
                               " is not a JSON-RPC response: " + Quote(answer.body));
  }
  return ReadResponse(*response, id, error);
}

Result<std::vector<Result<json::value>>> RpcClient::CallBatch(
    const std::vector<std::pair<std::string, json::value>>& calls,
    std::chrono::milliseconds timeout) {
  if (!url_.ok()) return url_.status();
  if (calls.empty()) return std::vector<Result<json::value>>{};
  const int64_t first_id = next_id_;
  std::string body = "[";
  for (const auto& [method, params] : calls) {
    AGORA_ASSIGN_OR_RETURN(std::string one, MakeRequestBody(method, params, next_id_++));
    if (body.size() > 1) body += ",";
    body += one;
  }
  body += "]";
  AGORA_ASSIGN_OR_RETURN(HttpAnswer answer, Exchange(/*post=*/true, "/rpc", std::move(body), timeout));
  Result<json::value> response = ParseStrictJson(answer.body, kJsonDepthMax);
  if (!response.ok() || !response->is_array()) {
    // A batch the server refused as a whole comes back as one error object.
    if (response.ok() && response->is_object()) {
      Result<json::value> whole = ReadResponse(*response, -1, nullptr);
      if (!whole.ok()) return whole.status();
    }
    return Status::Unavailable("HTTP " + std::to_string(answer.status) + " from " +
                               url_->ToString() +
                               " is not a JSON-RPC batch response: " + Quote(answer.body));
  }
  // Answers may come in any order; each is matched to its call by id.
  std::vector<Result<json::value>> results(calls.size(),
                                           Status::Internal("no answer to this call in the batch"));
  for (const json::value& one : response->get_array()) {
    const json::value* id = one.is_object() ? one.get_object().if_contains("id") : nullptr;
    if (id == nullptr || !id->is_int64()) continue;
    const int64_t index = id->get_int64() - first_id;
    if (index < 0 || index >= static_cast<int64_t>(calls.size())) continue;
    results[static_cast<size_t>(index)] = ReadResponse(one, id->get_int64(), nullptr);
  }
  return results;
}

Result<std::string> RpcClient::Get(std::string_view path, std::chrono::milliseconds timeout) {
  if (!url_.ok()) return url_.status();
  AGORA_ASSIGN_OR_RETURN(HttpAnswer answer, Exchange(/*post=*/false, path, {}, timeout));
  if (answer.status != 200) {
    return Status::Unavailable("GET " + std::string(path) + " from " + url_->ToString() +
                               " answered HTTP " + std::to_string(answer.status) + ": " +
                               Quote(answer.body));
  }
  return std::move(answer.body);
}

struct WsSubscription::Impl {
  RpcUrl url;
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws{io};
  beast::flat_buffer buffer;
  bool read_pending = false;
  bool read_done = false;
  beast::error_code read_ec;
  bool open = false;
  Status broken;  // set once the connection is unusable
  std::deque<json::value> events;
  int64_t next_id = 1;

  Status Write(const std::string& text, Clock::time_point deadline);
  Result<json::value> ReadMessage(Clock::time_point deadline, std::chrono::milliseconds timeout);
  void Fail(Status status) {
    if (broken.ok()) broken = std::move(status);
    beast::error_code ignored;  // the connection is being abandoned
    beast::get_lowest_layer(ws).socket().close(ignored);
    open = false;
  }
};

Status WsSubscription::Impl::Write(const std::string& text, Clock::time_point deadline) {
  if (!broken.ok()) return broken;
  bool done = false;
  beast::error_code ec;
  ws.text(true);
  ws.async_write(asio::buffer(text), [&](beast::error_code write_ec, size_t) {
    ec = write_ec;
    done = true;
  });
  if (!RunUntil(io, done, deadline)) {
    // A half-written frame cannot be taken back.
    Fail(Status::Unavailable("WebSocket write to " + url.ToString() + " timed out"));
    RunUntil(io, done, Clock::now() + kCloseWait);
    return broken;
  }
  if (ec) Fail(TransportError(url, "sending on the WebSocket", ec, {}));
  return broken;
}

Result<json::value> WsSubscription::Impl::ReadMessage(Clock::time_point deadline,
                                                      std::chrono::milliseconds timeout) {
  if (!broken.ok()) return broken;
  if (!read_pending) {
    read_pending = true;
    read_done = false;
    ws.async_read(buffer, [this](beast::error_code ec, size_t) {
      read_ec = ec;
      read_pending = false;
      read_done = true;
    });
  }
  if (!RunUntil(io, read_done, deadline)) {
    // The read stays pending; the next call picks it up.
    return Status::Unavailable("no message from " + url.ToString() + " within " +
                               std::to_string(timeout.count()) + " ms");
  }
  read_done = false;
  if (read_ec) {
    Fail(Status::Unavailable("WebSocket to " + url.ToString() + " closed: " + read_ec.message()));
    return broken;
  }
  std::string text = beast::buffers_to_string(buffer.data());
  buffer.consume(buffer.size());
  Result<json::value> message = ParseStrictJson(text, kJsonDepthMax);
  if (!message.ok()) {
    Fail(Status::Corruption("the server sent a non-JSON WebSocket message: " + Quote(text)));
    return broken;
  }
  return message;
}

WsSubscription::WsSubscription(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WsSubscription::~WsSubscription() { Close(); }

Result<std::unique_ptr<WsSubscription>> WsSubscription::Connect(std::string_view url,
                                                                std::chrono::milliseconds timeout) {
  AGORA_ASSIGN_OR_RETURN(RpcUrl parsed, ParseRpcUrl(url));
  auto impl = std::make_unique<Impl>();
  impl->url = parsed;
  tcp::resolver resolver(impl->io);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(parsed.host, std::to_string(parsed.port), ec);
  if (ec) return TransportError(parsed, "resolving the host", ec, timeout);
  beast::tcp_stream& stream = beast::get_lowest_layer(impl->ws);
  stream.expires_after(timeout);
  bool done = false;
  std::string_view stage = "connecting";
  const std::string host = parsed.host + ":" + std::to_string(parsed.port);
  impl->ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& request) { request.set(http::field::user_agent, kUserAgent); }));
  impl->ws.read_message_max(kMessageBytesMax);
  stream.async_connect(endpoints, [&](beast::error_code connect_ec, const tcp::endpoint&) {
    if ((ec = connect_ec)) {
      done = true;
      return;
    }
    stage = "opening the WebSocket";
    impl->ws.async_handshake(host, "/ws", [&](beast::error_code handshake_ec) {
      ec = handshake_ec;
      done = true;
    });
  });
  impl->io.run();
  if (!done) return Status::Internal("WebSocket connect ended without finishing");
  if (ec) return TransportError(parsed, stage, ec, timeout);
  stream.expires_never();
  impl->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  impl->open = true;
  return std::unique_ptr<WsSubscription>(new WsSubscription(std::move(impl)));
}

Result<json::value> WsSubscription::Call(std::string_view method, json::value params,
                                         std::chrono::milliseconds timeout, RpcError* error) {
  const auto deadline = Clock::now() + timeout;
  const int64_t id = impl_->next_id++;
  AGORA_ASSIGN_OR_RETURN(std::string body, MakeRequestBody(method, std::move(params), id));
  AGORA_RETURN_IF_ERROR(impl_->Write(body, deadline));
  while (true) {
    AGORA_ASSIGN_OR_RETURN(json::value message, impl_->ReadMessage(deadline, timeout));
    const json::object* object = message.if_object();
    if (object == nullptr) continue;  // not ours to interpret
    const json::value* method_name = object->if_contains("method");
    if (method_name != nullptr && method_name->is_string() &&
        method_name->get_string() == "event") {
      if (impl_->events.size() >= kPendingEventsMax) {
        impl_->Fail(Status::ResourceExhausted(
            "more than " + std::to_string(kPendingEventsMax) +
            " events arrived while waiting for an answer; call Next() more often"));
        return impl_->broken;
      }
      const json::value* params_in = object->if_contains("params");
      impl_->events.push_back(params_in != nullptr ? *params_in : json::value());
      continue;
    }
    const json::value* got_id = object->if_contains("id");
    if (got_id != nullptr && got_id->is_int64() && got_id->get_int64() == id) {
      return ReadResponse(message, id, error);
    }
    if (got_id != nullptr && got_id->is_null()) return ReadResponse(message, id, error);
  }
}

Result<int64_t> WsSubscription::Subscribe(std::string_view topic,
                                          std::chrono::milliseconds timeout) {
  json::object params;
  params["topic"] = topic;
  AGORA_ASSIGN_OR_RETURN(json::value result, Call("subscribe", std::move(params), timeout));
  const json::value* id =
      result.is_object() ? result.get_object().if_contains("subscription") : nullptr;
  if (id == nullptr || !id->is_int64()) {
    return Status::Internal("subscribe answered without a subscription id: " +
                            json::serialize(result));
  }
  return id->get_int64();
}

Status WsSubscription::Unsubscribe(int64_t subscription, std::chrono::milliseconds timeout) {
  json::object params;
  params["subscription"] = subscription;
  return Call("unsubscribe", std::move(params), timeout).status();
}

Result<json::value> WsSubscription::Next(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (impl_->events.empty()) {
    AGORA_ASSIGN_OR_RETURN(json::value message, impl_->ReadMessage(deadline, timeout));
    const json::object* object = message.if_object();
    if (object == nullptr) continue;
    const json::value* method = object->if_contains("method");
    if (method == nullptr || !method->is_string() || method->get_string() != "event") continue;
    const json::value* params = object->if_contains("params");
    impl_->events.push_back(params != nullptr ? *params : json::value());
  }
  json::value event = std::move(impl_->events.front());
  impl_->events.pop_front();
  return event;
}

void WsSubscription::Close() {
  if (impl_ == nullptr || !impl_->open) return;
  impl_->open = false;
  bool done = false;
  impl_->ws.async_close(websocket::close_code::normal, [&](beast::error_code) { done = true; });
  // A server that does not answer the close frame in time is simply cut off.
  RunUntil(impl_->io, done, Clock::now() + kCloseWait);
  beast::error_code ignored;  // closing a socket the server may have closed first
  beast::get_lowest_layer(impl_->ws).socket().close(ignored);
  RunUntil(impl_->io, done, Clock::now() + kCloseWait);
}

}  // namespace agora::node::rpc
