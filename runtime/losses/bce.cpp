// Binary cross-entropy (internal), as PyTorch's BCELoss (mean over all elements, log clamped at -100) on
// probabilities, and SigmoidBCELoss on logits: what autodiff fuses a Sigmoid head into, stable for any logit.
#include <cmath>

#include "runtime/losses/elementwise_loss.h"

namespace onnxtrain::ops {
namespace {

// P (or Z): any shape; T: the same (or as same_elements allows), in [0, 1]. loss: (); dP: P's shape.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  if (!same_elements(in[0], in[1]))
    g.fail(n, "bce targets " + ir::shape_str(in[1]) + " do not match outputs " + ir::shape_str(in[0]));
  return {{}, in[0]};
}

// loss = -(1/E) * sum (t * max(log p, -100) + (1 - t) * max(log(1 - p), -100))
// dP = (p - t) / (max(p * (1 - p), 1e-12) * E)     (PyTorch clamps the same denominator)
void bce_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  elementwise_loss(ctx, n, steps, [](float p, float t, float& dp, float E) {
    double lp = std::max(std::log(double(p)), -100.0), l1p = std::max(std::log(1.0 - p), -100.0);
    dp = static_cast<float>((double(p) - t) / (std::max(double(p) * (1.0 - p), 1e-12) * double(E)));
    return -(t * lp + (1.0 - t) * l1p);
  });
}

// With p = sigmoid(z): loss = (1/E) * sum (max(z, 0) - t * z + log(1 + exp(-|z|)));  dZ = (p - t) / E.
void sigmoid_bce_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  elementwise_loss(ctx, n, steps, [](float z, float t, float& dz, float E) {
    double zd = z;
    double p = 1.0 / (1.0 + std::exp(-zd));
    dz = static_cast<float>((p - t) / double(E));
    return std::max(zd, 0.0) - t * zd + std::log1p(std::exp(-std::fabs(zd)));
  });
}

}  // namespace

extern const OpDef kBCELoss{
    .type = "BCELoss", .versions = {1}, .check = no_check, .infer = infer, .forward = bce_forward, .internal = true};
extern const OpDef kSigmoidBCELoss{.type = "SigmoidBCELoss",
                                   .versions = {1},
                                   .check = no_check,
                                   .infer = infer,
                                   .forward = sigmoid_bce_forward,
                                   .internal = true};

}  // namespace onnxtrain::ops
