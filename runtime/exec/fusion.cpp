// Gemm or Conv + Relu/LeakyRelu fusion, and the activation patterns' fusion into FusedActivation: see fusion.h.
#include "runtime/exec/fusion.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "runtime/ops/op.h"

namespace onnxtrain {

namespace {

// Drops the nodes `dead` names (the others keep their order), appends `added`, and relinks producers and consumers:
// values that no node produces any more are left unread, and finalize orders the nodes topologically.
void relink(ir::Graph& g, const std::function<bool(size_t)>& dead = nullptr, std::vector<ir::Node> added = {}) {
  std::vector<ir::Node> kept;
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (!dead || !dead(k)) kept.push_back(std::move(g.nodes[k]));
  for (ir::Node& n : added) kept.push_back(std::move(n));
  g.nodes = std::move(kept);
  for (ir::Value& v : g.values) v.producer = -1;
  g.finalize();
}

}  // namespace

void fuse_activations(ir::Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  for (ir::Node& gemm : g.nodes) {
    if ((gemm.op_type != "Gemm" && gemm.op_type != "Conv") || gemm.has("onnxtrain.relu_slope")) continue;
    const int pre = gemm.outputs[0];
    const ir::Value& v = g.values[pre];
    if (v.is_output || v.consumers.size() != 1) continue;
    const int k = v.consumers[0];
    const ir::Node& act = g.nodes[k];
    const ops::OpDef* def = ops::find_op(act.op_type);
    if (!def || !def->rectifier_slope) continue;
    const float slope = def->rectifier_slope(act);
    gemm.attrs["onnxtrain.relu_slope"] = ir::Attr::of(slope);
    gemm.outputs[0] = act.outputs[0];
    dead[k] = true;
  }
  relink(g, [&](size_t k) { return dead[k]; });  // the pre-activations are left unread
}

void fold_zero_pad(ir::Graph& g, const float* params) {
  std::vector<bool> dead(g.nodes.size(), false);
  for (ir::Node& pool : g.nodes) {
    if (pool.op_type != "AveragePool" || pool.version < 7 || pool.attr_i("ceil_mode", 0) != 0) continue;
    if (pool.has("auto_pad") && !pool.attrs.at("auto_pad").s.empty() && pool.attrs.at("auto_pad").s != "NOTSET")
      continue;
    const ir::Value& padded = g.values[pool.inputs[0]];
    if (padded.producer < 0 || padded.is_output || padded.consumers.size() != 1) continue;
    const int k = padded.producer;
    const ir::Node& pad = g.nodes[k];
    if (pad.op_type != "Pad" || dead[k]) continue;
    if (pad.has("mode") && !pad.attrs.at("mode").s.empty() && pad.attrs.at("mode").s != "constant") continue;
    std::vector<int64_t> pads;
    if (pad.version < 11) {
      if (pad.attr_f("value", 0.f) != 0.f) continue;
      pads = pad.attrs.at(pad.version < 2 ? "paddings" : "pads").ints;
    } else {
      const int p = pad.input(1), value = pad.input(2);
      if (pad.input(3) >= 0 || p < 0 || !g.values[p].integer || g.values[p].kind != ir::ValueKind::Constant) continue;
      if (value >= 0) {
        const ir::Value& c = g.values[value];
        if (c.kind != ir::ValueKind::Constant || c.dtype != DType::Float32 || !c.raw.empty() || g.numel(value) != 1 ||
            params[c.offset] != 0.f)
          continue;
      }
      pads = g.values[p].ints;
    }
    const size_t r = pads.size() / 2;
    if (r < 3 || pads.size() != 2 * r || pads[0] != 0 || pads[1] != 0 || pads[r] != 0 || pads[r + 1] != 0) continue;
    if (std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p < 0; })) continue;
    std::vector<int64_t> own = pool.has("pads") ? pool.attrs.at("pads").ints : std::vector<int64_t>(2 * (r - 2), 0);
    if (own.size() != 2 * (r - 2)) continue;
    if (pool.attr_i("count_include_pad", 0) == 0 && std::any_of(own.begin(), own.end(), [](int64_t p) { return p; }))
      continue;
    for (size_t a = 0; a + 2 < r; ++a) own[a] += pads[2 + a], own[r - 2 + a] += pads[r + 2 + a];
    pool.attrs["pads"] = ir::Attr::of(own);
    pool.attrs["count_include_pad"] = ir::Attr::of(int64_t{1});
    pool.inputs[0] = pad.inputs[0];
    dead[k] = true;
  }
  if (std::find(dead.begin(), dead.end(), true) != dead.end()) relink(g, [&](size_t k) { return dead[k]; });
}

void mask_before_max_pool(ir::Graph& g) {
  bool changed = false;
  for (ir::Node& relu : g.nodes) {
    if (relu.op_type != "ReluGrad" || relu.attr_i("from_src", 0) != 0 || relu.attr_f("alpha", 0.f) != 0.f) continue;
    const int dR = relu.inputs[0], Y = relu.inputs[1];
    const ir::Value& d = g.values[dR];
    if (d.producer < 0 || d.is_output || d.consumers.size() != 1) continue;
    ir::Node& pool = g.nodes[d.producer];
    if (pool.op_type != "PoolGrad" || pool.inputs.size() < 3 || pool.inputs[1] != Y) continue;
    const std::string of = pool.attrs.count("pool_of") ? pool.attrs.at("pool_of").s : "";
    if (of != "MaxPool" && of != "GlobalMaxPool") continue;
    const int fwd = g.values[pool.inputs[2]].producer;  // the forward pool, whose workspace PoolGrad reads
    if (fwd < 0) continue;
    const int P = g.nodes[fwd].outputs[0];
    // ReluGrad(dP, P) -> the node's own output; then PoolGrad writes what ReluGrad wrote.
    const int dX = relu.outputs[0], dP = pool.inputs[0];
    relu.inputs = {dP, P};
    relu.outputs = {dR};
    pool.inputs[0] = dR;
    pool.outputs[0] = dX;
    g.values[dR].shape = g.values[dP].shape;
    changed = true;
  }
  if (changed) relink(g);  // orders each ReluGrad before the PoolGrad it now feeds
}

namespace {

// Matching the activation patterns over a graph, nodes consumed by an earlier match left alone.
class PatternMatcher {
 public:
  PatternMatcher(const ir::Graph& g, const float* params) : g_(g), params_(params), dead_(g.nodes.size(), false) {}

  // The node producing v, if it is op and still in the graph; -1 otherwise.
  int made_by(int v, const char* op) const {
    if (v < 0) return -1;
    const int k = g_.values[v].producer;
    return k >= 0 && !dead_[k] && g_.nodes[k].op_type == op ? k : -1;
  }
  // Whether v lives only inside a pattern: read by one node, not a graph output.
  bool inner(int v) const { return v >= 0 && !g_.values[v].is_output && g_.values[v].consumers.size() == 1; }
  // Whether v is a float32 Constant of one element equal to want (to float32 rounding), of rank <= x's.
  bool constant(int v, double want, int x) const {
    if (v < 0) return false;
    const ir::Value& c = g_.values[v];
    if (c.kind != ir::ValueKind::Constant || c.integer || c.dtype != DType::Float32 || !c.raw.empty()) return false;
    int64_t count = 1;
    for (int64_t d : c.shape) count *= d;
    if (count != 1 || c.shape.size() > g_.values[x].shape.size()) return false;
    return std::fabs(params_[c.offset] - want) <= 1e-6 * std::fabs(want) + 1e-7;
  }
  // The other input of binary node k, given one of them; -1 if v is not an input of it.
  int other(int k, int v) const {
    const ir::Node& n = g_.nodes[k];
    if (n.inputs.size() != 2) return -1;
    return n.inputs[0] == v ? n.inputs[1] : n.inputs[1] == v ? n.inputs[0] : -1;
  }

  // Pattern roots: Mul nodes. Each matcher fills nodes_ (the pattern's nodes) and returns x, or -1.
  // x * f(x), f a unary chain over x: Sigmoid (SiLU), Softplus then Tanh (Mish), HardSigmoid(1/6, 1/2).
  int times_of_x(int root, const std::vector<const char*>& chain) {
    const ir::Node& r = g_.nodes[root];
    if (r.inputs.size() != 2) return -1;
    for (int side = 0; side < 2; ++side) {
      const int x = r.inputs[side];
      int v = r.inputs[1 - side];
      std::vector<int> nodes = {root};
      bool ok = true;
      for (size_t c = chain.size(); c-- > 0 && ok;) {  // walking back from f's output to x
        const int k = made_by(v, chain[c]);
        ok = k >= 0 && inner(v) && g_.nodes[k].inputs.size() == 1;
        if (!ok) break;
        if (std::string(chain[c]) == "HardSigmoid")
          ok = std::fabs(g_.nodes[k].attr_f("alpha", 0.2f) - 1.f / 6) <= 1e-6f &&
               std::fabs(g_.nodes[k].attr_f("beta", 0.5f) - 0.5f) <= 1e-6f;
        nodes.push_back(k);
        v = g_.nodes[k].inputs[0];
      }
      if (ok && v == x && g_.values[x].dtype == DType::Float32) {
        nodes_ = nodes;
        return x;
      }
    }
    return -1;
  }

  // x * 0.5 * (1 + inner(x)), the two products in any order and association: the three factors of a Mul of a Mul.
  // inner_of(u, x) matches u = inner(x), appending its nodes; found for x. Returns x, or -1.
  template <typename Inner>
  int gelu(int root, Inner inner_of) {
    const ir::Node& r = g_.nodes[root];
    if (r.inputs.size() != 2) return -1;
    for (int side = 0; side < 2; ++side) {
      const int m = made_by(r.inputs[side], "Mul");
      if (m < 0 || !inner(r.inputs[side]) || g_.nodes[m].inputs.size() != 2) continue;
      const int f[3] = {r.inputs[1 - side], g_.nodes[m].inputs[0], g_.nodes[m].inputs[1]};
      for (int half = 0; half < 3; ++half)
        for (int one_plus = 0; one_plus < 3; ++one_plus) {
          if (half == one_plus) continue;
          const int x = f[3 - half - one_plus];
          if (g_.values[x].dtype != DType::Float32 || !constant(f[half], 0.5, x)) continue;
          // 1 + inner(x)
          const int a = made_by(f[one_plus], "Add");
          if (a < 0 || !inner(f[one_plus])) continue;
          for (int v : g_.nodes[a].inputs) {
            const int u = other(a, v);
            if (u < 0 || !constant(v, 1.0, x) || !inner(u)) continue;
            std::vector<int> nodes = {root, m, a};
            if (inner_of(u, x, nodes)) {
              nodes_ = nodes;
              return x;
            }
          }
        }
    }
    return -1;
  }

  // Erf(x / sqrt 2), or Erf(x * (1/sqrt 2)).
  bool erf_of_scaled(int u, int x, std::vector<int>& nodes) const {
    const int e = made_by(u, "Erf");
    if (e < 0 || g_.nodes[e].inputs.size() != 1) return false;
    const int d = g_.nodes[e].inputs[0];
    if (!inner(d)) return false;
    const int div = made_by(d, "Div"), mul = made_by(d, "Mul");
    const bool scaled = (div >= 0 && g_.nodes[div].inputs.size() == 2 && g_.nodes[div].inputs[0] == x &&
                         constant(g_.nodes[div].inputs[1], std::sqrt(2.0), x)) ||
                        (mul >= 0 && constant(other(mul, x), 1 / std::sqrt(2.0), x));
    if (!scaled) return false;
    nodes.insert(nodes.end(), {e, div >= 0 ? div : mul});
    return true;
  }

  // Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)), x^3 as Mul(x, Mul(x, x)) (either order) or Pow(x, 3).
  bool tanh_of_cubic(int u, int x, std::vector<int>& nodes) const {
    const int t = made_by(u, "Tanh");
    if (t < 0 || g_.nodes[t].inputs.size() != 1) return false;
    const int su = g_.nodes[t].inputs[0];
    const int scale = made_by(su, "Mul");
    if (scale < 0 || !inner(su)) return false;
    for (int c : g_.nodes[scale].inputs) {
      const int s = other(scale, c);
      if (s < 0 || !constant(c, std::sqrt(2.0 / M_PI), x) || !inner(s)) continue;
      const int add = made_by(s, "Add");
      if (add < 0) continue;
      const int r = other(add, x);
      const int rm = made_by(r, "Mul");
      if (rm < 0 || !inner(r)) continue;
      for (int k : g_.nodes[rm].inputs) {
        const int cube = other(rm, k);
        if (cube < 0 || !constant(k, 0.044715, x) || !inner(cube)) continue;
        std::vector<int> found = {t, scale, add, rm};
        if (const int p = made_by(cube, "Pow"); p >= 0 && g_.nodes[p].inputs.size() == 2 &&
                                                g_.nodes[p].inputs[0] == x && constant(g_.nodes[p].inputs[1], 3.0, x)) {
          found.push_back(p);
        } else if (const int q = made_by(cube, "Mul"); q >= 0) {
          const int sq = other(q, x);
          const int qq = made_by(sq, "Mul");
          if (qq < 0 || !inner(sq) || g_.nodes[qq].inputs != std::vector<int>{x, x}) continue;
          found.insert(found.end(), {q, qq});
        } else {
          continue;
        }
        nodes.insert(nodes.end(), found.begin(), found.end());
        return true;
      }
    }
    return false;
  }

  // The pattern whose last node is root, if any: its x, the function's name, and its nodes in nodes().
  std::pair<int, const char*> match(int root) {
    if (dead_[root] || g_.nodes[root].op_type != "Mul") return {-1, nullptr};
    if (int x = gelu(root, [&](int u, int x, std::vector<int>& n) { return erf_of_scaled(u, x, n); }); x >= 0)
      return {x, "gelu_erf"};
    if (int x = gelu(root, [&](int u, int x, std::vector<int>& n) { return tanh_of_cubic(u, x, n); }); x >= 0)
      return {x, "gelu_tanh"};
    if (int x = times_of_x(root, {"Sigmoid"}); x >= 0) return {x, "swish"};
    if (int x = times_of_x(root, {"Softplus", "Tanh"}); x >= 0) return {x, "mish"};
    if (int x = times_of_x(root, {"HardSigmoid"}); x >= 0) return {x, "hardswish"};
    return {-1, nullptr};
  }
  const std::vector<int>& nodes() const { return nodes_; }
  void kill(int k) { dead_[k] = true; }
  bool dead(size_t k) const { return dead_[k]; }

 private:
  const ir::Graph& g_;
  const float* params_;
  std::vector<bool> dead_;
  std::vector<int> nodes_;
};

}  // namespace

void fuse_patterns(ir::Graph& g, const float* params) {
  PatternMatcher m(g, params);
  bool fused = false;
  // In topological order, so a pattern's root (its last node) comes after its other nodes.
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const auto [x, function] = m.match(static_cast<int>(k));
    if (x < 0) continue;
    for (int d : m.nodes())
      if (d != static_cast<int>(k)) m.kill(d);
    ir::Node& root = g.nodes[k];
    root.op_type = "FusedActivation";
    root.version = 1;
    root.inputs = {x};
    ir::Attr f;
    f.kind = ir::Attr::String;
    f.s = function;
    root.attrs = {{"function", f}};
    fused = true;
  }
  if (fused) relink(g, [&](size_t k) { return m.dead(k); });  // the values inside the patterns are left unread
}

}  // namespace onnxtrain

namespace onnxtrain {
namespace {

// The one node reading v, when v is read by exactly one node of that type and is no graph output.
const ir::Node* sole_reader(const ir::Graph& g, int v, const char* op_type) {
  const ir::Value& val = g.values[v];
  if (val.is_output || val.consumers.size() != 1) return nullptr;
  const ir::Node& n = g.nodes[val.consumers[0]];
  return n.op_type == op_type ? &n : nullptr;
}

// A float32 constant holding one value.
bool scalar_constant(const ir::Graph& g, int v, float* out) {
  if (v < 0) return false;
  const ir::Value& val = g.values[v];
  if (val.kind != ir::ValueKind::Constant || val.integer || val.dtype != DType::Float32 || g.numel(v) != 1)
    return false;
  *out = g.param(v)[0];
  return true;
}

// The other input of a two-input node, given one of them.
int other_input(const ir::Node& n, int v) {
  if (n.inputs.size() != 2) return -1;
  return n.inputs[0] == v ? n.inputs[1] : n.inputs[1] == v ? n.inputs[0] : -1;
}

// A ReduceMean with keepdims over the trailing axes of x (rank dims): how many, 0 when it is not such a one.
int trailing_mean_axes(const ir::Graph& g, const ir::Node& n, size_t rank) {
  if (n.op_type != "ReduceMean" || n.attr_i("keepdims", 1) != 1) return 0;
  std::vector<int64_t> axes;
  if (n.has("axes"))
    axes = n.attrs.at("axes").ints;
  else if (n.input(1) >= 0 && g.values[n.inputs[1]].kind == ir::ValueKind::Constant && g.values[n.inputs[1]].integer)
    axes = g.values[n.inputs[1]].ints;
  if (axes.empty() || rank == 0) return 0;
  for (int64_t& a : axes)
    if (a < 0) a += static_cast<int64_t>(rank);
  std::sort(axes.begin(), axes.end());
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] != static_cast<int64_t>(rank - axes.size() + i)) return 0;
  return static_cast<int>(axes.size());
}

// weight or bias: a stored tensor whose shape is x's last `count` dims, all known.
bool affine_operand(const ir::Graph& g, int v, const ir::Shape& x, int count) {
  if (v < 0) return false;
  const ir::Value& val = g.values[v];
  if (val.kind != ir::ValueKind::Parameter && val.kind != ir::ValueKind::Constant) return false;
  if (val.dtype != DType::Float32 || val.integer) return false;
  const ir::Shape normalized(x.end() - count, x.end());
  for (int64_t d : normalized)
    if (d == ir::kUnknown) return false;
  return val.shape == normalized;
}

}  // namespace

void fuse_layer_norm(ir::Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  std::vector<ir::Node> added;
  const auto index = [&](const ir::Node* n) { return static_cast<size_t>(n - g.nodes.data()); };
  for (const ir::Node& mean : g.nodes) {
    if (mean.op_type != "ReduceMean" || mean.inputs.empty() || mean.inputs[0] < 0) continue;
    const int x = mean.inputs[0];
    const ir::Shape& xs = g.values[x].shape;
    const int count = trailing_mean_axes(g, mean, xs.size());
    if (count == 0) continue;
    const ir::Node* sub = sole_reader(g, mean.outputs[0], "Sub");
    if (!sub || sub->inputs.size() != 2 || sub->inputs[0] != x || sub->inputs[1] != mean.outputs[0]) continue;
    const int d = sub->outputs[0];
    const ir::Value& dv = g.values[d];
    if (dv.is_output || dv.consumers.size() != 2) continue;
    const ir::Node *pow = nullptr, *div = nullptr;
    for (int c : dv.consumers) (g.nodes[c].op_type == "Pow" ? pow : div) = &g.nodes[c];
    float two = 0, eps = 0;
    if (!pow || !div || div->op_type != "Div" || pow->input(0) != d || !scalar_constant(g, pow->input(1), &two) ||
        two != 2.f || div->input(0) != d)
      continue;
    const ir::Node* var = sole_reader(g, pow->outputs[0], "ReduceMean");
    if (!var || trailing_mean_axes(g, *var, xs.size()) != count) continue;
    const ir::Node* add = sole_reader(g, var->outputs[0], "Add");
    if (!add || !scalar_constant(g, other_input(*add, var->outputs[0]), &eps)) continue;
    const ir::Node* sqrt = sole_reader(g, add->outputs[0], "Sqrt");
    if (!sqrt || sole_reader(g, sqrt->outputs[0], "Div") != div || div->input(1) != sqrt->outputs[0]) continue;
    const ir::Node* mul = sole_reader(g, div->outputs[0], "Mul");
    if (!mul) continue;
    const int weight = other_input(*mul, div->outputs[0]);
    if (!affine_operand(g, weight, xs, count)) continue;
    const ir::Node* shift = sole_reader(g, mul->outputs[0], "Add");
    const int bias = shift ? other_input(*shift, mul->outputs[0]) : -1;
    if (!affine_operand(g, bias, xs, count)) shift = nullptr;
    ir::Node ln;
    ln.name = mean.name + "/fused_layer_norm";
    ln.op_type = "LayerNormalization";
    ln.version = 17;
    ln.inputs = {x, weight};
    if (shift) ln.inputs.push_back(bias);
    ln.outputs = {(shift ? shift : mul)->outputs[0]};
    ln.attrs["axis"] = ir::Attr::of(int64_t{-count});
    ln.attrs["epsilon"] = ir::Attr::of(eps);
    for (const ir::Node* n : {&mean, sub, pow, var, add, sqrt, div, mul, shift})
      if (n) dead[index(n)] = true;
    added.push_back(std::move(ln));
  }
  if (!added.empty())
    relink(
        g, [&](size_t k) { return dead[k]; }, std::move(added));  // ordered among the others
}

}  // namespace onnxtrain
