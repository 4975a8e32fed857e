// A JSON-RPC request body as it arrives over HTTP or WebSocket: the strict
// parser (no duplicate keys, bounded depth, no trailing bytes, no number
// beyond a double). Property: a parsed value prints to text that parses to
// the same value: same kinds, keys, strings and integers; doubles within a
// few ulps, because Boost.JSON 1.81 parses long decimals without correct
// rounding (a fuzz finding: 1300…0013 reads back 1 ulp away).
#include <boost/json.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "node/rpc/json_rpc.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

namespace json = boost::json;

bool Same(const json::value& a, const json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double(), y = b.get_double();
    return x == y || std::fabs(x - y) <= 1e-14 * std::fmax(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const json::array &p = a.get_array(), &q = b.get_array();
    if (p.size() != q.size()) return false;
    for (size_t i = 0; i < p.size(); ++i) {
      if (!Same(p[i], q[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const json::object &p = a.get_object(), &q = b.get_object();
    if (p.size() != q.size()) return false;
    auto i = p.begin();
    auto j = q.begin();
    for (; i != p.end(); ++i, ++j) {
      if (i->key() != j->key() || !Same(i->value(), j->value())) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  agora::Result<json::value> v = agora::node::rpc::ParseStrictJson(text, 64);
  if (!v.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  const std::string out = json::serialize(*v);
  agora::Result<json::value> back = agora::node::rpc::ParseStrictJson(out, 64);
  AGORA_FUZZ_EXPECT(back.ok());
  AGORA_FUZZ_EXPECT(Same(*back, *v));
  return 0;
}
