#include "node/node.h"

#include "node/node_impl.h"

#include <algorithm>
#include <thread>

#include "common/state_tree.h"
#include "consensus/ledger/staking.h"

namespace agora::node {
namespace detail {

json::object TxJson(const Tx& tx) {
  json::object out{{"hash", tx.hash.ToHex()},
                   {"type", consensus::MsgName(tx.msg)},
                   {"from", tx.sender.ToString()},
                   {"fee_uagr", tx.fee_uagr},
                   {"nonce", tx.nonce}};
  std::visit(
      [&out](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, consensus::MsgTransfer>) {
          out["to"] = m.to.ToString();
          out["amount_uagr"] = m.amount_uagr;
        } else if constexpr (std::is_same_v<M, consensus::MsgStake> ||
                             std::is_same_v<M, consensus::MsgUnstake>) {
          out["amount_uagr"] = m.amount_uagr;
        } else if constexpr (std::is_same_v<M, consensus::MsgCreateValidator>) {
          out["consensus_key"] = m.consensus_key.ToHex();
          out["moniker"] = m.moniker;
        }
      },
      tx.msg);
  return out;
}

json::array EventsJson(const std::vector<consensus::Event>& events) {
  json::array out;
  for (const consensus::Event& e : events) {
    json::object attributes;
    for (const auto& [k, v] : e.attributes) attributes[k] = v;
    out.push_back(json::object{{"type", e.type}, {"attributes", std::move(attributes)}});
  }
  return out;
}

}  // namespace detail

namespace {

Result<consensus::LedgerGenesis> LedgerGenesisOf(const Genesis& genesis) {
  consensus::LedgerGenesis out;
  for (const auto& a : genesis.accounts) out.accounts.push_back({a.address, a.balance_uagr});
  for (const auto& v : genesis.validators) {
    out.validators.push_back({v.key, v.operator_address.value_or(Address::FromPublicKey(v.key)),
                              v.name, v.power * consensus::staking::kUagrPerPower});
  }
  std::map<std::string, uint64_t> params = genesis.params;
  params.emplace("bank.min_fee_uagr", genesis.min_fee_uagr);
  auto checked = consensus::ParamsFromOverrides(params);
  if (!checked.ok()) return Status::InvalidArgument("genesis params: " + checked.status().message());
  out.params = *checked;
  out.beacon_seed = genesis.hash;
  return out;
}

}  // namespace

Status Node::Impl::Open(const std::filesystem::path& home,
                        const std::optional<std::vector<std::string>>& roles) {
  AGORA_ASSIGN_OR_RETURN(config_, LoadConfig(ConfigPath(home)));
  AGORA_ASSIGN_OR_RETURN(genesis_, LoadGenesis(GenesisPath(home)));
  AGORA_ASSIGN_OR_RETURN(SecretKey key, LoadNodeKey(NodeKeyPath(home)));
  node_key_ = key;
  AGORA_ASSIGN_OR_RETURN(store_, LevelDbStore::Open(DataPath(home)));
  blocks_ = std::make_unique<consensus::BlockStore>(store_.get());
  AGORA_RETURN_IF_ERROR(blocks_->Load());
  // The node knows the concrete ledger only here, to open it and write its
  // genesis; from then on it drives an Application.
  // A block's state tree update runs on up to 16 of the machine's cores
  // (docs/state.md, "Parallel stage"); the result does not depend on how
  // many.
  StateTree::Options tree_options;
  tree_options.stage_threads = std::clamp(std::thread::hardware_concurrency(), 1u, 16u);
  AGORA_ASSIGN_OR_RETURN(std::unique_ptr<consensus::Ledger> ledger,
                         consensus::Ledger::Open(store_.get(), tree_options));

  // The store remembers which genesis it belongs to.
  AGORA_ASSIGN_OR_RETURN(std::optional<Bytes> stored_genesis,
                         store_->Get(KeyPrefix::kMeta, AsBytes("genesis_hash")));
  if (!stored_genesis) {
    if (blocks_->height() != 0) {
      return Status::Corruption("the store has blocks but no genesis hash; it is damaged");
    }
    WriteBatch batch;
    AGORA_ASSIGN_OR_RETURN(consensus::LedgerGenesis ledger_genesis, LedgerGenesisOf(genesis_));
    AGORA_RETURN_IF_ERROR(ledger->InitGenesis(ledger_genesis, &batch));
    batch.Put(KeyPrefix::kMeta, AsBytes("genesis_hash"), genesis_.hash.bytes);
    AGORA_RETURN_IF_ERROR(store_->Write(batch, Durability::kSynced));
    ledger->Committed();
  } else if (*stored_genesis != Bytes(genesis_.hash.bytes.begin(), genesis_.hash.bytes.end())) {
    return Status::FailedPrecondition("the data in " + DataPath(home).string() +
                                      " belongs to another genesis; move it away "
                                      "to start this chain from scratch");
  } else {
    AGORA_RETURN_IF_ERROR(ledger->Load());
  }
  // Each block and its state land in one batch, so the two heights agree;
  // if they ever do not (a store pieced together from two backups), say so
  // rather than reject every block or abort later.
  if (ledger->Height() != blocks_->height()) {
    return Status::Corruption("the store holds blocks up to height " +
                              std::to_string(blocks_->height()) + " but ledger state of height " +
                              std::to_string(ledger->Height()) + "; restore " +
                              DataPath(home).string() + " from one backup, or sync from scratch");
  }
  // The round of the last commit, for precommits that arrive after it.
  if (blocks_->height() > 0) {
    AGORA_ASSIGN_OR_RETURN(std::optional<proto::Commit> last, blocks_->CommitAt(blocks_->height()));
    if (last) last_commit_round_ = last->round();
  }
  ledger->SetSignatureCache(&signatures_);
  app_ = std::move(ledger);
  chain_ = std::make_unique<consensus::Chain>(genesis_.chain_id, genesis_.genesis_time_unix_ms,
                                              store_.get(), blocks_.get(), app_.get(),
                                              &signatures_);
  AGORA_RETURN_IF_ERROR(chain_->Load());
  AGORA_ASSIGN_OR_RETURN(
      signer_,
      consensus::SafeSigner::Open(
          genesis_.chain_id, std::make_unique<consensus::Ed25519SigningKey>(key), store_.get()));
  consensus::CoreConfig core_config;
  core_config.chain_id = genesis_.chain_id;
  core_ = std::make_unique<consensus::Core>(core_config, chain_.get(), signer_.get());
  consensus::MempoolConfig mempool_config;
  mempool_config.txs_max = config_.mempool_txs_max;
  mempool_config.bytes_max = config_.mempool_bytes_max;
  mempool_ = std::make_unique<consensus::Mempool>(mempool_config, 0);
  ApplyParams();

  p2p::PeerManagerConfig p2p_config;
  p2p_config.listen_host = config_.p2p_host;
  p2p_config.listen_port = config_.p2p_port;
  p2p_config.chain_id = genesis_.chain_id;
  p2p_config.genesis_hash = genesis_.hash;
  p2p_config.bulk_channels.set(kChannelTx);
  for (const std::string& peer : config_.persistent_peers) {
    auto address = p2p::PeerAddress::Parse(peer);
    if (!address.ok()) {
      return Status::InvalidArgument("config: persistent peer '" + peer +
                                     "': " + address.status().message());
    }
    p2p_config.persistent_peers.push_back(*address);
  }
  peers_ = std::make_unique<p2p::PeerManager>(io_, p2p_config, key, *this);
  rpc::RpcConfig rpc_config;
  rpc_config.host = config_.rpc_host;
  rpc_config.port = config_.rpc_port;
  rpc_ = std::make_unique<rpc::RpcServer>(io_, rpc_config);
  AGORA_RETURN_IF_ERROR(OpenBlobs(home));
  AGORA_RETURN_IF_ERROR(OpenRoles(home, roles));
  RegisterRpc();
  AGORA_RETURN_IF_ERROR(LoadBodies());
  spdlog::info("node {} opened: chain {}, height {}, app hash {}", key.public_key().ToHex(),
               genesis_.chain_id, blocks_->height(), app_->AppHash().ToHex());
  return Status::Ok();
}

Status Node::Impl::Start() {
  AGORA_RETURN_IF_ERROR(rpc_->Start());
  AGORA_RETURN_IF_ERROR(peers_->Start());
  spdlog::info("p2p on {}:{}, rpc on http://{}:{}", config_.p2p_host, peers_->listen_port(),
               config_.rpc_host, rpc_->port());
  height_started_ = last_progress_ = Clock::now();
  ScheduleBlobGc();
  StartRoles();
  Apply(core_->Start(blocks_->height() + 1));
  Tick();
  return Status::Ok();
}

void Node::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& t : timers_) t.cancel();
  tick_timer_.cancel();
  blob_gc_timer_.cancel();
  for (auto& [id, waiter] : waiters_) {
    waiter.reply(Status::Unavailable("the node is shutting down"));
  }
  waiters_.clear();
  if (peers_) peers_->Stop();
  if (rpc_) rpc_->Stop();
  // After the RPC server: a role waiting on it gets its answer (an error) now.
  StopRoles();
}

// --- consensus -------------------------------------------------------------

void Node::Impl::Apply(consensus::Actions actions) {
  for (consensus::Action& action : actions) {
    if (stopped_) return;
    if (auto* p = std::get_if<consensus::BroadcastProposal>(&action)) {
      auto block = proposal_blocks_.find(p->proposal.block);
      if (block == proposal_blocks_.end()) {
        spdlog::error("consensus asked to propose block {} that this node does not have",
                      p->proposal.block.ToHex());
        continue;
      }
      proto::ProposalMessage m;
      m.set_sign_bytes(ToString(p->proposal.SignBytes()));
      m.set_proposer(p->proposal.proposer);
      m.set_signature(ToString(p->proposal.signature.bytes));
      *m.mutable_block() = block->second;
      for (const consensus::Vote& vote : p->polka) {
        proto::VoteMessage* v = m.add_polka();
        v->set_sign_bytes(ToString(vote.SignBytes()));
        v->set_validator(vote.validator);
        v->set_signature(ToString(vote.signature.bytes));
      }
      Bytes bytes = EncodeDeterministic(m);
      spdlog::debug("proposing {}/{}: block {} ({} txs, {} bytes)", p->proposal.height,
                    p->proposal.round, p->proposal.block.ToHex().substr(0, 16),
                    block->second.txs_size(), bytes.size());
      peers_->Broadcast(kChannelProposal, bytes);
      own_messages_.push_back({kChannelProposal, std::move(bytes)});
    } else if (auto* v = std::get_if<consensus::BroadcastVote>(&action)) {
      proto::VoteMessage m;
      m.set_sign_bytes(ToString(v->vote.SignBytes()));
      m.set_validator(v->vote.validator);
      m.set_signature(ToString(v->vote.signature.bytes));
      Bytes bytes = EncodeDeterministic(m);
      spdlog::debug("voting {}", v->vote.ToString());
      peers_->Broadcast(kChannelVote, bytes);
      own_messages_.push_back({kChannelVote, std::move(bytes)});
    } else if (auto* t = std::get_if<consensus::ScheduleTimeout>(&action)) {
      auto& timer = timers_.emplace_back(io_);
      auto it = std::prev(timers_.end());
      timer.expires_after(std::chrono::milliseconds(t->delay_ms));
      timer.async_wait([this, it, step = t->step, height = t->height,
                        round = t->round](const boost::system::error_code& ec) {
        if (stopped_) return;  // the list goes with the node
        timers_.erase(it);     // each handler removes its own timer, cancelled or not
        if (!ec) Apply(core_->OnTimeout(step, height, round));
      });
    } else if (auto* r = std::get_if<consensus::RequestBlock>(&action)) {
      // Blocks no closer than block_interval_ms: a proposer that proposes
      // the moment the last block commits makes many tiny blocks.
      const auto wait =
          std::chrono::milliseconds(config_.block_interval_ms) -
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - height_started_);
      if (wait.count() <= 0) {
        BuildBlock(r->height, r->round);
        continue;
      }
      auto& timer = timers_.emplace_back(io_);
      auto it = std::prev(timers_.end());
      timer.expires_after(wait);
      timer.async_wait(
          [this, it, height = r->height, round = r->round](const boost::system::error_code& ec) {
            if (stopped_) return;
            timers_.erase(it);
            if (!ec) BuildBlock(height, round);
          });
    } else if (auto* d = std::get_if<consensus::Decide>(&action)) {
      OnDecide(*d);
    } else if (auto* e = std::get_if<consensus::ReportEvidence>(&action)) {
      evidence_->Inc();
      spdlog::warn("evidence: validator {} signed {} and {}", e->evidence.validator.ToHex(),
                   e->evidence.first.ToString(), e->evidence.second.ToString());
      ShareEvidence(e->evidence);
    }
  }
}

void Node::Impl::BuildBlock(uint64_t height, uint32_t round) {
  if (height != blocks_->height() + 1) return;
  std::vector<Tx> txs = mempool_->Reap(config_.block_txs_max, kBlockTxBytesMax,
                                       [this](const Address& a) { return app_->Account(a); });
  std::vector<Tx> included;
  std::vector<consensus::Vote> late;
  for (const auto& [index, vote] : late_precommits_) late.push_back(vote);
  auto block = chain_->Propose(*node_key_, NowUnixMs(), std::move(txs), &included, late);
  if (!block.ok()) {
    spdlog::error("cannot propose at height {}: {}", height, block.status().message());
    return;
  }
  const Hash256 hash = consensus::HeaderHash(block->header());
  if (proposal_blocks_.size() < kProposalBlocksMax) {
    proposal_blocks_[hash] = *block;
    proposal_txs_[hash] = std::move(included);
  }
  KeepBody(height, hash, *block);
  Apply(core_->OnBlockReady(height, round, hash));
}

void Node::Impl::ApplyParams() {
  const consensus::Params params = app_->CurrentParams();
  consensus::Timeouts t;
  t.propose_ms = params.timeout_propose_ms;
  t.prevote_ms = params.timeout_prevote_ms;
  t.precommit_ms = params.timeout_precommit_ms;
  t.propose_delta_ms = t.prevote_delta_ms = t.precommit_delta_ms = params.timeout_delta_ms;
  core_->SetTimeouts(t);
  mempool_->set_min_fee(params.min_fee_uagr);
  // The network's bounds, or the node's own lower ones from config.toml.
  mempool_->set_bounds(std::min<uint64_t>(params.mempool_txs_max, config_.mempool_txs_max),
                       std::min<uint64_t>(params.mempool_bytes_max, config_.mempool_bytes_max));
}

namespace {

constexpr std::string_view kBodyKeyPrefix = "body/";

Bytes BodyKey(uint64_t height, const Hash256& hash) {
  Bytes key(kBodyKeyPrefix.begin(), kBodyKeyPrefix.end());
  PutU64BigEndian(key, height);
  key.insert(key.end(), hash.bytes.begin(), hash.bytes.end());
  return key;
}

}  // namespace

void Node::Impl::KeepBody(uint64_t height, const Hash256& hash, const proto::Block& block) {
  WriteBatch batch;
  batch.Put(KeyPrefix::kConsensusWal, BodyKey(height, hash), EncodeDeterministic(block));
  // Synced, before any vote for this block is signed: a restarted validator
  // locked on it must be able to propose it again. (Until 2026-12-03 this
  // was buffered, on the belief that the signer's next synced write makes
  // it durable; in LevelDB that holds only within one log file, and a
  // write that fills the memtable starts a new log without syncing the old
  // one (google/leveldb#193), so a large body could be lost while the lock
  // signed after it survived.) One fsync per proposal accepted.
  Status s = store_->Write(batch, Durability::kSynced);
  if (!s.ok()) spdlog::error("cannot keep block body {}: {}", hash.ToHex(), s.message());
}

Status Node::Impl::LoadBodies() {
  const uint64_t next = blocks_->height() + 1;
  auto it = store_->Scan(KeyPrefix::kConsensusWal, BodyKey(next, Hash256()));
  for (; it->Valid(); it->Next()) {
    ByteSpan key = it->key();
    if (key.size() != kBodyKeyPrefix.size() + 8 + Hash256::kSize ||
        !std::equal(kBodyKeyPrefix.begin(), kBodyKeyPrefix.end(), key.begin())) {
      break;
    }
    proto::Block block;
    if (Status s = DecodeStrict(it->value(), kValueBytesMax, block); !s.ok()) {
      // Only an aid to re-proposing: a damaged one is skipped, not fatal.
      spdlog::warn("skipping a damaged kept block body: {}", s.message());
      continue;
    }
    const Hash256 hash = consensus::HeaderHash(block.header());
    if (block.header().height() == next) proposal_blocks_.emplace(hash, std::move(block));
  }
  return it->status();
}

void Node::Impl::ForgetBodies(uint64_t through_height, WriteBatch* batch) {
  auto it = store_->Scan(KeyPrefix::kConsensusWal, AsBytes(kBodyKeyPrefix));
  for (; it->Valid(); it->Next()) {
    ByteSpan key = it->key();
    if (key.size() != kBodyKeyPrefix.size() + 8 + Hash256::kSize ||
        !std::equal(kBodyKeyPrefix.begin(), kBodyKeyPrefix.end(), key.begin())) {
      break;
    }
    uint64_t height = 0;
    for (size_t i = 0; i < 8; ++i) height = (height << 8) | key[kBodyKeyPrefix.size() + i];
    if (height > through_height) break;
    batch->Delete(KeyPrefix::kConsensusWal, key);
  }
}

Status Node::Impl::CommitBlock(const proto::Block& block, const proto::Commit& commit,
                               std::vector<Tx>* decoded) {
  std::vector<Tx> txs;
  if (decoded != nullptr) {
    txs = std::move(*decoded);
  } else {
    AGORA_ASSIGN_OR_RETURN(txs, chain_->BlockTxs(block));
  }
  WriteBatch batch;
  AGORA_ASSIGN_OR_RETURN(consensus::Chain::Executed executed,
                         chain_->Execute(block, commit, txs, &batch));
  ForgetBodies(block.header().height(), &batch);
  Status s = store_->Write(batch, Durability::kSynced);
  // Nothing in memory moved yet, but a node that cannot write its block
  // cannot go on either: stop, and a restart recovers from what is on disk.
  AGORA_CHECK_MSG(s.ok(), "cannot write block: " + s.message());
  chain_->Committed(block, executed);
  const Hash256& hash = executed.hash;
  const std::vector<consensus::TxResult>& outcomes = executed.results;
  const uint64_t height = block.header().height();
  std::vector<Hash256> ids;
  for (const auto& o : outcomes) {
    if (o.charged) ids.push_back(o.hash);  // the others may still run later
  }
  mempool_->Update(ids, [this](const Address& a) { return app_->Account(a); });
  ApplyParams();
  for (const consensus::SetChange& c : executed.end.set_changes) {
    spdlog::info("validator set of {} validators from height {}", c.validators.size(), c.height);
  }
  for (const consensus::Event& e : executed.end.events) {
    if (e.type == "slash") spdlog::warn("slashed: {}", json::serialize(EventsJson({e})));
  }
  committed_txs_->Inc(txs.size());
  const auto now = Clock::now();
  commit_latency_->Observe(std::chrono::duration<double>(now - height_started_).count());
  height_started_ = last_progress_ = now;
  proposal_blocks_.clear();
  proposal_txs_.clear();
  proposal_valid_.clear();
  own_messages_.clear();
  late_precommits_.clear();
  last_commit_round_ = commit.round();

  // Events are built only for someone: a subscriber or a waiting client.
  if (rpc_->HasSubscribers("new_block")) {
    json::array tx_hashes;
    for (const Tx& tx : txs) tx_hashes.push_back(json::value(tx.hash.ToHex()));
    rpc_->Publish("new_block", json::object{{"height", height},
                                            {"hash", hash.ToHex()},
                                            {"txs", txs.size()},
                                            {"tx_hashes", std::move(tx_hashes)},
                                            {"time_unix_ms", block.header().time_unix_ms()},
                                            {"app_hash", app_->AppHash().ToHex()}});
  }
  const bool publish_results = rpc_->HasSubscribers("tx_result");
  for (size_t i = 0; i < txs.size(); ++i) {
    auto submitted = submitted_at_.find(txs[i].hash);
    if (submitted != submitted_at_.end()) {
      tx_latency_->Observe(std::chrono::duration<double>(now - submitted->second).count());
      submitted_at_.erase(submitted);
    }
    auto [first, last] = waiters_.equal_range(txs[i].hash);
    if (!publish_results && first == last) continue;
    json::object result = TxJson(txs[i]);
    result["height"] = height;
    result["index"] = i;
    result["code"] = static_cast<uint32_t>(outcomes[i].code);
    result["result"] = consensus::TxCodeName(outcomes[i].code);
    if (!outcomes[i].log.empty()) result["log"] = outcomes[i].log;
    result["events"] = EventsJson(outcomes[i].events);
    for (auto it = first; it != last; ++it) it->second.reply(json::value(result));
    waiters_.erase(first, last);
    if (publish_results) rpc_->Publish("tx_result", result);
  }
  spdlog::info("committed height {} ({} txs, round {}) {}", height, txs.size(), commit.round(),
               hash.ToHex().substr(0, 16));
  return Status::Ok();
}

void Node::Impl::OnDecide(const consensus::Decide& decide) {
  auto block = proposal_blocks_.find(decide.block);
  if (block == proposal_blocks_.end()) {
    // A validator restarted with a lock re-proposes a block whose body it
    // did not keep; when that block is decided, the body comes from a peer
    // through block sync, checked against its commit.
    spdlog::warn("decided block {} at height {} is not here; fetching it from peers",
                 decide.block.ToHex().substr(0, 16), decide.height);
    MaybeRequestBlock();
    return;
  }
  proto::Block decided = block->second;
  auto txs = proposal_txs_.find(decide.block);
  Status s = CommitBlock(
      decided, consensus::MakeCommit(decide.height, decide.round, decide.block, decide.commit),
      txs == proposal_txs_.end() ? nullptr : &txs->second);
  AGORA_CHECK_MSG(s.ok(), "cannot commit a decided block: " + s.message());
  // Proposals for the next height waited for this block's state.
  for (auto& [from, payload] : future_proposals_.Take()) HandleProposal(from, payload);
  // Blocks synced ahead of this one go on from here, once this Apply is done.
  if (!sync_buffer_.empty()) {
    boost::asio::post(io_, [this] {
      if (!stopped_) ApplySyncedBlocks();
    });
  }
}

void Node::Impl::ProcessProposal(const proto::ProposalMessage& m, const consensus::Proposal& p) {
  const uint64_t next = blocks_->height() + 1;
  if (p.height != next) return;
  std::vector<Tx> txs;
  Status valid;
  if (auto known = proposal_valid_.find(p.block); known != proposal_valid_.end()) {
    valid = known->second ? Status::Ok() : Status::InvalidArgument("validated before: invalid");
  } else {
    valid = chain_->ValidateBlock(m.block(), NowUnixMs(), &txs);
    if (proposal_valid_.size() < kProposalBlocksMax) proposal_valid_.emplace(p.block, valid.ok());
    if (!valid.ok()) spdlog::warn("invalid block proposed at {}: {}", p.height, valid.message());
  }
  spdlog::debug("proposal {}/{} from validator {}: {} txs, {}", p.height, p.round, p.proposer,
                m.block().txs_size(), valid.ok() ? "valid" : "invalid");
  // Never replace a body: the first one that matched the header is the one.
  if (proposal_blocks_.size() < kProposalBlocksMax && proposal_blocks_.count(p.block) == 0) {
    proposal_blocks_.emplace(p.block, m.block());
    if (valid.ok()) {
      KeepBody(p.height, p.block, m.block());
      proposal_txs_.emplace(p.block, std::move(txs));
    }
  }
  Apply(core_->OnProposal(p, valid.ok()));
}

void Node::Impl::HandleProposal(const p2p::PeerId& from, ByteSpan payload) {
  proto::ProposalMessage m;
  if (!DecodeStrict(payload, consensus::kBlockBytesMax + (64u << 10), m).ok()) {
    peers_->Disconnect(from, "malformed proposal", /*ban=*/true);
    return;
  }
  auto p = consensus::Proposal::FromSignBytes(AsBytes(m.sign_bytes()));
  auto signature = Signature::Parse(AsBytes(m.signature()));
  if (!p || !signature.ok()) {
    peers_->Disconnect(from, "malformed proposal", /*ban=*/true);
    return;
  }
  p->proposer = m.proposer();
  p->signature = *signature;
  const uint64_t next = blocks_->height() + 1;
  if (p->height < next || p->height > next + 1) return;  // stale, or sync will fetch it
  const consensus::ValidatorSet& set = chain_->ValidatorsAt(p->height);
  if (p->proposer >= set.size() ||
      !Verify(set.at(p->proposer).key, {genesis_.chain_id, SignKind::kProposal},
              AsBytes(m.sign_bytes()), p->signature)) {
    peers_->Disconnect(from, "proposal with a bad signature", /*ban=*/true);
    return;
  }
  if (consensus::HeaderHash(m.block().header()) != p->block) {
    peers_->Disconnect(from, "proposal whose block does not match its hash", /*ban=*/true);
    return;
  }
  if (p->height == next + 1) {
    // Signed by a validator of its height (so the few places kept cannot
    // be filled by anyone else); its proposers are known once this node
    // has the state after `next`: it is checked whole (and relayed) then.
    // Rounds past the bound are dropped like those of the current height.
    if (p->round <= consensus::kRoundsAheadMax) {
      future_proposals_.Offer(p->proposer, p->round,
                              {from, Bytes(payload.begin(), payload.end())});
    }
    return;
  }
  // Honest nodes check all of the below before they relay, so whoever sent
  // a message that fails it is at fault.
  if (Status body = chain_->BodyMatchesHeader(m.block()); !body.ok()) {
    peers_->Disconnect(from, "proposal with a forged body: " + body.message(), /*ban=*/true);
    return;
  }
  if (p->height == core_->height()) {
    if (p->round > core_->round() + consensus::kRoundsAheadMax) return;
    if (p->proposer != core_->ProposerOf(p->round)) {
      peers_->Disconnect(from, "proposal signed by a validator that is not the round's proposer",
                         /*ban=*/true);
      return;
    }
  }
  if (Status s = consensus::CheckProposer(m.block().header(), set.at(p->proposer).key,
                                          p->valid_round);
      !s.ok()) {
    peers_->Disconnect(from, s.message(), /*ban=*/true);
    return;
  }
  if (m.polka_size() > static_cast<int>(set.size())) {
    peers_->Disconnect(from, "proposal with more polka votes than validators", /*ban=*/true);
    return;
  }
  // A polka is prevotes for this very block in the proposal's valid round,
  // one per validator; the proposer's signature does not cover them, so
  // anything else (a duplicate, a vote of another height) would let a peer
  // make endless relayable variants of an honest proposal, or get an honest
  // relayer banned by a peer at another height (found in review,
  // 2026-12-03).
  if (m.polka_size() > 0 && p->valid_round < 0) {
    peers_->Disconnect(from, "proposal with polka votes but no valid round", /*ban=*/true);
    return;
  }
  std::vector<consensus::Vote> polka;
  std::set<consensus::ValidatorIndex> polka_voters;
  for (const proto::VoteMessage& vote : m.polka()) {
    auto v = consensus::Vote::FromSignBytes(AsBytes(vote.sign_bytes()));
    if (!v || v->type != consensus::VoteType::kPrevote || v->height != p->height ||
        v->round != static_cast<uint32_t>(p->valid_round) || v->block != p->block ||
        !polka_voters.insert(vote.validator()).second) {
      peers_->Disconnect(from, "proposal with a polka vote that is not a prevote for its block "
                               "in its valid round, or is repeated",
                         /*ban=*/true);
      return;
    }
    auto checked = CheckVote(vote);
    if (!checked.ok()) {
      peers_->Disconnect(from, "proposal with a bad polka vote: " + checked.status().message(),
                         /*ban=*/true);
      return;
    }
    polka.push_back(*checked);
  }
  peers_->Broadcast(kChannelProposal, payload);  // relay what checks out
  // The polka of a re-proposal first, so the core can accept the block.
  for (const consensus::Vote& v : polka) Apply(core_->OnVote(v));
  ProcessProposal(m, *p);
}

void Node::Impl::HandleVote(const p2p::PeerId& from, ByteSpan payload) {
  proto::VoteMessage m;
  if (!DecodeStrict(payload, 1024, m).ok()) {
    peers_->Disconnect(from, "malformed vote", /*ban=*/true);
    return;
  }
  auto v = CheckVote(m);
  if (!v.ok()) {
    if (v.status().code() == StatusCode::kOutOfRange) {
      KeepLatePrecommit(from, m);
      return;  // another height
    }
    peers_->Disconnect(from, v.status().message(), /*ban=*/true);
    return;
  }
  peers_->Broadcast(kChannelVote, payload);
  Apply(core_->OnVote(*v));
}

// Evidence is kept until a block carries it (this node's or another
// proposer's) and gossiped, so a proposer that did not see both votes can
// include it too.
void Node::Impl::ShareEvidence(const consensus::Evidence& evidence) {
  Status s = chain_->AddEvidence(evidence);
  if (!s.ok()) {
    if (s.code() != StatusCode::kAlreadyExists) spdlog::warn("evidence not kept: {}", s.message());
    return;
  }
  peers_->Broadcast(kChannelEvidence, EncodeDeterministic(consensus::EvidenceToProto(evidence)));
}

void Node::Impl::HandleEvidence(const p2p::PeerId& from, ByteSpan payload) {
  proto::DuplicateVoteEvidence m;
  if (!DecodeStrict(payload, consensus::kEvidenceBytesMax, m).ok()) {
    peers_->Disconnect(from, "malformed evidence", /*ban=*/true);
    return;
  }
  // Evidence this node keeps already, or cannot check yet, is dropped before
  // its signatures are verified (no fault of the sender: it may have seen
  // the votes earlier or later than this node).
  auto key = PublicKey::Parse(AsBytes(m.validator_key()));
  auto first = consensus::Vote::FromSignBytes(AsBytes(m.first().sign_bytes()));
  if (key.ok() && first && !chain_->PrecheckEvidence(*key, first->height).ok()) return;
  auto evidence = consensus::EvidenceFromProto(m, genesis_.chain_id);
  if (!evidence.ok()) {
    // Honest nodes check signatures and form before they relay.
    peers_->Disconnect(from, "bad evidence: " + evidence.status().message(), /*ban=*/true);
    return;
  }
  // Too old, already punished or a full pool are no fault of the sender:
  // it may have seen the votes earlier or later than this node.
  ShareEvidence(*evidence);
}

// A precommit for the block this node committed last, arriving after the
// decision: kept for the next block's last commit, so the downtime rule
// does not count a validator that was merely slower than the quorum.
void Node::Impl::KeepLatePrecommit(const p2p::PeerId& from, const proto::VoteMessage& m) {
  const uint64_t height = blocks_->height();
  auto v = consensus::Vote::FromSignBytes(AsBytes(m.sign_bytes()));
  auto signature = Signature::Parse(AsBytes(m.signature()));
  if (height == 0 || !v || !signature.ok() || v->type != consensus::VoteType::kPrecommit ||
      v->height != height || v->round != last_commit_round_ ||
      v->block != blocks_->last_block_hash() || late_precommits_.count(m.validator()) != 0) {
    return;
  }
  const consensus::ValidatorSet& set = chain_->ValidatorsAt(height);
  if (m.validator() >= set.size() ||
      !signatures_.VerifySignature(set.at(m.validator()).key, {genesis_.chain_id, v->Kind()},
                                   AsBytes(m.sign_bytes()), *signature)) {
    // Honest nodes check a vote's signature before they relay it, so a bad
    // one is the sender's doing (and each costs a verification: found in
    // review, 2026-12-03, when it was dropped without a ban).
    if (m.validator() < set.size()) {
      peers_->Disconnect(from, "late precommit with a bad signature", /*ban=*/true);
    }
    return;
  }
  v->validator = m.validator();
  v->signature = *signature;
  late_precommits_.emplace(m.validator(), *v);
}

// Decodes a vote and checks its signature against the validator set of its
// height (through the node's cache: the next block's commit carries the
// same precommits). OutOfRange for a height this node does not handle now.
Result<consensus::Vote> Node::Impl::CheckVote(const proto::VoteMessage& m) {
  auto v = consensus::Vote::FromSignBytes(AsBytes(m.sign_bytes()));
  auto signature = Signature::Parse(AsBytes(m.signature()));
  if (!v || !signature.ok()) return Status::InvalidArgument("malformed vote");
  v->validator = m.validator();
  v->signature = *signature;
  const uint64_t next = blocks_->height() + 1;
  if (v->height < next || v->height > next + 1) {
    return Status::OutOfRange("vote for another height");
  }
  // Rounds far ahead are not verified, relayed or kept (the core would drop
  // them anyway): a validator signing votes for round 10^6 must not make
  // every node verify and re-gossip each one (found in review, 2026-12-03).
  const uint32_t round_reach =
      (v->height == core_->height() ? core_->round() : 0) + consensus::kRoundsAheadMax;
  if (v->round > round_reach) return Status::OutOfRange("vote for a round too far ahead");
  const consensus::ValidatorSet& set = chain_->ValidatorsAt(v->height);
  if (v->validator >= set.size() ||
      !signatures_.VerifySignature(set.at(v->validator).key, {genesis_.chain_id, v->Kind()},
                                   AsBytes(m.sign_bytes()), v->signature)) {
    return Status::Unauthenticated("vote with a bad signature");
  }
  return *v;
}

void Node::Impl::Tick() {
  if (stopped_) return;
  SendStatus(nullptr);
  MaybeRequestBlock();
  const auto now = Clock::now();
  if (now - last_progress_ > kResendAfter) {
    // Stuck at this height: peers that reconnected since may have missed
    // what this node said. The P2P layer never re-sends a message to a peer
    // that already has it, so this reaches only the ones that need it.
    for (const auto& [channel, bytes] : own_messages_) peers_->Broadcast(channel, bytes);
    last_progress_ = now;
  }
  // Submissions that never commit (evicted, replaced) are forgotten.
  for (auto it = submitted_at_.begin(); it != submitted_at_.end();) {
    it = now - it->second > kSubmittedKeptFor ? submitted_at_.erase(it) : std::next(it);
  }
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.deadline <= now) {
      it->second.reply(Status::Unavailable("transaction " + it->first.ToHex() +
                                           " not committed yet; it may still be, check with "
                                           "`agora query tx " +
                                           it->first.ToHex() + "`"));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  tick_timer_.expires_after(kStatusInterval);
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Tick();
  });
}

// --- transactions ----------------------------------------------------------

Result<Hash256> Node::Impl::AdmitTx(ByteSpan raw, bool from_peer) {
  Result<Tx> decoded = consensus::DecodeTx(raw, genesis_.chain_id);
  if (!decoded.ok()) {
    // Every decoding error starts with "transaction", so a peer that relays
    // bytes that never were a transaction is banned whatever the field at
    // fault (found in review, 2026-12-03: "transfer recipient: ..." and the
    // like escaped the ban).
    const std::string why = decoded.status().message();
    if (why.rfind("transaction", 0) == 0) return decoded.status();
    return Status(decoded.status().code(), "transaction: " + why);
  }
  Tx tx = std::move(decoded).value();
  if (mempool_->Contains(tx.hash)) return Status::AlreadyExists("transaction already pending");
  auto committed = blocks_->FindTx(tx.hash);
  if (committed.ok() && *committed) {
    return Status::AlreadyExists("transaction already committed at height " +
                                 std::to_string((*committed)->height));
  }
  if (!signatures_.Verify(tx, genesis_.chain_id)) {
    return Status::Unauthenticated("transaction signature does not verify for chain " +
                                   genesis_.chain_id);
  }
  const Hash256 id = tx.hash;
  AGORA_ASSIGN_OR_RETURN(consensus::TxCheck check, app_->CheckTx(tx));
  AGORA_RETURN_IF_ERROR(mempool_->Add(tx, check, app_->Account(tx.sender)));
  peers_->Broadcast(kChannelTx, raw);
  if (!from_peer && submitted_at_.size() < kWaitersMax) submitted_at_[id] = Clock::now();
  return id;
}

void Node::Impl::QueuePeerTx(const p2p::PeerId& from, ByteSpan raw) {
  if (tx_inbox_.size() >= kTxInboxTxsMax || tx_inbox_bytes_ + raw.size() > kTxInboxBytesMax) {
    inbox_dropped_->Inc();
    return;
  }
  tx_inbox_.push_back({from, Bytes(raw.begin(), raw.end())});
  tx_inbox_bytes_ += raw.size();
  if (tx_inbox_draining_) return;
  tx_inbox_draining_ = true;
  boost::asio::post(io_, [this] { DrainTxInbox(); });
}

void Node::Impl::DrainTxInbox() {
  tx_inbox_draining_ = false;
  if (stopped_) return;
  for (size_t i = 0; i < kTxInboxRun && !tx_inbox_.empty(); ++i) {
    const InboxTx tx = std::move(tx_inbox_.front());
    tx_inbox_.pop_front();
    tx_inbox_bytes_ -= tx.raw.size();
    auto r = AdmitTx(tx.raw, /*from_peer=*/true);
    // A transaction may have become unusable on its way (nonce, balance,
    // a full mempool); bytes that do not decode or verify never were, and
    // honest peers check before they relay.
    const StatusCode code = r.status().code();
    if (!r.ok() && (code == StatusCode::kUnauthenticated ||
                    (code == StatusCode::kInvalidArgument &&
                     r.status().message().rfind("transaction", 0) == 0))) {
      peers_->Disconnect(tx.from, "relayed a bad transaction: " + r.status().message(),
                         /*ban=*/true);
      // What else it sent waits unchecked behind: drop it, do not verify it.
      std::erase_if(tx_inbox_, [&](const InboxTx& queued) {
        if (queued.from != tx.from) return false;
        tx_inbox_bytes_ -= queued.raw.size();
        return true;
      });
    }
  }
  if (!tx_inbox_.empty() && !tx_inbox_draining_) {
    tx_inbox_draining_ = true;
    boost::asio::post(io_, [this] { DrainTxInbox(); });  // behind what arrived meanwhile
  }
}

// --- P2P handler -----------------------------------------------------------

void Node::Impl::OnPeerConnected(const p2p::PeerInfo& peer) {
  spdlog::info("peer connected: {} ({})", peer.id.ToHex().substr(0, 12), peer.remote_address);
  SendStatus(&peer.id);
  for (const auto& [channel, bytes] : own_messages_) peers_->Send(peer.id, channel, bytes);
}

void Node::Impl::OnPeerDisconnected(const p2p::PeerId& peer, std::string_view reason) {
  spdlog::info("peer disconnected: {}: {}", peer.ToHex().substr(0, 12), reason);
  peer_heights_.erase(peer);
  sync_strikes_.erase(peer);
  // What it was asked for goes to another peer at the next tick.
  std::erase_if(sync_requests_, [&](const auto& entry) { return entry.second.peer == peer; });
}

void Node::Impl::OnMessage(const p2p::PeerId& from, uint8_t channel, ByteSpan payload) {
  if (stopped_) return;
  switch (channel) {
    case kChannelTx:
      QueuePeerTx(from, payload);
      break;
    case kChannelProposal:
      HandleProposal(from, payload);
      break;
    case kChannelVote:
      HandleVote(from, payload);
      break;
    case kChannelStatus:
      HandleStatus(from, payload);
      break;
    case kChannelBlockRequest:
      HandleBlockRequest(from, payload);
      break;
    case kChannelBlockResponse:
      HandleBlockResponse(from, payload);
      break;
    case kChannelEvidence:
      HandleEvidence(from, payload);
      break;
    default:
      peers_->Disconnect(from, "unknown channel " + std::to_string(channel), true);
  }
}

// --- Node ------------------------------------------------------------------

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Node::~Node() {
  impl_->Stop();
  // Let cancelled operations finish before the objects they refer to go.
  impl_->io_.restart();
  impl_->io_.poll();
}

Result<std::unique_ptr<Node>> Node::Open(const std::filesystem::path& home,
                                         const std::optional<std::vector<std::string>>& roles) {
  auto impl = std::make_unique<Impl>();
  AGORA_RETURN_IF_ERROR(impl->Open(home, roles));
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

Status Node::Start() { return impl_->Start(); }
void Node::Stop() { impl_->Stop(); }
void Node::Run() { impl_->io_.run(); }
boost::asio::io_context& Node::io() { return impl_->io_; }
uint16_t Node::rpc_port() const { return impl_->rpc_->port(); }
uint16_t Node::p2p_port() const { return impl_->peers_->listen_port(); }

}  // namespace agora::node
