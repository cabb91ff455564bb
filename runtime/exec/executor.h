// The executor: binds input shapes, infers every shape, compiles each node's oneDNN steps into a Plan with one arena,
// and runs them as a plain loop. Plans are cached per set of input shapes, so a partial last batch costs one compile
// per run, not one per epoch. It does no autodiff and owns no parameters (those are read in place).
#pragma once
#include <dnnl.hpp>
#include <map>
#include <memory>
#include <vector>

#include "onnxtrain/tensor.h"
#include "runtime/ir/graph.h"
#include "runtime/ops/op.h"

namespace onnxtrain {

// Sets the OpenMP threads oneDNN uses; n <= 0 means the machine's cores.
void set_threads(int n);
int default_threads();

// A fed input that an op reads when the plan is made (an integer input such as a Reshape's shape; a float one such as
// Range's bounds): checks t (a scalar or 1-D tensor of v's dtype) against v, binds its values into v.ints or
// v.reals, and writes prepare()'s key for it into key (reusing its storage): the rank, then the values (a float's
// bits). Throws Error naming the input.
void bind_plan_values(const ir::Graph& g, ir::Value& v, const Tensor& t, ir::Shape& key);

class Executor {
 public:
  // g must outlive the executor. Parameters are read (and trained) in place at params + value.offset; by default
  // the graph's own buffer. Gradients of parameters (values with grad_of set) live in grads(), in the same layout.
  explicit Executor(const ir::Graph& g, float* params = nullptr, size_t params_size = 0, bool bf16 = false);
  ~Executor();

  // Selects (compiling it the first time) the plan for these fed values: graph inputs, and feedable parameters the
  // user overrides, keyed by value id. For an input read when the plan is made (a Reshape's shape fed at run time)
  // the entry is bind_plan_values' key: shapes then follow from the values it bound. Refuses missing
  // inputs and shapes that contradict the model. Returns whether it compiled.
  bool prepare(const std::map<int, ir::Shape>& fed);

  // Reads fed value v from the caller's buffer instead of the arena, so the caller copies nothing in: every view of
  // v is rebound to data. Ops only read their inputs; data must stay alive and unchanged until run() returns.
  void bind_input(int value, const void* data);
  // A value's buffer: arena, bound input, parameter, constant or gradient. Of a value the plan keeps in a blocked
  // layout, a plain copy made when asked for, to be read only.
  void* bytes(int value);
  float* data(int value) { return static_cast<float*>(bytes(value)); }  // the same, of a float32 value
  const ir::Shape& shape(int value) const;                              // concrete, after prepare()
  void run();                                                           // every step, in order
  void run_forward();                                                   // only the steps of nodes not marked backward
  // A training run that also applies the update fuse_updates() folded into the backward pass, to the parameters
  // fused() names; their gradients are then not written. The others' gradients are, as in run().
  void run_update();
  float* grads() { return grads_.data(); }  // every parameter gradient, laid out as the parameters
  size_t arena_bytes() const;
  void set_training(bool on) { training_ = on; }  // Dropout drops only in training runs
  void set_seed(uint64_t seed) { seed_ = seed; }  // before the first prepare()
  void set_step(uint64_t step) { step_ = step; }  // the training step the next run() is (Dropout's masks)
  // Plain SGD, p = p + scale * dp with scale = -lr, to be folded into the steps that write whole parameter gradients,
  // for run_update(). Before the first prepare().
  void fuse_updates(float scale) { update_scale_ = scale, fuse_ = scale != 0.f; }
  // A new scale for the fused update (a scheduled lr), between runs. The fused steps hold the scale as a constant
  // (see CompileCtx::update_scale), so a different one ends the fusion: the plans are made again, once, without it,
  // and run_update() then updates no parameter itself.
  void set_update_scale(float scale);
  // Per value id, after prepare(): whether run_update() updates this parameter itself (the plan's GEMM shapes decide).
  const std::vector<char>& fused() const;
  // Inference: parameters change only between runs, as *version says (the model's params_version); weights may be
  // packed once per plan and repacked when the version moves. Before the first prepare().
  void freeze_weights(const uint64_t* version) { frozen_version_ = version; }
  size_t plans() const { return plans_.size(); }
  // Whether the current plan stores value in a layout other than plain (CompileCtx::layout). For tests.
  bool blocked(int value) const;
  // Per step of the current plan (prepare steps apart), the index in g.nodes of the node it computes: a node that
  // folded (a shape chain) or has nothing to compute is in none. For tests.
  const std::vector<int>& step_nodes() const;

 private:
  struct Plan;
  struct Compiled;
  // Every value's shape for these fed values into plan.shapes, and the shape chains folded for them.
  void resolve_shapes(const std::map<int, ir::Shape>& fed, Plan& plan) const;
  void run_steps(size_t count, bool update = false);
  void* fixed_address(int value);  // a parameter's or a gradient's place in its flat buffer, or a typed constant's

  const ir::Graph& g_;
  float* params_;
  bool bf16_;
  bool training_ = false;
  const uint64_t* frozen_version_ = nullptr;
  uint64_t seed_ = 0;
  uint64_t step_ = 0;
  float update_scale_ = 0.f;
  bool fuse_ = false;  // fuse_updates() asked for the fused update, and no other scale has been set since
  std::vector<float> grads_;
  dnnl::engine eng_;
  dnnl::stream stream_;
  std::map<std::map<int, ir::Shape>, std::unique_ptr<Plan>> plans_;
  Plan* plan_ = nullptr;
};

}  // namespace onnxtrain
