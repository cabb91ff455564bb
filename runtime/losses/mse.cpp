// MSELoss (internal): mean squared error and its gradient in one host kernel, as PyTorch's MSELoss (mean over all
// elements).
#include "runtime/losses/elementwise_loss.h"

namespace onnxtrain::ops {
namespace {

// Y: any shape; T: the same (or as same_elements allows). loss: (); dY: Y's shape.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  if (!same_elements(in[0], in[1]))
    g.fail(n, "mse targets " + ir::shape_str(in[1]) + " do not match outputs " + ir::shape_str(in[0]));
  return {{}, in[0]};
}

// loss = (1/E) * sum_e (y_e - t_e)^2;  dY = 2 * (y - t) / E, over all E elements (E: the normalizer fed).
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  elementwise_loss(ctx, n, steps, [](float y, float t, float& dy, float E) {
    float d = y - t;
    dy = 2.f * d / E;
    return double(d) * d;
  });
}

}  // namespace

extern const OpDef kMSELoss{
    .type = "MSELoss", .versions = {1}, .check = no_check, .infer = infer, .forward = forward, .internal = true};

}  // namespace onnxtrain::ops
