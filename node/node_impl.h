// Node::Impl, shared by node.cc (consensus, transactions, P2P), node_sync.cc
// (block sync) and node_rpc.cc (the JSON-RPC methods and metrics). Private
// to the node: only those files include it. Thread safety: see node/node.h.
#ifndef AGORA_NODE_NODE_IMPL_H_
#define AGORA_NODE_NODE_IMPL_H_

#include <boost/json.hpp>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <set>

#include "common/encoding.h"
#include "common/log.h"
#include "common/proto_codec.h"
#include "consensus/chain/block.h"
#include "consensus/chain/block_store.h"
#include "consensus/chain/chain.h"
#include "consensus/chain/mempool.h"
#include "consensus/core.h"
#include "consensus/future_proposals.h"
#include "consensus/ledger/ledger.h"
#include "consensus/ledger/staking.h"
#include "consensus/ledger/tx.h"
#include "consensus/signer.h"
#include "node/build_info.h"
#include "node/config.h"
#include "node/node.h"
#include "node/p2p/peer_manager.h"
#include "node/rpc/server.h"
#include "node/roles/provider.h"
#include "node/roles/validator.h"
#include "node/storage/blob_store.h"
#include "node/storage/leveldb_store.h"
#include "proto/wire.pb.h"

namespace agora::node {
namespace detail {

namespace json = boost::json;
using consensus::Tx;
using Clock = std::chrono::steady_clock;

// P2P channels. Gossip: transactions, proposals, votes. Direct: the rest.
enum Channel : uint8_t {
  kChannelTx = 1,
  kChannelProposal = 2,
  kChannelVote = 3,
  kChannelStatus = 4,
  kChannelBlockRequest = 5,
  kChannelBlockResponse = 6,
  kChannelEvidence = 7,  // DuplicateVoteEvidence, gossiped until a block carries it
};

constexpr std::chrono::milliseconds kStatusInterval{500};
constexpr std::chrono::milliseconds kResendAfter{2000};
constexpr std::chrono::milliseconds kSyncRequestTimeout{3000};
// Block sync asks for up to kSyncWindow heights at once, spread over the
// peers that have them; blocks that arrive ahead of the next height wait,
// their commits already checked. A peer that lets kSyncStrikesMax requests
// in a row time out is disconnected.
constexpr uint64_t kSyncWindow = 8;
constexpr uint32_t kSyncStrikesMax = 3;
constexpr std::chrono::milliseconds kSubmitWaitDefault{30'000};
constexpr std::chrono::milliseconds kSubmitWaitMax{120'000};
constexpr size_t kWaitersMax = 100'000;
constexpr std::chrono::minutes kSubmittedKeptFor{10};
constexpr size_t kProposalBlocksMax = 64;
// Transactions gossiped by peers wait in an inbox and are admitted in runs of
// kTxInboxRun, each run a separate handler: a flood of them then never holds
// up a proposal or vote that arrives behind it. Past the bounds, gossiped
// transactions are dropped (the sender's own node still has them).
constexpr size_t kTxInboxRun = 64;
constexpr size_t kTxInboxTxsMax = 50'000;
constexpr size_t kTxInboxBytesMax = 32u << 20;
// Transactions per proposed block, in bytes: the proposal (block and all)
// must fit one P2P frame (4 MiB by default).
constexpr size_t kBlockTxBytesMax = 2u << 20;

inline uint64_t NowUnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

inline std::string ToString(ByteSpan b) { return std::string(b.begin(), b.end()); }
inline std::string ToString(const Hash256& h) {
  return std::string(h.bytes.begin(), h.bytes.end());
}

inline Result<Hash256> HashFromHex(std::string_view hex) {
  auto bytes = HexDecode(hex);
  if (!bytes.ok() || bytes->size() != Hash256::kSize) {
    return Status::InvalidArgument("expected a 64-digit hex hash");
  }
  Hash256 h;
  std::copy(bytes->begin(), bytes->end(), h.bytes.begin());
  return h;
}

json::object TxJson(const Tx& tx);
// A validator record with its stake, signing window and replay profile in
// force at `height` (node_ledger_rpc.cc).
json::object ValidatorJson(consensus::StateReader& state,
                           const consensus::staking::ValidatorRecord& record, uint64_t height);
Result<const json::object*> ParamsObject(const json::value& params);
Result<std::string> StringParam(const json::object& o, std::string_view key);
Result<uint64_t> U64Param(const json::object& o, std::string_view key);
// Refuses members the method does not know, so a misspelt one is not
// silently ignored.
Status KnownKeys(const json::object& o, std::initializer_list<std::string_view> known);
json::array EventsJson(const std::vector<consensus::Event>& events);

}  // namespace detail

using namespace detail;  // NOLINT: private header of two files

class Node::Impl final : public p2p::PeerManagerHandler {
 public:
  Status Open(const std::filesystem::path& home,
              const std::optional<std::vector<std::string>>& roles);
  Status Start();
  void Stop();

  // PeerManagerHandler
  void OnPeerConnected(const p2p::PeerInfo& peer) override;
  void OnPeerDisconnected(const p2p::PeerId& peer, std::string_view reason) override;
  void OnMessage(const p2p::PeerId& from, uint8_t channel, ByteSpan payload) override;

  boost::asio::io_context io_;
  std::unique_ptr<p2p::PeerManager> peers_;
  std::unique_ptr<rpc::RpcServer> rpc_;

 private:
  // Consensus.
  void Apply(consensus::Actions actions);
  void BuildBlock(uint64_t height, uint32_t round);
  void OnDecide(const consensus::Decide& decide);
  // The parameters in force after the last commit: timeouts for the core,
  // the minimum fee for the mempool.
  void ApplyParams();
  // Block bodies this node may vote for, kept on disk until their height is
  // committed: a validator restarted with a lock must be able to re-propose
  // the locked block, and only the body makes that possible.
  void KeepBody(uint64_t height, const Hash256& hash, const proto::Block& block);
  Status LoadBodies();
  void ForgetBodies(uint64_t through_height, WriteBatch* batch);
  Result<consensus::Vote> CheckVote(const proto::VoteMessage& m);
  void KeepLatePrecommit(const p2p::PeerId& from, const proto::VoteMessage& m);
  // `decoded`, when given, is chain_->BlockTxs(block) already computed.
  Status CommitBlock(const proto::Block& block, const proto::Commit& commit,
                     std::vector<Tx>* decoded = nullptr);
  void HandleProposal(const p2p::PeerId& from, ByteSpan payload);
  void HandleVote(const p2p::PeerId& from, ByteSpan payload);
  void HandleEvidence(const p2p::PeerId& from, ByteSpan payload);
  // Keeps evidence for a later block and tells the peers, once.
  void ShareEvidence(const consensus::Evidence& evidence);
  void ProcessProposal(const proto::ProposalMessage& message, const consensus::Proposal& p);
  void Tick();
  // Sync.
  void SendStatus(const p2p::PeerId* to);
  void HandleStatus(const p2p::PeerId& from, ByteSpan payload);
  void HandleBlockRequest(const p2p::PeerId& from, ByteSpan payload);
  void HandleBlockResponse(const p2p::PeerId& from, ByteSpan payload);
  void MaybeRequestBlock();
  void ApplySyncedBlocks();
  void DropSyncedFrom(const p2p::PeerId& peer);
  // Transactions.
  Result<Hash256> AdmitTx(ByteSpan raw, bool from_peer);
  void QueuePeerTx(const p2p::PeerId& from, ByteSpan raw);
  void DrainTxInbox();
  // RPC.
  void RegisterRpc();
  void RegisterLedgerRpc();  // params, beacon, state_proof (node_ledger_rpc.cc)
  void RegisterGovRpc();     // proposals, proposal, tally (node_gov_rpc.cc)
  void RegisterMarketRpc();  // providers, provider, jobs, job, tasks (node_market_rpc.cc)
  void RegisterDisputeRpc();  // dispute, disputes (node_dispute_rpc.cc)
  void RegisterVerifyRpc();  // task, verdicts, round_results (node_verify_rpc.cc)
  // Blobs (node_blob_rpc.cc): the store, blob_status, blob_gc, periodic gc.
  Status OpenBlobs(const std::filesystem::path& home);
  void RegisterBlobRpc();
  void ScheduleBlobGc();
  storage::BlobGcReport CollectBlobs(std::chrono::seconds grace);
  // Roles (node_roles.cc): keys at Open, workers after the RPC server starts.
  Status OpenRoles(const std::filesystem::path& home,
                   const std::optional<std::vector<std::string>>& roles);
  void RegisterRolesRpc();
  void StartRoles();
  void StopRoles();
  Result<json::value> BlockJson(uint64_t height);
  Result<json::value> TxLookup(const Hash256& id);
  json::value StatusJson();

  NodeConfig config_;
  Genesis genesis_;
  std::optional<SecretKey> node_key_;
  std::unique_ptr<LevelDbStore> store_;
  std::unique_ptr<consensus::BlockStore> blocks_;
  std::unique_ptr<consensus::Application> app_;  // the ledger; RPC reads its state
  std::unique_ptr<consensus::Chain> chain_;    // also the consensus core's set source
  std::unique_ptr<consensus::Mempool> mempool_;
  consensus::SignatureCache signatures_;
  std::unique_ptr<consensus::SafeSigner> signer_;
  std::unique_ptr<consensus::Core> core_;
  bool stopped_ = false;

  // Blocks proposed at the current height (ours and peers'), by hash.
  std::map<Hash256, proto::Block> proposal_blocks_;
  // The decoded, checked transactions of those that validated: commit does
  // not decode them again.
  std::map<Hash256, std::vector<Tx>> proposal_txs_;
  // Proposals for the height after the one being decided, as received (the
  // peer and the payload): checked whole, relayed and validated once this
  // node has committed the height before and knows that height's
  // proposers. Before 2026-12-03 they were relayed on arrival, any round,
  // with no proposer check: a validator could have the network relay
  // proposals it was not entitled to make. One place per proposer (its
  // lowest round), so that one validator signing every round ahead cannot
  // crowd out the others' (before 2026-12-03: one shared list of 64).
  consensus::FutureProposals<std::pair<p2p::PeerId, Bytes>> future_proposals_{
      consensus::kFutureProposalPlacesMax};
  // Whether each block proposed at the current height validated, by hash:
  // a block proposed again (another round, another polka) is not executed
  // again.
  std::map<Hash256, bool> proposal_valid_;
  // Precommits for the last committed block that came after the decision,
  // by validator index (at most one each, so bounded by the set's size).
  std::map<consensus::ValidatorIndex, consensus::Vote> late_precommits_;
  // The round of the last commit: only its precommits can join it.
  uint32_t last_commit_round_ = 0;
  // What this node broadcast at the current height, re-sent when stuck.
  std::vector<std::pair<uint8_t, Bytes>> own_messages_;
  Clock::time_point height_started_ = Clock::now();
  Clock::time_point last_progress_ = Clock::now();
  std::list<boost::asio::steady_timer> timers_;
  boost::asio::steady_timer tick_timer_{io_};
  std::unique_ptr<storage::BlobStore> blobs_;
  std::optional<SecretKey> provider_key_;
  std::filesystem::path provider_state_dir_;  // <home>/provider: task progress
  roles::RoleDevice role_device_;             // [roles] device, opened by OpenRoles
  std::filesystem::path home_;                // for the test-only fault files (docs/roles.md)
  std::unique_ptr<roles::ProviderRole> provider_;
  std::unique_ptr<roles::ValidatorRole> validator_;
  boost::asio::steady_timer blob_gc_timer_{io_};

  // Sync: the highest height a peer reported, and an outstanding request.
  std::map<p2p::PeerId, uint64_t> peer_heights_;
  struct SyncRequest {
    p2p::PeerId peer;
    Clock::time_point sent;
  };
  std::map<uint64_t, SyncRequest> sync_requests_;  // by height
  struct SyncedBlock {
    p2p::PeerId from;
    proto::BlockResponse response;  // its commit verified again when applied
  };
  std::map<uint64_t, SyncedBlock> sync_buffer_;  // heights after the next one
  // Timeouts in a row, at most one per kSyncRequestTimeout: a peer is
  // dropped after about kSyncStrikesMax timeouts' worth of silence.
  struct SyncStrikes {
    uint32_t count = 0;
    Clock::time_point last;
  };
  std::map<p2p::PeerId, SyncStrikes> sync_strikes_;

  struct Waiter {
    rpc::Reply reply;
    Clock::time_point deadline;
    Clock::time_point submitted;
  };
  std::multimap<Hash256, Waiter> waiters_;
  struct InboxTx {
    p2p::PeerId from;
    Bytes raw;
  };
  std::deque<InboxTx> tx_inbox_;
  size_t tx_inbox_bytes_ = 0;
  bool tx_inbox_draining_ = false;
  std::map<Hash256, Clock::time_point> submitted_at_;

  rpc::Counter* committed_txs_ = nullptr;
  rpc::Counter* evidence_ = nullptr;
  rpc::Counter* inbox_dropped_ = nullptr;
  rpc::Histogram* commit_latency_ = nullptr;
  rpc::Histogram* tx_latency_ = nullptr;
};

}  // namespace agora::node

#endif  // AGORA_NODE_NODE_IMPL_H_
