// Known-answer tests for the byte formats another implementation of Agora must
// reproduce: transaction bodies, sign bytes, signatures and ids; the tx root;
// block header and commit hashes; vote and proposal sign bytes; addresses;
// checkpoint hashes; Merkle roots and proofs.
//
// Every expected value comes from scripts/vectors.py, an independent
// implementation (ed25519 from RFC 8032 in Python integers, protobuf written
// by hand, no libsodium or libprotobuf); docs/vectors.md explains each layout.
// Round-trip tests cannot catch a format change, since both directions change
// together; these can. A failure means bytes on the wire or a hash changed. If
// that was meant, it is a protocol change: update scripts/vectors.py,
// regenerate docs/vectors.md and these constants (vectors.py --cpp), and tell
// every other implementation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/bytes.h"
#include "common/encoding.h"
#include "common/hash.h"
#include "common/keys.h"
#include "common/merkle.h"
#include "common/proto_codec.h"
#include "consensus/chain/block.h"
#include "consensus/ledger/tx.h"
#include "consensus/types.h"
#include "proto/block.pb.h"
#include "trainer/checkpoint.h"
#include "trainer/train_state.h"

namespace agora::consensus {
namespace {

// The fixed inputs, the same as scripts/vectors.py's.
constexpr char kChain[] = "vectors-chain";
constexpr uint64_t kVoteHeight = 66051;  // 0x010203: a byte-order slip shows
constexpr uint32_t kVoteRound = 2;

SecretKey KeyFromSeedByte(uint8_t b) { return SecretKey::FromSeed(Bytes(32, b)).value(); }
SecretKey Alice() { return KeyFromSeedByte(0x07); }
SecretKey Bob() { return KeyFromSeedByte(0x09); }
SecretKey ValidatorKey(uint32_t index) {
  return KeyFromSeedByte(static_cast<uint8_t>(0x11 + index));
}
Address AddressOf(const SecretKey& key) { return Address::FromPublicKey(key.public_key()); }

// What the votes, proposal and commit are for.
Hash256 VoteBlock() { return Blake2b256(std::string_view("vectors/block")); }

// n bytes counting up from `first`, wrapping at 256: vectors.py's pattern(),
// standing in for header hashes whose own derivation other vectors cover.
std::string Pattern(size_t n, uint8_t first) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>((first + i) & 0xff);
  return out;
}

// From here on, every hex constant is from scripts/vectors.py, an independent
// implementation; see docs/vectors.md.

constexpr char kAlicePublicKey[] =
    "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";

TEST(KnownAnswerTest, KeyFromSeed) {
  EXPECT_EQ(Alice().public_key().ToHex(), kAlicePublicKey)
      << "ed25519 key derivation from a seed changed (SecretKey::FromSeed, RFC 8032)";
}

// Section 1 of docs/vectors.md: three transactions, in block order.
constexpr char kTxTransferBody[] =
    "0a0d766563746f72732d636861696e18d00f2220ea4a6c63e29c520abef5507b132ec5f9954776ae"
    "bebe7b92421eea691446d22c521a0a146f1061378872bb141d5019d39b35585c7336d75f1087ad4b";
constexpr char kTxTransferSignBytes[] =
    "61676f72612d7369672d7631000d766563746f72732d636861696e0b7472616e73616374696f6e0a"
    "0d766563746f72732d636861696e18d00f2220ea4a6c63e29c520abef5507b132ec5f9954776aebe"
    "be7b92421eea691446d22c521a0a146f1061378872bb141d5019d39b35585c7336d75f1087ad4b";
constexpr char kTxTransferSignature[] =
    "05451722006949f5229f51ca84df4e0570b9b7d26ee7a016acd5d14eea1e6ba5752fb8ea1f5247b1"
    "528b25a219079204ddf407519935e60f9ce8f5f9c485c906";
constexpr char kTxTransferSigned[] =
    "0a500a0d766563746f72732d636861696e18d00f2220ea4a6c63e29c520abef5507b132ec5f99547"
    "76aebebe7b92421eea691446d22c521a0a146f1061378872bb141d5019d39b35585c7336d75f1087"
    "ad4b1220ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c1a400545"
    "1722006949f5229f51ca84df4e0570b9b7d26ee7a016acd5d14eea1e6ba5752fb8ea1f5247b1528b"
    "25a219079204ddf407519935e60f9ce8f5f9c485c906";
constexpr char kTxTransferId[] = "c487d20b2ae1a9a71fb76fe9e8a560c9da8f8685d1550cfab20ec3019a916f0a";
constexpr char kTxStakeBody[] =
    "0a0d766563746f72732d636861696e100118f4032220ea4a6c63e29c520abef5507b132ec5f99547"
    "76aebebe7b92421eea691446d22c5a0708808080808020";
constexpr char kTxStakeSignBytes[] =
    "61676f72612d7369672d7631000d766563746f72732d636861696e0b7472616e73616374696f6e0a"
    "0d766563746f72732d636861696e100118f4032220ea4a6c63e29c520abef5507b132ec5f9954776"
    "aebebe7b92421eea691446d22c5a0708808080808020";
constexpr char kTxStakeSignature[] =
    "9fcd4f5d979bcb6a4f27410cca0ee65bfeaa996a8bf1f44239a5f6648aa4e5d3425fa0a01c2aec92"
    "d5ccfd9abb1147fd8df7e04f96b751fef08538c9aba32c06";
constexpr char kTxStakeSigned[] =
    "0a3f0a0d766563746f72732d636861696e100118f4032220ea4a6c63e29c520abef5507b132ec5f9"
    "954776aebebe7b92421eea691446d22c5a07088080808080201220ea4a6c63e29c520abef5507b13"
    "2ec5f9954776aebebe7b92421eea691446d22c1a409fcd4f5d979bcb6a4f27410cca0ee65bfeaa99"
    "6a8bf1f44239a5f6648aa4e5d3425fa0a01c2aec92d5ccfd9abb1147fd8df7e04f96b751fef08538"
    "c9aba32c06";
constexpr char kTxStakeId[] = "b3d8939443f19535b9cf12f541740a4fe9fad639b506385d126127b39c140da4";
constexpr char kTxBobTransferBody[] =
    "0a0d766563746f72732d636861696e10ac021896012220fd1724385aa0c75b64fb78cd602fa1d991"
    "fdebf76b13c58ed702eac835e9f61852180a143923a4e9144201ffcc3d4ac891d14a14df438c5210"
    "01";
constexpr char kTxBobTransferSignBytes[] =
    "61676f72612d7369672d7631000d766563746f72732d636861696e0b7472616e73616374696f6e0a"
    "0d766563746f72732d636861696e10ac021896012220fd1724385aa0c75b64fb78cd602fa1d991fd"
    "ebf76b13c58ed702eac835e9f61852180a143923a4e9144201ffcc3d4ac891d14a14df438c521001";
constexpr char kTxBobTransferSignature[] =
    "3c88f1c0dd17df08ba157575355742ae6a143e528d8713cf1a4dd1c657b97461768aa288bacdbe91"
    "61ee7d6d3f798d2178b5e45f81ee91e1bab96e11396e9801";
constexpr char kTxBobTransferSigned[] =
    "0a510a0d766563746f72732d636861696e10ac021896012220fd1724385aa0c75b64fb78cd602fa1"
    "d991fdebf76b13c58ed702eac835e9f61852180a143923a4e9144201ffcc3d4ac891d14a14df438c"
    "5210011220fd1724385aa0c75b64fb78cd602fa1d991fdebf76b13c58ed702eac835e9f6181a403c"
    "88f1c0dd17df08ba157575355742ae6a143e528d8713cf1a4dd1c657b97461768aa288bacdbe9161"
    "ee7d6d3f798d2178b5e45f81ee91e1bab96e11396e9801";
constexpr char kTxBobTransferId[] =
    "cdaf4e2019818cb64fca1f65884c8f115f212e281ca5b133081af3fffdc70d15";

std::vector<Bytes> VectorTxs() {
  // MakeTx(key, chain, nonce, fee, message).
  return {
      MakeTx(Alice(), kChain, 0, 2000, MsgTransfer{AddressOf(Bob()), 1234567}),
      MakeTx(Alice(), kChain, 1, 500, MsgStake{uint64_t{1} << 40}),
      MakeTx(Bob(), kChain, 300, 150, MsgTransfer{AddressOf(Alice()), 1}),
  };
}

struct TxVector {
  const char* what;
  const char* body;
  const char* sign_bytes;
  const char* signature;
  const char* signed_tx;
  const char* id;
};

TEST(KnownAnswerTest, TransactionBodySignBytesSignatureAndId) {
  const TxVector vectors[] = {
      {"transfer", kTxTransferBody, kTxTransferSignBytes, kTxTransferSignature, kTxTransferSigned,
       kTxTransferId},
      {"stake", kTxStakeBody, kTxStakeSignBytes, kTxStakeSignature, kTxStakeSigned, kTxStakeId},
      {"Bob's transfer", kTxBobTransferBody, kTxBobTransferSignBytes, kTxBobTransferSignature,
       kTxBobTransferSigned, kTxBobTransferId},
  };
  const std::vector<Bytes> raws = VectorTxs();
  ASSERT_EQ(raws.size(), std::size(vectors));
  for (size_t i = 0; i < raws.size(); ++i) {
    const TxVector& want = vectors[i];
    SCOPED_TRACE(want.what);
    // ed25519 is deterministic, so the whole envelope, signature included, is fixed.
    EXPECT_EQ(HexEncode(raws[i]), want.signed_tx)
        << "the SignedTx bytes changed (proto/tx.proto SignedTx, MakeTx)";
    Result<Tx> tx = DecodeTx(raws[i], kChain);
    ASSERT_TRUE(tx.ok()) << tx.status().ToString();
    EXPECT_EQ(HexEncode(tx->body), want.body)
        << "the TxBody encoding changed (proto/tx.proto field numbers, order or defaults)";
    EXPECT_EQ(HexEncode(SigningBytes({kChain, SignKind::kTransaction}, tx->body)), want.sign_bytes)
        << "the transaction sign bytes changed (SigningBytes domain tag, common/keys.cc)";
    EXPECT_EQ(tx->signature.ToHex(), want.signature)
        << "the transaction signature changed (sign bytes or ed25519 signing)";
    EXPECT_EQ(tx->hash.ToHex(), want.id)
        << "the transaction id rule changed (BLAKE2b-256 of SignedTx.body, DecodeTx)";
    EXPECT_TRUE(VerifyTxSignature(*tx, kChain));
  }
}

constexpr char kPossessionSignBytes[] =
    "61676f72612d7369672d7631000d766563746f72732d636861696e0d76616c696461746f725f6b65"
    "793923a4e9144201ffcc3d4ac891d14a14df438c52";
constexpr char kPossessionSignature[] =
    "ae7d449f9d7cb5bd02c314476c1360eff709065ecfff5235a54db11a9b6e47a30d479a9f3e96546d"
    "37bbd7fc6182a85f386df70485d90031b066eb7a5f850a09";

TEST(KnownAnswerTest, ProofOfPossession) {
  const Address op = AddressOf(Alice());
  EXPECT_EQ(HexEncode(SigningBytes({kChain, SignKind::kValidatorKey}, op.bytes())),
            kPossessionSignBytes)
      << "the validator_key sign bytes changed (SigningBytes, SignKindName)";
  EXPECT_EQ(ProvePossession(ValidatorKey(0), kChain, op).ToHex(), kPossessionSignature)
      << "the proof of possession changed (ProvePossession, consensus/ledger/tx.cc)";
}

// Section 2: the tx root hashes each SignedTx as carried in Block.txs, as
// Chain::Propose and Chain::ValidateBlock do; not the transaction ids.
constexpr char kTxRootItem0[] = "e11ad47c9fc4fe3c9000ee6613eac56307c078e42f6ec267b18a08daaab3d80a";
constexpr char kTxRootItem1[] = "6151f3d502316cbae074a41b82695f2e0e14ac60a67b845d04d56c8f973bf07c";
constexpr char kTxRootItem2[] = "3e2d150cd678d718507f59862e66de1ee318b6ad8025b07f8075da2d44f75ce9";
constexpr char kTxRoot1[] = "9ea85c2ca8ff0c39c84ac676f6cf1e5587e18fd202abf88b0338106cb98a3736";
constexpr char kTxRoot2[] = "bc9b0280855d78c155604f0f6c52bd27120ff5563b1afb223b88473254dad8b0";
constexpr char kTxRoot3[] = "a66660434c455c1ed51a2e95e2499e9662ff0a1a77b4c740e21b0335cc18b696";

TEST(KnownAnswerTest, TxRootOverRawTransactions) {
  const std::vector<Bytes> raws = VectorTxs();
  std::vector<Hash256> items;
  for (const Bytes& raw : raws) items.push_back(Blake2b256(raw));
  ASSERT_EQ(items.size(), 3u);
  const char* const want_items[] = {kTxRootItem0, kTxRootItem1, kTxRootItem2};
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i].ToHex(), want_items[i]) << "the SignedTx bytes of tx " << i << " changed";
    Result<Tx> tx = DecodeTx(raws[i], kChain);
    ASSERT_TRUE(tx.ok()) << tx.status().ToString();
    EXPECT_NE(items[i], tx->hash) << "a tx root item is the whole SignedTx's hash, not the tx id";
  }
  EXPECT_TRUE(TxRoot({}).IsZero()) << "the tx root of an empty block changed (zero hash)";
  EXPECT_EQ(TxRoot({items[0]}).ToHex(), kTxRoot1) << "the tx root changed (TxRoot, merkle::Root)";
  EXPECT_EQ(TxRoot({items[0], items[1]}).ToHex(), kTxRoot2)
      << "the tx root changed (TxRoot, merkle::Root)";
  EXPECT_EQ(TxRoot(items).ToHex(), kTxRoot3) << "the tx root changed (TxRoot, merkle::Root)";
}

// Section 3.
constexpr char kHeaderFullBytes[] =
    "0801120d766563746f72732d636861696e1884840420fbd095ffbc312a144fb5b6ecdb4c8e04a02a"
    "cb3cdff3b4bc051a44853220101112131415161718191a1b1c1d1e1f202122232425262728292a2b"
    "2c2d2e2f3a20303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f4220"
    "505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f4a20707172737475"
    "767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f5220909192939495969798999a9b"
    "9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf5a40b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1"
    "c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9"
    "eaebecedeeef6250000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f4041424344454647"
    "48494a4b4c4d4e4f6a20d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebeced"
    "eeef7220f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f";
constexpr char kHeaderFullHash[] =
    "16e7013ca34753d5eaa3643a8c0c4e5497c1af87047aa7e1fc32de2f25501179";
constexpr char kHeaderFirstBytes[] =
    "0801120d766563746f72732d636861696e18012080d095ffbc312a144fb5b6ecdb4c8e04a02acb3c"
    "dff3b4bc051a44854220000000000000000000000000000000000000000000000000000000000000"
    "00004a20707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f52209091"
    "92939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf5a40b0b1b2b3b4b5b6b7"
    "b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeef6250000102030405060708090a0b0c0d0e0f101112131415"
    "161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d"
    "3e3f404142434445464748494a4b4c4d4e4f6a20d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3"
    "e4e5e6e7e8e9eaebecedeeef7220f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203040506070809"
    "0a0b0c0d0e0f";
constexpr char kHeaderFirstHash[] =
    "ee2d04eda44f6bb11b34683e39a5f4110bc1115bd3398dde42df3f7bfc11a375";

TEST(KnownAnswerTest, BlockHeaderHash) {
  const std::string proposer = ToString(AddressOf(ValidatorKey(0)).span());
  proto::BlockHeader full;
  full.set_version(1);
  full.set_chain_id(kChain);
  full.set_height(66052);
  full.set_time_unix_ms(1'700'000'000'123);
  full.set_proposer(proposer);
  full.set_prev_block_hash(Pattern(32, 0x10));
  full.set_last_commit_hash(Pattern(32, 0x30));
  full.set_tx_root(Pattern(32, 0x50));
  full.set_app_hash(Pattern(32, 0x70));
  full.set_validators_hash(Pattern(32, 0x90));
  full.set_vrf_output(Pattern(64, 0xb0));
  full.set_vrf_proof(Pattern(80, 0x00));
  full.set_results_hash(Pattern(32, 0xd0));
  full.set_evidence_hash(Pattern(32, 0xf0));
  EXPECT_EQ(HexEncode(EncodeDeterministic(full)), kHeaderFullBytes)
      << "the BlockHeader encoding changed (proto/block.proto field numbers or order)";
  EXPECT_EQ(HeaderHash(full).ToHex(), kHeaderFullHash)
      << "the block hash changed (HeaderHash: BLAKE2b-256 of the header bytes)";

  // Height 1 as Chain::Propose builds it: no previous block and no last
  // commit, so those fields are empty and not on the wire.
  proto::BlockHeader first;
  first.set_version(1);
  first.set_chain_id(kChain);
  first.set_height(1);
  first.set_time_unix_ms(1'700'000'000'000);
  first.set_proposer(proposer);
  first.set_tx_root(std::string(32, '\0'));
  first.set_app_hash(Pattern(32, 0x70));
  first.set_validators_hash(Pattern(32, 0x90));
  first.set_vrf_output(Pattern(64, 0xb0));
  first.set_vrf_proof(Pattern(80, 0x00));
  first.set_results_hash(Pattern(32, 0xd0));
  first.set_evidence_hash(Pattern(32, 0xf0));
  EXPECT_EQ(HexEncode(EncodeDeterministic(first)), kHeaderFirstBytes)
      << "the BlockHeader encoding changed (proto/block.proto; empty fields must be omitted)";
  EXPECT_EQ(HeaderHash(first).ToHex(), kHeaderFirstHash)
      << "the block hash changed (HeaderHash: BLAKE2b-256 of the header bytes)";
}

// Section 4.
constexpr char kPrecommitSignBytes[] =
    "02000000000001020300000002013c106c1270b57d3b1b70115d8c8c24d714a7ba34cfb9925a8591"
    "b913183ce3c2";
constexpr char kPrecommitSigningBytes[] =
    "61676f72612d7369672d7631000d766563746f72732d636861696e09707265636f6d6d6974020000"
    "00000001020300000002013c106c1270b57d3b1b70115d8c8c24d714a7ba34cfb9925a8591b91318"
    "3ce3c2";
constexpr char kPrecommitSignature0[] =
    "9bc2fb57fac51e5965c7b0350f0bef1d7919e613138d510a9e124fd7a344aa47a01505211d523680"
    "a0d34a578f64ee83436201ca65e9dd24c25e8075ba37bd01";
constexpr char kPrecommitSignature1[] =
    "ce955a6b165dd35cfeb115d8a5b205a8b3434d60eb362aa41aa018f953f4c470e71b6bf8a21a42fd"
    "55e437436d47bffbb887d4b64ba954b132a1f8ed5414fa08";
constexpr char kPrecommitSignature2[] =
    "0cf5d1cc44febf5e8c2dff44d075d3abf2c3c9fc6bcc91538769b3e8e189b77e5371a5300b5c5272"
    "d8b3103093d5765dd6d5a9e887879971c456b8c23174a208";
constexpr char kPrevoteNilSignBytes[] = "0100000000000102030000000200";
constexpr char kPrevoteNilSigningBytes[] =
    "61676f72612d7369672d7631000d766563746f72732d636861696e07707265766f74650100000000"
    "000102030000000200";
constexpr char kProposalSignBytes[] =
    "000000000001020300000002ffffffff3c106c1270b57d3b1b70115d8c8c24d714a7ba34cfb9925a"
    "8591b913183ce3c2";
constexpr char kProposalSigningBytes[] =
    "61676f72612d7369672d7631000d766563746f72732d636861696e0870726f706f73616c00000000"
    "0001020300000002ffffffff3c106c1270b57d3b1b70115d8c8c24d714a7ba34cfb9925a8591b913"
    "183ce3c2";
constexpr char kProposalSignature[] =
    "0db845a1756aac9553df93181c906b0f9f74f5b6a856f18b47138fdeee190ec2ae7ded98ac65838e"
    "293161790d75efdf8fe0a34b8b595122ad123ebdf8cde000";
constexpr char kProposalValidRound1SignBytes[] =
    "000000000001020300000002000000013c106c1270b57d3b1b70115d8c8c24d714a7ba34cfb9925a"
    "8591b913183ce3c2";
constexpr char kCommitBytes[] =
    "0883840410021a203c106c1270b57d3b1b70115d8c8c24d714a7ba34cfb9925a8591b913183ce3c2"
    "224212409bc2fb57fac51e5965c7b0350f0bef1d7919e613138d510a9e124fd7a344aa47a0150521"
    "1d523680a0d34a578f64ee83436201ca65e9dd24c25e8075ba37bd01224408011240ce955a6b165d"
    "d35cfeb115d8a5b205a8b3434d60eb362aa41aa018f953f4c470e71b6bf8a21a42fd55e437436d47"
    "bffbb887d4b64ba954b132a1f8ed5414fa082244080212400cf5d1cc44febf5e8c2dff44d075d3ab"
    "f2c3c9fc6bcc91538769b3e8e189b77e5371a5300b5c5272d8b3103093d5765dd6d5a9e887879971"
    "c456b8c23174a208";
constexpr char kCommitHash[] = "e4f51adfa849501c5df01b2cf196805fc8847c527c9ef9823d4ebf5a397c777e";

TEST(KnownAnswerTest, VoteSignBytes) {
  const Vote precommit{VoteType::kPrecommit, kVoteHeight, kVoteRound, VoteBlock(), 0, {}};
  EXPECT_EQ(HexEncode(precommit.SignBytes()), kPrecommitSignBytes)
      << "the precommit sign bytes changed (Vote::SignBytes, consensus/types.cc)";
  EXPECT_EQ(HexEncode(SigningBytes({kChain, precommit.Kind()}, precommit.SignBytes())),
            kPrecommitSigningBytes)
      << "the commit signing bytes changed (SigningBytes with kind precommit)";

  const Vote nil{VoteType::kPrevote, kVoteHeight, kVoteRound, std::nullopt, 0, {}};
  EXPECT_EQ(HexEncode(nil.SignBytes()), kPrevoteNilSignBytes)
      << "the nil prevote sign bytes changed (Vote::SignBytes, consensus/types.cc)";
  EXPECT_EQ(HexEncode(SigningBytes({kChain, nil.Kind()}, nil.SignBytes())),
            kPrevoteNilSigningBytes)
      << "the prevote signing bytes changed (SigningBytes with kind prevote)";
}

TEST(KnownAnswerTest, ProposalSignBytes) {
  Proposal proposal{kVoteHeight, kVoteRound, /*valid_round=*/-1, VoteBlock(), 0, {}};
  EXPECT_EQ(HexEncode(proposal.SignBytes()), kProposalSignBytes)
      << "the proposal sign bytes changed (Proposal::SignBytes, consensus/types.cc)";
  EXPECT_EQ(HexEncode(SigningBytes({kChain, SignKind::kProposal}, proposal.SignBytes())),
            kProposalSigningBytes)
      << "the proposal signing bytes changed (SigningBytes with kind proposal)";
  EXPECT_EQ(ValidatorKey(0).Sign({kChain, SignKind::kProposal}, proposal.SignBytes()).ToHex(),
            kProposalSignature)
      << "the proposal signature changed (sign bytes or ed25519 signing)";
  proposal.valid_round = 1;
  EXPECT_EQ(HexEncode(proposal.SignBytes()), kProposalValidRound1SignBytes)
      << "the proposal sign bytes changed (valid_round is a big-endian i32)";
}

TEST(KnownAnswerTest, CommitSignaturesBytesAndHash) {
  const char* const want_signatures[] = {kPrecommitSignature0, kPrecommitSignature1,
                                         kPrecommitSignature2};
  // Out of order on purpose: MakeCommit sorts by validator index.
  std::vector<Vote> precommits;
  for (ValidatorIndex i : {2u, 0u, 1u}) {
    Vote vote{VoteType::kPrecommit, kVoteHeight, kVoteRound, VoteBlock(), i, {}};
    vote.signature = ValidatorKey(i).Sign({kChain, SignKind::kPrecommit}, vote.SignBytes());
    EXPECT_EQ(vote.signature.ToHex(), want_signatures[i])
        << "validator " << i << "'s precommit signature changed (sign bytes or ed25519)";
    precommits.push_back(vote);
  }
  const proto::Commit commit = MakeCommit(kVoteHeight, kVoteRound, VoteBlock(), precommits);
  EXPECT_EQ(HexEncode(EncodeDeterministic(commit)), kCommitBytes)
      << "the Commit encoding changed (proto/block.proto Commit, CommitSig; MakeCommit order)";
  EXPECT_EQ(CommitHash(commit).ToHex(), kCommitHash)
      << "the commit hash changed (CommitHash: BLAKE2b-256 of the commit bytes)";
  // What VerifyCommit checks each signature against: the precommit's sign
  // bytes, with no validator index in them.
  const Bytes sign_bytes =
      Vote{VoteType::kPrecommit, kVoteHeight, kVoteRound, VoteBlock(), 0, {}}.SignBytes();
  const SignDomain domain{kChain, SignKind::kPrecommit};
  for (const proto::CommitSig& sig : commit.signatures()) {
    ASSERT_EQ(sig.signature().size(), Signature::kSize);
    Signature s;
    std::copy(sig.signature().begin(), sig.signature().end(), s.bytes.begin());
    EXPECT_TRUE(Verify(ValidatorKey(sig.validator()).public_key(), domain, sign_bytes, s))
        << "validator " << sig.validator();
  }
}

// Section 5.
constexpr char kAddressAlice[] = "agora18y36f6g5ggqllnpaftyfr522zn058rzjvrkhje";
constexpr char kAddressAliceBytes[] = "3923a4e9144201ffcc3d4ac891d14a14df438c52";
constexpr char kAddressBob[] = "agora1dugxzdugw2a3g82sr8fekd2ct3end46l6mxl0h";
constexpr char kAddressBobBytes[] = "6f1061378872bb141d5019d39b35585c7336d75f";
constexpr char kAddressValidator0[] = "agora1f76mdmxmfj8qfgp2ev7dlua5hsz353y9xtn8qx";
constexpr char kAddressValidator0Bytes[] = "4fb5b6ecdb4c8e04a02acb3cdff3b4bc051a4485";
constexpr char kAddressZeroKey[] = "agora1qggtaf4p89uh6a922aj0kgnrnrc87skym0h87u";
constexpr char kAddressZeroKeyBytes[] = "0210bea6a139797d74aa5764fb226398f07f42c4";

TEST(KnownAnswerTest, Addresses) {
  struct AddressVector {
    const char* what;
    PublicKey key;
    const char* bytes;
    const char* text;
  };
  const AddressVector vectors[] = {
      {"Alice", Alice().public_key(), kAddressAliceBytes, kAddressAlice},
      {"Bob", Bob().public_key(), kAddressBobBytes, kAddressBob},
      {"validator 0", ValidatorKey(0).public_key(), kAddressValidator0Bytes, kAddressValidator0},
      {"the zero key", PublicKey{}, kAddressZeroKeyBytes, kAddressZeroKey},
  };
  for (const AddressVector& want : vectors) {
    SCOPED_TRACE(want.what);
    const Address address = Address::FromPublicKey(want.key);
    EXPECT_EQ(HexEncode(address.span()), want.bytes)
        << "the address bytes changed (BLAKE2b-160 of the public key, Address::FromPublicKey)";
    EXPECT_EQ(address.ToString(), want.text)
        << "the address text changed (bech32m with hrp 'agora', Address::ToString)";
    Result<Address> parsed = Address::Parse(want.text);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(*parsed, address);
  }
}

// Section 6.
constexpr char kCheckpointHeader[] =
    "41474f5241434b500100000002000000010000000100000001000000010000000000803e0000003d"
    "0a00000000000000e8030000000000000000603f00007e3f000080350000003e0000803f02000000"
    "0807060504030201dc8ceca76e268163cf18856a93d8b328b3caae99b4b05cb7f0c20e9e69e60d03"
    "030000000000000001000000000000000c000000000000000400000000000000";
constexpr char kCheckpointTrailer[] =
    "75788d601160d6a98f6663f7eb609cca1ea3375a5930a0d50e2cabc4b17b4628";
constexpr char kCheckpointHash[] =
    "b9e8dab529da70c8b450da51d2b74664d88dfe430bda76ea2c5a46550ba5aa35";

constexpr char kNativeCheckpointHeader[] =
    "41474f5241434b5002000000020000000100000001000000010000000100000002030000803e0000"
    "003d0a00000000000000e8030000000000000000603f00007e3f000080350000003e0000803f0200"
    "00000807060504030201dc8ceca76e268163cf18856a93d8b328b3caae99b4b05cb7f0c20e9e69e6"
    "0d03030000000000000001000000000000000c000000000000000400000000000000";
constexpr char kNativeCheckpointTrailer[] =
    "bfe6837d184806fe60177a67d53caeda2498124fd9c6a5a66ffcb0bc6457d782";
constexpr char kNativeCheckpointHash[] =
    "267d5da23c25898cc1936fcac87f4fb09a4ed0ae0f904dd6712a80d88f665efd";

TEST(KnownAnswerTest, CheckpointHash) {
  // The smallest valid model, every float exact in binary (see docs/vectors.md).
  trainer::TrainState state;
  state.config.model.vocab = 2;
  state.config.model.context = 1;
  state.config.model.layers = 1;
  state.config.model.heads = 1;
  state.config.model.width = 1;
  state.config.optimizer.lr_max = 0.25f;
  state.config.optimizer.lr_min = 0.03125f;
  state.config.optimizer.warmup_steps = 10;
  state.config.optimizer.total_steps = 1000;
  state.config.optimizer.beta1 = 0.875f;
  state.config.optimizer.beta2 = 0.9921875f;  // 127/128
  state.config.optimizer.eps = 1.0f / 1048576.0f;  // 2^-20
  state.config.optimizer.weight_decay = 0.125f;
  state.config.optimizer.clip_norm = 1.0f;
  state.config.batch = 2;
  state.config.seed = 0x0102030405060708;
  state.data_hash = Blake2b256(std::string_view("vectors/corpus"));
  state.round = 3;
  state.worker = 1;
  state.step = 12;
  state.round_step = 4;
  ASSERT_EQ(state.config.model.ParameterCount(), 30);
  for (int i = 0; i < 30; ++i) {
    state.params.push_back(static_cast<float>(i - 15) / 8.0f);
    state.m.push_back(static_cast<float>(i) / 128.0f);
    state.v.push_back(static_cast<float>(i) / 4096.0f);
  }

  const Bytes file = trainer::SerializeCheckpoint(state);
  ASSERT_EQ(file.size(), 552u) << "the checkpoint layout changed size (trainer/checkpoint.h)";
  EXPECT_EQ(HexEncode(ByteSpan(file).first(152)), kCheckpointHeader)
      << "the checkpoint header layout changed (magic to round_step, trainer/checkpoint.h)";
  EXPECT_EQ(HexEncode(ByteSpan(file).last(Hash256::kSize)), kCheckpointTrailer)
      << "the checkpoint trailer changed (BLAKE2b-256 of the bytes before it)";
  EXPECT_EQ(Blake2b256(file).ToHex(), kCheckpointHash)
      << "the checkpoint bytes changed (trainer/checkpoint.h layout)";
  EXPECT_EQ(trainer::CheckpointHash(state).ToHex(), kCheckpointHash)
      << "the checkpoint identity changed (CheckpointHash: BLAKE2b-256 of the whole file)";
  Result<trainer::LoadedCheckpoint> loaded = trainer::ParseCheckpoint(file);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->hash.ToHex(), kCheckpointHash)
      << "ParseCheckpoint names a checkpoint otherwise than CheckpointHash";

  // The same state in the native tier on gpu-sm90: version 2, the tier and
  // class bytes after the model (scripts/vectors.py, like every constant
  // here).
  state.config.tier = trainer::KernelTier::kNative;
  state.config.hardware_class = 3;
  const Bytes native = trainer::SerializeCheckpoint(state);
  ASSERT_EQ(native.size(), 554u);
  EXPECT_EQ(HexEncode(ByteSpan(native).first(154)), kNativeCheckpointHeader)
      << "the native checkpoint header changed (trainer/checkpoint.h)";
  EXPECT_EQ(HexEncode(ByteSpan(native).last(Hash256::kSize)), kNativeCheckpointTrailer);
  EXPECT_EQ(trainer::CheckpointHash(state).ToHex(), kNativeCheckpointHash);
  EXPECT_EQ(Blake2b256(native).ToHex(), kNativeCheckpointHash);
  Result<trainer::LoadedCheckpoint> native_loaded = trainer::ParseCheckpoint(native);
  ASSERT_TRUE(native_loaded.ok()) << native_loaded.status().ToString();
  EXPECT_EQ(native_loaded->hash.ToHex(), kNativeCheckpointHash);
  EXPECT_EQ(native_loaded->state.config, state.config);
}

// Section 7.
constexpr char kMerkleLeaf0[] = "3946e42970577c9173a8f4d152fd19978ce2dd8ebe9ae841b0ce809661d3aa0c";
constexpr char kMerkleNode01[] = "b8bc17005fd60e103d27fb7b417ed7601d74f2a887800356cb2c986f8bbf9e3b";
constexpr char kMerkleRoot0[] = "0000000000000000000000000000000000000000000000000000000000000000";
constexpr char kMerkleRoot1[] = "3946e42970577c9173a8f4d152fd19978ce2dd8ebe9ae841b0ce809661d3aa0c";
constexpr char kMerkleRoot2[] = "b8bc17005fd60e103d27fb7b417ed7601d74f2a887800356cb2c986f8bbf9e3b";
constexpr char kMerkleRoot3[] = "e13696916a40519dfef0ed54b55992e01bf1993215ba50ac94c75be929ebbeb8";
constexpr char kMerkleRoot4[] = "c583c5be3d0ba89b471c26635e07671fd9d9f5654c4f56571aa17d65ba4ba221";
constexpr char kMerkleRoot5[] = "dc31f41937b6ebc00567efa88bbecb2f66124988b2643f0eee68098092e7e320";
constexpr char kMerkleRoot6[] = "9b8a2f442c01ab499f94c3dba678a026f14637ef1e1cce726e51c1e3bd8f9528";
constexpr char kMerkleRoot7[] = "947ce8abe033ade23df99636881bb7cbb3e15e4a0db15acb36f7f08fcd5c02d7";
constexpr char kMerkleProof7At3[] =
    "bd3de9f238a364eee6a8dfb34cb17d369a650b0fe29aaf37e78e419ea7c6a31cb8bc17005fd60e10"
    "3d27fb7b417ed7601d74f2a887800356cb2c986f8bbf9e3b8850dbf7dcbc562c57251bef2a8e06c6"
    "7b0b94c0c0b3a8c0049c7ca0e60bf071";
constexpr char kMerkleProof7At6[] =
    "d93bab20fe3062c122c3bf854e17b26c9dd51c08d0bbc367b1833ac186bfa81ec583c5be3d0ba89b"
    "471c26635e07671fd9d9f5654c4f56571aa17d65ba4ba221";
constexpr char kMerkleProof5At4[] =
    "c583c5be3d0ba89b471c26635e07671fd9d9f5654c4f56571aa17d65ba4ba221";
constexpr char kMerkleProof1At0[] = "";

TEST(KnownAnswerTest, MerkleRootsAndProofs) {
  std::vector<Hash256> items;
  for (uint8_t i = 0; i < 7; ++i) items.push_back(Blake2b256(Bytes{i}));
  const std::span<const Hash256> all(items);

  EXPECT_EQ(merkle::HashLeaf(items[0].span()).ToHex(), kMerkleLeaf0)
      << "the Merkle leaf hash changed (0x00 tag, merkle::HashLeaf)";
  EXPECT_EQ(merkle::HashNode(merkle::HashLeaf(items[0].span()), merkle::HashLeaf(items[1].span()))
                .ToHex(),
            kMerkleNode01)
      << "the Merkle node hash changed (0x01 tag, merkle::HashNode)";

  const char* const want_roots[] = {kMerkleRoot0, kMerkleRoot1, kMerkleRoot2, kMerkleRoot3,
                                    kMerkleRoot4, kMerkleRoot5, kMerkleRoot6, kMerkleRoot7};
  for (size_t n = 0; n <= items.size(); ++n) {
    EXPECT_EQ(merkle::Root(all.first(n)).ToHex(), want_roots[n])
        << "the Merkle root of " << n << " items changed (tags, split rule or empty hash)";
  }

  struct ProofVector {
    uint64_t size;
    uint64_t index;
    const char* siblings;
  };
  const ProofVector proofs[] = {
      {7, 3, kMerkleProof7At3},
      {7, 6, kMerkleProof7At6},
      {5, 4, kMerkleProof5At4},
      {1, 0, kMerkleProof1At0},
  };
  for (const ProofVector& want : proofs) {
    SCOPED_TRACE("item " + std::to_string(want.index) + " of " + std::to_string(want.size));
    const std::span<const Hash256> tree = all.first(want.size);
    const merkle::Proof proof = merkle::Prove(tree, want.index);
    EXPECT_EQ(proof.index, want.index);
    EXPECT_EQ(proof.size, want.size);
    EXPECT_EQ(HexEncode(merkle::EncodeSiblings(proof.siblings)), want.siblings)
        << "the Merkle proof changed (audit path order or split rule, merkle::Prove)";
    EXPECT_TRUE(merkle::Verify(merkle::Root(tree), items[want.index], proof));
  }
}

}  // namespace
}  // namespace agora::consensus
