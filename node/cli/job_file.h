// job.toml, the file a client describes a training job with (docs/market.md,
// data/job-tiny.toml): a preset or the full shape, the dataset by file or by
// hash and size, the DiLoCo schedule, the tier and the optimizer. Unknown
// sections and keys and wrong types are refused, not replaced by defaults.
// Everything is checked again by the node.
#ifndef AGORA_NODE_CLI_JOB_FILE_H_
#define AGORA_NODE_CLI_JOB_FILE_H_

#include <cstddef>
#include <filesystem>
#include <string_view>

#include "common/status.h"
#include "market/job_spec.h"

namespace agora::node {

inline constexpr size_t kJobFileBytesMax = 1 << 20;

// `path` names the file in errors, and [data] file is relative to its
// folder; that file is hashed as it is read (any size, constant memory).
// `data_file`, if set, receives its path (empty when the data is given by
// hash). With `read_data_file` false a [data] file is refused instead of
// read (the fuzz target: hostile text must not make it read the disk).
Result<market::JobSpec> ParseJobFile(std::string_view text, const std::filesystem::path& path,
                                     std::filesystem::path* data_file = nullptr,
                                     bool read_data_file = true);
// Reads the file at `path` and parses it.
Result<market::JobSpec> ReadJobFile(const std::filesystem::path& path,
                                    std::filesystem::path* data_file = nullptr);

}  // namespace agora::node

#endif  // AGORA_NODE_CLI_JOB_FILE_H_
