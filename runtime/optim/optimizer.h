// Optimizers over flat buffers: parameters, gradients and every moment share one layout, so a step is one loop
// per trainable range. The update rules are torch.optim's (PyTorch 1.13), formula above each.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "onnxtrain/train.h"

namespace onnxtrain::optim {

struct Range {
  size_t offset, count;  // a trainable parameter's place in the flat buffers
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every range: params -= f(grads, state).
  virtual void step(float* params, const float* grads, const std::vector<Range>& ranges) = 0;
  // For checkpoints: the state buffers, laid out as the parameters and named as torch.optim's state_dict names them
  // (exp_avg, exp_avg_sq, momentum_buffer), and the steps taken. Restoring both continues bitwise.
  virtual std::vector<std::pair<std::string, std::vector<float>*>> buffers() = 0;
  virtual void set_steps(int64_t steps) = 0;
};

// size is the flat buffers' length. Throws Error naming the option for an invalid configuration.
std::unique_ptr<Optimizer> make(const OptimizerConfig& config, size_t size);

std::unique_ptr<Optimizer> make_sgd(const OptimizerConfig& c, size_t size);
std::unique_ptr<Optimizer> make_adam(const OptimizerConfig& c, size_t size, bool decoupled);

}  // namespace onnxtrain::optim
