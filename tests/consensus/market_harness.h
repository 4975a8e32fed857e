// A ledger with four validators (keys 100..103) and six accounts (1..3
// providers, 4..6 clients) driven block by block, for the market's and
// verification's tests.
#ifndef AGORA_TESTS_CONSENSUS_MARKET_HARNESS_H_
#define AGORA_TESTS_CONSENSUS_MARKET_HARNESS_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "consensus/ledger/marketplace.h"
#include "consensus/ledger/staking.h"
#include "tests/consensus/ledger_harness.h"

namespace agora::consensus::testing {

using marketplace::TaskId;

inline constexpr uint64_t kAgr = 1'000'000;

inline market::JobSpec TinySpec(uint32_t rounds = 2, uint32_t workers = 2) {
  market::JobSpec s;
  s.dataset_hash = Blake2b256(AsBytes("shakespeare"));
  s.dataset_bytes = 1'000'000;
  s.rounds = rounds;
  s.workers = workers;
  return s;
}

inline ProviderOffer Offer(uint64_t ask, uint64_t speed = 1, uint32_t capacity = 2) {
  return {market::HardwareClass::kCpu, speed, capacity, ask, "http://127.0.0.1:9000"};
}

// Four validators (keys 100..103), accounts 1..6: 1..3 become providers,
// 4..6 are clients.
class Market {
 public:
  explicit Market(Params p = Defaults()) : params_(p), h_(4, 6, p) {}

  static Params Defaults() {
    Params p;
    p.epoch_blocks = 10;
    p.unbonding_blocks = 21;
    p.evidence_age_blocks_max = 10;
    p.deadline_min_blocks = 5;
    return p;
  }

  std::vector<TxResult> Block(const std::vector<std::pair<uint8_t, Msg>>& msgs,
                              const std::function<void(Ledger&)>& before_end = nullptr) {
    std::vector<Tx> txs;
    for (const auto& [key, msg] : msgs) txs.push_back(Signed(Key(key), nonce_[key]++, msg));
    last_ = h_.Run(txs, {}, {}, before_end);
    return last_.results;
  }
  TxResult Send(uint8_t key, const Msg& msg) { return Block({{key, msg}}).at(0); }
  void Provider(uint8_t key, uint64_t ask, uint64_t speed = 1, uint32_t capacity = 2) {
    ASSERT_EQ(Send(key, MsgStake{20 * kAgr}).code, TxCode::kOk);
    const TxResult r = Send(key, MsgRegisterProvider{Offer(ask, speed, capacity)});
    ASSERT_EQ(r.code, TxCode::kOk) << r.log;
  }
  uint64_t Post(uint8_t client, const market::JobSpec& spec, uint64_t budget, uint64_t max_price) {
    const TxResult r = Send(client, MsgPostJob{spec, budget, max_price});
    EXPECT_EQ(r.code, TxCode::kOk) << r.log;
    for (const Event& e : r.events) {
      for (const auto& [k, v] : e.attributes) {
        if (k == "job_id") return std::stoull(v);
      }
    }
    return 0;
  }
  void Verdict(const TaskId& id, bool passed) {
    Block({}, [&](Ledger& l) {
      const Status s = l.MarketVerdict(id, passed);
      EXPECT_TRUE(s.ok()) << s.message();
    });
  }
  marketplace::Job Job(uint64_t id) { return *marketplace::GetJob(h_.ledger().committed(), id); }
  marketplace::Task Task(const TaskId& id) {
    return *marketplace::GetTask(h_.ledger().committed(), id);
  }
  marketplace::Provider Prov(uint8_t key) {
    return *marketplace::GetProvider(h_.ledger().committed(), AddressOf(Key(key)));
  }
  uint64_t Locked(uint8_t key) {
    return staking::GetLocked(h_.ledger().committed(), AddressOf(Key(key)));
  }
  LedgerHarness& h() { return h_; }
  const BlockRun& last() const { return last_; }
  const Params& params() const { return params_; }

 private:
  Params params_;
  LedgerHarness h_;
  std::map<uint8_t, uint64_t> nonce_;
  BlockRun last_;
};


}  // namespace agora::consensus::testing

#endif  // AGORA_TESTS_CONSENSUS_MARKET_HARNESS_H_
