// job.toml as a client writes it for `agora job submit`, with the dataset
// given by hash (a [data] file is read from disk, which a fuzzer must not
// do at will: such inputs are skipped). Properties: a job file that parses
// is a spec the market accepts (market::ValidateSpec), and parsing is
// deterministic.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "market/job_spec.h"
#include "node/cli/job_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (text.find("file") != std::string_view::npos) return 0;
  agora::Result<agora::market::JobSpec> spec =
      agora::node::ParseJobFile(text, "/nonexistent/job.toml");
  if (!spec.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  AGORA_FUZZ_EXPECT(agora::market::ValidateSpec(*spec).ok());
  agora::Result<agora::market::JobSpec> again =
      agora::node::ParseJobFile(text, "/nonexistent/job.toml");
  AGORA_FUZZ_EXPECT(again.ok() && again->dataset_hash == spec->dataset_hash &&
                    again->rounds == spec->rounds && again->optimizer.lr_max_nano ==
                                                         spec->optimizer.lr_max_nano);
  return 0;
}
