// Node: one running agorad. It owns the store, the ledger, the mempool, the
// consensus core, the P2P transport and the RPC server, all driven by one
// io_context on one thread: consensus events, timers, network messages and
// RPC calls never run concurrently, so nothing here needs a lock.
//
// The life of a height: the core asks for a block (RequestBlock) when this
// node proposes; the node reaps the mempool and builds it. Proposals and
// votes from peers are verified (signature, block validity) before the core
// sees them. On Decide the node executes the block, writes block, commit,
// transaction index and state in one synced batch, and only then tells
// clients. A node that is behind (restart, new node, missed commit) asks a
// peer that is ahead for each missing block and checks it against its commit
// signatures before applying it (docs/node.md).
//
// Thread safety: Open/Start/Stop/Run from one thread; everything else runs
// on io().
#ifndef AGORA_NODE_NODE_H_
#define AGORA_NODE_NODE_H_

#include <boost/asio.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace agora::node {

class Node {
 public:
  // Loads config, genesis and key from `home`, opens the store (initialising
  // the ledger from genesis on first start) and checks that the store belongs
  // to this genesis.
  // `roles`, when given, replaces config.toml's [roles] provider and
  // validator: the names "provider" and "validator" (agorad --role).
  static Result<std::unique_ptr<Node>> Open(
      const std::filesystem::path& home,
      const std::optional<std::vector<std::string>>& roles = std::nullopt);
  ~Node();

  // Starts P2P, RPC and consensus. Errors name the address that could not
  // be bound.
  Status Start();
  // Stops accepting work, closes connections; Run() returns afterwards.
  void Stop();
  // Runs the event loop until Stop().
  void Run();
  boost::asio::io_context& io();

  uint16_t rpc_port() const;
  uint16_t p2p_port() const;

  class Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace agora::node

#endif  // AGORA_NODE_NODE_H_
