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
#include "common/proto_codec.h"
#include "common/vrf.h"
#include "consensus/ledger/tx.h"
#include "kernels/trace.h"
#include "node/config.h"
#include "node/p2p/secret_connection.h"
#include "proto/wire.pb.h"
#include "tests/fuzz/fixtures.h"
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
      consensus::MsgRoundResult{1, 0, Blake2b256(AsBytes("c")), {}, 0, {}, std::nullopt, 0, 0},
      consensus::MsgRoundResult{1, 1, std::nullopt, {}, 0, {}, Blake2b256(AsBytes("d")), 0, 0},
  };
  consensus::MsgCommitTask commit;
  commit.job_id = 1;
  commit.checkpoint_root = Blake2b256(AsBytes("root"));
  commit.delta_hash = Blake2b256(AsBytes("delta"));
  commit.losses.assign(10, 0x40000000u);
  commit.start_proof = {Blake2b256(AsBytes("sibling"))};
  msgs.push_back(commit);
  msgs.push_back(consensus::MsgSetReplayProfile{
      {market::HardwareClass::kCpu, market::HardwareClass::kGpuSm90}, 1'000'000});
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
  // The same state in the native tier (format version 2, with its class).
  trainer::TrainState native = state;
  native.config.tier = trainer::KernelTier::kNative;
  native.config.hardware_class = 3;
  Write(out / "fuzz_checkpoint", "micro-native", trainer::SerializeCheckpoint(native));
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

  // JSON-RPC payloads for the dispatcher (HTTP bodies, WebSocket frames).
  for (const char* name : {"status", "batch", "nested"}) {
    std::ifstream in(out / "fuzz_json" / name, std::ios::binary);
    Write(out / "fuzz_rpc", name,
          std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
  }
  Write(out / "fuzz_rpc", "methods",
        R"([{"jsonrpc":"2.0","id":1,"method":"echo","params":[1,"x"]},)"
        R"({"jsonrpc":"2.0","id":"l","method":"later","params":{"a":null}},)"
        R"({"jsonrpc":"2.0","id":3,"method":"throws","params":{}},)"
        R"({"jsonrpc":"2.0","id":4,"method":"bad_params"},)"
        R"({"jsonrpc":"2.0","method":"echo"},{"id":5},7])");
  Write(out / "fuzz_rpc", "subscribe_",  // odd length: the per-connection methods apply
        R"({"jsonrpc":"2.0","id":9,"method":"subscribe","params":{"topic":"new_block"}} )");
  // config.toml as `agorad init` writes it, with peers and sources.
  node::NodeConfig config;
  config.moniker = "node \"zero\"";
  config.persistent_peers = {"0123@127.0.0.1:26656"};
  config.role_sources = {"http://127.0.0.1:26657"};
  Write(out / "fuzz_config", "rendered", node::RenderConfig(config));
  // job.toml with the data given by hash.
  Write(out / "fuzz_job_file", "tiny",
        "[model]\npreset = \"tiny\"\nlayers = 2\n\n[data]\nhash = \"" +
            Blake2b256(AsBytes("corpus")).ToHex() +
            "\"\nbytes = 100000\n\n[schedule]\nseed = 7\nrounds = 2\nworkers = 2\n"
            "inner_steps = 20\ncheckpoint_interval = 10\n\n[verification]\ntier = \"exact\"\n"
            "hardware = \"cpu\"\nspot_checks = 2\n\n[optimizer]\nlr_max = 0.003\nbeta2 = 0.95\n"
            "warmup_steps = 10\n");
  // State proofs: key index, claims-a-value flag, value length, value, proof.
  {
    fuzz::FuzzStateTree t;
    for (size_t i : {size_t{5}, size_t{70}}) {
      const ProvenValue pv = t.tree->Prove(fuzz::FuzzStateTree::Key(i), 1).value();
      Bytes seed = {static_cast<uint8_t>(i), static_cast<uint8_t>(pv.value ? 1 : 0),
                    static_cast<uint8_t>(pv.value ? pv.value->size() : 0)};
      if (pv.value) seed.insert(seed.end(), pv.value->begin(), pv.value->end());
      const Bytes encoded = pv.proof.Encode();
      seed.insert(seed.end(), encoded.begin(), encoded.end());
      Write(out / "fuzz_state_proof", pv.value ? "present" : "absent", seed);
    }
  }
  // VRF proofs: the honest one, and a proof with another key appended.
  {
    const SecretKey vrf_key = SecretKey::FromSeed(Bytes(32, 5)).value();
    const VrfProof honest = VrfProve(vrf_key, AsBytes("beacon input of height 7"));
    Write(out / "fuzz_vrf_proof", "honest", ByteSpan(honest.bytes));
    const SecretKey other = SecretKey::FromSeed(Bytes(32, 6)).value();
    Bytes with_key(honest.bytes.begin(), honest.bytes.end());
    const VrfProof theirs = VrfProve(other, AsBytes("beacon input of height 7"));
    std::copy(theirs.bytes.begin(), theirs.bytes.end(), with_key.begin());
    with_key.insert(with_key.end(), other.public_key().bytes.begin(),
                    other.public_key().bytes.end());
    Write(out / "fuzz_vrf_proof", "other_key", with_key);
  }
  // A handshake auth another node sends in the fuzzer's session.
  {
    const node::p2p::HandshakeParams params{
        "fuzz-chain", Blake2b256(AsBytes("genesis")), 26656, std::nullopt,
        node::p2p::kFrameBytesMaxDefault, node::p2p::kHandshakeTimeoutDefault};
    Write(out / "fuzz_handshake", "auth",
          node::p2p::BuildHandshakeAuth(SecretKey::FromSeed(Bytes(32, 10)).value(), params,
                                        Blake2b256(AsBytes("transcript"))));
  }
  // Blocks, commits and P2P messages from the fuzzers' chain.
  {
    fuzz::FuzzChain c;
    Write(out / "fuzz_commit", "block1", EncodeDeterministic(c.first_commit()));
    const consensus::Evidence evidence = c.DoubleSign(3, 1);
    if (!c.chain().AddEvidence(evidence).ok()) return 1;
    const proto::Block block = c.Propose({c.Transfer(1), c.Transfer(2)});
    Write(out / "fuzz_block", "block2", EncodeDeterministic(block));
    proto::Block empty = c.first_block();
    Write(out / "fuzz_block", "block1_again", EncodeDeterministic(empty));
    auto channel = [](uint8_t ch, const Bytes& payload) {
      Bytes b = {ch};
      b.insert(b.end(), payload.begin(), payload.end());
      return b;
    };
    const consensus::ValidatorSet& set = c.chain().ValidatorsAt(2);
    consensus::Proposal prop{2, 0, -1, consensus::HeaderHash(block.header()), 0, {}};
    const SecretKey* proposer = &c.validators()[0];
    for (const SecretKey& k : c.validators()) {
      const Address a = Address::FromPublicKey(k.public_key());
      if (block.header().proposer() == ToString(a.bytes())) {
        proposer = &k;
      }
    }
    prop.proposer = set.IndexOf(proposer->public_key()).value_or(0);
    proto::ProposalMessage pm;
    pm.set_sign_bytes(ToString(prop.SignBytes()));
    pm.set_proposer(prop.proposer);
    pm.set_signature(ToString(
        proposer->Sign({fuzz::kFuzzChain, SignKind::kProposal}, prop.SignBytes()).bytes));
    *pm.mutable_block() = block;
    Write(out / "fuzz_wire", "proposal", channel(0, EncodeDeterministic(pm)));
    consensus::Vote v{consensus::VoteType::kPrevote, 2, 0, prop.block, 1, {}};
    proto::VoteMessage vm;
    vm.set_sign_bytes(ToString(v.SignBytes()));
    const SecretKey& voter = c.validators()[1];
    vm.set_validator(set.IndexOf(voter.public_key()).value_or(0));
    vm.set_signature(ToString(voter.Sign({fuzz::kFuzzChain, SignKind::kPrevote}, v.SignBytes()).bytes));
    Write(out / "fuzz_wire", "vote", channel(1, EncodeDeterministic(vm)));
    Write(out / "fuzz_wire", "evidence",
          channel(2, EncodeDeterministic(consensus::EvidenceToProto(evidence))));
    proto::StatusMessage status;
    status.set_height(1);
    Write(out / "fuzz_wire", "status", channel(3, EncodeDeterministic(status)));
    proto::BlockResponse response;
    *response.mutable_block() = c.first_block();
    *response.mutable_commit() = c.first_commit();
    Write(out / "fuzz_wire", "block_response", channel(4, EncodeDeterministic(response)));
  }
  std::printf("seeds written under %s\n", out.c_str());
  return 0;
}
