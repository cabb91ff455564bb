// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), exactly as torch.optim.Adam and
// torch.optim.AdamW (PyTorch 1.13, amsgrad off), including torch's bias correction and its order of operations.
#include <cmath>

#include "runtime/optim/optimizer.h"

namespace onnxtrain::optim {
namespace {

struct Scalars {
  float step_size, bc2_sqrt, b1, b2, one_b1, one_b2, eps, wd, decay;  // decay = 1 - lr * weight_decay
  bool decoupled;
};

// The update of count elements, on one thread's share; the formula is above Adam::step.
ONNXTRAIN_VECTOR_CLONES void update(float* p, const float* gr, float* m, float* v, size_t count, const Scalars s) {
#pragma omp simd
  for (size_t i = 0; i < count; ++i) {
    float g = gr[i];
    if (s.decoupled) {
      p[i] = p[i] * s.decay;
    } else if (s.wd != 0.f) {
      g = g + s.wd * p[i];
    }
    m[i] = m[i] * s.b1 + s.one_b1 * g;
    v[i] = v[i] * s.b2 + s.one_b2 * g * g;
    float denom = std::sqrt(v[i]) / s.bc2_sqrt + s.eps;
    p[i] = p[i] + (-s.step_size) * (m[i] / denom);
  }
}

class Adam : public Optimizer {
 public:
  Adam(const OptimizerConfig& c, size_t size, bool decoupled)
      : c_(c), decoupled_(decoupled), m_(size, 0.f), v_(size, 0.f) {}

  //   t = t + 1
  //   AdamW: p = p * (1 - lr * weight_decay)        Adam: g = grad + weight_decay * p
  //   m = beta1 * m + (1 - beta1) * g
  //   v = beta2 * v + (1 - beta2) * g * g
  //   step_size = lr / (1 - beta1^t)
  //   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
  //   p = p - step_size * m / denom
  void step(float* params, const float* grads, const std::vector<Range>& ranges) override {
    ++t_;
    // Computed in double, as Python floats, then used as float scalars, as torch does.
    const double bc1 = 1.0 - std::pow(c_.beta1, double(t_));
    const double bc2 = 1.0 - std::pow(c_.beta2, double(t_));
    const Scalars s{static_cast<float>(c_.lr / bc1),
                    static_cast<float>(std::sqrt(bc2)),
                    float(c_.beta1),
                    float(c_.beta2),
                    float(1.0 - c_.beta1),
                    float(1.0 - c_.beta2),
                    float(c_.eps),
                    float(c_.weight_decay),
                    float(1.0 - c_.lr * c_.weight_decay),
                    decoupled_};
    float *const ms = m_.data(), *const vs = v_.data();
    for_each_share(ranges, [=](size_t offset, size_t count) {
      update(params + offset, grads + offset, ms + offset, vs + offset, count, s);
    });
  }

  std::vector<std::pair<std::string, std::vector<float>*>> buffers() override {
    return {{"exp_avg", &m_}, {"exp_avg_sq", &v_}};
  }
  void set_steps(int64_t steps) override { t_ = steps; }
  void set_lr(double lr) override { c_.lr = lr; }
  void set_momentum(double beta1) override { c_.beta1 = beta1; }

 private:
  OptimizerConfig c_;
  bool decoupled_;
  std::vector<float> m_, v_;  // first and second moments, laid out as the parameters
  int64_t t_ = 0;
};

}  // namespace

std::unique_ptr<Optimizer> make_adam(const OptimizerConfig& c, size_t size, bool decoupled) {
  return std::make_unique<Adam>(c, size, decoupled);
}

}  // namespace onnxtrain::optim
