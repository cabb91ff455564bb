// onnxtrain::gradcheck: the gradients training takes (the kernels' float32 backward, the same loss) against central
// finite differences of a naive double-precision forward pass of the model's own graph. It trains nothing and changes
// no weight. Also first_nonfinite_node, the same reference forward asked where a NaN or an overflow first appears.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "onnxtrain/model.h"
#include "onnxtrain/tensor.h"
#include "onnxtrain/train.h"

namespace onnxtrain {

struct GradcheckOptions {
  Loss loss = Loss::FromHead;  // as TrainOptions::loss
  std::string output;          // the output the loss reads, as TrainOptions::output
  double eps = 1e-6;           // the central difference's step: (L(w + eps) - L(w - eps)) / 2eps, in double
  // The largest relative error that passes, per element:
  //   |analytic - numeric| / max(|analytic|, |numeric|, floor),
  //   floor = max(floor_fraction * (the parameter's largest |analytic| element), atol / tolerance)
  //   atol  = 8 * FLT_EPSILON * (the largest |analytic| element of all parameters)
  //           + 64 * DBL_EPSILON * max(1, |L|) / eps
  // so that elements near zero are held to the parameter's gradient scale (where float32 rounding lives), not to
  // their own tiny size, and a difference within rounding (atol: the float32 backward's at the model's gradient
  // scale, the double difference quotient's) never fails: a gradient that is exactly 0 passes against float32
  // noise. Right rules stay below ~1e-4 on the bundled model and the parity models; a 1% error in a rule is 1e-2.
  double tolerance = 1e-3;
  double floor_fraction = 1e-3;
  int64_t elements = 30;  // per parameter, at random, plus always the one of largest |analytic|; 0: every element
  uint64_t seed = 0;      // which elements
  int threads = 0;        // for the kernels, 1 to kMaxThreads; 0: the machine's cores
};

struct ParamCheck {
  std::string name;
  std::vector<int64_t> shape;
  bool has_gradient = true;  // whether training computes a gradient for it (if not, analytic = 0 is checked)
  int64_t checked = 0;       // elements compared
  int64_t excluded = 0;      // elements left out at a Relu or LeakyRelu kink: w +- eps moved a pre-activation
                             // across it (the difference then mixes two slopes), or the element failed while
                             // moving one that lies within float32 rounding of it (the kernels may have taken the
                             // other branch there)
  std::vector<std::string> kink_nodes;  // "node (Op)" of the kinks that excluded elements
  double max_rel_error = 0;             // over the checked elements
  int64_t worst = -1;                   // flat index of that element; -1 when none was checked
  double analytic = 0, numeric = 0;     // the two gradients at worst
  double floor = 0;                     // the relative error's floor for this parameter (GradcheckOptions::tolerance)
  bool pass = true;
};

struct GradcheckReport {
  std::string loss;  // the loss checked, "cross-entropy", ...
  int64_t samples = 0;
  double loss_onnxtrain = 0;       // the batch's loss from the kernels (float32)
  double loss_reference = 0;       // the same from the double reference
  bool loss_agrees = true;         // |difference| <= tolerance * max(1, |reference|): the two forwards agree
  double atol = 0;                 // the absolute difference that rounding alone explains (GradcheckOptions)
  int64_t dropout_nodes = 0;       // Dropout nodes, run as the identity on both sides
  std::vector<ParamCheck> params;  // every float initializer some node reads, in the model's order
  bool pass() const {
    for (const ParamCheck& p : params)
      if (!p.pass) return false;
    return loss_agrees;
  }
};

// Checks every parameter's gradient on the batch x (B, ...) float32 and y (labels or targets as train_step takes them).
// Throws Error naming the model, option or tensor for what cannot be checked.
GradcheckReport gradcheck(Model& model, const Tensor& x, const Tensor& y, const GradcheckOptions& options = {});
// The same for a model with several inputs (or inputs of other dtypes): every graph input's batch by name, as
// TrainingSession::train_step takes them.
GradcheckReport gradcheck(Model& model, const std::map<std::string, Tensor>& inputs, const Tensor& y,
                          const GradcheckOptions& options = {});

// The double reference forward on x; "<node name> (<op type>)" of the first node in topological order whose output
// holds a NaN, an Inf or a value beyond float32's range (|v| > FLT_MAX), or "" if none does.
std::string first_nonfinite_node(const Model& model, const Tensor& x);

}  // namespace onnxtrain
