#include "tests/node/browser.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdlib>
#include <thread>
#include <utility>

#include "common/encoding.h"
#include "common/file_util.h"

extern char** environ;

namespace agora::node::testing {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// CDP messages carry whole screenshots as base64; a full-page PNG is a few MB.
constexpr size_t kMessageBytesMax = 64u << 20;
// How often Start looks for DevToolsActivePort and for the page target.
constexpr auto kStartPollInterval = 20ms;
constexpr auto kWaitForInterval = 100ms;
// How much of chromium.log a failed Start quotes.
constexpr size_t kLogTailBytes = 3000;
// DevToolsActivePort is two short lines; anything larger is not it.
constexpr size_t kPortFileBytesMax = 4096;

// Runs one asynchronous operation on `ioc` until it completes or `deadline`
// passes. Beast's stream timeouts only apply to asynchronous operations (a
// synchronous read on a hung browser would block forever), so every socket
// operation here is started asynchronously and run to completion: on expiry
// the tcp_stream closes the socket and the operation completes with
// beast::error::timeout.
template <typename Start>
boost::system::error_code RunUntil(asio::io_context& ioc, beast::tcp_stream& stream,
                                   Clock::time_point deadline, Start start) {
  stream.expires_at(deadline);
  boost::system::error_code result = asio::error::would_block;
  start([&result](boost::system::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

std::string SocketError(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  return ec.message();
}

std::string Seconds(std::chrono::seconds s) { return std::to_string(s.count()) + " s"; }

// The last `kLogTailBytes` of chromium's log, to explain a failed start.
std::string LogTail(const fs::path& log_path) {
  Result<std::string> log = ReadFile(log_path, /*bytes_max=*/64u << 20);
  if (!log.ok()) return "(no chromium log: " + log.status().ToString() + ")";
  std::string text = std::move(log).value();
  if (text.size() > kLogTailBytes) text = "..." + text.substr(text.size() - kLogTailBytes);
  return "chromium log:\n" + text;
}

// The port from DevToolsActivePort ("<port>\n/devtools/browser/<id>"), or 0
// while the file is absent or its first line is not complete yet (it may be
// read while chromium is still writing it).
uint16_t ReadDevToolsPort(const fs::path& port_file) {
  Result<std::string> text = ReadFile(port_file, kPortFileBytesMax);
  if (!text.ok()) return 0;
  size_t newline = text->find('\n');
  if (newline == std::string::npos || newline == 0 || newline > 5) return 0;
  int port = 0;
  for (size_t i = 0; i < newline; ++i) {
    char c = (*text)[i];
    if (c < '0' || c > '9') return 0;
    port = port * 10 + (c - '0');
  }
  return port > 0 && port <= 65535 ? static_cast<uint16_t>(port) : 0;
}

Result<std::string> HttpGet(uint16_t port, const std::string& target, Clock::time_point deadline) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  const std::string what = "GET http://127.0.0.1:" + std::to_string(port) + target;
  tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
  boost::system::error_code ec = RunUntil(
      ioc, stream, deadline, [&](auto handler) { stream.async_connect(endpoint, handler); });
  if (ec) return Status::IoError(what + ": connect: " + SocketError(ec));
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  ec = RunUntil(ioc, stream, deadline,
                [&](auto handler) { http::async_write(stream, request, handler); });
  if (ec) return Status::IoError(what + ": write: " + SocketError(ec));
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  ec = RunUntil(ioc, stream, deadline,
                [&](auto handler) { http::async_read(stream, buffer, response, handler); });
  if (ec) return Status::IoError(what + ": read: " + SocketError(ec));
  // Ignored on purpose: the response is complete and the socket is discarded.
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  if (response.result() != http::status::ok) {
    return Status::IoError(what + ": HTTP " + std::to_string(response.result_int()));
  }
  return std::move(response.body());
}

// The webSocketDebuggerUrl of the first target of type "page" in a
// /json/list answer, or "" if there is none yet. The list also holds targets
// of type "browser_ui" (the omnibox popup) that are no web page.
std::string PageWebSocketUrl(const std::string& list_json) {
  boost::system::error_code ec;
  json::value list = json::parse(list_json, ec);
  if (ec || !list.is_array()) return "";
  for (const json::value& target : list.get_array()) {
    const json::object* object = target.if_object();
    if (object == nullptr) continue;
    const json::value* type = object->if_contains("type");
    const json::value* url = object->if_contains("webSocketDebuggerUrl");
    if (type == nullptr || url == nullptr || !url->is_string()) continue;
    if (type->is_string() && type->get_string() == "page") return std::string(url->get_string());
  }
  return "";
}

std::string StringField(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

const json::object& ObjectField(const json::object& object, std::string_view key) {
  static const json::object kEmpty;
  const json::value* v = object.if_contains(key);
  return v != nullptr && v->is_object() ? v->get_object() : kEmpty;
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

// A RemoteObject as console.log would print it.
std::string RemoteObjectText(const json::object& remote) {
  if (const json::value* v = remote.if_contains("value")) {
    return v->is_string() ? std::string(v->get_string()) : json::serialize(*v);
  }
  std::string text = StringField(remote, "unserializableValue");
  if (text.empty()) text = StringField(remote, "description");
  if (text.empty()) text = StringField(remote, "type");
  return text;
}

// "Uncaught Error: boom" (the first line of the description; the rest is the
// stack) from a Runtime.ExceptionDetails.
std::string ExceptionText(const json::object& details) {
  std::string text = StringField(details, "text");
  const json::object& exception = ObjectField(details, "exception");
  std::string what = exception.empty() ? "" : FirstLine(RemoteObjectText(exception));
  if (!what.empty() && text.find(what) == std::string::npos) {
    text += text.empty() ? what : " " + what;
  }
  return text;
}

std::string ExceptionLocation(const json::object& details) {
  std::string url = StringField(details, "url");
  const json::value* line = details.if_contains("lineNumber");
  if (url.empty() || line == nullptr || !line->is_int64()) return url;
  return url + ":" + std::to_string(line->get_int64() + 1);  // CDP lines count from 0
}

}  // namespace

struct Browser::Connection {
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
};

std::string Browser::Unavailable() {
  if (::access(kChromiumPath, X_OK) != 0) {
    return std::string("chromium is not installed (") + kChromiumPath +
           " missing; apt-get install chromium)";
  }
  return "";
}

Browser::Browser(fs::path dir, pid_t pid)
    : dir_(std::move(dir)), pid_(pid), connection_(std::make_unique<Connection>()) {}

Browser::~Browser() {
  // Ignored on purpose: chromium is killed right after, which closes the
  // connection either way.
  boost::system::error_code ec;
  beast::get_lowest_layer(connection_->ws).socket().close(ec);
  if (pid_ > 0) {
    // The whole process group: chromium forks zygote, renderer and GPU
    // helpers that would otherwise outlive the test and keep the profile busy.
    ::kill(-pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  std::error_code remove_error;
  fs::remove_all(dir_, remove_error);  // best effort: a leftover temp dir harms nothing
}

Result<std::unique_ptr<Browser>> Browser::Start(int width, int height) {
  if (std::string reason = Unavailable(); !reason.empty()) {
    return Status::FailedPrecondition(reason);
  }
  const Clock::time_point deadline = Clock::now() + kStartTimeout;
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/agora-browser-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return ErrnoStatus("cannot create a temporary directory", pattern, errno);
  }
  const fs::path dir = pattern;
  const std::string log_path = (dir / "chromium.log").string();
  std::vector<std::string> argv = {
      kChromiumPath,
      "--headless=new",
      // CI runs as root, where chromium refuses to start with its sandbox.
      "--no-sandbox",
      "--disable-gpu",
      // Containers often give /dev/shm only 64 MB, which crashes renderers.
      // Debian's launcher means to add this flag below 3.8 GB, but its test
      // breaks ("[: unexpected operator") where /dev/shm is mounted twice.
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--no-default-browser-check",
      "--user-data-dir=" + (dir / "profile").string(),
      "--remote-debugging-port=0",
      "--window-size=" + std::to_string(width) + "," + std::to_string(height),
      "about:blank",
  };
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group (pgid = its pid), so the destructor can kill every
  // helper chromium forks with one kill(-pid).
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    std::error_code ec;
    fs::remove_all(dir, ec);  // best effort, as in the destructor
    return ErrnoStatus("cannot start", kChromiumPath, rc);
  }
  // From here on the destructor kills chromium and removes `dir`.
  std::unique_ptr<Browser> browser(new Browser(dir, pid));
  Status connected = browser->Connect(deadline);
  if (!connected.ok()) {
    return Status(connected.code(),
                  "starting chromium: " + connected.message() + "\n" + LogTail(log_path));
  }
  for (const char* domain : {"Page.enable", "Runtime.enable", "Log.enable"}) {
    AGORA_RETURN_IF_ERROR(browser->Call(domain, {}).status());
  }
  return browser;
}

Status Browser::Connect(Clock::time_point deadline) {
  const fs::path port_file = dir_ / "profile" / "DevToolsActivePort";
  uint16_t port = 0;
  std::string ws_url;
  Status last = Status::Unavailable("DevToolsActivePort not written yet");
  while (ws_url.empty()) {
    int wstatus = 0;
    if (::waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;  // reaped; the destructor must not kill a recycled pid
      return Status::Unavailable(
          WIFEXITED(wstatus) ? "chromium exited with code " + std::to_string(WEXITSTATUS(wstatus))
                             : "chromium died of signal " + std::to_string(WTERMSIG(wstatus)));
    }
    if (Clock::now() >= deadline) {
      return Status::Unavailable("no page target within " + Seconds(kStartTimeout) +
                                 " (last: " + last.message() + ")");
    }
    if (port == 0) port = ReadDevToolsPort(port_file);
    if (port != 0) {
      Result<std::string> list = HttpGet(port, "/json/list", deadline);
      if (list.ok()) {
        ws_url = PageWebSocketUrl(*list);
        if (ws_url.empty()) last = Status::Unavailable("no target of type page in /json/list");
      } else {
        last = list.status();
      }
    }
    if (ws_url.empty()) std::this_thread::sleep_for(kStartPollInterval);
  }

  // ws_url is "ws://127.0.0.1:<port>/devtools/page/<id>".
  constexpr std::string_view kScheme = "ws://";
  size_t slash = ws_url.find('/', kScheme.size());
  if (!ws_url.starts_with(kScheme) || slash == std::string::npos) {
    return Status::Corruption("unexpected webSocketDebuggerUrl '" + ws_url + "'");
  }
  const std::string host = ws_url.substr(kScheme.size(), slash - kScheme.size());
  const std::string path = ws_url.substr(slash);
  Connection& c = *connection_;
  beast::tcp_stream& stream = beast::get_lowest_layer(c.ws);
  tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
  boost::system::error_code ec = RunUntil(
      c.ioc, stream, deadline, [&](auto handler) { stream.async_connect(endpoint, handler); });
  if (ec) return Status::IoError("connecting to " + ws_url + ": " + SocketError(ec));
  c.ws.read_message_max(kMessageBytesMax);
  ec = RunUntil(c.ioc, stream, deadline,
                [&](auto handler) { c.ws.async_handshake(host, path, handler); });
  if (ec) return Status::IoError("WebSocket handshake with " + ws_url + ": " + SocketError(ec));
  return Status::Ok();
}

Result<boost::json::value> Browser::Call(const std::string& method, json::object params) {
  if (!broken_.ok()) {
    return Status::IoError("CDP " + method +
                           ": the connection to chromium broke earlier: " + broken_.message());
  }
  const int64_t id = next_id_++;
  json::object request;
  request["id"] = id;
  request["method"] = method;
  request["params"] = std::move(params);
  const std::string text = json::serialize(request);
  const Clock::time_point deadline = Clock::now() + kCallTimeout;
  Connection& c = *connection_;
  boost::system::error_code ec =
      RunUntil(c.ioc, beast::get_lowest_layer(c.ws), deadline,
               [&](auto handler) { c.ws.async_write(asio::buffer(text), handler); });
  if (ec) {
    broken_ = Status::IoError("CDP " + method + ": write: " + SocketError(ec));
    return broken_;
  }
  for (;;) {
    Result<json::value> read = ReadMessage(deadline);
    if (!read.ok()) return read.status().WithContext("CDP " + method);
    const json::object* message = read->if_object();
    if (message == nullptr) continue;
    // Events were recorded by ReadMessage; a response to an earlier call that
    // gave up waiting is dropped here.
    const json::value* message_id = message->if_contains("id");
    if (message_id == nullptr || !message_id->is_int64() || message_id->get_int64() != id) {
      continue;
    }
    if (message->contains("error")) {
      const json::object& error = ObjectField(*message, "error");
      return Status::InvalidArgument("CDP " + method + ": " + StringField(error, "message") + " " +
                                     json::serialize(error));
    }
    const json::value* result = message->if_contains("result");
    return result != nullptr && result->is_object() ? *result : json::value(json::object());
  }
}

Result<boost::json::value> Browser::ReadMessage(Clock::time_point deadline) {
  Connection& c = *connection_;
  c.buffer.clear();
  boost::system::error_code ec =
      RunUntil(c.ioc, beast::get_lowest_layer(c.ws), deadline,
               [&](auto handler) { c.ws.async_read(c.buffer, handler); });
  if (ec) {
    // A timed-out read has closed the socket, so every later call fails too.
    broken_ = Status::IoError(ec == beast::error::timeout
                                  ? "no answer from chromium within " + Seconds(kCallTimeout)
                                  : "reading from chromium: " + ec.message());
    return broken_;
  }
  json::value message = json::parse(beast::buffers_to_string(c.buffer.data()), ec);
  if (ec) return Status::Corruption("chromium sent malformed JSON: " + ec.message());
  if (const json::object* object = message.if_object(); object && object->contains("method")) {
    RecordEvent(*object);
  }
  return message;
}

void Browser::RecordEvent(const json::object& message) {
  const std::string method = StringField(message, "method");
  const json::object& params = ObjectField(message, "params");
  if (method == "Page.loadEventFired") {
    load_event_fired_ = true;
  } else if (method == "Runtime.exceptionThrown") {
    const json::object& details = ObjectField(params, "exceptionDetails");
    AddError("exception: " + ExceptionText(details) + " at " + ExceptionLocation(details));
  } else if (method == "Runtime.consoleAPICalled") {
    const std::string type = StringField(params, "type");
    if (type != "error" && type != "assert") return;
    std::string line = "console." + type + ":";
    const json::value* args = params.if_contains("args");
    if (args != nullptr && args->is_array()) {
      for (const json::value& arg : args->get_array()) {
        if (arg.is_object()) line += " " + RemoteObjectText(arg.get_object());
      }
    }
    AddError(std::move(line));
  } else if (method == "Log.entryAdded") {
    const json::object& entry = ObjectField(params, "entry");
    if (StringField(entry, "level") != "error") return;
    std::string line =
        "log error (" + StringField(entry, "source") + "): " + StringField(entry, "text");
    if (std::string url = StringField(entry, "url"); !url.empty()) line += " " + url;
    AddError(std::move(line));
  } else if (method == "Inspector.targetCrashed") {
    AddError("page crashed");
  }
}

void Browser::AddError(std::string line) {
  if (errors_.size() < kErrorsMax) {
    errors_.push_back(std::move(line));
  } else {
    ++errors_dropped_;
  }
}

std::vector<std::string> Browser::Errors() const {
  std::vector<std::string> errors = errors_;
  if (errors_dropped_ > 0) {
    errors.push_back("... and " + std::to_string(errors_dropped_) + " more errors not kept");
  }
  return errors;
}

Status Browser::Navigate(const std::string& url) {
  const std::string what = "navigating to " + url;
  load_event_fired_ = false;
  json::object params;
  params["url"] = url;
  AGORA_ASSIGN_OR_RETURN(json::value result, Call("Page.navigate", std::move(params)));
  // A failed navigation (connection refused, DNS) still answers, with errorText.
  if (std::string error = StringField(result.get_object(), "errorText"); !error.empty()) {
    return Status::Unavailable(what + ": " + error);
  }
  const Clock::time_point deadline = Clock::now() + kCallTimeout;
  while (!load_event_fired_) {
    Result<json::value> read = ReadMessage(deadline);
    if (!read.ok()) return read.status().WithContext(what + ": waiting for the load event");
  }
  return Status::Ok();
}

Result<boost::json::value> Browser::Evaluate(const std::string& expression) {
  json::object params;
  params["expression"] = expression;
  params["returnByValue"] = true;
  params["awaitPromise"] = true;
  AGORA_ASSIGN_OR_RETURN(json::value response, Call("Runtime.evaluate", std::move(params)));
  const json::object& object = response.get_object();
  if (object.contains("exceptionDetails")) {
    return Status::FailedPrecondition("evaluating `" + expression + "` threw: " +
                                      ExceptionText(ObjectField(object, "exceptionDetails")));
  }
  const json::object& remote = ObjectField(object, "result");
  if (const json::value* value = remote.if_contains("value")) return *value;
  // NaN, Infinity, -0 and BigInt have no JSON form; CDP sends them as text.
  if (std::string text = StringField(remote, "unserializableValue"); !text.empty()) {
    return json::value(text);
  }
  return json::value(nullptr);  // undefined, or a value with no JSON form
}

Status Browser::WaitFor(const std::string& expression, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::string last;
  for (;;) {
    Result<json::value> value = Evaluate(expression);
    if (value.ok()) {
      if (value->is_bool() && value->get_bool()) return Status::Ok();
      last = "value " + json::serialize(*value);
    } else if (value.status().code() == StatusCode::kIoError) {
      return value.status();  // the browser is gone; waiting longer cannot help
    } else {
      last = value.status().message();
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      return Status::FailedPrecondition("`" + expression + "` was not true within " +
                                        std::to_string(timeout.count()) + " ms; last: " + last);
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(kWaitForInterval, deadline - now));
  }
}

Status Browser::Screenshot(const fs::path& path) {
  json::object params;
  params["format"] = "png";
  AGORA_ASSIGN_OR_RETURN(json::value result, Call("Page.captureScreenshot", std::move(params)));
  AGORA_ASSIGN_OR_RETURN(Bytes png, Base64Decode(StringField(result.get_object(), "data")));
  return WriteFileAtomic(path, png, 0644);
}

Status Browser::SetViewport(int width, int height, bool mobile) {
  json::object params;
  params["width"] = width;
  params["height"] = height;
  // 1 rather than a phone's 3, so screenshots stay small and CSS pixels equal
  // device pixels.
  params["deviceScaleFactor"] = 1;
  params["mobile"] = mobile;
  return Call("Emulation.setDeviceMetricsOverride", std::move(params)).status();
}

}  // namespace agora::node::testing
