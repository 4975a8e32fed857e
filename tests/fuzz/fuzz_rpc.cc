// A JSON-RPC payload as it arrives in an HTTP POST body or a WebSocket text
// frame: one request or a batch, through the node's Dispatcher with a few
// methods (one echoes at once, one echoes later from the executor, one throws,
// one fails with a parameter error) and, as a WebSocket session has, a
// per-connection method. Properties: every payload gets exactly one answer;
// an answer is strict JSON: an object with "jsonrpc":"2.0" and an id, or an
// array of such objects, never more than the batch had requests; a request
// object with an id gets that id back.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "node/rpc/json_rpc.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

namespace json = boost::json;
using namespace agora;
using namespace agora::node::rpc;

struct Rig {
  boost::asio::io_context io;
  Dispatcher dispatcher{io.get_executor(), DispatchLimits{}};
  MethodTable local;

  Rig() {
    spdlog::set_level(spdlog::level::off);  // the throwing handler's error line, per input
    dispatcher.Register("echo", [](const json::value& params, Reply reply) { reply(params); });
    dispatcher.Register("later", [this](const json::value& params, Reply reply) {
      boost::asio::post(io, [params, reply] { reply(params); });
    });
    dispatcher.Register("throws", [](const json::value& params, Reply) {
      (void)params.at("missing");  // throws for anything but an object with "missing"
      throw std::runtime_error("a bug in a handler");
    });
    dispatcher.Register("bad_params", [](const json::value&, Reply reply) {
      reply(Status::InvalidArgument("params must be {}"));
    });
    local["subscribe"] = std::make_shared<const Handler>(
        [](const json::value& params, Reply reply) {
          if (!params.is_object() || !params.as_object().if_contains("topic")) {
            reply(Status::InvalidArgument(R"(subscribe needs params {"topic": "<name>"})"));
            return;
          }
          reply(json::value(7));
        });
  }
};

void CheckResponse(const json::value& r) {
  AGORA_FUZZ_EXPECT(r.is_object());
  const json::object& o = r.as_object();
  AGORA_FUZZ_EXPECT(o.if_contains("jsonrpc") && o.at("jsonrpc") == json::value("2.0"));
  AGORA_FUZZ_EXPECT(o.if_contains("id"));
  AGORA_FUZZ_EXPECT((o.if_contains("result") != nullptr) != (o.if_contains("error") != nullptr));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Rig* rig = new Rig();
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  int answers = 0;
  std::string response;
  rig->dispatcher.Handle(payload, (size & 1) ? &rig->local : nullptr, [&](std::string r) {
    ++answers;
    response = std::move(r);
  });
  rig->io.restart();
  rig->io.run();
  AGORA_FUZZ_EXPECT(answers == 1);
  if (response.empty()) return 0;  // notifications only
  Result<json::value> r = ParseStrictJson(response, 64);
  AGORA_FUZZ_EXPECT(r.ok());
  Result<json::value> request = ParseStrictJson(payload, 64);
  if (request.ok()) AGORA_FUZZ_ACCEPTED();
  if (r->is_array()) {
    AGORA_FUZZ_EXPECT(request.ok() && request->is_array());
    AGORA_FUZZ_EXPECT(!r->as_array().empty() && r->as_array().size() <= request->as_array().size());
    for (const json::value& one : r->as_array()) CheckResponse(one);
    return 0;
  }
  CheckResponse(*r);
  if (request.ok() && request->is_object()) {
    const json::value* id = request->as_object().if_contains("id");
    if (id != nullptr && (id->is_string() || id->is_int64() || id->is_uint64())) {
      AGORA_FUZZ_EXPECT(r->as_object().at("id") == *id);
    }
  }
  return 0;
}
