// Signing for consensus, made safe against double signing.
//
// SigningKey makes raw signatures (ed25519 in the node, a fast stand-in in
// the simulator). SafeSigner wraps one and is the only way the core signs:
// before it returns a signature it writes the (height, round, step) and the
// signed value to the KvStore with Durability::kSynced, and it refuses to sign
// anything that conflicts with what it signed before — a different value at
// the same (height, round, step), or any earlier (height, round, step) — even
// after a crash and restart. It also remembers the core's lock (the last
// non-nil precommit) so a restarted validator keeps it.
//
// Thread safety: not thread-safe; one core owns one SafeSigner.
#ifndef AGORA_CONSENSUS_SIGNER_H_
#define AGORA_CONSENSUS_SIGNER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/keys.h"
#include "common/kv.h"
#include "common/status.h"
#include "consensus/types.h"

namespace agora::consensus {

class SigningKey {
 public:
  virtual ~SigningKey() = default;
  virtual const PublicKey& public_key() const = 0;
  virtual Signature Sign(const SignDomain& domain, ByteSpan payload) const = 0;
};

class SignatureVerifier {
 public:
  virtual ~SignatureVerifier() = default;
  virtual bool Verify(const PublicKey& key, const SignDomain& domain, ByteSpan payload,
                      const Signature& signature) const = 0;
};

class Ed25519SigningKey final : public SigningKey {
 public:
  explicit Ed25519SigningKey(SecretKey key) : key_(std::move(key)) {}
  const PublicKey& public_key() const override { return key_.public_key(); }
  Signature Sign(const SignDomain& domain, ByteSpan payload) const override {
    return key_.Sign(domain, payload);
  }

 private:
  SecretKey key_;
};

class Ed25519Verifier final : public SignatureVerifier {
 public:
  bool Verify(const PublicKey& key, const SignDomain& domain, ByteSpan payload,
              const Signature& signature) const override {
    return agora::Verify(key, domain, payload, signature);
  }
};

// What SafeSigner keeps on disk.
struct SigningRecord {
  uint64_t height = 0;
  uint32_t round = 0;
  Step step = Step::kPropose;
  Bytes sign_bytes;  // exactly what was signed
  Signature signature;
};

struct Lock {
  uint64_t height = 0;
  uint32_t round = 0;
  Hash256 block;
  // The prevotes for `block` in `round` that made the polka this validator
  // locked on. A restarted validator keeps its lock but has forgotten every
  // message it received; without these it cannot show peers why it is locked,
  // and if no other honest node saw the polka, nobody can re-propose the block
  // in a way the others accept (Algorithm 1, line 28), so the height stalls.
  std::vector<Vote> polka;
};

class SafeSigner {
 public:
  // Loads the record from `store`. Corruption if what is there is damaged.
  static Result<std::unique_ptr<SafeSigner>> Open(std::string chain_id,
                                                  std::unique_ptr<SigningKey> key,
                                                  KvStore* store);

  const PublicKey& public_key() const { return key_->public_key(); }

  // FailedPrecondition when signing would conflict with an earlier signature;
  // the same vote again returns the same signature. A non-nil precommit
  // becomes the lock, stored with `polka`.
  // REQUIRES: `polka` is empty, or holds prevotes for `vote.block` at the
  // vote's height and round, at most one per validator, and `vote` is a
  // non-nil precommit.
  Result<Signature> SignVote(const Vote& vote, const std::vector<Vote>& polka = {});
  Result<Signature> SignProposal(const Proposal& proposal);

  // The last record and lock, for a restarting core.
  const std::optional<SigningRecord>& last() const { return last_; }
  // The last record of one step (a restarted core re-sends these).
  const std::optional<SigningRecord>& last_of(Step step) const {
    return by_step_[static_cast<size_t>(step)];
  }
  const std::optional<Lock>& lock() const { return lock_; }

  // A deliberate bug, for proving that the simulator's store fault catches
  // it: write the signing record with Durability::kBuffered, so a power
  // failure can lose a signature that peers already hold. Never in the node.
  void testonly_set_buffered_writes(bool on) { testonly_buffered_writes_ = on; }

 private:
  SafeSigner() = default;
  Result<Signature> SignStep(uint64_t height, uint32_t round, Step step, SignKind kind,
                             Bytes sign_bytes, const std::optional<Lock>& new_lock);

  std::string chain_id_;
  std::unique_ptr<SigningKey> key_;
  KvStore* store_ = nullptr;
  std::optional<SigningRecord> last_;
  std::optional<SigningRecord> by_step_[3];
  std::optional<Lock> lock_;
  bool testonly_buffered_writes_ = false;
};

// OK iff `evidence` holds two votes with valid signatures by
// `evidence.validator`, for the same height, round and type, naming different
// blocks. InvalidArgument (with the reason) otherwise.
Status VerifyEvidence(const Evidence& evidence, const std::string& chain_id,
                      const SignatureVerifier& verifier);

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_SIGNER_H_
