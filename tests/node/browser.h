// A small Chrome DevTools Protocol (CDP) client for end-to-end browser tests:
// it starts Debian's headless chromium, drives one page over a WebSocket and
// collects the console errors and uncaught exceptions the page produced, so a
// test can load a page, look at the DOM through JavaScript and fail on any
// error the page printed.
//
// Every wait is bounded (kCallTimeout, kStartTimeout) so a hung or crashed
// browser fails the test instead of hanging it. A timeout closes the
// connection: every later call then fails with the same IoError.
//
// Thread safety: a Browser is used from one thread at a time. Its socket is
// only read inside its own calls, so CDP events (console messages,
// exceptions) are collected when the next call runs, not when they happen.
#ifndef AGORA_TESTS_NODE_BROWSER_H_
#define AGORA_TESTS_NODE_BROWSER_H_

#include <sys/types.h>

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace agora::node::testing {

class Browser {
 public:
  static constexpr const char* kChromiumPath = "/usr/bin/chromium";
  // From spawning chromium to a page target whose socket is connected; a cold
  // start on a loaded CI machine takes a few seconds.
  static constexpr std::chrono::seconds kStartTimeout{30};
  // The longest one CDP call (or a page load in Navigate) may take.
  static constexpr std::chrono::seconds kCallTimeout{30};
  // Errors() keeps at most this many lines, so a page that logs in a loop
  // cannot exhaust the test's memory.
  static constexpr size_t kErrorsMax = 1000;

  // Returns an empty string when chromium can be started; otherwise the
  // reason it cannot (not installed), for `GTEST_SKIP() << reason`.
  static std::string Unavailable();

  // Starts headless chromium with a fresh profile in a temporary directory
  // and a window of `width` x `height` pixels, connects to its about:blank
  // page and enables the Page, Runtime and Log domains.
  static Result<std::unique_ptr<Browser>> Start(int width = 1280, int height = 900);

  // Closes the socket, kills chromium with all its helper processes, waits
  // for it and removes the temporary directory.
  ~Browser();
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;

  // Loads `url` and returns once its load event fired. An unreachable URL
  // (e.g. connection refused) is an error. A same-document navigation (only
  // the #fragment changes) fires no load event and would time out.
  Status Navigate(const std::string& url);

  // Evaluates `expression` in the page (Runtime.evaluate; a promise is
  // awaited) and returns its value as JSON; `undefined` becomes null. An
  // exception thrown by the expression is a FailedPrecondition error carrying
  // its text; a broken or timed-out connection is an IoError.
  Result<boost::json::value> Evaluate(const std::string& expression);

  // Evaluates `expression` every 100 ms until it returns JSON true, for at
  // most `timeout`. An exception thrown by the expression counts as "not yet"
  // (the element it reads may not exist yet). On timeout the error names the
  // expression and its last value or exception.
  Status WaitFor(const std::string& expression, std::chrono::milliseconds timeout);

  // Captures the viewport as PNG and writes it to `path`.
  Status Screenshot(const std::filesystem::path& path);

  // Emulates a device of `width` x `height` CSS pixels
  // (Emulation.setDeviceMetricsOverride); `mobile` also turns on the mobile
  // viewport behaviour (meta viewport, overlay scrollbars), e.g. 390 x 844
  // for a phone.
  Status SetViewport(int width, int height, bool mobile);

  // Every error seen so far, one readable line each:
  //   "exception: <description> at <url>:<line>"  (uncaught, incl. promises)
  //   "console.error: <args>" / "console.assert: <args>"
  //   "log error (<source>): <text> <url>"  (e.g. a resource that failed)
  std::vector<std::string> Errors() const;

  // The temporary directory holding the profile and chromium.log (chromium's
  // stdout and stderr), for a test that wants to attach them to a failure.
  const std::filesystem::path& dir() const { return dir_; }

 private:
  struct Connection;  // the WebSocket, kept out of this header

  Browser(std::filesystem::path dir, pid_t pid);
  Status Connect(std::chrono::steady_clock::time_point deadline);
  // Sends one CDP command and returns its "result" object, recording the
  // events that arrive before the response.
  Result<boost::json::value> Call(const std::string& method, boost::json::object params);
  // Reads one message, bounded by `deadline`, and records it if it is an event.
  Result<boost::json::value> ReadMessage(std::chrono::steady_clock::time_point deadline);
  void RecordEvent(const boost::json::object& message);
  void AddError(std::string line);

  std::filesystem::path dir_;
  pid_t pid_ = -1;  // chromium, leader of its own process group
  std::unique_ptr<Connection> connection_;
  int64_t next_id_ = 1;
  // Not OK once a read or write failed; the socket is closed then.
  Status broken_;
  bool load_event_fired_ = false;
  std::vector<std::string> errors_;
  size_t errors_dropped_ = 0;
};

}  // namespace agora::node::testing

#endif  // AGORA_TESTS_NODE_BROWSER_H_
