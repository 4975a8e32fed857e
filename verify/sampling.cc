#include "verify/sampling.h"

#include <algorithm>
#include <map>
#include <set>

namespace agora::verify {
namespace {

__extension__ typedef unsigned __int128 Wide;

enum Purpose : uint32_t { kSegment = 1, kValidator = 2, kWitness = 3, kVrfSegment = 4, kVrfWitness = 5 };

uint64_t Word(const Hash256& seed, const Bytes& task, uint32_t purpose, uint64_t counter) {
  Blake2b256Hasher h;
  h.Update(AsBytes("agora-verify-sample-v1"));
  h.Update(seed.bytes);
  Bytes len;
  PutU64BigEndian(len, task.size());
  h.Update(len);
  h.Update(task);
  Bytes tail;
  PutU64BigEndian(tail, purpose);
  PutU64BigEndian(tail, counter);
  h.Update(tail);
  const Hash256 out = h.Finish();
  uint64_t w = 0;
  for (int i = 0; i < 8; ++i) w = w << 8 | out.bytes[i];
  return w;
}

}  // namespace

uint64_t Draw(const Hash256& seed, const Bytes& task, uint32_t purpose, uint64_t* counter,
              uint64_t n) {
  // Reject the top partial block of 2^64 so every residue is equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
  for (;;) {
    const uint64_t w = Word(seed, task, purpose, (*counter)++);
    if (w <= limit) return w % n;
  }
}

Result<std::vector<SegmentSample>> SampleSegments(const SampleRequest& r) {
  if (r.spot_checks == 0 || r.spot_checks > r.segments) {
    return Status::InvalidArgument("spot checks must be 1.." + std::to_string(r.segments));
  }
  // Candidates: positive weight, not the provider.
  std::vector<size_t> eligible;
  for (size_t i = 0; i < r.validators.size(); ++i) {
    if (r.validators[i].weight > 0 && r.validators[i].id != r.provider) eligible.push_back(i);
  }
  if (eligible.empty()) {
    return Status::FailedPrecondition("no validator other than the provider can replay this task");
  }
  // Segments: a partial Fisher-Yates shuffle of 0..segments-1 kept sparse
  // (segments may be large), then sorted.
  uint64_t counter = 0;
  std::vector<uint32_t> chosen;
  {
    std::map<uint32_t, uint32_t> swapped;  // position -> value, where it moved
    auto at = [&](uint32_t i) {
      auto it = swapped.find(i);
      return it == swapped.end() ? i : it->second;
    };
    auto set = [&](uint32_t i, uint32_t v) { swapped[i] = v; };
    for (uint32_t k = 0; k < r.spot_checks; ++k) {
      const uint32_t j =
          k + static_cast<uint32_t>(Draw(r.beacon, r.task, kSegment, &counter, r.segments - k));
      const uint32_t vk = at(k), vj = at(j);
      set(k, vj);
      set(j, vk);
      chosen.push_back(vj);
    }
    std::sort(chosen.begin(), chosen.end());
  }
  // Validators: by stake, distinct while enough remain.
  std::vector<SegmentSample> out;
  std::set<size_t> used;
  counter = 0;
  uint64_t witness_counter = 0;
  for (uint32_t segment : chosen) {
    std::vector<size_t> pool;
    for (size_t i : eligible) {
      if (!used.count(i)) pool.push_back(i);
    }
    if (pool.empty()) pool = eligible;
    Wide total = 0;
    for (size_t i : pool) total += r.validators[i].weight;
    // Stakes sum below 2^64 (supply <= 2^62), so the draw fits.
    uint64_t x = Draw(r.beacon, r.task, kValidator, &counter, static_cast<uint64_t>(total));
    size_t pick = pool.back();
    for (size_t i : pool) {
      if (x < r.validators[i].weight) {
        pick = i;
        break;
      }
      x -= r.validators[i].weight;
    }
    used.insert(pick);
    SegmentSample s;
    s.segment = segment;
    s.validator = pick;
    s.witness_step = r.steps_per_segment <= 1
                         ? 0
                         : 1 + static_cast<uint32_t>(Draw(r.beacon, r.task, kWitness,
                                                          &witness_counter,
                                                          r.steps_per_segment - 1));
    out.push_back(s);
  }
  return out;
}

std::optional<size_t> PickValidator(const Hash256& seed, const Bytes& task, uint32_t purpose,
                                    uint64_t* counter, const std::vector<Candidate>& candidates,
                                    const std::vector<size_t>& excluded) {
  Wide total = 0;
  std::vector<size_t> pool;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].weight == 0) continue;
    if (std::find(excluded.begin(), excluded.end(), i) != excluded.end()) continue;
    pool.push_back(i);
    total += candidates[i].weight;
  }
  if (pool.empty()) return std::nullopt;
  // Stakes sum below 2^64 (supply <= 2^62), so the draw fits.
  uint64_t x = Draw(seed, task, purpose, counter, static_cast<uint64_t>(total));
  for (size_t i : pool) {
    if (x < candidates[i].weight) return i;
    x -= candidates[i].weight;
  }
  return pool.back();  // unreachable: x < total
}

SegmentChoice SegmentFromVrf(ByteSpan vrf_output, const Bytes& task, uint32_t segments,
                             uint32_t steps_per_segment) {
  const Hash256 seed = Blake2b256(vrf_output);
  uint64_t counter = 0;
  SegmentChoice c;
  c.segment = static_cast<uint32_t>(Draw(seed, task, kVrfSegment, &counter, segments));
  counter = 0;
  c.witness_step = steps_per_segment <= 1
                       ? 0
                       : 1 + static_cast<uint32_t>(
                                 Draw(seed, task, kVrfWitness, &counter, steps_per_segment - 1));
  return c;
}

uint64_t EscapePpm(uint32_t segments, uint32_t faked, uint32_t spot_checks) {
  if (spot_checks > segments || faked > segments) return 0;
  // prod_{i<s} (segments − faked − i) / (segments − i), step by step in
  // fixed point (10^6 · 2^20), each step rounded down.
  constexpr uint64_t kOne = uint64_t{1'000'000} << 20;
  Wide p = kOne;
  for (uint32_t i = 0; i < spot_checks; ++i) {
    if (segments - i <= faked) return 0;
    p = p * (segments - faked - i) / (segments - i);
  }
  return static_cast<uint64_t>(p >> 20);
}

}  // namespace agora::verify
