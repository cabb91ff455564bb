// SGD with momentum, dampening, Nesterov and L2 weight decay, exactly as torch.optim.SGD (PyTorch 1.13).
#include "runtime/optim/optimizer.h"

namespace onnxtrain::optim {
namespace {

// The update of count elements, on one thread's share; the formula is above Sgd::step.
ONNXTRAIN_VECTOR_CLONES void update(float* p, const float* gr, float* buf, size_t count, float lr, float wd, float mom,
                                    float damp, bool first, bool nesterov) {
#pragma omp simd
  for (size_t i = 0; i < count; ++i) {
    float g = gr[i];
    if (wd != 0.f) g = g + wd * p[i];
    if (buf) {
      buf[i] = first ? g : mom * buf[i] + damp * g;
      g = nesterov ? g + mom * buf[i] : buf[i];
    }
    p[i] = p[i] + (-lr) * g;
  }
}

class Sgd : public Optimizer {
 public:
  Sgd(const OptimizerConfig& c, size_t size) : c_(c), buf_(c.momentum != 0.f ? size : 0, 0.f) {}

  //   g = grad + weight_decay * p
  //   if momentum != 0:
  //     buf = g                                        (first step)
  //     buf = momentum * buf + (1 - dampening) * g     (later steps)
  //     g = nesterov ? g + momentum * buf : buf
  //   p = p - lr * g
  void step(float* params, const float* grads, const std::vector<Range>& ranges) override {
    // torch's scalars: Python doubles cast to float.
    const float lr = float(c_.lr), wd = float(c_.weight_decay), mom = float(c_.momentum),
                damp = float(1.0 - c_.dampening);
    const bool first = first_, nesterov = c_.nesterov;
    float* const bufs = buf_.empty() ? nullptr : buf_.data();
    for_each_share(ranges, [=](size_t offset, size_t count) {
      update(params + offset, grads + offset, bufs ? bufs + offset : nullptr, count, lr, wd, mom, damp, first,
             nesterov);
    });
    first_ = false;
  }

  std::vector<std::pair<std::string, std::vector<float>*>> buffers() override {
    if (buf_.empty()) return {};
    return {{"momentum_buffer", &buf_}};
  }
  void set_steps(int64_t steps) override { first_ = steps == 0; }
  // With no momentum and no weight decay, p = p + (-lr) * grad: the weight-gradient GEMMs may apply it themselves.
  float fused_scale() const override { return c_.momentum == 0.f && c_.weight_decay == 0.f ? -float(c_.lr) : 0.f; }
  void set_lr(double lr) override { c_.lr = lr; }
  // A momentum set here is one the buffer was made for (OneCycleLR's, made with its max_momentum).
  void set_momentum(double momentum) override {
    if (!buf_.empty()) c_.momentum = momentum;
  }

 private:
  OptimizerConfig c_;
  std::vector<float> buf_;  // momentum buffer, laid out as the parameters
  bool first_ = true;
};

}  // namespace

std::unique_ptr<Optimizer> make_sgd(const OptimizerConfig& c, size_t size) { return std::make_unique<Sgd>(c, size); }

}  // namespace onnxtrain::optim
