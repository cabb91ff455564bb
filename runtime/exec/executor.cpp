// Executor: shape binding, the memory plan (one arena per plan, 64-byte aligned slots, no reuse yet: training keeps
// every activation anyway) and the execute loop. Primitives and argument maps are made only in prepare(). An update
// run (run_update) swaps the steps that write parameter gradients for their fused-update variants, run last.
#include "runtime/exec/executor.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "onnxtrain/error.h"
#include "onnxtrain/session.h"
#include "runtime/exec/dnnl_compat.h"

namespace onnxtrain {

void set_threads(int n) {
  if (n < 0 || n > kMaxThreads)
    throw Error("threads: " + std::to_string(n) + " is out of range (1 to " + std::to_string(kMaxThreads) +
                ", or 0 for the machine's cores)");
  omp_set_num_threads(n > 0 ? n : default_threads());
}
int default_threads() { return omp_get_num_procs(); }

namespace {

constexpr int64_t kAlign = 64;
int64_t aligned(int64_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// A tensor value's bytes; a sequence or an optional has no buffer (Identity passes it on without one).
int64_t bytes_of(const ir::Value& v, const ir::Shape& s) {
  if (!v.tensor) return 0;
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n * static_cast<int64_t>(dtype_size(v.dtype));
}

std::string declared_str(const ir::Value& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.declared.size(); ++i) {
    if (i) s += ",";
    const ir::Dim& d = v.declared[i];
    s += d.value != ir::kUnknown ? std::to_string(d.value) : (d.symbol.empty() ? "?" : d.symbol);
  }
  return s + ")";
}

}  // namespace

struct Executor::Plan {
  std::vector<ir::Shape> shapes;  // per value
  // Per value: the values of a shape chain folded for these shapes (OpDef::fold), and whether it was. A node whose
  // outputs all folded runs no step; its outputs' slots are filled once, when the plan is made.
  std::vector<std::vector<int64_t>> folded;
  std::vector<char> is_folded;
  std::vector<int64_t> offset;             // byte offset into the arena per value; -1 for parameters and gradients
  std::vector<dnnl::memory::desc> layout;  // per value, the layout it is stored in where blocked[v]
  std::vector<char> blocked;
  // bytes() of a value stored blocked: a plain copy, made by a reorder when asked for.
  struct PlainCopy {
    std::vector<char> buffer;
    dnnl::reorder reorder;
    dnnl::memory src, dst;
  };
  std::map<int, PlainCopy> plain_copies;
  std::vector<ops::Step> steps;
  std::vector<int> step_nodes;     // per step, its node's index
  std::vector<ops::Step> prepare;  // weight packing: run before the first run and after the parameters change
  uint64_t prepared_version = ~uint64_t(0);
  size_t forward_steps = 0;             // steps[0, forward_steps) compute the outputs and the loss
  std::vector<ops::Step> update_steps;  // run_update(): these run last, instead of the steps marked replaced
  std::vector<char> replaced;           // per step
  std::vector<char> fused;              // per value: a parameter that update_steps update
  struct Fed {
    std::vector<dnnl::memory> views;  // every view of the value, which bind_input rebinds
    void* bound = nullptr;            // the caller's buffer it is read from; nullptr: its arena slot
  };
  std::map<int, Fed> fed;  // per fed value
  std::unique_ptr<char, void (*)(void*)> arena{nullptr, std::free};
  size_t arena_bytes = 0;
};

// Hands ops memory views whose data handles are bound once the arena exists.
struct Executor::Compiled : ops::CompileCtx {
  Executor& ex;
  Plan& plan;
  std::vector<std::pair<dnnl::memory, int64_t>> bindings;  // arena views: memory, byte offset
  std::vector<std::pair<dnnl::memory, void*>> fixed;       // views of parameters, constants, gradients: memory, address
  std::vector<std::pair<dnnl::memory, float>> constants;   // arena views to fill once: memory, value
  int64_t arena_end = 0;

  Compiled(Executor& e, Plan& p) : ex(e), plan(p) {}
  const dnnl::engine& engine() const override { return ex.eng_; }
  const ir::Graph& graph() const override { return ex.g_; }
  const ir::Shape& shape(int v) const override { return plan.shapes[v]; }
  bool bf16() const override { return ex.bf16_; }
  const bool* training() const override { return &ex.training_; }
  bool weights_frozen() const override { return ex.frozen_version_ != nullptr; }
  bool stored(int v) const override { return plan.offset[v] < 0 && ex.g_.values[v].grad_of < 0; }
  void prepare_step(ops::Step step) override { plan.prepare.push_back(std::move(step)); }
  uint64_t seed() const override { return ex.seed_; }
  const uint64_t* step() const override { return &ex.step_; }
  // A value in another layout, for readers that want it so (input()): filled by a reorder before the first of them.
  struct Copy {
    int value;
    dnnl::memory::desc md;
    dnnl::memory memory;
    int64_t offset;
  };
  std::vector<Copy> copies;
  std::vector<ops::Step> pending;  // those reorders, to run before the steps of the node being compiled

  const Copy& copy_of(int v, const dnnl::memory::desc& md) {
    for (const Copy& c : copies)
      if (c.value == v && c.md == md) return c;
    const dnnl::memory::desc own = stored_as(v, md);
    const int64_t offset = arena_end;
    dnnl::memory m = scratch(md);
    ops::Step s{dnnl::reorder(dnnl_compat::reorder(ex.eng_, own, md)),
                {{DNNL_ARG_SRC, view(v, own)}, {DNNL_ARG_DST, m}}};
    if (weights_frozen() && stored(v))
      plan.prepare.push_back(std::move(s));
    else
      pending.push_back(std::move(s));
    copies.push_back({v, md, m, offset});
    return copies.back();
  }
  const dnnl::memory::desc* layout(int v) const override { return plan.blocked[v] ? &plan.layout[v] : nullptr; }
  bool may_block(int v) const override {
    const ir::Graph& g = ex.g_;
    const ir::Value& val = g.values[v];
    if (plan.offset[v] < 0 || plan.fed.count(v) || val.is_output || !val.tensor || val.dtype != DType::Float32 ||
        plan.is_folded[v])
      return false;
    for (int k : val.consumers)
      if (const ops::OpDef* op = ops::find_op(g.nodes[k].op_type); op && op->layouts) return true;
    return false;
  }
  void set_layout(int v, const dnnl::memory::desc& md) override {
    plan.layout[v] = md;
    plan.blocked[v] = 1;
    const int64_t slot = aligned(bytes_of(ex.g_.values[v], plan.shapes[v]));
    if (static_cast<int64_t>(md.get_size()) > slot) {
      plan.offset[v] = arena_end;
      arena_end += aligned(static_cast<int64_t>(md.get_size()));
    }
  }
  // v's layout, as a reader wanting md sees it: a plain value in md's dims (a grouped weight's extra axis).
  dnnl::memory::desc stored_as(int v, const dnnl::memory::desc& md) const {
    return plan.blocked[v] ? plan.layout[v] : dnnl_compat::plain_like(md);
  }
  dnnl::memory input(int v, const dnnl::memory::desc& md) override {
    // A blocked value wanted in other dims is read plain, reshaped: view's copy.
    if (plan.blocked[v] && !dnnl_compat::is_f32_of(md, plan.shapes[v])) return view(v, md);
    return stored_as(v, md) == md ? view(v, md) : copy_of(v, md).memory;
  }
  dnnl::memory view(int v, const dnnl::memory::desc& md) override {
    dnnl::memory m(md, ex.eng_, DNNL_MEMORY_NONE);
    if (plan.blocked[v] && md != plan.layout[v]) {  // a reader of the plain layout, through md
      bindings.emplace_back(m, copy_of(v, dnnl_compat::plain(plan.shapes[v])).offset);
      return m;
    }
    if (plan.offset[v] < 0)
      fixed.emplace_back(m, ex.fixed_address(v));
    else
      bindings.emplace_back(m, plan.offset[v]);
    if (auto it = plan.fed.find(v); it != plan.fed.end()) it->second.views.push_back(m);
    return m;
  }
  dnnl::memory scratch(const dnnl::memory::desc& md) override {
    dnnl::memory m(md, ex.eng_, DNNL_MEMORY_NONE);
    bindings.emplace_back(m, arena_end);
    arena_end += aligned(static_cast<int64_t>(md.get_size()));
    return m;
  }
  dnnl::memory constant(const dnnl::memory::desc& md, float value) override {
    dnnl::memory m = scratch(md);
    constants.emplace_back(m, value);
    return m;
  }
  bool fuses_update(int grad, const std::vector<int>& reads) const override {
    const ir::Graph& g = ex.g_;
    const ir::Value& dp = g.values[grad];
    if (!ex.fuse_ || dp.grad_of < 0 || plan.offset[dp.grad_of] >= 0 || dp.is_output || !dp.consumers.empty())
      return false;
    for (int r : reads)
      if (r >= 0 && (g.values[r].kind == ir::ValueKind::Parameter || g.values[r].grad_of >= 0)) return false;
    return true;
  }
  float update_scale() const override { return ex.update_scale_; }
  const std::vector<int64_t>* ints(int v) const override {
    if (plan.is_folded[v]) return &plan.folded[v];
    const ir::Value& val = ex.g_.values[v];
    return val.integer ? &val.ints : nullptr;
  }
  void update_step(int grad, ops::Step step) override {
    plan.update_steps.push_back(std::move(step));
    plan.replaced.resize(plan.steps.size());
    plan.replaced.back() = 1;
    plan.fused[ex.g_.values[grad].grad_of] = 1;
  }
};

Executor::Executor(const ir::Graph& g, float* params, size_t params_size, bool bf16)
    : g_(g),
      params_(params ? params : const_cast<float*>(g.params.data())),
      bf16_(bf16),
      eng_(dnnl::engine::kind::cpu, 0),
      stream_(eng_) {
  for (const ir::Value& v : g.values)
    if (v.grad_of >= 0) {
      grads_.assign(params ? params_size : g.params.size(), 0.f);
      break;
    }
}

Executor::~Executor() = default;

void Executor::set_update_scale(float scale) {
  if (scale == update_scale_) return;
  update_scale_ = 0.f, fuse_ = false;
  plans_.clear();
  plan_ = nullptr;
}

void bind_plan_values(const ir::Graph& g, ir::Value& v, const Tensor& t, ir::Shape& key) {
  const int64_t n = t.numel();
  if (t.dtype != v.dtype || t.shape.size() > 1 || t.data_bytes() != static_cast<size_t>(n) * dtype_size(t.dtype))
    g.fail("input '" + v.name + "' is read when the plan is made and must be a scalar or 1-D " + dtype_name(v.dtype) +
           " tensor, got " + dtype_name(t.dtype) + " " + shape_str(t.shape));
  key.assign(1, static_cast<int64_t>(t.shape.size()));
  const size_t count = static_cast<size_t>(n);
  if (v.real) {
    v.reals.resize(count);
    for (size_t i = 0; i < count; ++i) {
      v.reals[i] = v.dtype == DType::Float32 ? double(t.f32[i]) : ops::element_as_double(v.dtype, t.data(), i);
      int64_t bits;
      std::memcpy(&bits, &v.reals[i], sizeof bits);  // the key tells apart every value, -0 and NaNs included
      key.push_back(bits);
    }
    return;
  }
  v.ints.resize(count);
  for (size_t i = 0; i < count; ++i)
    v.ints[i] = v.dtype == DType::Int64 ? t.i64[i] : static_cast<int64_t>(ops::element_as_double(v.dtype, t.data(), i));
  key.insert(key.end(), v.ints.begin(), v.ints.end());
}

void Executor::resolve_shapes(const std::map<int, ir::Shape>& fed, Plan& plan) const {
  std::vector<ir::Shape>& shapes = plan.shapes;
  shapes.assign(g_.values.size(), {});
  std::map<std::string, int64_t> symbols;
  for (size_t v = 0; v < g_.values.size(); ++v)
    if (g_.values[v].kind == ir::ValueKind::Parameter || g_.values[v].kind == ir::ValueKind::Constant)
      shapes[v] = g_.values[v].shape;
  for (auto& [id, key] : fed) {
    const ir::Value& v = g_.values[id];
    // An input read when the plan is made has bind_plan_values' key: its rank, then its values.
    const ir::Shape shape = !(v.integer || v.real)       ? key
                            : key.empty() || key[0] == 0 ? ir::Shape{}
                                                         : ir::Shape{static_cast<int64_t>(key.size()) - 1};
    if (shape.size() > ir::kMaxRank)
      g_.fail(ir::rank_error("input '" + v.name + "' " + ir::shape_str(shape), shape.size()));
    if (v.kind == ir::ValueKind::Parameter) {
      if (shape != v.shape)
        g_.fail("input '" + v.name + "' overrides an initializer of shape " + ir::shape_str(v.shape) +
                " but the data has shape " + ir::shape_str(shape));
    } else if (v.has_declared) {
      bool ok = shape.size() == v.declared.size();
      for (size_t i = 0; ok && i < shape.size(); ++i) {
        const ir::Dim& d = v.declared[i];
        if (d.value != ir::kUnknown) {
          ok = d.value == shape[i];
        } else if (!d.symbol.empty()) {
          auto [it, fresh] = symbols.emplace(d.symbol, shape[i]);
          if (!fresh && it->second != shape[i])
            g_.fail("input '" + v.name + "' has " + d.symbol + " = " + std::to_string(shape[i]) +
                    " but another input set " + d.symbol + " = " + std::to_string(it->second));
        }
      }
      if (!ok) {
        // Only the first dimension differs, and the model fixes it: what torch.onnx.export writes for a dummy input
        // of that batch when no dynamic_axes are given. Say so, since the remedy is in the export.
        bool batch_only = shape.size() == v.declared.size() && !shape.empty() && v.declared[0].value != ir::kUnknown;
        for (size_t i = 1; batch_only && i < shape.size(); ++i)
          batch_only = v.declared[i].value == ir::kUnknown || v.declared[i].value == shape[i];
        const std::string fixed = batch_only ? std::to_string(v.declared[0].value) : "";
        g_.fail("input '" + v.name + "' expects shape " + declared_str(v) + " but the data has shape " +
                ir::shape_str(shape) +
                (batch_only ? ": the model fixes its batch dimension at " + fixed +
                                  " (a PyTorch export without dynamic_axes?); feed batches of " + fixed +
                                  ", or export again with dynamic_axes={'" + v.name + "': {0: 'batch'}}"
                            : ""));
      }
    }
    shapes[id] = shape;
  }
  for (int in : g_.inputs)  // sequences and optionals are the session's to check: they have no buffer here
    if (!fed.count(in) && g_.values[in].tensor) g_.fail("input '" + g_.values[in].name + "' was not given any data");
  std::vector<const std::vector<int64_t>*> values = ops::known_values(g_, true);
  plan.folded.assign(g_.values.size(), {});
  for (const ir::Node& n : g_.nodes) {
    auto out = ops::infer_node(g_, n, shapes, values, plan.folded);
    for (size_t k = 0; k < n.outputs.size() && k < out.size(); ++k) {
      if (n.outputs[k] < 0) continue;
      if (g_.values[n.outputs[k]].tensor && std::find(out[k].begin(), out[k].end(), ir::kUnknown) != out[k].end())
        g_.fail(n, "output '" + g_.values[n.outputs[k]].name + "' has shape " + ir::shape_str(out[k]) +
                       " when the plan is made: an integer input it depends on is computed from data");
      if (out[k].size() > ir::kMaxRank)
        g_.fail(
            n, ir::rank_error("output '" + g_.values[n.outputs[k]].name + "' " + ir::shape_str(out[k]), out[k].size()));
      shapes[n.outputs[k]] = out[k];
    }
  }
  plan.is_folded.assign(g_.values.size(), 0);
  for (const ir::Node& n : g_.nodes)
    for (int o : n.outputs)
      if (o >= 0 && values[o] == &plan.folded[o]) plan.is_folded[o] = 1;
}

namespace {

// A folded value's integers into its buffer, in its dtype (fold makes integer and bool tensors only).
void store_folded(const ir::Graph& g, int v, const std::vector<int64_t>& ints, void* dst) {
  const DType d = g.values[v].dtype;
  for (size_t i = 0; i < ints.size(); ++i) {
    const int64_t x = ints[i];
    switch (d) {
      case DType::Int64: static_cast<int64_t*>(dst)[i] = x; break;
      case DType::Int32: static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(x); break;
      case DType::Int16: static_cast<int16_t*>(dst)[i] = static_cast<int16_t>(x); break;
      case DType::Int8: static_cast<int8_t*>(dst)[i] = static_cast<int8_t>(x); break;
      case DType::UInt64: static_cast<uint64_t*>(dst)[i] = static_cast<uint64_t>(x); break;
      case DType::UInt32: static_cast<uint32_t*>(dst)[i] = static_cast<uint32_t>(x); break;
      case DType::UInt16: static_cast<uint16_t*>(dst)[i] = static_cast<uint16_t>(x); break;
      case DType::UInt8:
      case DType::Bool: static_cast<uint8_t*>(dst)[i] = static_cast<uint8_t>(x); break;
      default: g.fail("value '" + g.values[v].name + "' folded to integers but is " + dtype_name(d));
    }
  }
}

}  // namespace

void* Executor::fixed_address(int v) {
  const ir::Value& val = g_.values[v];
  if (val.grad_of >= 0) return grads_.data() + g_.values[val.grad_of].offset;
  if (val.dtype != DType::Float32) return const_cast<uint8_t*>(val.raw.data());  // a typed constant; ops only read it
  return params_ + val.offset;
}

bool Executor::prepare(const std::map<int, ir::Shape>& fed) {
  auto it = plans_.find(fed);
  if (it != plans_.end()) {
    plan_ = it->second.get();
    return false;
  }
  auto plan = std::make_unique<Plan>();
  resolve_shapes(fed, *plan);

  // Memory plan: every value gets its own arena slot, but parameters (unless fed) and their gradients, which live
  // in their flat buffers.
  plan->offset.assign(g_.values.size(), -1);
  plan->layout.assign(g_.values.size(), {});
  plan->blocked.assign(g_.values.size(), 0);
  plan->fused.assign(g_.values.size(), 0);
  for (auto& [id, shape] : fed) plan->fed[id];
  Compiled ctx(*this, *plan);
  for (size_t v = 0; v < g_.values.size(); ++v) {
    const ir::Value& val = g_.values[v];
    bool stored = val.kind == ir::ValueKind::Parameter || val.kind == ir::ValueKind::Constant;
    bool in_place = (stored && !fed.count(static_cast<int>(v))) || val.grad_of >= 0;
    if (in_place) continue;
    plan->offset[v] = ctx.arena_end;
    ctx.arena_end += aligned(bytes_of(val, plan->shapes[v]));
  }
  // A zero-size tensor: a node whose outputs are all empty has nothing to compute and gets no step. oneDNN's kernels
  // divide by a zero dimension (a SIGFPE in matmul's setup) rather than refuse one, so an empty input to a node that
  // would compute something from it is refused.
  const auto empty = [&](int v) {
    if (v < 0 || !g_.values[v].tensor) return false;
    const ir::Shape& s = plan->shapes[v];
    return std::find(s.begin(), s.end(), int64_t{0}) != s.end();
  };
  const auto folded = [&](int v) { return v < 0 || plan->is_folded[v]; };
  for (const ir::Node& n : g_.nodes) {
    if (std::all_of(n.outputs.begin(), n.outputs.end(), empty)) continue;
    if (std::all_of(n.outputs.begin(), n.outputs.end(), folded)) continue;
    const ops::OpDef* op = ops::find_op(n.op_type);
    for (size_t k = 0; k < n.inputs.size(); ++k)  // integer inputs are read when the plan is made: [] is a value
      if (const int in = n.inputs[k]; empty(in) && !op->int_input(k))
        g_.fail(n, "input '" + g_.values[in].name + "' has shape " + ir::shape_str(plan->shapes[in]) +
                       ", and zero-size tensors run only through nodes whose outputs are empty too");
    const size_t first = plan->steps.size();
    op->forward(ctx, n, plan->steps);
    if (!ctx.pending.empty()) {  // the node's inputs in the layouts its kernels read, before them
      const auto at = static_cast<std::ptrdiff_t>(first);
      if (plan->replaced.size() > first) plan->replaced.insert(plan->replaced.begin() + at, ctx.pending.size(), 0);
      plan->steps.insert(plan->steps.begin() + at, std::make_move_iterator(ctx.pending.begin()),
                         std::make_move_iterator(ctx.pending.end()));
      ctx.pending.clear();
    }
    plan->step_nodes.resize(plan->steps.size(), static_cast<int>(&n - g_.nodes.data()));
    if (!n.backward) plan->forward_steps = plan->steps.size();
  }
  plan->replaced.resize(plan->steps.size());

  plan->arena_bytes = static_cast<size_t>(std::max<int64_t>(ctx.arena_end, kAlign));
  void* p = std::aligned_alloc(kAlign, plan->arena_bytes);
  if (!p) g_.fail("cannot allocate " + std::to_string(plan->arena_bytes) + " bytes for the activations");
  std::memset(p, 0, plan->arena_bytes);
  plan->arena.reset(static_cast<char*>(p));
  for (auto& [m, off] : ctx.bindings) m.set_data_handle(plan->arena.get() + off);
  for (auto& [m, addr] : ctx.fixed) m.set_data_handle(addr);
  for (auto& [m, value] : ctx.constants) {
    float* p = static_cast<float*>(m.get_data_handle());
    std::fill(p, p + m.get_desc().get_size() / sizeof(float), value);
  }
  for (size_t v = 0; v < g_.values.size(); ++v)
    if (plan->is_folded[v] && plan->offset[v] >= 0)
      store_folded(g_, static_cast<int>(v), plan->folded[v], plan->arena.get() + plan->offset[v]);
  // The C++ execute() rebuilds its argument vector on every call; the C API takes ours as they are.
  for (auto* list : {&plan->steps, &plan->prepare, &plan->update_steps})
    for (ops::Step& s : *list)
      for (auto& [arg, mem] : s.args) s.c_args.push_back({arg, mem.get()});
  plan_ = plan.get();
  plans_.emplace(fed, std::move(plan));
  return true;
}

void Executor::bind_input(int v, const void* data) {
  auto it = plan_->fed.find(v);
  if (it == plan_->fed.end()) g_.fail("bind_input: '" + g_.values[v].name + "' is not fed");
  Plan::Fed& f = it->second;
  f.bound = const_cast<void*>(data);  // oneDNN takes void*; ops only read their inputs
  for (dnnl::memory& m : f.views) m.set_data_handle(f.bound);
}

void* Executor::bytes(int v) {
  if (plan_->offset[v] < 0) return fixed_address(v);
  const dnnl::memory::desc& md = plan_->layout[v];
  if (plan_->blocked[v] && dnnl_compat::is_f32_of(md, plan_->shapes[v])) {
    auto [it, fresh] = plan_->plain_copies.try_emplace(v);
    Plan::PlainCopy& c = it->second;
    if (fresh) {
      const auto plain = dnnl_compat::plain(plan_->shapes[v]);
      c.buffer.resize(plain.get_size());
      c.src = dnnl::memory(md, eng_, plan_->arena.get() + plan_->offset[v]);
      c.dst = dnnl::memory(plain, eng_, c.buffer.data());
      c.reorder = dnnl::reorder(dnnl_compat::reorder(eng_, md, plain));
    }
    c.reorder.execute(stream_, c.src, c.dst);
    stream_.wait();
    return c.buffer.data();
  }
  if (auto it = plan_->fed.find(v); it != plan_->fed.end() && it->second.bound) return it->second.bound;
  return plan_->arena.get() + plan_->offset[v];
}

const ir::Shape& Executor::shape(int v) const { return plan_->shapes[v]; }
size_t Executor::arena_bytes() const { return plan_ ? plan_->arena_bytes : 0; }

void Executor::run() { run_steps(plan_->steps.size()); }
void Executor::run_forward() { run_steps(plan_->forward_steps); }
void Executor::run_update() { run_steps(plan_->steps.size(), true); }
const std::vector<char>& Executor::fused() const { return plan_->fused; }
const std::vector<int>& Executor::step_nodes() const { return plan_->step_nodes; }
bool Executor::blocked(int v) const { return plan_->blocked[v] != 0; }

void Executor::run_steps(size_t count, bool update) {
  if (!plan_->prepare.empty() && plan_->prepared_version != *frozen_version_) {
    for (ops::Step& s : plan_->prepare)
      dnnl::error::wrap_c_api(
          dnnl_primitive_execute(s.prim.get(), stream_.get(), static_cast<int>(s.c_args.size()), s.c_args.data()),
          "could not pack weights");
    plan_->prepared_version = *frozen_version_;
  }
  auto execute = [this](ops::Step& s) {
    if (s.host) {
      stream_.wait();
      s.host();
    } else {
      dnnl::error::wrap_c_api(
          dnnl_primitive_execute(s.prim.get(), stream_.get(), static_cast<int>(s.c_args.size()), s.c_args.data()),
          "could not execute a primitive");
    }
  };
  for (size_t i = 0; i < count; ++i)
    if (!update || !plan_->replaced[i]) execute(plan_->steps[i]);
  if (update)  // last: every other step has read the parameters these update
    for (ops::Step& s : plan_->update_steps) execute(s);
  stream_.wait();
}

}  // namespace onnxtrain
