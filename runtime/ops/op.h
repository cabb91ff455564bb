// The contract every op file fulfils: validate a node at load, infer its output shapes, and compile its oneDNN
// steps for fixed shapes. Ops never allocate: they ask the CompileCtx for views over the executor's arena.
#pragma once
#include <dnnl.hpp>
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ir/graph.h"

namespace onnxtrain::ops {

using ir::Shape;

// One primitive and its argument map, or (for the few kernels oneDNN has no primitive for, such as the losses) a
// host loop. The executor's run() is a plain loop over these.
struct Step {
  Step() = default;
  Step(dnnl::primitive p, std::unordered_map<int, dnnl::memory> a) : prim(std::move(p)), args(std::move(a)) {}
  dnnl::primitive prim;
  std::unordered_map<int, dnnl::memory> args;
  std::function<void()> host;           // set instead of prim for a host kernel
  std::vector<dnnl_exec_arg_t> c_args;  // args as the C API takes them, built once by the executor
};

// What an op may use while compiling. Memory handed out here is bound to the arena after every op has compiled.
class CompileCtx {
 public:
  virtual ~CompileCtx() = default;
  virtual const dnnl::engine& engine() const = 0;
  virtual const ir::Graph& graph() const = 0;
  virtual const Shape& shape(int value) const = 0;  // concrete shape of a value
  // A memory object over a value's buffer, seen through md (which may reshape or stride it). A value stored in a
  // blocked layout (below) seen through any other desc is read from a plain copy of it: input(value, plain).
  virtual dnnl::memory view(int value, const dnnl::memory::desc& md) = 0;
  // Layouts. A value is stored plain (row-major f32, dnnl_compat::plain) unless its producer chose another layout for
  // it with set_layout: a convolution's nChw16c, which the ops with OpDef::layouts then read and write in directly,
  // from one convolution to the next. The others see plain copies, so an op needs no change to stay correct.
  // layout(v): the layout v is stored in, nullptr where it is plain.
  virtual const dnnl::memory::desc* layout(int value) const = 0;
  // Whether value's producer may store it in a layout of its choosing: a float32 activation or gradient in the arena
  // (not fed, not a graph output, not a parameter or its gradient) that some op with OpDef::layouts reads.
  virtual bool may_block(int value) const = 0;
  // Stores value in md; before any view of it is made. Its slot grows where md pads the channels.
  virtual void set_layout(int value, const dnnl::memory::desc& md) = 0;
  // value as a kernel reads it in md (a plain value seen in md's dims, as a grouped weight is): its own buffer where it
  // is stored in md, else a copy in md that a reorder fills
  // before the node's steps run. The copy is made once per plan for every reader that wants md, and for a parameter
  // of frozen weights in a prepare step.
  virtual dnnl::memory input(int value, const dnnl::memory::desc& md) = 0;
  // Arena space owned by this node's kernels, alive for the whole run.
  virtual dnnl::memory scratch(const dnnl::memory::desc& md) = 0;
  // Whether GEMMs compute in bf16 (operands converted, f32 results and master weights).
  virtual bool bf16() const = 0;
  // Whether parameters stay fixed between runs of this executor (inference): kernels may then pack weights once,
  // in prepare steps, which the executor reruns only when the parameters change.
  virtual bool weights_frozen() const = 0;
  // Whether a value is read in place from the parameter buffer (not fed by the user for this plan).
  virtual bool stored(int value) const = 0;
  virtual void prepare_step(Step step) = 0;
  // Whether the current run trains (Dropout drops only then); read by kernels when they execute, not when built.
  virtual const bool* training() const = 0;
  // A seed for kernels that draw random numbers (Dropout), fixed per executor.
  virtual uint64_t seed() const = 0;
  // The index of the training step being run, read when kernels execute: Dropout's masks are a function of seed,
  // node and step alone, so a resumed run draws the masks the uninterrupted one would have.
  virtual const uint64_t* step() const = 0;
  // Arena space filled with value once, when the plan is made (e.g. a ones vector that turns a sum into a matmul).
  virtual dnnl::memory constant(const dnnl::memory::desc& md, float value) = 0;
  // Training with an update that folds into the backward pass (plain SGD, p = p + (-lr) * dp): for a step that writes
  // the whole gradient `grad` of a parameter, whether a variant of the step may add (-lr) times its result to the
  // parameter instead; not where there is no such update, another node reads the gradient, or the step reads
  // (reads: the values it reads) a parameter or gradient, which another fused update may already have changed.
  // update_scale() is the factor, (-lr), which the variant holds as a constant: oneDNN 2.6 runs a matmul whose
  // output scale is read at run time on a slower kernel (gemm:jit for brgemm) than the separate update costs, so a
  // new lr ends the fusion instead (Executor::set_update_scale).
  virtual bool fuses_update(int grad, const std::vector<int>& reads) const = 0;
  virtual float update_scale() const = 0;
  // The fused variant of the step the op appended last, which wrote gradient `grad`: in update runs it runs instead
  // of that step, after every other step, and writes the parameter. It must give the separate update's bits: the
  // GEMM scaled by -lr, then added to p (oneDNN's output scale and sum post-op round as p + (-lr) * dp does).
  virtual void update_step(int grad, Step step) = 0;
  // An integer value's values for this plan: a constant's, a fed integer input's (bound) or a folded shape chain's;
  // nullptr where they are data (Slice's starts, Expand's shape: read when the plan is made, as infer read them).
  virtual const std::vector<int64_t>* ints(int value) const = 0;
};

// What a gradient rule may do: read the node's values and the gradients of its outputs, emit ordinary nodes, and
// hand back the gradient of each input that needs one. Fan-out is summed by the builder.
class GradBuilder {
 public:
  virtual ~GradBuilder() = default;
  virtual const ir::Graph& graph() const = 0;
  virtual int dY(const ir::Node& n, size_t k) = 0;                 // gradient of output k, -1 if none flows
  virtual bool needs(const ir::Node& n, size_t k) const = 0;       // whether input k wants a gradient
  virtual void set_dX(const ir::Node& n, size_t k, int grad) = 0;  // the gradient of input k
  // Adds a node op_type(inputs) with attrs; returns its single output.
  virtual int emit(const std::string& op_type, const std::vector<int>& inputs,
                   std::map<std::string, ir::Attr> attrs = {}) = 0;
  // The same with `outputs` outputs, for a backward kernel that computes several gradients in one primitive
  // (BatchNormalizationGrad: dX, dscale, dB).
  virtual std::vector<int> emit_n(const std::string& op_type, const std::vector<int>& inputs,
                                  std::map<std::string, ir::Attr> attrs, size_t outputs) = 0;
  // The shape of a value as the forward pass infers it (kUnknown where symbolic).
  virtual const Shape& shape(int value) const = 0;
};

// What shape inference sees of a node's inputs: the shape of input k (empty for an absent optional one) and, for an
// integer input whose values are known, those values: a constant, a fed integer input bound when a plan is made, or a
// shape chain folded for the plan's shapes (Shape of a fed tensor, and the integer ops after it).
struct InferInputs : std::vector<Shape> {
  InferInputs() = default;
  InferInputs(std::initializer_list<Shape> shapes) : std::vector<Shape>(shapes) {}
  std::vector<const std::vector<int64_t>*> known;  // per input; nullptr (or past the end) where not known
  const std::vector<int64_t>* ints(size_t k) const { return k < known.size() ? known[k] : nullptr; }
  // A float input's values, for the ops whose int_inputs may be floats (OpDef::real_inputs): Range's bounds.
  std::vector<const std::vector<double>*> known_reals;
  const std::vector<double>* reals(size_t k) const { return k < known_reals.size() ? known_reals[k] : nullptr; }
};

// A tensor of the double-precision reference forward (runtime/check): row-major and dense, no views.
struct RefTensor {
  Shape shape;
  std::vector<double> data;
};

// An op's naive double-precision forward, for gradcheck's finite differences (runtime/check). in: one per node input
// (nullptr for an absent optional one; an integer input holds its values as doubles); out: one per node output,
// already shaped by the op's infer and zero-filled, for the reference to fill.
using ReferenceFn = void (*)(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
                             std::vector<RefTensor>& out);
using GradientFn = void (*)(GradBuilder& b, const ir::Node& n);
// Checks the types of a node's inputs for n.version and gives its outputs theirs (dtype, tensor, type_name); fails
// naming the node and the input. For the ops that take more than float32 tensors. It runs before OpDef::check, so it
// returns without a word on a node of the wrong arity, which check then refuses.
using TypesFn = void (*)(ir::Graph& g, const ir::Node& n);

// One case the registry-driven tests (tests/ops/test_registered_ops.cpp) run an op at, declared in the op's file
// beside its OpDef, as ncnn's one line test_layer("ReLU", pd, weights, a) is: the kernel against `reference` on these
// shapes, and the gradient rule against central differences of `reference` in double. Random data in [-2, 2]; away
// from 0 for a rectifier, whose kink is tested on its own.
// A data input of another dtype than float32 (Gather's indices, Where's condition, Cast's uint8 image): a constant
// at input `input`, its values given as integers.
struct TypedInput {
  size_t input;
  DType dtype;
  Shape shape;
  std::vector<int64_t> values;
};
struct OpCase {
  int opset;                  // the model's opset: the op's version in effect there is tested
  std::vector<Shape> shapes;  // the float inputs' shapes, in input order (optional ones may stop)
  std::map<std::string, ir::Attr> attrs = {};
  std::vector<std::vector<int64_t>> ints = {};  // the values of the int_inputs given, in input order
  bool positive = false;               // data drawn in [0.5, 2] instead: for an op real only there (Pow's base)
  std::vector<TypedInput> typed = {};  // the typed data inputs, which take their places among the others
  size_t outputs = 1;                  // the node's outputs (Split), each checked against the reference
};

// An attribute value, for OpCase declarations: {"alpha", attr(0.3f)}, {"perm", attr({1, 0})}.
template <class T>
ir::Attr attr(T v) {
  return ir::Attr::of(v);
}
inline ir::Attr attr(std::vector<int64_t> v) { return ir::Attr::of(std::move(v)); }
// A string attribute (Cast-1's to). Named apart: an attr(const char*) overload would take attr({0}) as a null string,
// and one of a char array attr({2, 0, 1}).
inline ir::Attr attr_string(const char* s) {
  ir::Attr a;
  a.kind = ir::Attr::String;
  a.s = s;
  return a;
}
// A one-element tensor attribute (ConstantOfShape's value): dtype d holding v.
ir::Attr tensor_attr(DType d, double v);

struct OpDef {
  const char* type;
  std::vector<int> versions;  // the since-versions of the op that we implement, ascending
  // Checks attributes and arity for node.version; throws through graph.fail(node, ...).
  void (*check)(const ir::Graph& g, const ir::Node& n);
  // Output shapes from input shapes (absent optional inputs are empty shapes). kUnknown dims propagate;
  // a mismatch between known dims is an error naming the node and both shapes.
  std::vector<Shape> (*infer)(const ir::Graph& g, const ir::Node& n, const InferInputs& in);
  // Shape chains: the values of the outputs, each an integer tensor, from the inputs' shapes and known values (Shape
  // gives its input's dims; Gather, Concat, Unsqueeze and the arithmetic fold known integers), so that a chain such as
  // Shape, Gather, Unsqueeze, Concat feeding a Reshape is evaluated when a plan is made and costs nothing in the step.
  // out: one per output, to fill. Returns false where it cannot (an input's values unknown): the node then runs its
  // forward. nullptr: the op never folds.
  bool (*fold)(const ir::Graph& g, const ir::Node& n, const InferInputs& in,
               std::vector<std::vector<int64_t>>& out) = nullptr;
  // Appends the forward steps for concrete shapes.
  void (*forward)(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps);
  // The gradient rule: emits the backward nodes. nullptr for an op with no gradient.
  void (*gradient)(GradBuilder& b, const ir::Node& n) = nullptr;
  bool internal = false;             // made by autodiff, never read from a model file
  std::vector<int> int_inputs = {};  // inputs that are constant integer tensors (Reshape's shape), not float data
  bool real_inputs = false;          // the int_inputs may be float too, read as doubles (InferInputs::reals)
  size_t grad_outputs = 0;           // outputs the gradient rule reads (Dropout's mask): autodiff adds missing ones
  // State inputs (BatchNormalization's running mean and variance): initializers that no optimizer trains (autodiff
  // gives them no gradient, so they are never among the trainable ranges, nor weight-decayed) but that the op's
  // forward kernel rewrites in place in training runs; saved with the model like every initializer. The one mark of
  // such a buffer is this list: a Parameter read at a state input is state (is_state below).
  std::vector<int> state_inputs = {};
  // The naive double forward beside the kernel, the math as a comment above it. Every ONNX op has one; internal ops
  // (backward kernels, losses) need none: gradcheck differentiates the model's own graph.
  ReferenceFn reference = nullptr;
  // nullptr: the op computes on float32 tensors only (its int_inputs apart) and makes float32 tensors.
  TypesFn types = nullptr;
  // A rectifier, y = x > 0 ? x : slope * x (Relu, LeakyRelu): its slope for the node, its default written once,
  // in the op. What this makes the op: a post-op that fusion folds into the Gemm before it, a kink at 0 that gradcheck
  // keeps away from, and an activation whose dead units --diagnostics count. nullptr for every other op.
  float (*rectifier_slope)(const ir::Node& n) = nullptr;
  // The op reads its float inputs in whatever layout they are stored in (CompileCtx::layout) and may store its outputs
  // in a blocked one: a value that such an op reads may be kept blocked by its producer (CompileCtx::may_block).
  bool layouts = false;
  // The registry tests draw the op's inputs in [0.1, 2], not [-2, 2]: Log and Sqrt are real only there, and
  // Reciprocal's central differences fail near its pole at 0.
  bool positive_inputs = false;
  // What the registry-driven tests run the op at; every ONNX op declares cases covering each of its versions
  // (a test checks it). Odd shapes, and the attribute values whose rules differ.
  std::vector<OpCase> cases = {};

  bool int_input(size_t k) const {  // whether input k is one of int_inputs
    return std::find(int_inputs.begin(), int_inputs.end(), static_cast<int>(k)) != int_inputs.end();
  }
};

// Whether value is a state buffer: a Parameter that some node reads at one of its op's state_inputs.
bool is_state(const ir::Graph& g, int value);

// The registry: one explicit list, runtime/ops/op_list.h, a line an op.
const OpDef* find_op(const std::string& type);
const std::vector<OpDef>& all_ops();
// Tests only: swaps type's gradient rule for rule (a deliberately wrong one, for gradcheck to catch) and returns the
// rule it replaced, to be put back the same way. Sessions built afterwards use the new rule. Not thread-safe.
GradientFn replace_gradient_for_testing(const char* type, GradientFn rule);
// "Gemm (opsets 1-21, trainable through), ...": the ops a model file may use (Constant nodes are folded at load).
std::string supported_ops();

constexpr int kMinOpset = 1;
constexpr int kMaxOpset = 21;

// Type inference over the whole graph, in node order: each op's TypesFn, or float32 tensors in and out. A value of
// another type reaching an op that computes in float32 is an error naming the node, the input and its type.
void infer_types(ir::Graph& g);

// The values shape inference knows before any node runs, by value id: integer constants' and, once a plan binds them
// (bound), fed integer inputs'; nullptr for every other value.
std::vector<const std::vector<int64_t>*> known_values(const ir::Graph& g, bool bound);
// Shape inference of one node in a pass over the graph in node order: shapes and values hold what is known so far, by
// value id. Returns the outputs' shapes; where the op folds (OpDef::fold), stores the outputs' values in folded (sized
// to the graph's values, so that pointers into it stay valid) and points values at them.
std::vector<Shape> infer_node(const ir::Graph& g, const ir::Node& n, const std::vector<Shape>& shapes,
                              std::vector<const std::vector<int64_t>*>& values,
                              std::vector<std::vector<int64_t>>& folded);

// Static shape inference over the whole graph, symbolic dims unknown: stores each activation's shape and catches
// shapes that cannot multiply and bad axes at load. A node reading a tensor of unknown rank (an input declared
// without a shape) is checked when data arrives.
void infer_shapes(ir::Graph& g);

// Whether Gemm computes Y (M,N) = A' * B^T, B (N,K), as Y^T = B * A'^T and a reorder, when training: for few rows
// against a large weight, where that runs faster on oneDNN's matmul (docs/performance.md has the measurements).
bool gemm_computes_transposed(int64_t M, int64_t K, int64_t N);
// Whether inference computes a Gemm layer Y (M,N) = act(X W^T + b), W (N,K) stored, as oneDNN's inner product rather
// than a matmul, both on weights packed once: for small weights or few rows (docs/performance.md has the figures).
bool gemm_infers_as_inner_product(int64_t M, int64_t K, int64_t N);
// Whether training computes a plain Gemm Y (M,N) = A (M,K) * B (K,N) (no transposes, alpha 1, no C: a data gradient
// dX = dY W) as oneDNN's inner product backward-data pass: for few rows against a large B (docs/performance.md).
bool gemm_as_backward_data(int64_t M, int64_t K, int64_t N);

// Elementwise Y = f(X; alpha, beta) (Sigmoid, Tanh, Exp, Elu, ...), and dX from dY (input 0) and input 1, which is
// Y = f(X) (from_dst) or X, for it.
void eltwise_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Eltwise f,
                     float alpha = 0.f, float beta = 0.f);
void eltwise_backward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Eltwise f, float alpha,
                      float beta, bool from_dst);
void eltwise_backward_from_dst(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Eltwise f);
// A host step out = f(a, b), elementwise over float32 values a, b and out of one shape: for the functions oneDNN has
// no primitive for (Erf, Celu) or computes too coarsely (its log and soft_relu are off by ~1e-6 absolute, which
// is all of log(X) near X = 1 and all of softplus(X) for X below -10).
template <typename F>
void host_map(CompileCtx& ctx, int a, int b, int out, std::vector<Step>& steps, F f) {
  auto md = dnnl_compat::plain(ctx.shape(a));
  dnnl::memory am = ctx.view(a, md), bm = ctx.view(b, md), om = ctx.view(out, md);
  const size_t count = md.get_size() / sizeof(float);
  Step s;
  s.host = [am, bm, om, count, f]() {
    const float* A = static_cast<const float*>(am.get_data_handle());
    const float* B = static_cast<const float*>(bm.get_data_handle());
    float* O = static_cast<float*>(om.get_data_handle());
    for (size_t e = 0; e < count; ++e) O[e] = f(A[e], B[e]);
  };
  steps.push_back(std::move(s));
}

// Shared by the op files: a normalized axis in [0, rank), or an error naming the node.
int normalize_axis(const ir::Graph& g, const ir::Node& n, int64_t axis, size_t rank);
// Softmax and LogSoftmax: the desc and axis their kernels see. Before opset 13 the input is coerced to 2-D at axis,
// (prod(d[:axis]), prod(d[axis:])), normalized along 1; from 13 on it is normalized along axis itself.
std::pair<dnnl::memory::desc, int> softmax_layout(const ir::Graph& g, const ir::Node& n, const Shape& x, int64_t axis,
                                                  bool coerced);

// The numpy broadcast of a and b, but for their last `trailing` dims (MatMul's matrix dims), which are left 0 for the
// caller; an error naming the node when they do not broadcast.
Shape broadcast(const ir::Graph& g, const ir::Node& n, const Shape& a, const Shape& b, size_t trailing = 0);
Shape padded(Shape s, size_t rank);  // leading 1s up to rank

// Softmax and LogSoftmax: the axis attribute with each opset's default, and their shape inference.
int64_t softmax_axis(const ir::Node& n);
std::vector<Shape> softmax_infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in);
// The cases both are tested at: each opset's default axis and others, since they share the axis rule.
std::vector<OpCase> softmax_cases();

// The references' broadcasting: for each element of y (row-major), the offset of the element of x that broadcasts
// to it (x right-aligned to y, its dims of 1 repeated).
std::vector<int64_t> broadcast_offsets(const Shape& x, const Shape& y);
// Softmax's and LogSoftmax's reference, with softmax_layout's per-opset axis semantics: Y = softmax(X), or log of it.
void softmax_reference(const ir::Graph& g, const ir::Node& n, const RefTensor& x, RefTensor& y, bool log);

// float16 and bfloat16 as numpy and PyTorch compute on them: widened exactly to float32, and float32 results rounded
// back to nearest even (overflow to infinity, NaN kept NaN).
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t h);
uint16_t float_to_bf16(float f);

// The elementwise arithmetic ops (Add, Sub, Mul, Div; Pow's shapes): inputs A and B, one output. Before opset 7 B
// broadcasts to A only with broadcast = 1 (an explicit axis is refused); from 7 numpy broadcasting both ways.
void check_binary(const ir::Graph& g, const ir::Node& n);
std::vector<Shape> binary_infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in);
// Add's, Sub's, Mul's and Div's dtypes (A, B and Y all one): float16, float32, float64 from opset 1; int32, int64,
// uint32, uint64 from 6; bfloat16 from 13; int8, int16, uint8, uint16 from 14.
void binary_types(ir::Graph& g, const ir::Node& n);
// Y = A op B on float32 through oneDNN's binary primitive, whichever input broadcasts.
void binary_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Binary op);
// Y[i] = f(A[a(i)], B[b(i)]), a(i) and b(i) the index i broadcast back to A's and B's shapes: the references.
void binary_reference(const std::vector<const RefTensor*>& in, std::vector<RefTensor>& out,
                      double (*f)(double, double));

// The host loops of the elementwise ops, for dtypes oneDNN has no binary for. A loop reads A and B and writes Y,
// element i of Y from A[a_at[i]] and B[b_at[i]] (broadcast_offsets).
using BroadcastLoop = std::function<void(const void* A, const void* B, void* Y, const std::vector<int64_t>& a_at,
                                         const std::vector<int64_t>& b_at)>;
// The step running loop over the node's A, B and Y, whatever their dtypes; offsets computed here, at plan time.
void broadcast_host_step(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, BroadcastLoop loop);
// Y[i] = f(A[a_at[i]], B[b_at[i]]), the elements stored as TA, TB and TY.
template <typename TA, typename TB, typename TY, typename F>
void broadcast_loop(const void* a, const void* b, void* y, const std::vector<int64_t>& a_at,
                    const std::vector<int64_t>& b_at, F f) {
  const TA* A = static_cast<const TA*>(a);
  const TB* B = static_cast<const TB*>(b);
  TY* Y = static_cast<TY*>(y);
  for (size_t i = 0; i < a_at.size(); ++i) Y[i] = f(A[a_at[i]], B[b_at[i]]);
}
// The loop of an op whose A, B and Y share dtype d (not float32 or bool): f is called with d's C++ type (int8_t ...
// uint64_t, double), or, for float16 and bfloat16, with both widened to float and its result rounded back.
template <class F>
BroadcastLoop same_type_loop(DType d, F f) {
  auto plain = [f](auto zero) -> BroadcastLoop {
    using T = decltype(zero);
    return [f](const void* a, const void* b, void* y, const std::vector<int64_t>& a_at,
               const std::vector<int64_t>& b_at) { broadcast_loop<T, T, T>(a, b, y, a_at, b_at, f); };
  };
  auto narrow = [f](float (*widen)(uint16_t), uint16_t (*round)(float)) -> BroadcastLoop {
    return [f, widen, round](const void* a, const void* b, void* y, const std::vector<int64_t>& a_at,
                             const std::vector<int64_t>& b_at) {
      broadcast_loop<uint16_t, uint16_t, uint16_t>(a, b, y, a_at, b_at, [&](uint16_t p, uint16_t q) {
        return round(static_cast<float>(f(widen(p), widen(q))));
      });
    };
  };
  switch (d) {
    case DType::Int64: return plain(int64_t{});
    case DType::Int32: return plain(int32_t{});
    case DType::Int16: return plain(int16_t{});
    case DType::Int8: return plain(int8_t{});
    case DType::UInt64: return plain(uint64_t{});
    case DType::UInt32: return plain(uint32_t{});
    case DType::UInt16: return plain(uint16_t{});
    case DType::UInt8: return plain(uint8_t{});
    case DType::Float64: return plain(double{});
    case DType::Float16: return narrow(half_to_float, float_to_half);
    case DType::BFloat16: return narrow(bf16_to_float, float_to_bf16);
    case DType::Float32:
    case DType::Bool: break;  // oneDNN's; refused by types
  }
  return nullptr;
}
// Shape chains: Y = f(A, B) over known integer values with broadcasting (Add, Sub, Mul, Div on Shape outputs).
// Folds only where A and B are both known and Y is an integer tensor.
bool binary_fold(const ir::Graph& g, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out,
                 int64_t (*f)(int64_t, int64_t));

// The reductions (ReduceMean, ReduceSum, ReduceL2, ReduceMax) over the data X: axes is the attribute before
// axes_input_since (13 for ReduceSum, 18 for the others), the optional integer input 1 from it, negative ones counted
// from the back; none given, or an empty list: every axis, unless noop_with_empty_axes = 1 (from axes_input_since),
// when Y = X. keepdims (default 1) keeps each reduced axis as a dim of 1.
int reduction_axes_input_since(const ir::Node& n);
void check_reduction(const ir::Graph& g, const ir::Node& n);
// The axes reduced, normalized and sorted (empty: none, Y = X); known = false while the axes input's values are not.
struct ReducedAxes {
  bool known = true;
  std::vector<int64_t> axes;
};
ReducedAxes reduced_axes(const ir::Graph& g, const ir::Node& n, size_t rank, const std::vector<int64_t>* input);
// X's shape with a 1 at each reduced axis: the shape the kernels see Y (and dY) in, whatever keepdims is.
Shape kept_shape(const Shape& x, const std::vector<int64_t>& axes);
// Y: X's shape without (keepdims = 0) or with a 1 at (keepdims = 1) each reduced axis.
std::vector<Shape> reduction_infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in);
// The cases the reductions share, as they share the axes rule: axes as an attribute (negative from 11) and, from
// input_since (reduction_axes_input_since), as an input; none given, and noop_with_empty_axes.
std::vector<OpCase> reduction_cases(int input_since);
// The axes at plan time (the axes input a constant or a fed input, bound); an error naming the node otherwise.
std::vector<int64_t> plan_axes(CompileCtx& ctx, const ir::Node& n);
// Y = X reduced over its axes by oneDNN's reduction; where no axis is reduced, Y = X (L2: |X|).
void reduction_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Reduction op);
// The reference: Y[k] = the reduction of X over the elements that reduce to k.
void reduction_reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
                         std::vector<RefTensor>& out, dnnl_compat::Reduction op);
// The gradient rules' axes: those of the forward node, known when autodiff runs (attribute or constant input).
std::vector<int64_t> grad_axes(GradBuilder& b, const ir::Node& n);

// The layout an elementwise kernel computes in, for an op with OpDef::layouts: the layout of the first of `inputs`
// stored blocked, if `out` may be stored so (it then is); else plain, of out's shape. The inputs are then read with
// ctx.input(v, layout).
dnnl::memory::desc elementwise_layout(CompileCtx& ctx, const std::vector<int>& inputs, int out);
// The memory a kernel writes value `out` through, in md (a layout the primitive chose): out's own buffer when it is
// stored in md, else scratch in md and a reorder into out's layout (a plain out seen in md's dims), which the caller
// pushes after the kernel's step.
dnnl::memory written(CompileCtx& ctx, int out, const dnnl::memory::desc& md, std::vector<Step>& after);

// A step copying value from into value to, element for element (same count, any shapes): Identity, Flatten. A
// blocked `from` is reordered into `to` in row-major order.
void copy_step(CompileCtx& ctx, int from, int to, std::vector<Step>& steps);

// The ops that change only a tensor's shape (Flatten, Reshape, Squeeze, Unsqueeze): Y = X's elements in row-major
// order, in the shape their infer gives. Forward: a copy. Reference: the same. Gradient: dX = dY in X's shape
// (ReshapeLike).
void shape_only_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps);
void shape_only_reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
                          std::vector<RefTensor>& out);
void shape_only_gradient(GradBuilder& b, const ir::Node& n);
// Their fold: Y's values are X's, where X's are known (an Unsqueeze in a shape chain).
bool shape_only_fold(const ir::Graph& g, const ir::Node& n, const InferInputs& in,
                     std::vector<std::vector<int64_t>>& out);

// Squeeze's and Unsqueeze's axes: the `axes` attribute before opset 13, the integer input 1 from 13 (a constant, or
// a graph input whose values are bound when a plan is made). given: an attribute or input is there; known: its values
// are (not so at load for a fed input, until its values are bound).
struct AxesArg {
  bool given = false;
  bool known = true;
  std::vector<int64_t> axes;
};
AxesArg axes_arg(const ir::Graph& g, const ir::Node& n, const InferInputs& in);
// axes each normalized into [0, rank) and sorted; an error naming the node for one out of range or repeated. what:
// whose rank it is ("the input", "the output"), for the message.
std::vector<int64_t> normalize_axes(const ir::Graph& g, const ir::Node& n, std::vector<int64_t> axes, size_t rank,
                                    const char* what);
// Y gets X's tensor type, whatever its dtype: for the ops that only move bytes (Squeeze, Unsqueeze).
void tensor_type_of_first(ir::Graph& g, const ir::Node& n);

// Data movement (Concat, Split, Slice, Gather, Expand, Where, Cast): host loops over bytes, whatever the dtype, since
// oneDNN has no primitive that indexes or converts every ONNX type. Index maps are built when a plan is made.
int64_t count_of(const Shape& s);                     // the product of s's dims
std::vector<int64_t> row_strides(const Shape& s);     // row-major element strides
dnnl::memory bytes_view(CompileCtx& ctx, int value);  // a value's whole buffer as bytes
// A step Y[e] = X[at[e]] element for element, dtype_size(X) bytes each (Slice, Expand: at from the plan's shapes).
void gather_step(CompileCtx& ctx, int from, int to, std::vector<int64_t> at, std::vector<Step>& steps);
// float16 and bfloat16 as numpy and PyTorch convert them: widened exactly, narrowed to nearest even.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t h);
uint16_t float_to_bf16(float f);
// Element i of a buffer of dtype d as a double, and a double stored as dtype d (integers truncated toward 0, bool
// nonzero): for the references and the typed tests, which hold every value as a double.
double element_as_double(DType d, const void* data, size_t i);
void store_double(DType d, void* data, size_t i, double v);

// The sliding window of Conv and the pools, per spatial axis of X (N, C, D1..Dr): stride, dilation, kernel size,
// the padding before and after (explicit `pads`, or what `auto_pad` SAME_UPPER/SAME_LOWER/VALID makes), and the
// output's size (kUnknown for an unknown input size). ONNX's defaults: strides and dilations 1, pads 0, NOTSET.
// ceil_mode: the output size rounds up, as MaxPool's and AveragePool's ceil_mode ask.
struct Window {
  std::vector<int64_t> strides, dilations, kernel, pad_begin, pad_end, out;
};
Window window_of(const ir::Graph& g, const ir::Node& n, const Shape& x, const std::vector<int64_t>& kernel,
                 bool ceil_mode);
// Pooling (pooling.cpp), for MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool: X (N, C, D1..Dr) to
// Y (N, C, O1..Or). The window of node n (a pool, or its PoolGrad) for X, its algorithm, and the padding after each
// axis as oneDNN takes it (a ceil-mode window past the pads reads padding).
struct PoolSpec {
  dnnl_compat::Pool alg = dnnl_compat::Pool::Max;
  Window w;
  std::vector<int64_t> pad_r;
};
PoolSpec pool_spec(const ir::Graph& g, const ir::Node& n, const Shape& x);
// The forward steps of Y = output 0. workspace: the value that keeps max pooling's argmax for its backward (a
// training graph's extra output), or -1; indices: MaxPool's Indices output (int64), or -1.
void pool_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, int workspace, int indices);
// dX = PoolGrad(dY, X[, workspace]) with n's attributes.
void pool_gradient(GradBuilder& b, const ir::Node& n, int workspace);
// Y (and MaxPool's other outputs, the same shape): (N, C, O1..Or) for n's window on X.
std::vector<Shape> pool_infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in);
// Y from X in double: the window's maximum, or its mean over the elements (and, counting padding, the pads) it covers.
void pool_reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
                    std::vector<RefTensor>& out);

// An Ints attribute, or `count` copies of dflt when absent; refused unless it holds count integers.
std::vector<int64_t> ints_attr(const ir::Graph& g, const ir::Node& n, const char* name, size_t count, int64_t dflt);

// One input and one output, both present (Relu, LeakyRelu, Softmax).
void check_unary(const ir::Graph& g, const ir::Node& n);
// For internal ops, which autodiff builds correctly by construction.
void no_check(const ir::Graph& g, const ir::Node& n);
// Output shape = the first input's (elementwise ops and their gradients).
std::vector<Shape> same_as_first(const ir::Graph& g, const ir::Node& n, const InferInputs& in);

}  // namespace onnxtrain::ops
