#include "consensus/ledger/tx.h"

#include <algorithm>

#include "common/proto_codec.h"
#include "proto/tx.pb.h"

namespace agora::consensus {

Result<Tx> DecodeTx(ByteSpan raw, std::string_view chain_id) {
  proto::SignedTx signed_tx;
  Status s = DecodeStrict(raw, kTxBytesMax, signed_tx);
  if (!s.ok()) return Status::InvalidArgument("transaction: " + s.message());
  if (signed_tx.public_key().size() != PublicKey::kSize) {
    return Status::InvalidArgument("transaction: public key must be 32 bytes");
  }
  if (signed_tx.signature().size() != Signature::kSize) {
    return Status::InvalidArgument("transaction: signature must be 64 bytes");
  }
  proto::TxBody body;
  s = DecodeStrict(AsBytes(signed_tx.body()), kTxBytesMax, body);
  if (!s.ok()) return Status::InvalidArgument("transaction body: " + s.message());
  if (body.chain_id() != chain_id) {
    return Status::InvalidArgument("transaction is for chain '" + body.chain_id() + "', this is '" +
                                   std::string(chain_id) + "'");
  }
  if (body.sender() != signed_tx.public_key()) {
    return Status::InvalidArgument("transaction body's sender differs from its signing key");
  }
  if (!body.has_transfer()) return Status::InvalidArgument("transaction has no payload");
  const proto::Transfer& transfer = body.transfer();
  auto to = Address::FromBytes(AsBytes(transfer.to()));
  if (!to.ok()) return Status::InvalidArgument("transfer recipient: " + to.status().message());
  if (transfer.amount_uagr() == 0) return Status::InvalidArgument("transfer amount must be > 0");
  if (transfer.amount_uagr() > kAmountUagrMax || body.fee_uagr() > kAmountUagrMax) {
    return Status::InvalidArgument("amount or fee above the maximum of 2^62 uagr");
  }
  Tx tx;
  tx.raw.assign(raw.begin(), raw.end());
  tx.body.assign(signed_tx.body().begin(), signed_tx.body().end());
  tx.hash = Blake2b256(tx.body);
  std::copy(signed_tx.public_key().begin(), signed_tx.public_key().end(),
            tx.sender_key.bytes.begin());
  std::copy(signed_tx.signature().begin(), signed_tx.signature().end(), tx.signature.bytes.begin());
  tx.sender = Address::FromPublicKey(tx.sender_key);
  tx.nonce = body.nonce();
  tx.fee_uagr = body.fee_uagr();
  tx.to = *to;
  tx.amount_uagr = transfer.amount_uagr();
  return tx;
}

bool VerifyTxSignature(const Tx& tx, std::string_view chain_id) {
  return Verify(tx.sender_key, SignDomain{std::string(chain_id), SignKind::kTransaction}, tx.body,
                tx.signature);
}

bool SignatureCache::Verify(const Tx& tx, std::string_view chain_id) {
  {
    std::lock_guard lock(mu_);
    auto it = verified_.find(tx.hash);
    if (it != verified_.end() && it->second == tx.signature) {
      ++hits_;
      return true;
    }
  }
  if (!VerifyTxSignature(tx, chain_id)) return false;
  std::lock_guard lock(mu_);
  auto [it, inserted] = verified_.try_emplace(tx.hash, tx.signature);
  if (!inserted) {
    it->second = tx.signature;  // another valid signature of the same body
    return true;
  }
  order_.push_back(tx.hash);
  if (order_.size() > kEntriesMax) {
    verified_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

uint64_t SignatureCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

Bytes MakeTransfer(const SecretKey& key, std::string_view chain_id, uint64_t nonce,
                   uint64_t fee_uagr, const Address& to, uint64_t amount_uagr) {
  proto::TxBody body;
  body.set_chain_id(std::string(chain_id));
  body.set_nonce(nonce);
  body.set_fee_uagr(fee_uagr);
  const PublicKey sender = key.public_key();
  body.set_sender(std::string(sender.bytes.begin(), sender.bytes.end()));
  body.mutable_transfer()->set_to(std::string(to.bytes().begin(), to.bytes().end()));
  body.mutable_transfer()->set_amount_uagr(amount_uagr);
  Bytes body_bytes = EncodeDeterministic(body);
  Signature sig = key.Sign(SignDomain{std::string(chain_id), SignKind::kTransaction}, body_bytes);
  proto::SignedTx tx;
  tx.set_body(std::string(body_bytes.begin(), body_bytes.end()));
  const PublicKey pub = key.public_key();
  tx.set_public_key(std::string(pub.bytes.begin(), pub.bytes.end()));
  tx.set_signature(std::string(sig.bytes.begin(), sig.bytes.end()));
  return EncodeDeterministic(tx);
}

}  // namespace agora::consensus
