// Picks and validates an optimizer from its configuration; each rule lives in its own file (sgd.cpp, adam.cpp).
#include "runtime/optim/optimizer.h"

#include <cmath>

#include "onnxtrain/error.h"

namespace onnxtrain::optim {
namespace {

void require(bool ok, const std::string& option, const std::string& what, double got) {
  if (!ok) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", got);
    throw Error(option + " " + what + ", got " + buf);
  }
}

}  // namespace

std::unique_ptr<Optimizer> make(const OptimizerConfig& in, size_t size) {
  check_optimizer(in);
  const OptimizerConfig c = resolved(in);
  if (c.kind == onnxtrain::Optimizer::Sgd) return make_sgd(c, size);
  return make_adam(c, size, c.kind == onnxtrain::Optimizer::AdamW);
}

}  // namespace onnxtrain::optim

namespace onnxtrain {

OptimizerConfig resolved(const OptimizerConfig& in) {
  OptimizerConfig c = in;
  if (c.lr < 0) c.lr = c.kind == Optimizer::Sgd ? 0.01 : 0.001;
  if (c.weight_decay < 0) c.weight_decay = c.kind == Optimizer::AdamW ? 0.01 : 0.0;
  return c;
}

void check_optimizer(const OptimizerConfig& in) {
  using optim::require;
  const bool sgd = in.kind == Optimizer::Sgd, adam = in.kind == Optimizer::Adam, adamw = in.kind == Optimizer::AdamW;
  if (!sgd && !adam && !adamw) throw Error("OptimizerConfig::kind: not an Optimizer");
  const OptimizerConfig c = resolved(in);
  require(c.lr > 0 && std::isfinite(c.lr), "OptimizerConfig::lr", "must be a positive number", c.lr);
  require(c.weight_decay >= 0 && std::isfinite(c.weight_decay), "OptimizerConfig::weight_decay", "must be >= 0",
          c.weight_decay);
  if (sgd) {
    require(c.momentum >= 0 && std::isfinite(c.momentum), "OptimizerConfig::momentum", "must be >= 0", c.momentum);
    require(c.dampening >= 0 && c.dampening <= 1, "OptimizerConfig::dampening", "must be in [0, 1]", c.dampening);
    if (c.nesterov && (c.momentum <= 0 || c.dampening != 0))
      throw Error(
          "OptimizerConfig::nesterov needs OptimizerConfig::momentum > 0 and OptimizerConfig::dampening 0 (as in "
          "torch.optim.SGD)");
    return;
  }
  require(c.beta1 >= 0 && c.beta1 < 1, "OptimizerConfig::beta1", "must be in [0, 1)", c.beta1);
  require(c.beta2 >= 0 && c.beta2 < 1, "OptimizerConfig::beta2", "must be in [0, 1)", c.beta2);
  require(c.eps >= 0 && std::isfinite(c.eps), "OptimizerConfig::eps", "must be >= 0", c.eps);
}

namespace {
const char* const kLosses[] = {"", "cross-entropy", "nll", "bce", "mse"};
const char* const kOptimizers[] = {"sgd", "adam", "adamw"};
const char* const kPrecisions[] = {"f32", "bf16"};
}  // namespace

std::string name_of(Loss loss) { return kLosses[static_cast<int>(loss)]; }
std::string name_of(Optimizer optimizer) { return kOptimizers[static_cast<int>(optimizer)]; }
std::string name_of(Precision precision) { return kPrecisions[static_cast<int>(precision)]; }

Loss loss_named(const std::string& name) {
  for (int i = 0; i < 5; ++i)
    if (name == kLosses[i]) return static_cast<Loss>(i);
  throw Error("TrainOptions::loss: unknown loss '" + name + "' (expected cross-entropy, nll, bce or mse)");
}

Optimizer optimizer_named(const std::string& name) {
  for (int i = 0; i < 3; ++i)
    if (name == kOptimizers[i]) return static_cast<Optimizer>(i);
  throw Error("OptimizerConfig::kind: unknown optimizer '" + name + "' (expected sgd, adam or adamw)");
}

Precision precision_named(const std::string& name) {
  for (int i = 0; i < 2; ++i)
    if (name == kPrecisions[i]) return static_cast<Precision>(i);
  throw Error("TrainOptions::precision: unknown precision '" + name + "' (expected f32 or bf16)");
}

}  // namespace onnxtrain
