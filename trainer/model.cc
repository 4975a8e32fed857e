#include "trainer/model.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/check.h"
#include "kernels/ops.h"
#include "trainer/rng.h"

namespace agora::trainer {
namespace k = ::agora::kernels;

namespace {

void Zero(k::FloatBuffer& v) {
  k::Fill(v.backend(), v.data(), static_cast<int64_t>(v.size()), 0.0f);
}

}  // namespace

ParameterLayout::ParameterLayout(const ModelConfig& config) {
  const int64_t v = config.vocab, t = config.context, l = config.layers, c = config.width;
  int64_t offset = 0;
  auto add = [&](const char* name, int64_t size, bool decayed) {
    tensors.push_back({name, offset, size, decayed});
    int64_t at = offset;
    offset += size;
    return at;
  };
  wte = add("wte", v * c, true);
  wpe = add("wpe", t * c, true);
  ln1w = add("ln1w", l * c, false);
  ln1b = add("ln1b", l * c, false);
  qkvw = add("qkvw", l * 3 * c * c, true);
  qkvb = add("qkvb", l * 3 * c, false);
  attprojw = add("attprojw", l * c * c, true);
  attprojb = add("attprojb", l * c, false);
  ln2w = add("ln2w", l * c, false);
  ln2b = add("ln2b", l * c, false);
  fcw = add("fcw", l * 4 * c * c, true);
  fcb = add("fcb", l * 4 * c, false);
  fcprojw = add("fcprojw", l * 4 * c * c, true);
  fcprojb = add("fcprojb", l * c, false);
  lnfw = add("lnfw", c, false);
  lnfb = add("lnfb", c, false);
  total = offset;
  AGORA_CHECK(total == config.ParameterCount());
}

void InitParameters(const ModelConfig& config, uint64_t seed, std::span<float> params) {
  ParameterLayout layout(config);
  AGORA_CHECK(static_cast<int64_t>(params.size()) == layout.total);
  constexpr double kStd = 0.02;
  const double residual_std = kStd / std::sqrt(2.0 * config.layers);
  for (size_t index = 0; index < layout.tensors.size(); ++index) {
    const TensorInfo& tensor = layout.tensors[index];
    float* out = params.data() + tensor.offset;
    if (tensor.name == "ln1w" || tensor.name == "ln2w" || tensor.name == "lnfw") {
      std::fill(out, out + tensor.size, 1.0f);
      continue;
    }
    if (!tensor.decayed) {
      std::fill(out, out + tensor.size, 0.0f);
      continue;
    }
    const double std_dev =
        (tensor.name == "attprojw" || tensor.name == "fcprojw") ? residual_std : kStd;
    // A uniform on [-a, a] has standard deviation a / sqrt(3).
    const double bound = std_dev * std::sqrt(3.0);
    SplitMix64 stream(Mix64(seed) ^ Mix64(index + 1));
    for (int64_t i = 0; i < tensor.size; ++i) {
      double u = static_cast<double>(stream.Next() >> 40) * 0x1.0p-24;
      out[i] = static_cast<float>((2.0 * u - 1.0) * bound);
    }
  }
}

Gpt::Gpt(const ModelConfig& config, kernels::Backend backend)
    : config_(config), layout_(config), backend_(backend) {
  AGORA_CHECK(config.Validate().ok());
  for (k::FloatBuffer* buffer : Buffers()) *buffer = k::FloatBuffer(backend);
  grads_.resize(static_cast<size_t>(layout_.total));
}

std::vector<k::FloatBuffer*> Gpt::Buffers() {
  return {&grads_,     &encoded_,   &ln1_,       &ln1_mean_,  &ln1_rstd_, &qkv_,
          &atty_,      &att_,       &attproj_,   &residual2_, &ln2_,      &ln2_mean_,
          &ln2_rstd_,  &fch_,       &fch_gelu_,  &fcproj_,    &residual3_, &lnf_,
          &lnf_mean_,  &lnf_rstd_,  &logits_,    &probs_,     &losses_,   &dres_a_,
          &dres_b_,    &dres2_,     &dsmall_,    &dln_,       &dqkv_,     &datty_,
          &dfch_,      &dfch_gelu_, &dlogits_,   &dlosses_};
}

void Gpt::Resize(int batch, int seq_len) {
  if (batch == batch_ && seq_len == seq_len_) return;
  batch_ = batch;
  seq_len_ = seq_len;
  const size_t bt = static_cast<size_t>(batch) * seq_len;
  const size_t c = config_.width, l = config_.layers, v = config_.vocab;
  const size_t att = static_cast<size_t>(batch) * config_.heads * seq_len * seq_len;
  tokens_.resize(bt);
  targets_.resize(bt);
  encoded_.resize(bt * c);
  ln1_.resize(l * bt * c);
  ln1_mean_.resize(l * bt);
  ln1_rstd_.resize(l * bt);
  qkv_.resize(l * bt * 3 * c);
  atty_.resize(l * bt * c);
  att_.resize(l * att);
  attproj_.resize(l * bt * c);
  residual2_.resize(l * bt * c);
  ln2_.resize(l * bt * c);
  ln2_mean_.resize(l * bt);
  ln2_rstd_.resize(l * bt);
  fch_.resize(l * bt * 4 * c);
  fch_gelu_.resize(l * bt * 4 * c);
  fcproj_.resize(l * bt * c);
  residual3_.resize(l * bt * c);
  lnf_.resize(bt * c);
  lnf_mean_.resize(bt);
  lnf_rstd_.resize(bt);
  logits_.resize(bt * v);
  probs_.resize(bt * v);
  losses_.resize(bt);
  // Gradient scratch is allocated lazily by the first Backward.
  for (auto* buffer : {&dres_a_, &dres_b_, &dres2_, &dsmall_, &dln_, &dqkv_, &datty_, &dfch_,
                       &dfch_gelu_, &dlogits_, &dlosses_}) {
    buffer->clear();
  }
}

float Gpt::Forward(const float* params, const int32_t* tokens, const int32_t* targets, int batch,
                   int seq_len) {
  AGORA_CHECK(batch >= 1 && seq_len >= 1 && seq_len <= config_.context);
  Resize(batch, seq_len);
  const int bt = batch * seq_len, c = config_.width, nh = config_.heads, v = config_.vocab;
  const size_t btc = static_cast<size_t>(bt) * c;
  const size_t att_size = static_cast<size_t>(batch) * nh * seq_len * seq_len;
  std::copy(tokens, tokens + bt, tokens_.begin());
  have_targets_ = targets != nullptr;
  if (have_targets_) std::copy(targets, targets + bt, targets_.begin());
  const ParameterLayout& p = layout_;
  const k::Backend be = backend_;

  k::EmbeddingForward(be, encoded_.data(), tokens, params + p.wte, params + p.wpe, batch, seq_len,
                      c, v);
  for (int l = 0; l < config_.layers; ++l) {
    const float* residual = l == 0 ? encoded_.data() : residual3_.data() + (l - 1) * btc;
    float* ln1 = ln1_.data() + l * btc;
    float* ln1_mean = ln1_mean_.data() + l * bt;
    float* ln1_rstd = ln1_rstd_.data() + l * bt;
    float* qkv = qkv_.data() + l * btc * 3;
    float* atty = atty_.data() + l * btc;
    float* att = att_.data() + l * att_size;
    float* attproj = attproj_.data() + l * btc;
    float* residual2 = residual2_.data() + l * btc;
    float* ln2 = ln2_.data() + l * btc;
    float* ln2_mean = ln2_mean_.data() + l * bt;
    float* ln2_rstd = ln2_rstd_.data() + l * bt;
    float* fch = fch_.data() + l * btc * 4;
    float* fch_gelu = fch_gelu_.data() + l * btc * 4;
    float* fcproj = fcproj_.data() + l * btc;
    float* residual3 = residual3_.data() + l * btc;
    const int64_t lc = int64_t{l} * c;

    k::LayerNormForward(be, ln1, ln1_mean, ln1_rstd, residual, params + p.ln1w + lc,
                        params + p.ln1b + lc, bt, c);
    k::MatmulForward(be, qkv, ln1, params + p.qkvw + lc * 3 * c, params + p.qkvb + lc * 3, bt, c,
                     3 * c);
    k::AttentionForward(be, atty, att, qkv, batch, seq_len, c, nh);
    k::MatmulForward(be, attproj, atty, params + p.attprojw + lc * c, params + p.attprojb + lc, bt,
                     c, c);
    k::ResidualForward(be, residual2, residual, attproj, static_cast<int64_t>(btc));
    k::LayerNormForward(be, ln2, ln2_mean, ln2_rstd, residual2, params + p.ln2w + lc,
                        params + p.ln2b + lc, bt, c);
    k::MatmulForward(be, fch, ln2, params + p.fcw + lc * 4 * c, params + p.fcb + lc * 4, bt, c,
                     4 * c);
    k::GeluForward(be, fch_gelu, fch, static_cast<int64_t>(btc) * 4);
    k::MatmulForward(be, fcproj, fch_gelu, params + p.fcprojw + lc * 4 * c, params + p.fcprojb + lc,
                     bt, 4 * c, c);
    k::ResidualForward(be, residual3, residual2, fcproj, static_cast<int64_t>(btc));
  }
  const float* last = residual3_.data() + (config_.layers - 1) * btc;
  k::LayerNormForward(be, lnf_.data(), lnf_mean_.data(), lnf_rstd_.data(), last, params + p.lnfw,
                      params + p.lnfb, bt, c);
  k::MatmulForward(be, logits_.data(), lnf_.data(), params + p.wte, nullptr, bt, c, v);
  if (!have_targets_) return 0.0f;
  k::CrossEntropyForward(be, losses_.data(), probs_.data(), logits_.data(), targets, bt, v);
  return k::Sum(be, losses_.data(), bt) / static_cast<float>(bt);
}

void Gpt::ZeroGrad() { Zero(grads_); }

void Gpt::Backward(const float* params, float loss_scale) {
  AGORA_CHECK_MSG(have_targets_, "Backward needs a Forward with targets");
  const int bt = batch_ * seq_len_, c = config_.width, v = config_.vocab;
  const size_t btc = static_cast<size_t>(bt) * c;
  if (dres_a_.empty()) {
    for (auto* buffer : {&dres_a_, &dres_b_, &dres2_, &dsmall_, &dln_, &datty_}) {
      buffer->resize(btc);
    }
    dqkv_.resize(btc * 3);
    dfch_.resize(btc * 4);
    dfch_gelu_.resize(btc * 4);
    dlogits_.resize(static_cast<size_t>(bt) * v);
    dlosses_.resize(bt);
  }
  const ParameterLayout& p = layout_;
  const k::Backend be = backend_;
  float* g = grads_.data();

  k::Fill(be, dlosses_.data(), bt, loss_scale / static_cast<float>(bt));
  Zero(dlogits_);
  k::CrossEntropyBackward(be, dlogits_.data(), dlosses_.data(), probs_.data(), targets_.data(), bt,
                          v);
  Zero(dln_);
  k::MatmulBackward(be, dln_.data(), g + p.wte, nullptr, dlogits_.data(), lnf_.data(),
                    params + p.wte, bt, c, v);
  Zero(dres_a_);
  const float* last = residual3_.data() + (config_.layers - 1) * btc;
  k::LayerNormBackward(be, dres_a_.data(), g + p.lnfw, g + p.lnfb, dln_.data(), last,
                       params + p.lnfw, lnf_mean_.data(), lnf_rstd_.data(), bt, c);
  float* dres_out = dres_a_.data();
  float* dres_in = dres_b_.data();
  for (int l = config_.layers - 1; l >= 0; --l) {
    BackwardLayer(params, l, dres_out, dres_in);
    std::swap(dres_out, dres_in);
  }
  k::EmbeddingBackward(be, g + p.wte, g + p.wpe, dres_out, tokens_.data(), batch_, seq_len_, c,
                       v);
}

void Gpt::BackwardLayer(const float* params, int l, float* dres_out, float* dres_in) {
  const int bt = batch_ * seq_len_, c = config_.width, nh = config_.heads;
  const size_t btc = static_cast<size_t>(bt) * c;
  const size_t att_size = static_cast<size_t>(batch_) * nh * seq_len_ * seq_len_;
  const int64_t n = static_cast<int64_t>(btc);
  const int64_t lc = int64_t{l} * c;
  const ParameterLayout& p = layout_;
  const k::Backend be = backend_;
  float* g = grads_.data();
  const float* residual = l == 0 ? encoded_.data() : residual3_.data() + (l - 1) * btc;

  // residual3 = residual2 + fcproj.
  Zero(dres2_);
  Zero(dsmall_);
  k::ResidualBackward(be, dres2_.data(), dsmall_.data(), dres_out, n);
  Zero(dfch_gelu_);
  k::MatmulBackward(be, dfch_gelu_.data(), g + p.fcprojw + lc * 4 * c, g + p.fcprojb + lc,
                    dsmall_.data(), fch_gelu_.data() + l * btc * 4, params + p.fcprojw + lc * 4 * c,
                    bt, 4 * c, c);
  Zero(dfch_);
  k::GeluBackward(be, dfch_.data(), fch_.data() + l * btc * 4, dfch_gelu_.data(), n * 4);
  Zero(dln_);
  k::MatmulBackward(be, dln_.data(), g + p.fcw + lc * 4 * c, g + p.fcb + lc * 4, dfch_.data(),
                    ln2_.data() + l * btc, params + p.fcw + lc * 4 * c, bt, c, 4 * c);
  k::LayerNormBackward(be, dres2_.data(), g + p.ln2w + lc, g + p.ln2b + lc, dln_.data(),
                       residual2_.data() + l * btc, params + p.ln2w + lc,
                       ln2_mean_.data() + l * bt, ln2_rstd_.data() + l * bt, bt, c);
  // residual2 = residual + attproj.
  k::Fill(be, dres_in, static_cast<int64_t>(btc), 0.0f);
  Zero(dsmall_);
  k::ResidualBackward(be, dres_in, dsmall_.data(), dres2_.data(), n);
  Zero(datty_);
  k::MatmulBackward(be, datty_.data(), g + p.attprojw + lc * c, g + p.attprojb + lc,
                    dsmall_.data(), atty_.data() + l * btc, params + p.attprojw + lc * c, bt, c, c);
  Zero(dqkv_);
  k::AttentionBackward(be, dqkv_.data(), datty_.data(), qkv_.data() + l * btc * 3,
                       att_.data() + l * att_size, batch_, seq_len_, c, nh);
  Zero(dln_);
  k::MatmulBackward(be, dln_.data(), g + p.qkvw + lc * 3 * c, g + p.qkvb + lc * 3, dqkv_.data(),
                    ln1_.data() + l * btc, params + p.qkvw + lc * 3 * c, bt, c, 3 * c);
  k::LayerNormBackward(be, dres_in, g + p.ln1w + lc, g + p.ln1b + lc, dln_.data(), residual,
                       params + p.ln1w + lc, ln1_mean_.data() + l * bt, ln1_rstd_.data() + l * bt,
                       bt, c);
}

}  // namespace agora::trainer
