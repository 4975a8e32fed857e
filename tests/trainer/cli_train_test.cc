// agora train / generate / model info, run as a user runs them.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "kernels/device.h"
#include "tests/kernels/kernel_test_util.h"
#include "tests/test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/diloco.h"

namespace agora::trainer {
namespace {

using testing::CommandResult;
using testing::ReadTextFile;
using testing::RunCommand;
using testing::TempDir;

class TrainCliTest : public ::testing::Test {
 protected:
  CommandResult Agora(std::vector<std::string> args) {
    args.insert(args.begin(), AGORA_CLI_PATH);
    return RunCommand(args);
  }
  std::string Path(const std::string& name) { return (dir_.path() / name).string(); }
  boost::json::object Json(const CommandResult& r) {
    return boost::json::parse(r.out).as_object();
  }
  TempDir dir_;
};

int CountLines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

TEST_F(TrainCliTest, TrainWritesCheckpointAndLossLogThenInfoAndGenerate) {
  CommandResult train = Agora({"--json", "train", "--config", "tiny", "--steps", "12",
                               "--eval-every", "6", "--eval-batches", "2", "--out", Path("run")});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_NE(train.err.find("tok/s"), std::string::npos) << train.err;
  EXPECT_NE(train.err.find("ETA"), std::string::npos) << train.err;
  auto summary = Json(train);
  EXPECT_EQ(summary["step"].as_int64(), 12);
  EXPECT_LT(summary["val_loss"].to_number<double>(), 5.6);
  std::string csv = ReadTextFile(Path("run/loss.csv"));
  EXPECT_EQ(CountLines(csv), 13) << csv;
  EXPECT_EQ(csv.rfind("step,train_loss,val_loss,lr,grad_norm,tokens_per_s", 0), 0u);

  CommandResult info = Agora({"--json", "model", "info", Path("run/model.ckpt")});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  auto info_json = Json(info);
  EXPECT_EQ(info_json["hash"].as_string(), summary["hash"].as_string());
  EXPECT_EQ(info_json["step"].as_int64(), 12);
  EXPECT_EQ(info_json["layers"].as_int64(), 2);
  EXPECT_EQ(info_json["format_version"].as_int64(), 1);
  EXPECT_EQ(info_json["tier"].as_string(), "exact");
  EXPECT_EQ(info_json["hardware_class"].as_string(), "any");
  CommandResult info_text = Agora({"model", "info", Path("run/model.ckpt")});
  EXPECT_NE(info_text.out.find("layers 2, heads 2, width 64"), std::string::npos) << info_text.out;
  EXPECT_NE(info_text.out.find("kernels     exact tier"), std::string::npos) << info_text.out;

  auto generate = [&](const std::string& seed) {
    return Agora({"generate", "--model", Path("run/model.ckpt"), "--prompt", "ROMEO:",
                  "--tokens", "20", "--seed", seed});
  };
  CommandResult a = generate("3"), b = generate("3"), c = generate("4");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out.rfind("ROMEO:", 0), 0u);
  EXPECT_EQ(a.out.size(), 6u + 20u + 1u);
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

TEST_F(TrainCliTest, ResumedRunEndsInTheSameCheckpoint) {
  auto train = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "train", "--eval-batches", "1"});
    CommandResult r = Agora(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? std::string(Json(r)["hash"].as_string()) : std::string();
  };
  std::string straight = train({"--config", "tiny", "--steps", "8", "--out", Path("straight")});
  std::string half = train({"--config", "tiny", "--steps", "8", "--stop-after", "4", "--out",
                            Path("half")});
  EXPECT_NE(half, straight);
  std::string resumed =
      train({"--resume", Path("half/model.ckpt"), "--steps", "8", "--out", Path("resumed")});
  EXPECT_EQ(resumed, straight);
  std::string csv = ReadTextFile(Path("resumed/loss.csv"));
  EXPECT_EQ(CountLines(csv), 4) << csv;  // resumed steps only: the log appends
}

// --device picks the kernels; every device reaches the same checkpoint. On
// a machine without a GPU, --device cuda says why and what to do instead.
TEST_F(TrainCliTest, DeviceFlagPicksTheKernelsAndCudaSaysWhyItCannotRun) {
  auto train = [&](const std::string& device, const std::string& out) {
    return Agora({"--json", "train", "--config", "tiny", "--steps", "3", "--eval-batches", "1",
                  "--device", device, "--out", Path(out)});
  };
  const CommandResult cpu = train("cpu", "cpu");
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  EXPECT_NE(cpu.err.find("kernels cpu"), std::string::npos) << cpu.err;
  const CommandResult reference = train("reference", "reference");
  ASSERT_EQ(reference.exit_code, 0) << reference.err;
  EXPECT_NE(reference.err.find("kernels reference"), std::string::npos) << reference.err;
  EXPECT_EQ(Json(reference)["hash"].as_string(), Json(cpu)["hash"].as_string());

  const CommandResult cuda = train("cuda", "cuda");
  const Status ready = kernels::CudaOpsReady();
  if (ready.ok()) {
    ASSERT_EQ(cuda.exit_code, 0) << cuda.err;
    EXPECT_EQ(Json(cuda)["hash"].as_string(), Json(cpu)["hash"].as_string());
  } else {
    EXPECT_FALSE(kernels::testing::GpuRequired()) << "AGORA_REQUIRE_GPU=1 but " << ready.ToString();
    EXPECT_NE(cuda.exit_code, 0);
    EXPECT_NE(cuda.err.find("--device cuda: " + ready.message()), std::string::npos) << cuda.err;
    EXPECT_FALSE(std::filesystem::exists(Path("cuda/model.ckpt")));
  }
  const CommandResult unknown = train("gpu", "gpu");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("gpu"), std::string::npos) << unknown.err;
}

// --tier native (cuBLAS TF32 matmuls) needs --device cuda and a GPU; where
// it runs, two runs on one GPU write the same checkpoint.
TEST_F(TrainCliTest, TheNativeTierRunsOnAGpuOnlyAndRepeatsItsBits) {
  auto train = [&](std::vector<std::string> extra, const std::string& out) {
    std::vector<std::string> args = {"--json", "train", "--config", "tiny", "--steps", "3",
                                     "--eval-batches", "1", "--out", Path(out)};
    args.insert(args.end(), extra.begin(), extra.end());
    return Agora(args);
  };
  const CommandResult on_cpu = train({"--tier", "native"}, "native-cpu");
  EXPECT_NE(on_cpu.exit_code, 0);
  EXPECT_NE(on_cpu.err.find("--tier native runs on a GPU only: add --device cuda"),
            std::string::npos)
      << on_cpu.err;
  EXPECT_FALSE(std::filesystem::exists(Path("native-cpu/model.ckpt")));
  const CommandResult unknown = train({"--tier", "fast"}, "fast");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("fast"), std::string::npos) << unknown.err;

  // A native checkpoint names its tier and class, and keeps them: on any
  // machine, `model info` says so and a resume outside its tier is refused.
  TrainConfig native_config = PresetConfig("tiny").value();
  native_config.tier = KernelTier::kNative;
  native_config.hardware_class = 3;  // gpu-sm90
  ASSERT_TRUE(SaveCheckpoint(Path("sm90.ckpt"),
                             TrainState::Fresh(native_config, Blake2b256("corpus")))
                  .ok());
  const CommandResult info = Agora({"--json", "model", "info", Path("sm90.ckpt")});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(Json(info)["format_version"].as_int64(), 2);
  EXPECT_EQ(Json(info)["tier"].as_string(), "native");
  EXPECT_EQ(Json(info)["hardware_class"].as_string(), "gpu-sm90");
  EXPECT_NE(Agora({"model", "info", Path("sm90.ckpt")}).out.find("kernels     native tier on gpu-sm90"),
            std::string::npos);
  const CommandResult resumed = train({"--resume", Path("sm90.ckpt")}, "resumed");
  EXPECT_NE(resumed.exit_code, 0);
  EXPECT_NE(resumed.err.find("is a native-tier checkpoint of class gpu-sm90: continue it with "
                             "--device cuda --tier native on that class"),
            std::string::npos)
      << resumed.err;
  // A native checkpoint of the cpu class (a native cpu job's, written by the
  // roles) continues on the CPU with --tier native, and stays native.
  ASSERT_EQ(train({}, "exact").exit_code, 0);
  Result<LoadedCheckpoint> exact = LoadCheckpoint(Path("exact/model.ckpt"));
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  TrainState cpu_class = exact->state;
  cpu_class.config.tier = KernelTier::kNative;
  cpu_class.config.hardware_class = kHardwareCpu;
  ASSERT_TRUE(SaveCheckpoint(Path("cpu-class.ckpt"), cpu_class).ok());
  auto resume_cpu = [&](std::vector<std::string> extra, const std::string& out) {
    std::vector<std::string> args = {"--json", "train", "--resume", Path("cpu-class.ckpt"),
                                     "--steps", "5", "--eval-batches", "1", "--out", Path(out)};
    args.insert(args.end(), extra.begin(), extra.end());
    return Agora(args);
  };
  const CommandResult not_native = resume_cpu({}, "cpu-1");
  EXPECT_NE(not_native.exit_code, 0);
  EXPECT_NE(not_native.err.find("is a native-tier checkpoint of class cpu: continue it with "
                                "--tier native on the CPU"),
            std::string::npos)
      << not_native.err;
  const CommandResult native_cpu = resume_cpu({"--tier", "native"}, "cpu-2");
  ASSERT_EQ(native_cpu.exit_code, 0) << native_cpu.err;
  const CommandResult cpu_info = Agora({"--json", "model", "info", Path("cpu-2/model.ckpt")});
  ASSERT_EQ(cpu_info.exit_code, 0) << cpu_info.err;
  EXPECT_EQ(Json(cpu_info)["tier"].as_string(), "native");
  EXPECT_EQ(Json(cpu_info)["hardware_class"].as_string(), "cpu");
  EXPECT_EQ(Json(cpu_info)["step"].as_int64(), 5);

  const CommandResult first = train({"--device", "cuda", "--tier", "native"}, "native-1");
  const Status ready = kernels::CudaNativeReady();
  if (!ready.ok()) {
    EXPECT_FALSE(kernels::testing::GpuRequired()) << "AGORA_REQUIRE_GPU=1 but " << ready.ToString();
    EXPECT_NE(first.exit_code, 0);
    EXPECT_NE(first.err.find("--device cuda: " + ready.message()), std::string::npos) << first.err;
    EXPECT_FALSE(std::filesystem::exists(Path("native-1/model.ckpt")));
    return;
  }
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("kernels cuda-native"), std::string::npos) << first.err;
  const CommandResult second = train({"--device", "cuda", "--tier", "native"}, "native-2");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(Json(second)["hash"].as_string(), Json(first)["hash"].as_string());
  // The checkpoint names this GPU's class; it resumes in its tier only.
  const CommandResult gpu_info = Agora({"--json", "model", "info", Path("native-1/model.ckpt")});
  ASSERT_EQ(gpu_info.exit_code, 0) << gpu_info.err;
  EXPECT_EQ(Json(gpu_info)["tier"].as_string(), "native");
  EXPECT_NE(Json(gpu_info)["hardware_class"].as_string(), "any");
  auto resume = [&](std::vector<std::string> extra, const std::string& out) {
    std::vector<std::string> args = {"--json", "train", "--resume", Path("native-1/model.ckpt"),
                                     "--steps", "5", "--eval-batches", "1", "--device", "cuda",
                                     "--out", Path(out)};
    args.insert(args.end(), extra.begin(), extra.end());
    return Agora(args);
  };
  const CommandResult exact_resume = resume({}, "r1");
  EXPECT_NE(exact_resume.exit_code, 0);
  EXPECT_NE(exact_resume.err.find("is a native-tier checkpoint"), std::string::npos)
      << exact_resume.err;
  const CommandResult native_resume = resume({"--tier", "native"}, "r2");
  EXPECT_EQ(native_resume.exit_code, 0) << native_resume.err;
}

TEST_F(TrainCliTest, DilocoWritesCommitmentsAndComparesWithDataParallel) {
  CommandResult run = Agora({"--json", "train", "--diloco", "--config", "tiny", "--workers", "2",
                             "--rounds", "2", "--inner-steps", "3", "--checkpoint-every", "1",
                             "--eval-batches", "1", "--out", Path("diloco")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // Each worker sends its round's pseudo-gradient once, int8 in blocks.
  const trainer::TrainConfig tiny = trainer::PresetConfig("tiny").value();
  const size_t per_delta = trainer::Int8BlocksEncodedBytes(
      static_cast<size_t>(tiny.model.ParameterCount()), trainer::kQuantBlockDefault);
  EXPECT_EQ(Json(run)["bytes_sent"].as_int64(), static_cast<int64_t>(2 * 2 * per_delta));
  EXPECT_EQ(CountLines(ReadTextFile(Path("diloco/commitments.csv"))), 1 + 2 * 2);
  CommandResult info = Agora({"--json", "model", "info", Path("diloco/model.ckpt")});
  EXPECT_EQ(Json(info)["round"].as_int64(), 2);

  CommandResult compare = Agora({"--json", "train", "--diloco", "--compare-ddp", "--config",
                                 "tiny", "--workers", "2", "--rounds", "1", "--inner-steps", "30",
                                 "--eval-batches", "1"});
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  auto c = Json(compare);
  // DiLoCo: each of 2 workers sends one int8 delta in its one round; data
  // parallel: each of 2 workers sends a float32 gradient at each of 30 steps.
  const int64_t diloco_bytes = static_cast<int64_t>(2 * per_delta);
  const int64_t ddp_bytes = 30 * 2 * 4 * tiny.model.ParameterCount();
  EXPECT_EQ(c["diloco_bytes"].to_number<int64_t>(), diloco_bytes);
  EXPECT_EQ(c["ddp_bytes"].to_number<int64_t>(), ddp_bytes);
  EXPECT_DOUBLE_EQ(c["bytes_ratio"].to_number<double>(),
                   static_cast<double>(ddp_bytes) / static_cast<double>(diloco_bytes));
  // Losses in nats per byte: positive, and below ln 256, what a model that
  // knows nothing of the text scores.
  for (const char* key : {"diloco_val_loss", "ddp_val_loss"}) {
    const double loss = c[key].to_number<double>();
    EXPECT_GT(loss, 0.0) << key;
    EXPECT_LT(loss, std::log(256.0)) << key;
  }

  // A warm start from the first run's checkpoint: both runs begin there, so
  // both end below a cold start's loss after the same few steps.
  CommandResult cold = Agora({"--json", "train", "--diloco", "--compare-ddp", "--config", "tiny",
                              "--workers", "2", "--rounds", "1", "--inner-steps", "2",
                              "--eval-batches", "1"});
  CommandResult warm = Agora({"--json", "train", "--diloco", "--compare-ddp", "--config", "tiny",
                              "--workers", "2", "--rounds", "1", "--inner-steps", "2",
                              "--eval-batches", "1", "--init-from", Path("diloco/model.ckpt")});
  ASSERT_EQ(cold.exit_code, 0) << cold.err;
  ASSERT_EQ(warm.exit_code, 0) << warm.err;
  EXPECT_NE(warm.err.find("warm start from"), std::string::npos) << warm.err;
  EXPECT_LT(Json(warm)["ddp_val_loss"].to_number<double>(),
            Json(cold)["ddp_val_loss"].to_number<double>());
  EXPECT_LT(Json(warm)["diloco_val_loss"].to_number<double>(),
            Json(cold)["diloco_val_loss"].to_number<double>());

  CommandResult mismatch = Agora({"train", "--diloco", "--config", "small", "--rounds", "1",
                                  "--inner-steps", "1", "--init-from", Path("diloco/model.ckpt"),
                                  "--out", Path("mismatch")});
  EXPECT_EQ(mismatch.exit_code, 1);
  EXPECT_NE(mismatch.err.find("pass the --config"), std::string::npos) << mismatch.err;
  CommandResult plain = Agora({"train", "--init-from", Path("diloco/model.ckpt"), "--steps", "1"});
  EXPECT_EQ(plain.exit_code, 1);
  EXPECT_NE(plain.err.find("--resume"), std::string::npos) << plain.err;
  CommandResult momentum = Agora({"train", "--diloco", "--outer-momentum", "1", "--rounds", "1"});
  EXPECT_EQ(momentum.exit_code, 1);
  EXPECT_NE(momentum.err.find("--outer-momentum"), std::string::npos) << momentum.err;
}

TEST_F(TrainCliTest, BadInputGivesClearErrors) {
  testing::WriteTextFile(Path("bad.ckpt"), "AGORACKP but not really a checkpoint at all, no");
  CommandResult bad = Agora({"model", "info", Path("bad.ckpt")});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("checkpoint"), std::string::npos) << bad.err;
  CommandResult config = Agora({"train", "--config", "huge", "--steps", "1", "--out", Path("x")});
  EXPECT_EQ(config.exit_code, 1);
  EXPECT_NE(config.err.find("tiny, small, shakespeare"), std::string::npos) << config.err;
  CommandResult missing = Agora({"generate", "--model", Path("none.ckpt")});
  EXPECT_EQ(missing.exit_code, 1);
  CommandResult no_diloco = Agora({"train", "--compare-ddp", "--steps", "1"});
  EXPECT_EQ(no_diloco.exit_code, 1);
  EXPECT_NE(no_diloco.err.find("--diloco"), std::string::npos);
}

}  // namespace
}  // namespace agora::trainer
