// The CDP client of the browser tests against a real headless chromium and
// pages served over HTTP from this process. Skipped where chromium is not
// installed.
#include "tests/node/browser.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "common/check.h"
#include "tests/test_util.h"

namespace agora::node {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using testing::Browser;
using namespace std::chrono_literals;

// Path -> HTML.
using Pages = std::map<std::string, std::string>;

// Serves fixed pages over HTTP/1.1 on 127.0.0.1 from a
// background thread; any other path is a 404.
class PageServer {
 public:
  explicit PageServer(Pages pages) : pages_(std::move(pages)) {
    tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), 0);
    boost::system::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    AGORA_CHECK_MSG(!ec, ec.message());
    acceptor_.bind(endpoint, ec);
    AGORA_CHECK_MSG(!ec, ec.message());
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    AGORA_CHECK_MSG(!ec, ec.message());
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~PageServer() {
    ioc_.stop();
    thread_.join();
  }
  PageServer(const PageServer&) = delete;
  PageServer& operator=(const PageServer&) = delete;

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  struct Session {
    explicit Session(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;
  };

  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;  // the acceptor is gone: the server is shutting down
      Serve(std::make_shared<Session>(std::move(socket)));
      Accept();
    });
  }

  // Answers requests on one connection until the browser closes it.
  void Serve(std::shared_ptr<Session> session) {
    session->request = {};
    http::async_read(session->socket, session->buffer, session->request,
                     [this, session](boost::system::error_code ec, size_t) {
                       if (ec) return;  // closed by the browser
                       Respond(session);
                     });
  }

  void Respond(std::shared_ptr<Session> session) {
    auto page = pages_.find(std::string(session->request.target()));
    http::response<http::string_body>& response = session->response;
    response = {};
    response.version(11);
    response.result(page == pages_.end() ? http::status::not_found : http::status::ok);
    response.set(http::field::content_type, "text/html; charset=utf-8");
    response.body() = page == pages_.end() ? "not found" : page->second;
    response.keep_alive(session->request.keep_alive());
    response.prepare_payload();
    http::async_write(session->socket, response,
                      [this, session](boost::system::error_code ec, size_t) {
                        if (!ec && session->response.keep_alive()) Serve(session);
                      });
  }

  Pages pages_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_{ioc_};
  uint16_t port_ = 0;
  std::thread thread_;
};

constexpr const char* kIndexPage = R"(<!doctype html>
<html><head><title>Agora browser test</title><link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<p id="greeting">hello from agora</p>
<div id="late"></div>
<script>
  setTimeout(() => {
    document.getElementById('late').textContent = 'ready';
    window.agoraReady = true;
  }, 300);
</script>
</body></html>
)";

constexpr const char* kErrorsPage = R"(<!doctype html>
<html><head><title>errors</title><link rel="icon" href="data:,"></head>
<body>
<script>console.error('boom', 42);</script>
<script>console.assert(1 === 2, 'one is not two');</script>
<script>console.log('fine'); console.warn('only a warning');</script>
<script src="/missing.js"></script>
<script>throw new Error('kaboom');</script>
</body></html>
)";

// Returns nullptr, with the reason as a test failure, if chromium did not start.
std::unique_ptr<Browser> StartBrowser() {
  Result<std::unique_ptr<Browser>> browser = Browser::Start();
  if (!browser.ok()) {
    ADD_FAILURE() << browser.status().ToString();
    return nullptr;
  }
  return std::move(browser).value();
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += "\n  " + line;
  return text;
}

bool AnyLineContains(const std::vector<std::string>& lines, const std::string& part) {
  for (const std::string& line : lines) {
    if (line.find(part) != std::string::npos) return true;
  }
  return false;
}

TEST(BrowserTest, LoadsAPageOverHttpAndReadsItsDom) {
  if (std::string reason = Browser::Unavailable(); !reason.empty()) GTEST_SKIP() << reason;
  PageServer server(Pages{{"/", kIndexPage}});
  std::unique_ptr<Browser> browser = StartBrowser();
  ASSERT_NE(browser, nullptr);
  ASSERT_TRUE(browser->Navigate(server.Url("/")).ok());

  Result<json::value> title = browser->Evaluate("document.title");
  ASSERT_TRUE(title.ok()) << title.status().ToString();
  EXPECT_EQ(*title, json::value("Agora browser test"));
  Result<json::value> greeting =
      browser->Evaluate("document.getElementById('greeting').textContent");
  ASSERT_TRUE(greeting.ok()) << greeting.status().ToString();
  EXPECT_EQ(*greeting, json::value("hello from agora"));
  Result<json::value> awaited = browser->Evaluate("new Promise(r => setTimeout(() => r(42), 10))");
  ASSERT_TRUE(awaited.ok()) << awaited.status().ToString();
  EXPECT_EQ(*awaited, json::value(42));

  // Set by the page's setTimeout after 300 ms, so not yet true at load.
  Status ready = browser->WaitFor("window.agoraReady === true", 10s);
  ASSERT_TRUE(ready.ok()) << ready.ToString();
  Result<json::value> late = browser->Evaluate("document.getElementById('late').textContent");
  ASSERT_TRUE(late.ok()) << late.status().ToString();
  EXPECT_EQ(*late, json::value("ready"));

  Status never = browser->WaitFor("document.title === 'other'", 300ms);
  EXPECT_EQ(never.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(never.message().find("document.title === 'other'"), std::string::npos)
      << never.ToString();
  EXPECT_NE(never.message().find("last: value false"), std::string::npos) << never.ToString();
  Result<json::value> thrown = browser->Evaluate("document.getElementById('absent').textContent");
  ASSERT_FALSE(thrown.ok());
  EXPECT_EQ(thrown.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(thrown.status().message().find("TypeError"), std::string::npos)
      << thrown.status().ToString();

  Result<json::value> width = browser->Evaluate("window.innerWidth");
  ASSERT_TRUE(width.ok()) << width.status().ToString();
  EXPECT_EQ(*width, json::value(1280));
  ASSERT_TRUE(browser->SetViewport(390, 844, /*mobile=*/true).ok());
  width = browser->Evaluate("window.innerWidth");
  ASSERT_TRUE(width.ok()) << width.status().ToString();
  EXPECT_EQ(*width, json::value(390));

  agora::testing::TempDir dir;
  Status shot = browser->Screenshot(dir.path() / "page.png");
  ASSERT_TRUE(shot.ok()) << shot.ToString();
  std::string png = agora::testing::ReadTextFile(dir.path() / "page.png");
  EXPECT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));

  // A clean page, and an exception thrown by an evaluated expression is the
  // caller's error, not the page's.
  EXPECT_TRUE(browser->Errors().empty()) << Joined(browser->Errors());
}

TEST(BrowserTest, CollectsConsoleErrorsUncaughtExceptionsAndFailedLoads) {
  if (std::string reason = Browser::Unavailable(); !reason.empty()) GTEST_SKIP() << reason;
  PageServer server(Pages{{"/errors.html", kErrorsPage}});
  std::unique_ptr<Browser> browser = StartBrowser();
  ASSERT_NE(browser, nullptr);
  ASSERT_TRUE(browser->Navigate(server.Url("/errors.html")).ok());

  std::vector<std::string> errors = browser->Errors();
  EXPECT_TRUE(AnyLineContains(errors, "console.error: boom 42")) << Joined(errors);
  EXPECT_TRUE(AnyLineContains(errors, "console.assert: one is not two")) << Joined(errors);
  EXPECT_TRUE(AnyLineContains(
      errors, "exception: Uncaught Error: kaboom at " + server.Url("/errors.html") + ":"))
      << Joined(errors);
  EXPECT_TRUE(AnyLineContains(errors, "log error (network)")) << Joined(errors);
  EXPECT_TRUE(AnyLineContains(errors, server.Url("/missing.js"))) << Joined(errors);
  EXPECT_FALSE(AnyLineContains(errors, "fine")) << Joined(errors);
  EXPECT_FALSE(AnyLineContains(errors, "only a warning")) << Joined(errors);
}

TEST(BrowserTest, LoadsDataUrlsAndReportsUnreachableOnes) {
  if (std::string reason = Browser::Unavailable(); !reason.empty()) GTEST_SKIP() << reason;
  std::unique_ptr<Browser> browser = StartBrowser();
  ASSERT_NE(browser, nullptr);
  ASSERT_TRUE(browser->Navigate("data:text/html,<title>from data</title>").ok());
  Result<json::value> title = browser->Evaluate("document.title");
  ASSERT_TRUE(title.ok()) << title.status().ToString();
  EXPECT_EQ(*title, json::value("from data"));

  // A port that was just free: nothing listens there. (Chromium refuses
  // "unsafe" ports such as 1 before connecting, with ERR_UNSAFE_PORT.)
  uint16_t closed_port = 0;
  {
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc);
    tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), 0);
    boost::system::error_code ec;
    acceptor.open(endpoint.protocol(), ec);
    ASSERT_FALSE(ec) << ec.message();
    acceptor.bind(endpoint, ec);
    ASSERT_FALSE(ec) << ec.message();
    closed_port = acceptor.local_endpoint(ec).port();
  }
  Status refused = browser->Navigate("http://127.0.0.1:" + std::to_string(closed_port) + "/");
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("ERR_CONNECTION_REFUSED"), std::string::npos)
      << refused.ToString();
}

}  // namespace
}  // namespace agora::node
