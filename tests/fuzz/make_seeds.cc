// Writes the seed corpora of tests/fuzz/corpus/ (checked in): a few valid inputs
// per fuzzer, so each campaign starts from the formats' real shapes instead
// of rediscovering protobuf or the record layout. Run by hand after a
// format changes: build/fuzz/tests/fuzz/make_seeds tests/fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/hash.h"
#include "common/keys.h"
#include "common/merkle.h"
#include "consensus/ledger/tx.h"
#include "kernels/trace.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/diloco.h"
#include "trainer/train_state.h"

namespace {

namespace fs = std::filesystem;
using namespace agora;

void Write(const fs::path& dir, const std::string& name, ByteSpan bytes) {
  fs::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
void Write(const fs::path& dir, const std::string& name, const std::string& text) {
  Write(dir, name, AsBytes(text));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR (tests/fuzz/corpus)\n");
    return 2;
  }
  const fs::path out = argv[1];
  // Transactions, one per kind of message that is cheap to build.
  const SecretKey key = SecretKey::FromSeed(Bytes(32, 7)).value();
  const SecretKey node = SecretKey::FromSeed(Bytes(32, 8)).value();
  const Address to = Address::FromPublicKey(node.public_key());
  const std::string chain = "fuzz-chain";
  std::vector<consensus::Msg> msgs = {
      consensus::MsgTransfer{to, 1000},
      consensus::MsgStake{2'000'000},
      consensus::MsgUnstake{1},
      consensus::MsgCreateValidator{
          node.public_key(), "seed",
          consensus::ProvePossession(node, chain, Address::FromPublicKey(key.public_key()))},
      consensus::MsgUnjail{},
      consensus::MsgCancelJob{3},
      consensus::MsgRoundResult{1, 0, Blake2b256(AsBytes("c")), {}, 0, {}},
  };
  consensus::MsgCommitTask commit;
  commit.job_id = 1;
  commit.checkpoint_root = Blake2b256(AsBytes("root"));
  commit.delta_hash = Blake2b256(AsBytes("delta"));
  commit.losses.assign(10, 0x40000000u);
  commit.start_proof = {Blake2b256(AsBytes("sibling"))};
  msgs.push_back(commit);
  for (size_t i = 0; i < msgs.size(); ++i) {
    Write(out / "fuzz_tx", "seed_" + std::to_string(i),
          consensus::MakeTx(key, chain, i, 10, msgs[i]));
  }
  // JSON-RPC requests.
  Write(out / "fuzz_json", "status", R"({"jsonrpc":"2.0","id":1,"method":"status"})");
  Write(out / "fuzz_json", "batch",
        R"([{"jsonrpc":"2.0","id":"a","method":"account","params":{"address":"agora1x"}},)"
        R"({"jsonrpc":"2.0","method":"block","params":{"height":12345678901234}}])");
  Write(out / "fuzz_json", "nested", R"({"a":[1.5e300,-0,true,null,"\u00e9\n",{"b":[]}]})");
  // Kernel-call records.
  kernels::OpRecord r;
  r.kind = kernels::OpKind::kGeluForward;
  r.ints = {64};
  r.inputs = {Blake2b256(AsBytes("in"))};
  r.outputs = {Blake2b256(AsBytes("out"))};
  Write(out / "fuzz_op_record", "gelu", kernels::EncodeOpRecord(r));
  r.kind = kernels::OpKind::kMatmulForward;
  r.ints = {4, 8, 16};
  r.inputs = {Blake2b256(AsBytes("inp")), Blake2b256(AsBytes("w")), kernels::kAbsentTensor};
  r.outputs = {Blake2b256(AsBytes("out"))};
  Write(out / "fuzz_op_record", "matmul", kernels::EncodeOpRecord(r));
  // A checkpoint of a model shrunk below the fuzzers' input limit (64 KiB),
  // and an int8 delta.
  trainer::TrainConfig small = trainer::PresetConfig("tiny").value();
  small.model.context = 8;
  small.model.layers = 1;
  small.model.heads = 1;
  small.model.width = 8;
  small.batch = 2;
  const trainer::TrainState state = trainer::TrainState::Fresh(small, Blake2b256(AsBytes("data")));
  Write(out / "fuzz_checkpoint", "micro", trainer::SerializeCheckpoint(state));
  std::vector<float> values(300);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.01f * static_cast<float>(i) - 1.0f;
  Write(out / "fuzz_int8_delta", "delta", trainer::EncodeInt8Blocks(values, 128));
  // Merkle proofs: index byte, leaves byte, then siblings.
  std::vector<Hash256> items;
  for (uint8_t i = 0; i < 7; ++i) items.push_back(Blake2b256(Bytes{i}));
  const merkle::Proof p = merkle::Prove(items, 3);
  Bytes proof = {3, 7};
  const Bytes siblings = merkle::EncodeSiblings(p.siblings);
  proof.insert(proof.end(), siblings.begin(), siblings.end());
  Write(out / "fuzz_merkle_proof", "leaf3of7", proof);
  std::printf("seeds written under %s\n", out.c_str());
  return 0;
}
