// onnxtrain::TrainingSession: trains a loaded Model's float initializers in place, through autodiff-derived
// backward kernels and a torch.optim-exact optimizer. The model is then saved with Model::save.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "onnxtrain/dataset.h"
#include "onnxtrain/model.h"
#include "onnxtrain/tensor.h"

namespace onnxtrain {

// The losses: from the head means Softmax -> cross-entropy, LogSoftmax -> nll, Sigmoid -> bce.
enum class Loss { FromHead, CrossEntropy, Nll, Bce, Mse };
enum class Optimizer { Sgd, Adam, AdamW };  // torch.optim.SGD, Adam, AdamW
// F32; or Bf16: GEMMs compute in bf16 where the CPU has avx512_bf16, with f32 master weights (models stay f32).
enum class Precision { F32, Bf16 };

// Their names, as the command line and checkpoints spell them: "cross-entropy", "nll", "bce", "mse" ("" for
// FromHead); "sgd", "adam", "adamw"; "f32", "bf16". The parsers throw Error naming the field and the names expected.
std::string name_of(Loss loss);
std::string name_of(Optimizer optimizer);
std::string name_of(Precision precision);
Loss loss_named(const std::string& name);  // "" is FromHead
Optimizer optimizer_named(const std::string& name);
Precision precision_named(const std::string& name);

// Hyperparameters are doubles, as Python floats are in torch.optim: the optimizers derive their float scalars from
// them the way torch does, so updates match to the last bit where the arithmetic allows.
struct OptimizerConfig {
  Optimizer kind = Optimizer::Sgd;
  double lr = -1;  // < 0: the optimizer's default (sgd 0.01, adam and adamw 0.001)
  double momentum = 0, dampening = 0;
  bool nesterov = false;
  double weight_decay = -1;  // < 0: the optimizer's default (0; adamw 0.01)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// Checks an optimizer's hyperparameters as TrainingSession does (torch.optim's ranges: momentum >= 0, beta1 in
// [0, 1), Nesterov only with momentum and no dampening, ...), so that a front end can refuse them as bad usage
// before any work. Throws Error naming the field ("OptimizerConfig::beta1: must be in [0, 1), got 1.5").
void check_optimizer(const OptimizerConfig& config);

// The learning rate and weight decay in effect: a config's "optimizer default" (< 0) resolved for its optimizer.
OptimizerConfig resolved(const OptimizerConfig& config);

struct TrainOptions {
  Loss loss = Loss::FromHead;
  OptimizerConfig optimizer;
  // The graph output the loss reads; empty: the model's only output. With several (probabilities beside logits, an
  // auxiliary head), the others are neither computed nor differentiated while training, and parameters that reach
  // only them are not trained.
  std::string output;
  // Initializers that are not trained: names, or glob patterns over them ("0.*", "encoder.*.bias"; fnmatch's * ? and
  // [...], * spanning dots). Each must match a float initializer, or the session is refused naming it.
  std::vector<std::string> freeze;
  // Non-empty: train only the initializers these patterns match, every other one frozen (freeze still applies).
  std::vector<std::string> train_only;
  // BatchNormalization keeps its running statistics fixed and normalizes with them while training, as fine-tuning
  // under PyTorch's model.eval() does; false: it normalizes with the batch's and updates them, as under model.train().
  bool freeze_batchnorm = false;
  int threads = 0;    // 1 to kMaxThreads (session.h); 0: the machine's cores
  uint64_t seed = 0;  // Dropout masks, and the Trainer's shuffling
  // Bf16 falls back to f32 where the CPU lacks avx512_bf16; TrainingSession::precision() says which runs.
  Precision precision = Precision::F32;

  // torch.nn.functional.cross_entropy's options (nll takes class_weights and ignore_index; bce and mse none).
  // class_weights: one per class (C of the (N, C) output), finite and >= 0; empty: all 1. The mean then divides by
  // the summed weights of the targets not ignored (probability targets: by N). label_smoothing in [0, 1]: torch 1.13's
  // mix of the target with the uniform distribution, weighted as torch weights it. Targets equal to ignore_index
  // (torch's default -100) add nothing to the loss, the gradient or the accuracy; with probability targets it must
  // be negative, as torch requires.
  std::vector<float> class_weights;
  double label_smoothing = 0;
  int64_t ignore_index = -100;
  // Gradient clipping before each update, over every trained parameter: torch.nn.utils.clip_grad_norm_ (the 2-norm
  // of the per-parameter 2-norms; gradients scaled by min(1, max / (norm + 1e-6))) when clip_grad_norm > 0, or
  // clip_grad_value_ (each element clamped to [-v, v]) when clip_grad_value > 0. One of them at most; 0: off.
  double clip_grad_norm = 0;
  double clip_grad_value = 0;
};

struct EvalResult {
  double loss = 0;      // mean over the samples
  int64_t correct = 0;  // hits: the argmax against class labels, or p > 0.5 against t > 0.5 (binary_accuracy())
  int64_t count = 0;
  int64_t ignored = 0;          // of count, targets equal to TrainOptions::ignore_index: in neither loss nor hits
  bool classification = false;  // hits were counted
  double accuracy() const { return count > ignored ? double(correct) / double(count - ignored) : 0; }

  // Class labels (classification): the top-k hits, a label among the k highest scores (ties go to the lower class
  // index, as the argmax's do; torchmetrics' MulticlassAccuracy(top_k=k, average='micro')), and the confusion matrix,
  // confusion[label * classes + predicted] (a binary classifier's has 2 classes, predicted p > 0.5).
  int64_t top_k = 1;
  int64_t correct_top_k = 0;
  int64_t classes = 0;
  std::vector<int64_t> confusion;
  double top_k_accuracy() const { return count > ignored ? double(correct_top_k) / double(count - ignored) : 0; }
  // Per class: the hits among its samples over its samples (its recall; torchmetrics' MulticlassAccuracy with
  // average=None). A class with no samples gets NaN.
  std::vector<double> per_class_accuracy() const;

  // Float targets under mse (regression): the mean squared and absolute errors over every element, and R^2 as
  // sklearn's r2_score computes it with multioutput='uniform_average': 1 - SS_res / SS_tot for each output (each
  // element of a sample), then their mean; an output whose targets are constant counts 1 when predicted exactly and 0
  // otherwise (sklearn's force_finite).
  bool regression = false;
  double mse = 0, mae = 0, r2 = 0;
};

// What resuming needs beyond the weights to continue bitwise: the steps taken (Adam's bias correction and Dropout's
// masks follow it) and the optimizer's state, one tensor per buffer and trainable initializer, keyed
// "<buffer>/<initializer>" with torch.optim's buffer names (exp_avg, exp_avg_sq, momentum_buffer).
struct TrainingState {
  int64_t steps = 0;
  std::map<std::string, Tensor> optimizer;
};

// Diagnostics, gathered while set_diagnostics(true) (off by default: they read every Relu output and copy the weights
// each step). For each Relu and LeakyRelu of the model, over the steps since reset_layer_stats():
struct LayerStats {
  std::string node, op_type;
  int64_t units = 0;    // features per sample: the output's size over its batch dimension
  int64_t samples = 0;  // samples seen
  double dead = 0;      // fraction of units whose pre-activation was <= 0 on every sample seen (zero ReLU output)
  double negative = 0;  // fraction of (sample, unit) pre-activations that were <= 0
};
// For each trainable parameter, at the last train_step.
struct ParamStats {
  std::string name;
  double grad_norm = 0;     // ||dW||, the loss's gradient before the optimizer (weight decay not included)
  double weight_norm = 0;   // ||W|| before the update
  double update_ratio = 0;  // ||W_after - W_before|| / ||W_before||
};

class TrainingSession {
 public:
  // The model must outlive the session; its parameters are updated in place. Throws Error for a model that cannot
  // be trained with these options (naming the option, node or tensor).
  TrainingSession(Model& model, TrainOptions options);
  ~TrainingSession();

  // One optimizer step on a batch. x: (B, ...) float32 features shaped as the model's input; y: (B) int64 class
  // labels, or float32 targets shaped as the output (mse) or (B, C) class probabilities. Returns the batch's loss;
  // with class labels (or 0/1 targets under binary_accuracy()), *correct receives the batch's hits before the update.
  float train_step(const Tensor& x, const Tensor& y, int64_t* correct = nullptr);

  // The same for a model with several inputs, or inputs of other dtypes than float32 (an int64 index, a uint8
  // image): every input the loss's output depends on (inputs()), keyed by name, each (B, ...) in its input's dtype
  // and read in place. Keys that name no such input are ignored. The Tensor overloads feed a model's only input.
  float train_step(const std::map<std::string, Tensor>& inputs, const Tensor& y, int64_t* correct = nullptr);

  // Gradient accumulation (TrainerOptions::accumulate): one optimizer step over a batch given in parts. begin_step
  // names the parts and the whole batch's normalizer (loss_normalizer of all its targets); each accumulate_step runs
  // forward and backward on one part, its loss divided by that normalizer, and sums its gradients into the step's;
  // the last part's call also clips, updates and counts the step. Each returns its part's share of the loss: summed,
  // the whole batch's mean. train_step is begin_step(1, loss_normalizer(y)) and one accumulate_step. BatchNorm's
  // batch statistics and Dropout's masks are each part's own, as in PyTorch's accumulation.
  void begin_step(int64_t parts, double normalizer);
  float accumulate_step(const std::map<std::string, Tensor>& inputs, const Tensor& y, int64_t* correct = nullptr);
  // What the loss divides its sum by for these targets: the count of class labels not ignored, each weighted by its
  // class weight; N for (N, C) probabilities; the element count for bce and mse. Sums over parts. Checks the labels.
  double loss_normalizer(const Tensor& y) const;
  // Of these class labels, how many equal TrainOptions::ignore_index (0 for float targets).
  int64_t ignored(const Tensor& y) const;
  // The label skipped: TrainOptions::ignore_index under cross-entropy and nll; under other losses none
  // (kNoIgnoredLabel), so that check_trainable refuses every negative label.
  int64_t ignore_index() const;
  // The total 2-norm of the gradients before clipping, at the last step with TrainOptions::clip_grad_norm; NaN
  // otherwise.
  double total_norm() const;
  // The loss was not named and the output is raw scores: cross-entropy on the logits, which takes int64 class labels
  // only (float targets are refused, asking for TrainOptions::loss). A front end says so.
  bool loss_from_labels() const;

  // The gradient train_step would take on this batch, of each trainable initializer (keyed by name, float32, shaped as
  // the initializer), from the same kernels and loss, but with Dropout as the identity (as evaluate runs it). No
  // update and no step is counted. *loss, when given, receives the batch's loss. For gradcheck.
  std::map<std::string, Tensor> gradients(const Tensor& x, const Tensor& y, float* loss = nullptr);
  std::map<std::string, Tensor> gradients(const std::map<std::string, Tensor>& inputs, const Tensor& y,
                                          float* loss = nullptr);

  // The loss (and accuracy for class labels) of the model as it is now, over x and y in batches, without training.
  // A model whose input fixes its batch dimension (a PyTorch export without dynamic_axes) is run in batches of that.
  // With class labels it also counts the top_k hits (1 to the classes; an Error naming top_k otherwise) and the
  // confusion matrix; with float targets under mse, the regression metrics (EvalResult).
  EvalResult evaluate(const Tensor& x, const Tensor& y, int64_t batch_size = 256, int64_t top_k = 1);
  EvalResult evaluate(const std::map<std::string, Tensor>& inputs, const Tensor& y, int64_t batch_size = 256,
                      int64_t top_k = 1);
  // A data set's features (x, and every other input's in more) and targets.
  EvalResult evaluate(const Dataset& data, int64_t batch_size = 256, int64_t top_k = 1);

  // The state to checkpoint beside the weights, and its restoration (before the next train_step) in a session made
  // from the same model and options. restore() throws Error naming the tensor for a state that does not fit.
  TrainingState state() const;
  void restore(const TrainingState& state);
  int64_t steps() const;  // train_step calls so far, counting restored ones

  // The learning rate from the next train_step on (a schedule's; OptimizerConfig::lr until then). Nothing is
  // rebuilt: the plain-SGD update fused into the GEMMs reads it when it runs. lr() is the one the next step uses.
  void set_lr(double lr);
  double lr() const;
  // SGD's momentum, or Adam's and AdamW's beta1, from the next train_step on (OneCycleLR cycles it). For SGD the
  // session must have been made with a nonzero OptimizerConfig::momentum, which gives it its buffer; Error otherwise.
  void set_momentum(double momentum);

  void set_diagnostics(bool on);
  std::vector<LayerStats> layer_stats() const;
  void reset_layer_stats();
  std::vector<ParamStats> param_stats() const;
  // After a step whose loss is NaN or Inf: where it first appeared, "the forward pass at node 'fc1' (Gemm)" or
  // "the backward pass at node ... (Op)", from the values that step computed; empty if none holds one.
  std::string nonfinite_origin() const;
  // The first trainable parameter holding a NaN or Inf, "" when every one is finite. A finite loss does not prove
  // the weights finite (a Relu or a max hides a NaN from it), so a run checks this before it writes weights.
  std::string nonfinite_parameter() const;

  std::string loss_name() const;
  std::string output() const;               // the output the loss reads
  std::string input() const;                // the input the features feed: the (first) one that output depends on
  std::vector<std::string> inputs() const;  // every input that output depends on, in the model's order
  // A binary classifier: bce on one output per sample, (N, 1). Its float 0/1 targets are then scored too, as
  // ((p > 0.5) == (t > 0.5)), the accuracy a PyTorch user computes for it.
  bool binary_accuracy() const;
  std::vector<std::string> trainable() const;  // the initializers that get gradients
  std::vector<std::string> frozen() const;     // those TrainOptions::freeze and train_only keep fixed, sorted
  int64_t classes() const;                     // C of a (N, C) output, 0 otherwise
  // The loss reads class indices: cross-entropy or nll on an output of classes > 1 (fit_targets' class_labels).
  bool class_labels() const;
  std::string precision() const;  // what the GEMMs compute in: "f32" or "bf16"
  // The parameters the last train_step updated inside its backward pass: plain SGD (no momentum, no weight decay)
  // is folded into the GEMMs that compute weight and bias gradients, which then add -lr times the gradient to the
  // parameter instead of writing the gradient (f32, without diagnostics). The optimizer's own pass updated the rest.
  std::vector<std::string> fused_updates() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace onnxtrain
