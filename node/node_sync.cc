// Node::Impl, block sync: heights told to peers, blocks asked for in a
// window, answered, checked and applied in order. See docs/node.md.
#include "node/node_impl.h"

namespace agora::node {

void Node::Impl::SendStatus(const p2p::PeerId* to) {
  proto::StatusMessage m;
  m.set_height(blocks_->height());
  Bytes bytes = EncodeDeterministic(m);
  if (to != nullptr) {
    peers_->Send(*to, kChannelStatus, bytes);
    return;
  }
  for (const p2p::PeerInfo& peer : peers_->Peers()) peers_->Send(peer.id, kChannelStatus, bytes);
}

void Node::Impl::HandleStatus(const p2p::PeerId& from, ByteSpan payload) {
  proto::StatusMessage m;
  if (!DecodeStrict(payload, 64, m).ok()) {
    peers_->Disconnect(from, "malformed status", /*ban=*/true);
    return;
  }
  peer_heights_[from] = m.height();
  MaybeRequestBlock();
}

void Node::Impl::MaybeRequestBlock() {
  const uint64_t next = blocks_->height() + 1;
  const auto now = Clock::now();
  // Requests not answered in time. One for a height this node has since
  // committed anyway still counts: a peer that claims blocks and never sends
  // them would otherwise go unnoticed while consensus keeps the node going.
  std::set<p2p::PeerId> struck;  // one strike per peer per pass
  for (auto it = sync_requests_.begin(); it != sync_requests_.end();) {
    if (now - it->second.sent >= kSyncRequestTimeout) {
      struck.insert(it->second.peer);
      it = sync_requests_.erase(it);
    } else {
      ++it;
    }
  }
  for (const p2p::PeerId& peer : struck) {
    SyncStrikes& record = sync_strikes_[peer];
    if (record.count > 0 && now - record.last < kSyncRequestTimeout) continue;
    record.last = now;
    const uint32_t strikes = ++record.count;
    spdlog::warn("peer {} did not answer a block request in time ({} in a row)",
                 peer.ToHex().substr(0, 12), strikes);
    if (strikes >= kSyncStrikesMax) {
      peers_->Disconnect(peer,
                         "did not answer " + std::to_string(strikes) + " block requests in a row",
                         /*ban=*/false);
      peer_heights_.erase(peer);
      sync_strikes_.erase(peer);
    }
  }
  // Fill the window, each height from the peer that has it with the fewest
  // strikes and then the fewest requests outstanding.
  std::map<p2p::PeerId, size_t> outstanding;
  for (const auto& [height, request] : sync_requests_) ++outstanding[request.peer];
  for (uint64_t want = next; want < next + kSyncWindow; ++want) {
    if (sync_requests_.count(want) || sync_buffer_.count(want)) continue;
    const p2p::PeerId* best = nullptr;
    std::pair<uint32_t, size_t> best_rank;
    for (const auto& [peer, height] : peer_heights_) {
      if (height < want) continue;
      auto strikes = sync_strikes_.find(peer);
      const std::pair<uint32_t, size_t> rank{
          strikes == sync_strikes_.end() ? 0 : strikes->second.count, outstanding[peer]};
      if (best == nullptr || rank < best_rank) {
        best = &peer;
        best_rank = rank;
      }
    }
    if (best == nullptr) break;  // nobody has it (yet)
    proto::BlockRequest request;
    request.set_height(want);
    peers_->Send(*best, kChannelBlockRequest, EncodeDeterministic(request));
    sync_requests_[want] = {*best, now};
    ++outstanding[*best];
  }
}

void Node::Impl::HandleBlockRequest(const p2p::PeerId& from, ByteSpan payload) {
  proto::BlockRequest request;
  if (!DecodeStrict(payload, 64, request).ok()) {
    peers_->Disconnect(from, "malformed block request", /*ban=*/true);
    return;
  }
  auto block = blocks_->BlockAt(request.height());
  auto commit = blocks_->CommitAt(request.height());
  if (!block.ok() || !*block || !commit.ok() || !*commit) return;
  proto::BlockResponse response;
  *response.mutable_block() = **block;
  *response.mutable_commit() = **commit;
  peers_->Send(from, kChannelBlockResponse, EncodeDeterministic(response));
}

void Node::Impl::HandleBlockResponse(const p2p::PeerId& from, ByteSpan payload) {
  proto::BlockResponse response;
  if (!DecodeStrict(payload, consensus::kBlockBytesMax * 2, response).ok()) {
    peers_->Disconnect(from, "malformed block response", /*ban=*/true);
    return;
  }
  const uint64_t height = response.block().header().height();
  auto request = sync_requests_.find(height);
  // Only what was asked of this peer; a late answer after a retry elsewhere
  // is no fault.
  if (request == sync_requests_.end() || request->second.peer != from) return;
  sync_requests_.erase(request);
  sync_strikes_.erase(from);
  if (height <= blocks_->height()) return;  // consensus got there first
  // The set that must have signed is known for certain only up to
  // kSetChangeDelayMin heights past the last applied block: a block not yet
  // applied may schedule a change after that. Further ahead the check uses
  // today's schedule, so a failure there may be this node's guess, not the
  // peer's fault: the block waits and is checked when its turn comes.
  const bool set_known = height <= blocks_->height() + consensus::kSetChangeDelayMin;
  const Hash256 hash = consensus::HeaderHash(response.block().header());
  Status s = consensus::VerifyCommit(response.commit(), chain_->ValidatorsAt(height),
                                     genesis_.chain_id, height, hash, &signatures_);
  if (!s.ok() && set_known) {
    spdlog::warn("block {} from peer {} rejected: {}", height, from.ToHex().substr(0, 12),
                 s.message());
    peers_->Disconnect(from, "sent a block with a bad commit: " + s.message(), /*ban=*/true);
    return;
  }
  sync_buffer_[height] = {from, std::move(response)};
  ApplySyncedBlocks();
  MaybeRequestBlock();
}

// Forgets the blocks a banned peer sent ahead: each would fail in its turn,
// and their heights are asked of others at once.
void Node::Impl::DropSyncedFrom(const p2p::PeerId& peer) {
  std::erase_if(sync_buffer_, [&](const auto& entry) { return entry.second.from == peer; });
}

// Commits the buffered blocks that follow the last one, in order. Each
// commit is checked again here against the set at its height, now certain
// (on arrival it may have been checked against a guess: a block buffered
// then could otherwise be committed on the signatures of a set that no
// longer signs; found in review), and the body against this node's state
// after the block before it.
void Node::Impl::ApplySyncedBlocks() {
  const uint64_t first = blocks_->height() + 1;
  for (auto it = sync_buffer_.begin(); it != sync_buffer_.end();) {
    const uint64_t next = blocks_->height() + 1;
    if (it->first < next) {
      it = sync_buffer_.erase(it);
      continue;
    }
    if (it->first != next) break;
    SyncedBlock synced = std::move(it->second);
    it = sync_buffer_.erase(it);
    Status s = consensus::VerifyCommit(
        synced.response.commit(), chain_->ValidatorsAt(next), genesis_.chain_id, next,
        consensus::HeaderHash(synced.response.block().header()), &signatures_);
    if (!s.ok()) {
      spdlog::warn("block {} from peer {} rejected: {}", next, synced.from.ToHex().substr(0, 12),
                   s.message());
      peers_->Disconnect(synced.from, "sent a block with a bad commit: " + s.message(),
                         /*ban=*/true);
      DropSyncedFrom(synced.from);
      break;  // what was applied before it still restarts consensus below
    }
    std::vector<Tx> txs;
    s = chain_->ValidateBlock(synced.response.block(), NowUnixMs(), &txs);
    if (!s.ok()) {
      // 2/3 of the validators signed this header: a body that fails is one
      // the sender made up.
      spdlog::warn("block {} from peer {} rejected: {}", next, synced.from.ToHex().substr(0, 12),
                   s.message());
      peers_->Disconnect(synced.from, "sent a bad block: " + s.message(), /*ban=*/true);
      DropSyncedFrom(synced.from);
      break;  // what was applied before it still restarts consensus below
    }
    s = CommitBlock(synced.response.block(), synced.response.commit(), &txs);
    AGORA_CHECK_MSG(s.ok(), "cannot commit a verified block: " + s.message());
    spdlog::info("synced height {} from peer {}", next, synced.from.ToHex().substr(0, 12));
  }
  if (blocks_->height() + 1 == first) return;  // nothing applied
  for (auto& t : timers_) t.cancel();  // their handlers remove them
  Apply(core_->Start(blocks_->height() + 1));
  for (auto& [from, payload] : future_proposals_.Take()) HandleProposal(from, payload);
}

}  // namespace agora::node
