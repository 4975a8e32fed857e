// job.toml as a client writes it for `agora job submit`, with the dataset
// given by hash (the parser is told not to read a [data] file: hostile text
// must not make the fuzzer read the disk). Property: parsing is
// deterministic (the market's own checks run inside the parser).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "market/job_spec.h"
#include "node/cli/job_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  agora::Result<agora::market::JobSpec> spec =
      agora::node::ParseJobFile(text, "/nonexistent/job.toml", nullptr, /*read_data_file=*/false);
  if (!spec.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  agora::Result<agora::market::JobSpec> again =
      agora::node::ParseJobFile(text, "/nonexistent/job.toml", nullptr, false);
  AGORA_FUZZ_EXPECT(again.ok() && again->dataset_hash == spec->dataset_hash &&
                    again->rounds == spec->rounds && again->optimizer.lr_max_nano ==
                                                         spec->optimizer.lr_max_nano);
  return 0;
}
