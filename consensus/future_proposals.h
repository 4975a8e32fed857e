// Proposals for the height after the next one, kept until this node has
// the state they are checked against. They can only be checked then (the
// proposer of a round depends on that state), so a validator of that height
// could sign one proposal per round ahead (up to kRoundsAheadMax) and fill
// every place, and the honest proposer's block would be dropped. Each
// proposer gets one place, holding its highest round: an honest proposer
// sends one proposal per round it leads, in order, and by the time this
// node catches up the network is at the latest of them (a peer does not
// send a message twice, so one dropped here is not offered again). A
// validator that signs every round ahead keeps its own place only. With
// more than 192 validators, those under a third could still take all 64
// places; the places are not sized by the set.
//
// Thread safety: none; the owner's thread.
#ifndef AGORA_CONSENSUS_FUTURE_PROPOSALS_H_
#define AGORA_CONSENSUS_FUTURE_PROPOSALS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace agora::consensus {

// Places a node keeps (the node and the simulator alike).
inline constexpr size_t kFutureProposalPlacesMax = 64;

template <typename T>
class FutureProposals {
 public:
  explicit FutureProposals(size_t places_max) : places_max_(places_max) {}

  // Keeps `item`, signed by `proposer` for `round`, if the proposer holds no
  // place yet and one is free, or holds one for an earlier round (replaced).
  // Returns whether it was kept.
  bool Offer(uint32_t proposer, uint32_t round, T item) {
    auto it = held_.find(proposer);
    if (it == held_.end()) {
      if (held_.size() >= places_max_) return false;
      held_.emplace(proposer, std::pair(round, std::move(item)));
      return true;
    }
    if (round <= it->second.first) return false;
    it->second = std::pair(round, std::move(item));
    return true;
  }

  // Everything kept, lowest round first (then by proposer), emptying it.
  std::vector<T> Take() {
    std::vector<std::pair<std::pair<uint32_t, uint32_t>, T>> order;
    order.reserve(held_.size());
    for (auto& [proposer, entry] : held_) {
      order.push_back({{entry.first, proposer}, std::move(entry.second)});
    }
    held_.clear();
    std::sort(order.begin(), order.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<T> out;
    out.reserve(order.size());
    for (auto& [key, item] : order) out.push_back(std::move(item));
    return out;
  }

  void Clear() { held_.clear(); }
  size_t size() const { return held_.size(); }

 private:
  size_t places_max_;
  std::map<uint32_t, std::pair<uint32_t, T>> held_;  // proposer -> (round, item)
};

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_FUTURE_PROPOSALS_H_
