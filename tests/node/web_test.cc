// The node's web page in a real browser (issue 19): a devnet of 4
// validators and 2 providers runs a tiny job whose title is HTML; headless
// Chromium loads the page from node 0 while the job runs and the test reads
// the DOM through the DevTools protocol: the job's row and its loss chart
// (training points and verified validation points) growing as the job goes
// on, the validator count, the title shown as text, a phone width, no
// console error; the page follows new blocks without a reload and
// reconnects after its node restarts. Screenshots are kept in
// build/<preset>/test-artifacts/: web_page.png while the job runs,
// web_page_failed.png when the test fails.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>

#include "tests/node/browser.h"
#include "tests/node/job_fixture.h"

namespace agora::node {
namespace {

using namespace agora::node::testing;
namespace beast = boost::beast;
namespace http = beast::http;

// Markup and a script in a title: the page must show these characters.
constexpr std::string_view kTitle = "<img src=x onerror=\"window.pwned=1\"><b>tiny</b> & co";

// GET (or HEAD) of `target` on the node at `url`, headers included.
http::response<http::string_body> Get(const std::string& url, std::string_view target,
                                      std::string if_none_match = "") {
  const std::string hostport = url.substr(url.find("//") + 2);
  const std::string host = hostport.substr(0, hostport.find(':'));
  const std::string port = hostport.substr(hostport.find(':') + 1);
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(resolver.resolve(host, port));
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, hostport);
  request.set(http::field::accept_encoding, "identity");
  if (!if_none_match.empty()) request.set(http::field::if_none_match, if_none_match);
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return response;
}

class WebPageTest : public ProvidersDevnetTest {
 protected:
  // The providers stop where the test says (Hold), so it sees the job
  // running at a known point however fast the tasks train.
  void SetUp() override {
    if (const std::string why = Browser::Unavailable(); !why.empty()) {
      GTEST_SKIP() << "no browser: " << why;
    }
    ASSERT_EQ(setenv("AGORA_FAULT_PROVIDER_HOLD", "hold", 1), 0);
    ProvidersDevnetTest::SetUp();
  }
  void TearDown() override {
    if (browser_ != nullptr && HasFailure()) {
      fs::create_directories(Artifacts());
      (void)browser_->Screenshot(Artifacts() / "web_page_failed.png");
    }
    browser_.reset();
    ProvidersDevnetTest::TearDown();
    unsetenv("AGORA_FAULT_PROVIDER_HOLD");
  }
  // The hold must not make round 1 late on a loaded machine: 200 blocks
  // (50 s) more for every task.
  std::vector<std::string> ExtraTestnetArgs() override {
    std::vector<std::string> args = ProvidersDevnetTest::ExtraTestnetArgs();
    args.insert(args.end(), {"--param", "market.deadline_min_blocks=200"});
    return args;
  }
  static fs::path Artifacts() { return fs::path(AGORA_TEST_ARTIFACTS); }
  std::unique_ptr<Browser> browser_;
  // Evaluates `expression`, failing the test on an error.
  json::value Eval(Browser& b, const std::string& expression) {
    Result<json::value> v = b.Evaluate(expression);
    EXPECT_TRUE(v.ok()) << expression << ": " << v.status().ToString();
    return v.ok() ? *v : json::value();
  }
};

class WebFilesTest : public DevnetTest {};

// Each file of the page: its type, the page's policy, a validator that
// answers 304, and all of it well under 200 KB.
TEST_F(WebFilesTest, FilesAreServedWithTypesCachingAndPolicy) {
  size_t total = 0;
  for (auto [path, type] : {std::pair{"/", "text/html; charset=utf-8"},
                            std::pair{"/app.js", "text/javascript; charset=utf-8"},
                            std::pair{"/app.css", "text/css; charset=utf-8"}}) {
    auto r = Get(urls_[0], path);
    ASSERT_EQ(r.result_int(), 200u) << path;
    EXPECT_EQ(r[http::field::content_type], type) << path;
    EXPECT_EQ(r[http::field::cache_control], "no-cache") << path;
    EXPECT_EQ(r["X-Content-Type-Options"], "nosniff") << path;
    const std::string etag(r[http::field::etag]);
    ASSERT_EQ(etag.size(), 34u) << path;
    EXPECT_EQ(Get(urls_[0], path, etag).result_int(), 304u) << path;
    total += r.body().size();
  }
  EXPECT_LT(total, 200'000u) << "the page's whole transfer";
  auto page = Get(urls_[0], "/");
  const std::string policy(page["Content-Security-Policy"]);
  EXPECT_NE(policy.find("script-src 'self'"), std::string::npos) << policy;
  EXPECT_NE(policy.find("default-src 'none'"), std::string::npos) << policy;
  // No inline script: every <script> has a src.
  const std::string& html = page.body();
  for (size_t at = html.find("<script"); at != std::string::npos; at = html.find("<script", at + 1)) {
    EXPECT_NE(html.substr(at, html.find('>', at) - at).find(" src="), std::string::npos)
        << "inline script at byte " << at;
  }
  EXPECT_EQ(Get(urls_[0], "/index.html").body(), html);
}

TEST_F(WebPageTest, ShowsAJobsCurveLiveAndReconnectsAfterItsNodeRestarts) {
  ASSERT_NO_FATAL_FAILURE(RegisterProviders());
  const fs::path job_file =
      WriteJobFiles("vocab = 256\ncontext = 64\nlayers = 2\nheads = 2\nwidth = 64\nbatch = 8\n",
                    /*rounds=*/2, /*workers=*/2, /*inner_steps=*/40);
  // Round 1's tasks stop at step 10: the job runs with round 0 on the chart.
  for (size_t n = kValidators; n < nodes_.size(); ++n) Hold(n, "1/1/", 10);
  CommandResult submit =
      Cli({"job", "submit", job_file.string(), "--budget", "500000", "--max-price", "1000",
           "--title", std::string(kTitle), "--key-file", key_file().string()});
  ASSERT_EQ(submit.exit_code, 0) << submit.out << submit.err;
  json::value job;
  WaitUntil([&] { return (job = Call(0, "job", json::object{{"id", 1}})).as_object().contains("title"); },
            seconds(30), "job 1 is committed");
  ASSERT_EQ(job.at("title"), json::value(kTitle)) << json::serialize(job);
  const int validators = static_cast<int>(Call(0, "validators").at("validators").as_array().size());
  ASSERT_EQ(validators, static_cast<int>(kValidators));

  Result<std::unique_ptr<Browser>> started = Browser::Start(1280, 1000);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  browser_ = std::move(*started);
  Browser& b = *browser_;
  ASSERT_TRUE(b.Navigate(urls_[0] + "/").ok());
  // The job's row, then its chart while it runs: round 0's 2 workers x 40
  // committed losses and the verified validation loss of the weights it
  // started from, then also of round 1's (recorded once round 0 passed).
  const std::string chart = "document.querySelector('[data-job-chart=\"1\"] svg')";
  const std::string row = "document.querySelector('[data-job=\"1\"]')";
  ASSERT_TRUE(b.WaitFor(row + " !== null", seconds(30)).ok());
  Status running = b.WaitFor(chart + " !== null && Number(" + chart +
                                 ".dataset.trainPoints) === 80 && Number(" + chart +
                                 ".dataset.valPoints) === 2",
                             seconds(120));
  ASSERT_TRUE(running.ok()) << running.ToString();
  EXPECT_EQ(Eval(b, row + ".querySelector('td:nth-child(4)').textContent"), "running");
  // What the client bound the job by: the --max-price it was submitted
  // with, and no deadline bound.
  EXPECT_EQ(Eval(b, row + ".querySelector('td:nth-child(7)').textContent"), "1000 uagr/wu");
  EXPECT_EQ(Eval(b, row + ".querySelector('td:nth-child(8)').textContent"), "any");
  EXPECT_EQ(Eval(b, "document.querySelector('#jobs th:nth-child(7)').textContent"), "Max price");
  EXPECT_EQ(Eval(b, chart + ".querySelectorAll('polyline.train').length"), 2);
  EXPECT_EQ(Eval(b, chart + ".querySelectorAll('circle.val').length"), 2);
  fs::create_directories(Artifacts());
  Status shot = b.Screenshot(Artifacts() / "web_page.png");
  EXPECT_TRUE(shot.ok()) << shot.ToString();

  // Let round 1 go: the same chart, with no reload, gets the rest: 2 rounds
  // x 2 workers x 40 losses and the final weights' validation loss.
  ASSERT_TRUE(Eval(b, "window.agoraMarker = 7").is_number());
  for (size_t n = kValidators; n < nodes_.size(); ++n) Hold(n, "", 0);
  Status finished = b.WaitFor(row + ".querySelector('td:nth-child(4)').textContent === 'finished'"
                              " && Number(" + chart + ".dataset.trainPoints) === 160 && Number(" +
                                  chart + ".dataset.valPoints) === 3",
                              seconds(120));
  ASSERT_TRUE(finished.ok()) << finished.ToString();
  EXPECT_EQ(Eval(b, chart + ".querySelectorAll('circle.val').length"), 3);
  EXPECT_EQ(Eval(b, "window.agoraMarker"), 7) << "the page reloaded";
  EXPECT_EQ(Eval(b, "document.getElementById('validator-count').textContent"),
            json::value(std::to_string(validators)));
  EXPECT_EQ(Eval(b, "document.querySelectorAll('#validators tbody tr').length"), validators);
  EXPECT_EQ(Eval(b, "document.querySelectorAll('#providers tbody tr').length"), 2);
  // The title is text: the same characters, no element made from it, its
  // handler never ran.
  EXPECT_EQ(Eval(b, "document.querySelector('[data-job=\"1\"] td.title').textContent"),
            json::value(kTitle));
  EXPECT_EQ(Eval(b, "document.querySelectorAll('main img, main b').length"), 0);
  EXPECT_EQ(Eval(b, "window.pwned === undefined"), true);
  EXPECT_NE(Eval(b, "document.getElementById('verdicts').textContent.indexOf('pass')"), -1);
  EXPECT_EQ(Eval(b, "document.getElementById('live').textContent"), "live");

  // Live: the height shown grows with no reload (the marker set on this
  // window survives).
  const uint64_t shown = std::stoull(std::string(
      Eval(b, "document.getElementById('height').textContent").as_string()));
  ASSERT_TRUE(b.WaitFor("Number(document.getElementById('height').textContent) >= " +
                            std::to_string(shown + 3),
                        seconds(30))
                  .ok());
  EXPECT_EQ(Eval(b, "window.agoraMarker"), 7) << "the page reloaded";

  // A phone: nothing wider than the screen (tables scroll in their box).
  ASSERT_TRUE(b.SetViewport(390, 844, true).ok());
  EXPECT_EQ(Eval(b, "document.documentElement.scrollWidth <= 390"), true)
      << Eval(b, "document.documentElement.scrollWidth");
  ASSERT_TRUE(b.SetViewport(1280, 1000, false).ok());

  const std::vector<std::string> errors = b.Errors();
  EXPECT_TRUE(errors.empty()) << errors.size() << " errors, the first: " << errors.front();

  // Its node restarts: the page says so, reconnects by itself and goes on.
  nodes_[0]->Kill();
  Status down = b.WaitFor("document.getElementById('live').textContent === 'reconnecting'",
                          seconds(30));
  EXPECT_TRUE(down.ok()) << down.ToString();
  const uint64_t before = std::stoull(std::string(
      Eval(b, "document.getElementById('height').textContent").as_string()));
  nodes_[0]->Start();
  Status up = b.WaitFor("document.getElementById('live').textContent === 'live' && "
                        "Number(document.getElementById('height').textContent) > " +
                            std::to_string(before + 2),
                        seconds(60));
  EXPECT_TRUE(up.ok()) << up.ToString();
  EXPECT_EQ(Eval(b, "window.agoraMarker"), 7) << "the page reloaded";
  // While the node was down the browser logged failed connections; nothing
  // else (no exception, no console.error from the page).
  for (const std::string& e : b.Errors()) {
    EXPECT_EQ(e.rfind("exception", 0), std::string::npos) << e;
    EXPECT_EQ(e.rfind("console.", 0), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace agora::node
