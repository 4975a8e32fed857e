#include "node/cli/job_file.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <toml++/toml.h>
#include <vector>

#include "common/file_util.h"
#include "common/hash.h"
#include "trainer/config.h"

namespace agora::node {
namespace {

namespace fs = std::filesystem;

// toml's numbers as u64, with the key's name in errors.
template <class T>
Result<T> TomlUint(const toml::table& t, std::string_view section, std::string_view key,
                   T fallback) {
  const toml::node* n = t.at_path(std::string(section) + "." + std::string(key)).node();
  if (n == nullptr) return fallback;
  const auto* i = n->as_integer();
  if (i == nullptr || i->get() < 0 ||
      static_cast<uint64_t>(i->get()) > std::numeric_limits<T>::max()) {
    return Status::InvalidArgument("job file: [" + std::string(section) + "] " + std::string(key) +
                                   " must be a non-negative integer");
  }
  return static_cast<T>(i->get());
}

Result<uint64_t> TomlScaled(const toml::table& t, std::string_view key, double scale,
                            uint64_t fallback) {
  const toml::node* n = t.at_path("optimizer." + std::string(key)).node();
  if (n == nullptr) return fallback;
  std::optional<double> v = n->value<double>();
  if (!v || !std::isfinite(*v) || *v < 0 || *v * scale > 9e18) {
    return Status::InvalidArgument("job file: [optimizer] " + std::string(key) +
                                   " must be a non-negative number");
  }
  return static_cast<uint64_t>(std::llround(*v * scale));
}

}  // namespace

Result<market::JobSpec> ParseJobFile(std::string_view text, const fs::path& path,
                                     fs::path* data_file, bool read_data_file) {
  if (text.size() > kJobFileBytesMax) {
    return Status::InvalidArgument("job file " + path.string() + ": larger than " +
                                   std::to_string(kJobFileBytesMax) + " bytes");
  }
  toml::table t;
  try {
    t = toml::parse(text, path.string());
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument("job file " + path.string() + ": " +
                                   std::string(e.description()));
  }
  static constexpr std::string_view kSections[] = {"model", "data", "schedule", "verification",
                                                   "optimizer"};
  for (const auto& [key, value] : t) {
    bool known = false;
    for (std::string_view s : kSections) known |= key.str() == s;
    if (!known) {
      return Status::InvalidArgument("job file: unknown section [" + std::string(key.str()) +
                                     "]; sections are model, data, schedule, verification, "
                                     "optimizer");
    }
  }
  // Unknown keys (a misspelt `round = 4`) and wrong types are refused, not
  // silently replaced by defaults.
  static const std::map<std::string, std::vector<std::string>> kKeys = {
      {"model", {"preset", "vocab", "context", "layers", "heads", "width", "batch"}},
      {"data", {"file", "hash", "bytes"}},
      {"schedule", {"seed", "rounds", "workers", "inner_steps", "checkpoint_interval"}},
      {"verification", {"tier", "hardware", "spot_checks"}},
      {"optimizer", {"lr_max", "lr_min", "warmup_steps", "beta1", "beta2", "eps", "weight_decay",
                     "clip_norm"}}};
  for (const auto& [section, keys] : kKeys) {
    const toml::table* tab = t[section].as_table();
    if (t.contains(section) && tab == nullptr) {
      return Status::InvalidArgument("job file: [" + section + "] must be a table");
    }
    if (tab == nullptr) continue;
    for (const auto& [key, value] : *tab) {
      if (std::find(keys.begin(), keys.end(), std::string(key.str())) == keys.end()) {
        return Status::InvalidArgument("job file: unknown key '" + std::string(key.str()) +
                                       "' in [" + section + "]");
      }
    }
  }
  for (const char* key : {"model.preset", "data.file", "data.hash", "verification.tier",
                          "verification.hardware"}) {
    const toml::node* n = t.at_path(key).node();
    if (n != nullptr && !n->is_string()) {
      return Status::InvalidArgument(std::string("job file: ") + key + " must be a string");
    }
  }
  market::JobSpec s;
  trainer::TrainConfig preset;
  const std::string preset_name = t["model"]["preset"].value_or(std::string("tiny"));
  AGORA_ASSIGN_OR_RETURN(preset, trainer::PresetConfig(preset_name));
  s.vocab = static_cast<uint32_t>(preset.model.vocab);
  s.context = static_cast<uint32_t>(preset.model.context);
  s.layers = static_cast<uint32_t>(preset.model.layers);
  s.heads = static_cast<uint32_t>(preset.model.heads);
  s.width = static_cast<uint32_t>(preset.model.width);
  s.batch = static_cast<uint32_t>(preset.batch);
  AGORA_ASSIGN_OR_RETURN(s.vocab, TomlUint<uint32_t>(t, "model", "vocab", s.vocab));
  AGORA_ASSIGN_OR_RETURN(s.context, TomlUint<uint32_t>(t, "model", "context", s.context));
  AGORA_ASSIGN_OR_RETURN(s.layers, TomlUint<uint32_t>(t, "model", "layers", s.layers));
  AGORA_ASSIGN_OR_RETURN(s.heads, TomlUint<uint32_t>(t, "model", "heads", s.heads));
  AGORA_ASSIGN_OR_RETURN(s.width, TomlUint<uint32_t>(t, "model", "width", s.width));
  AGORA_ASSIGN_OR_RETURN(s.batch, TomlUint<uint32_t>(t, "model", "batch", s.batch));

  if (std::optional<std::string> file = t["data"]["file"].value<std::string>()) {
    if (!read_data_file) {
      return Status::InvalidArgument("job file: [data] file is not read here; give hash and bytes");
    }
    fs::path data = fs::path(*file).is_absolute() ? fs::path(*file) : path.parent_path() / *file;
    std::error_code ec;
    if (!fs::exists(data, ec)) {
      return Status::NotFound("job file: cannot read data file " + data.string() +
                              ": no such file");
    }
    if (!fs::is_regular_file(data, ec)) {
      return Status::InvalidArgument("job file: data file " + data.string() +
                                     " is not a regular file");
    }
    std::ifstream in(data, std::ios::binary);
    if (!in) return Status::NotFound("job file: cannot read data file " + data.string());
    Blake2b256Hasher hasher;
    std::vector<char> chunk(1 << 20);
    uint64_t total = 0;
    while (in) {
      in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      const auto n = static_cast<size_t>(in.gcount());
      hasher.Update(ByteSpan(reinterpret_cast<const uint8_t*>(chunk.data()), n));
      total += n;
    }
    if (in.bad()) return Status::IoError("job file: error reading data file " + data.string());
    s.dataset_hash = hasher.Finish();
    s.dataset_bytes = total;
    if (data_file != nullptr) *data_file = data;
  } else {
    const std::string hex = t["data"]["hash"].value_or(std::string());
    auto hash = Hash256::FromHex(hex);
    if (!hash.ok()) {
      return Status::InvalidArgument(
          "job file: [data] needs file = \"PATH\" or hash = \"64 hex digits\" and bytes = N");
    }
    s.dataset_hash = *hash;
    AGORA_ASSIGN_OR_RETURN(s.dataset_bytes, TomlUint<uint64_t>(t, "data", "bytes", 0));
  }
  AGORA_ASSIGN_OR_RETURN(s.seed, TomlUint<uint64_t>(t, "schedule", "seed", preset.seed));
  AGORA_ASSIGN_OR_RETURN(s.rounds, TomlUint<uint32_t>(t, "schedule", "rounds", s.rounds));
  AGORA_ASSIGN_OR_RETURN(s.workers, TomlUint<uint32_t>(t, "schedule", "workers", s.workers));
  AGORA_ASSIGN_OR_RETURN(s.inner_steps,
                         TomlUint<uint32_t>(t, "schedule", "inner_steps", s.inner_steps));
  AGORA_ASSIGN_OR_RETURN(s.checkpoint_interval, TomlUint<uint32_t>(t, "schedule",
                                                                   "checkpoint_interval",
                                                                   s.checkpoint_interval));
  AGORA_ASSIGN_OR_RETURN(s.tier, market::ParseTier(
                                     t["verification"]["tier"].value_or(std::string("exact"))));
  AGORA_ASSIGN_OR_RETURN(s.hardware, market::ParseHardwareClass(t["verification"]["hardware"]
                                                                    .value_or(std::string("cpu"))));
  AGORA_ASSIGN_OR_RETURN(s.spot_checks,
                         TomlUint<uint32_t>(t, "verification", "spot_checks", s.spot_checks));
  const trainer::OptimizerConfig& o = preset.optimizer;
  market::OptimizerSpec& os = s.optimizer;
  AGORA_ASSIGN_OR_RETURN(os.lr_max_nano, TomlScaled(t, "lr_max", 1e9, std::llround(o.lr_max * 1e9)));
  AGORA_ASSIGN_OR_RETURN(os.lr_min_nano, TomlScaled(t, "lr_min", 1e9, std::llround(o.lr_min * 1e9)));
  AGORA_ASSIGN_OR_RETURN(os.warmup_steps,
                         TomlUint<uint64_t>(t, "optimizer", "warmup_steps",
                                            static_cast<uint64_t>(o.warmup_steps)));
  AGORA_ASSIGN_OR_RETURN(os.beta1_ppm, TomlScaled(t, "beta1", 1e6, std::llround(o.beta1 * 1e6)));
  AGORA_ASSIGN_OR_RETURN(os.beta2_ppm, TomlScaled(t, "beta2", 1e6, std::llround(o.beta2 * 1e6)));
  AGORA_ASSIGN_OR_RETURN(os.eps_pico, TomlScaled(t, "eps", 1e12, std::llround(o.eps * 1e12)));
  AGORA_ASSIGN_OR_RETURN(os.weight_decay_ppm, TomlScaled(t, "weight_decay", 1e6,
                                                         std::llround(o.weight_decay * 1e6)));
  AGORA_ASSIGN_OR_RETURN(os.clip_norm_ppm,
                         TomlScaled(t, "clip_norm", 1e6, std::llround(o.clip_norm * 1e6)));
  AGORA_RETURN_IF_ERROR(market::ValidateSpec(s));
  return s;
}

Result<market::JobSpec> ReadJobFile(const fs::path& path, fs::path* data_file) {
  Result<std::string> text = ReadFile(path, kJobFileBytesMax);
  if (!text.ok()) return Status(text.status().code(), "job file: " + text.status().message());
  return ParseJobFile(*text, path, data_file);
}

}  // namespace agora::node
