// The wire format: protobuf round trips, strict decoding of untrusted bytes,
// and the signing rule (signatures cover the exact bytes that travel).
#include <gtest/gtest.h>

#include "common/address.h"
#include "common/hash.h"
#include "common/keys.h"
#include "common/proto_codec.h"
#include "proto/block.pb.h"
#include "proto/tx.pb.h"

namespace agora {
namespace {

constexpr size_t kTxBytesMax = 64 * 1024;
constexpr char kChain[] = "agora-test";

proto::TxBody SampleBody(const Address& to) {
  proto::TxBody body;
  body.set_chain_id(kChain);
  body.set_nonce(7);
  body.set_fee_uagr(10);
  body.mutable_transfer()->set_to(to.bytes().data(), to.bytes().size());
  body.mutable_transfer()->set_amount_uagr(1'000'000);
  return body;
}

proto::SignedTx SignTx(const SecretKey& key, const proto::TxBody& body) {
  Bytes body_bytes = EncodeDeterministic(body);
  Signature sig = key.Sign({kChain, SignKind::kTransaction}, body_bytes);
  proto::SignedTx tx;
  tx.set_body(body_bytes.data(), body_bytes.size());
  tx.set_public_key(key.public_key().bytes.data(), PublicKey::kSize);
  tx.set_signature(sig.bytes.data(), Signature::kSize);
  return tx;
}

// What a node does with transaction bytes from the network.
Result<proto::TxBody> CheckTx(ByteSpan wire, const SignDomain& domain) {
  proto::SignedTx tx;
  AGORA_RETURN_IF_ERROR(DecodeStrict(wire, kTxBytesMax, tx));
  AGORA_ASSIGN_OR_RETURN(PublicKey key, PublicKey::Parse(AsBytes(tx.public_key())));
  AGORA_ASSIGN_OR_RETURN(Signature sig, Signature::Parse(AsBytes(tx.signature())));
  if (!Verify(key, domain, AsBytes(tx.body()), sig)) {
    return Status::Unauthenticated("bad transaction signature");
  }
  proto::TxBody body;
  AGORA_RETURN_IF_ERROR(DecodeStrict(AsBytes(tx.body()), kTxBytesMax, body));
  return body;
}

TEST(WireTest, TransactionRoundTrip) {
  SecretKey key = SecretKey::Generate();
  Address to = Address::FromPublicKey(SecretKey::Generate().public_key());
  proto::SignedTx tx = SignTx(key, SampleBody(to));
  Bytes wire = EncodeDeterministic(tx);

  auto body = CheckTx(wire, {kChain, SignKind::kTransaction});
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(body->chain_id(), kChain);
  EXPECT_EQ(body->nonce(), 7u);
  EXPECT_EQ(body->fee_uagr(), 10u);
  ASSERT_TRUE(body->has_transfer());
  EXPECT_EQ(*Address::FromBytes(AsBytes(body->transfer().to())), to);
  EXPECT_EQ(body->transfer().amount_uagr(), 1'000'000u);
}

TEST(WireTest, BlockHeaderRoundTripAndHash) {
  proto::BlockHeader header;
  header.set_version(1);
  header.set_chain_id(kChain);
  header.set_height(42);
  header.set_time_unix_ms(1'700'000'000'000);
  Hash256 prev = Blake2b256(std::string_view("block 41"));
  header.set_prev_block_hash(prev.bytes.data(), prev.bytes.size());
  header.set_app_hash(std::string(32, '\x01'));
  Bytes wire = EncodeDeterministic(header);

  proto::BlockHeader decoded;
  ASSERT_TRUE(DecodeStrict(wire, 4096, decoded).ok());
  EXPECT_EQ(decoded.height(), 42u);
  EXPECT_EQ(decoded.time_unix_ms(), 1'700'000'000'000u);
  EXPECT_EQ(*Hash256::Parse(AsBytes(decoded.prev_block_hash())), prev);
  // The block hash is over the bytes that travel; re-encoding reproduces them.
  EXPECT_EQ(Blake2b256(EncodeDeterministic(decoded)), Blake2b256(wire));
  header.set_height(43);
  EXPECT_NE(Blake2b256(EncodeDeterministic(header)), Blake2b256(wire));
}

TEST(WireTest, SignatureForOneDomainFailsUnderAnother) {
  SecretKey key = SecretKey::Generate();
  Bytes wire = EncodeDeterministic(SignTx(key, SampleBody(Address())));
  EXPECT_TRUE(CheckTx(wire, {kChain, SignKind::kTransaction}).ok());
  EXPECT_EQ(CheckTx(wire, {"agora-other", SignKind::kTransaction}).status().code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(CheckTx(wire, {kChain, SignKind::kPrevote}).status().code(),
            StatusCode::kUnauthenticated);
}

TEST(WireTest, AnyChangedBodyByteBreaksTheSignature) {
  SecretKey key = SecretKey::Generate();
  proto::SignedTx tx = SignTx(key, SampleBody(Address()));
  for (size_t i = 0; i < tx.body().size(); ++i) {
    proto::SignedTx bad = tx;
    (*bad.mutable_body())[i] ^= 0x01;
    auto result = CheckTx(EncodeDeterministic(bad), {kChain, SignKind::kTransaction});
    EXPECT_FALSE(result.ok()) << "byte " << i;
  }
}

TEST(WireTest, StrictDecoderRejectsHostileBytes) {
  SecretKey key = SecretKey::Generate();
  Bytes wire = EncodeDeterministic(SignTx(key, SampleBody(Address())));
  proto::SignedTx out;

  // Unknown field 15 (varint) appended.
  Bytes unknown = wire;
  unknown.push_back(15 << 3);
  unknown.push_back(1);
  Status s = DecodeStrict(unknown, kTxBytesMax, out);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("unknown fields"), std::string::npos);

  // Field 3 repeated: protobuf keeps the last, so the bytes are not canonical.
  Bytes duplicate = wire;
  duplicate.push_back(3 << 3 | 2);
  duplicate.push_back(1);
  duplicate.push_back(0);
  s = DecodeStrict(duplicate, kTxBytesMax, out);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("canonical"), std::string::npos);

  // Truncated at every length: never accepted as the original.
  for (size_t len = 0; len < wire.size(); ++len) {
    Status t = DecodeStrict(ByteSpan(wire).first(len), kTxBytesMax, out);
    if (t.ok()) {
      EXPECT_NE(EncodeDeterministic(out), wire) << len;
    }
  }

  // Garbage and oversized input.
  Bytes garbage(64, 0xff);
  EXPECT_EQ(DecodeStrict(garbage, kTxBytesMax, out).code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeStrict(Bytes(kTxBytesMax + 1), kTxBytesMax, out).code(),
            StatusCode::kResourceExhausted);
}

TEST(WireTest, UnknownFieldsInsideNestedMessagesAreFound) {
  proto::TxBody body = SampleBody(Address());
  body.mutable_transfer()->GetReflection()->MutableUnknownFields(body.mutable_transfer())
      ->AddVarint(9, 1);
  Bytes wire = EncodeDeterministic(body);
  proto::TxBody out;
  Status s = DecodeStrict(wire, kTxBytesMax, out);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("transfer"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace agora
