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
  if (c.name == "sgd") return make_sgd(c, size);
  return make_adam(c, size, c.name == "adamw");
}

}  // namespace onnxtrain::optim

namespace onnxtrain {

OptimizerConfig resolved(const OptimizerConfig& in) {
  OptimizerConfig c = in;
  if (c.lr < 0) c.lr = c.name == "sgd" ? 0.01 : 0.001;
  if (c.weight_decay < 0) c.weight_decay = c.name == "adamw" ? 0.01 : 0.0;
  return c;
}

void check_optimizer(const OptimizerConfig& in) {
  using optim::require;
  const bool sgd = in.name == "sgd", adam = in.name == "adam", adamw = in.name == "adamw";
  if (!sgd && !adam && !adamw) throw Error("--optimizer: unknown optimizer '" + in.name + "' (expected sgd, adam or adamw)");
  const OptimizerConfig c = resolved(in);
  require(c.lr > 0 && std::isfinite(c.lr), "--lr", "must be a positive number", c.lr);
  require(c.weight_decay >= 0 && std::isfinite(c.weight_decay), "--weight-decay", "must be >= 0", c.weight_decay);
  if (sgd) {
    require(c.momentum >= 0 && std::isfinite(c.momentum), "--momentum", "must be >= 0", c.momentum);
    require(c.dampening >= 0 && c.dampening <= 1, "--dampening", "must be in [0, 1]", c.dampening);
    if (c.nesterov && (c.momentum <= 0 || c.dampening != 0))
      throw Error("--nesterov needs --momentum > 0 and --dampening 0 (as in torch.optim.SGD)");
    return;
  }
  require(c.beta1 >= 0 && c.beta1 < 1, "--beta1", "must be in [0, 1)", c.beta1);
  require(c.beta2 >= 0 && c.beta2 < 1, "--beta2", "must be in [0, 1)", c.beta2);
  require(c.eps >= 0 && std::isfinite(c.eps), "--eps", "must be >= 0", c.eps);
}

}  // namespace onnxtrain
