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
#include "consensus/ledger/verification.h"
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

// The start hash a test names for task (job, round, worker): what round
// records say checkpoint 0 is, unless a test passes its own.
inline Hash256 StartHash(uint64_t job, uint32_t round, uint32_t worker) {
  Bytes b;
  PutU64BigEndian(b, job);
  PutU64BigEndian(b, (uint64_t{round} << 32) | worker);
  return Blake2b256(b);
}

inline ProviderOffer Offer(uint64_t ask, uint64_t speed = 1, uint32_t capacity = 2) {
  return {market::HardwareClass::kCpu, speed, capacity, ask, "http://127.0.0.1:9000"};
}

// Four validators (keys 100..103; or `validators` of them, keys 100..),
// accounts 1..6: 1..3 become providers,
// 4..6 are clients.
class Market {
 public:
  explicit Market(Params p = Defaults(), uint8_t validators = 4)
      : params_(p), validators_(validators), h_(validators, 6, p) {}

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
  // Posts a job and, with `start`, has the drawn validators record its
  // initial weights (RecordRound), which opens round 0's tasks.
  uint64_t Post(uint8_t client, const market::JobSpec& spec, uint64_t budget, uint64_t max_price,
                bool start = true, std::string title = "", uint64_t deadline_blocks_max = 0) {
    const TxResult r =
        Send(client, MsgPostJob{spec, budget, max_price, std::move(title), deadline_blocks_max});
    EXPECT_EQ(r.code, TxCode::kOk) << r.log;
    uint64_t id = 0;
    for (const Event& e : r.events) {
      for (const auto& [k, v] : e.attributes) {
        if (k == "job_id") id = std::stoull(v);
      }
    }
    if (id != 0 && start) RecordRound(id, 0);
    return id;
  }
  // The market's verdict on a task (the ledger's test entry point); when it
  // passes the round's last task, the next round's start is recorded.
  void Verdict(const TaskId& id, bool passed) {
    Block({}, [&](Ledger& l) {
      const Status s = l.MarketVerdict(id, passed);
      EXPECT_TRUE(s.ok()) << s.message();
    });
    const marketplace::Job j = Job(id.job);
    if (passed && marketplace::IsActive(j.status) && j.round_passed == j.spec.workers) {
      RecordRound(id.job, j.round + 1);
    }
  }
  // Validator key (100..) of an operator address.
  uint8_t ValidatorKey(const Address& a) const {
    for (uint8_t k = 100; k < 100 + validators_; ++k) {
      if (AddressOf(Key(k)) == a) return k;
    }
    ADD_FAILURE() << a.ToString() << " is not a harness validator";
    return 0;
  }
  // The result an aggregator of (job, round) sends: their commitment when
  // `first` (or whenever they open no earlier one), else the values.
  MsgRoundResult RoundResultOf(uint64_t job, uint32_t round, const Address& from, bool first,
                               const std::vector<Hash256>& starts, const Hash256& params_hash,
                               uint32_t loss = 0x40000000u) {
    MsgRoundResult m;
    m.job_id = job;
    m.round = round;
    m.params_hash = params_hash;
    m.validation_loss = loss;
    m.start_hashes = starts;
    if (first) {
      m.commitment = verification::RoundResultCommitment(
          verification::RoundResultDigest(params_hash, loss, starts), from);
      m.params_hash = Hash256{};
      m.validation_loss = 0;
      m.start_hashes.clear();
    }
    return m;
  }
  // Runs blocks until the weights at the start of `round` are recorded,
  // answering as each drawn validator: a commitment, then the values. The
  // start hashes are `starts`, or StartHash(job, round, k) for each worker.
  void RecordRound(uint64_t job, uint32_t round, std::vector<Hash256> starts = {}) {
    const marketplace::Job j = Job(job);
    if (starts.empty() && round < j.spec.rounds) {
      for (uint32_t k = 0; k < j.spec.workers; ++k) starts.push_back(StartHash(job, round, k));
    }
    const Hash256 weights = Blake2b256(AsBytes("weights " + std::to_string(round)));
    for (int b = 0; b < 16; ++b) {
      std::optional<verification::RoundRecord> r =
          verification::GetRound(h_.ledger().committed(), job, round);
      if (r && r->recorded) return;
      if (!r || r->assignees.empty()) {
        Block({});
        continue;
      }
      const Address& a = r->assignees.front();
      const TxResult res =
          Send(ValidatorKey(a), RoundResultOf(job, round, a, r->results.empty(), starts, weights));
      ASSERT_EQ(res.code, TxCode::kOk) << res.log;
    }
    ADD_FAILURE() << "round " << round << " of job " << job << " was not recorded in 16 blocks";
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
  uint8_t validators_;
  LedgerHarness h_;
  std::map<uint8_t, uint64_t> nonce_;
  BlockRun last_;
};


}  // namespace agora::consensus::testing

#endif  // AGORA_TESTS_CONSENSUS_MARKET_HARNESS_H_
