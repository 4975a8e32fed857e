// A kernel-call record as a dispute's party reveals it (kernels/trace.h)
// and the referee's recompute of it (verify/operator.h) with blobs nobody
// serves. Properties: the encoding is canonical (a decoded record encodes
// to the same bytes); a recompute without blobs fails cleanly, never by a
// crash or a huge allocation.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_util.h"
#include "kernels/trace.h"
#include "verify/operator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const agora::ByteSpan bytes(data, size);
  agora::Result<agora::kernels::OpRecord> record = agora::kernels::DecodeOpRecord(bytes);
  if (!record.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  const agora::Bytes again = agora::kernels::EncodeOpRecord(*record);
  AGORA_FUZZ_EXPECT(again.size() == size && std::equal(again.begin(), again.end(), data));
  auto nobody = [](const agora::Hash256&) -> agora::Result<agora::Bytes> {
    return agora::Status::NotFound("no blob");
  };
  agora::Result<std::vector<agora::Hash256>> out =
      agora::verify::RecomputeOperator(*record, nobody);
  // Every record names at least one input; none can be fetched.
  AGORA_FUZZ_EXPECT(!out.ok());
  return 0;
}
