// Autodiff as a graph rewrite: appends a loss node and the backward nodes (ordinary ops, from each op's gradient
// rule) to a forward graph, for the trainable parameters only. It runs nothing and allocates no tensors.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace onnxtrain::autodiff {

enum class Loss { CrossEntropy, NLL, BCE, MSE };

struct Training {
  int target = -1;             // the input fed with labels (as float) or targets
  int loss = -1;               // the scalar loss
  int normalizer = -1;         // with LossSettings::fed_normalizer, the scalar input the loss's sum is divided by
  int scores = -1;             // what accuracy is taken on: the output, or the logits before a fused Softmax
  bool fused_softmax = false;  // the loss fused with the model's head (Softmax with cross-entropy, LogSoftmax with
                               // nll, Sigmoid with bce), which then leaves the training graph: the gradient into the
                               // head's input is (p - onehot) / N, or (p - t) / E for bce
  std::vector<int> trainable;  // parameters that get a gradient, in graph order
};

// The loss to use when none is named, from the head: Softmax gives cross-entropy, LogSoftmax nll, Sigmoid bce;
// any other head is an Error asking for TrainOptions::loss.
Loss default_loss(const ir::Graph& g);
Loss parse_loss(
    const std::string& name);  // "cross-entropy" | "nll" | "bce" | "mse"; an Error naming TrainOptions::loss otherwise
const char* loss_name(Loss loss);

// torch.nn.functional.cross_entropy's options, as attributes of the loss node: class weights (empty: all 1), label
// smoothing (cross-entropy only) and the label whose targets are skipped. nll takes weights and ignore_index.
struct LossSettings {
  std::vector<float> weights;
  double label_smoothing = 0;
  int64_t ignore_index = -100;
  // A scalar input (Training::normalizer) that the loss divides its sum by, fed each run; without it, the loss divides
  // by its own batch's count (graphs that tests run directly).
  bool fed_normalizer = false;
};

// Rewrites g in place. frozen names parameters that get no gradient; an unknown name is an Error.
Training add_training(ir::Graph& g, Loss loss, const std::set<std::string>& frozen,
                      const LossSettings& settings = LossSettings());

}  // namespace onnxtrain::autodiff
