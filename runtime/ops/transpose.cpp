// Transpose: Y = X with its axes permuted by perm (default: reversed). Shape inference, the forward kernel (a oneDNN
// reorder reading X through permuted strides), its double reference and the gradient rule, itself a Transpose by the
// inverse permutation.
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

std::vector<int64_t> perm_of(const ir::Graph& g, const ir::Node& n, size_t rank) {
  std::vector<int64_t> perm;
  auto it = n.attrs.find("perm");
  if (it == n.attrs.end()) {
    for (size_t i = rank; i-- > 0;) perm.push_back(static_cast<int64_t>(i));
    return perm;
  }
  perm = it->second.ints;
  std::vector<bool> seen(rank, false);
  bool ok = perm.size() == rank;
  for (int64_t p : perm) {
    ok = ok && p >= 0 && p < static_cast<int64_t>(rank) && !seen[p];
    if (ok) seen[p] = true;
  }
  if (!ok) g.fail(n, "perm is not a permutation of the " + std::to_string(rank) + " axes of its input");
  return perm;
}

// X: (d0, ..., dr-1); Y: (d[perm[0]], ..., d[perm[r-1]]).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  auto perm = perm_of(g, n, in[0].size());
  Shape y;
  for (int64_t p : perm) y.push_back(in[0][p]);
  return {y};
}

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& x = ctx.shape(n.inputs[0]);
  auto perm = perm_of(ctx.graph(), n, x.size());
  if (x.empty()) return copy_step(ctx, n.inputs[0], n.outputs[0], steps);
  // X's row-major strides, permuted: reading X through them walks it in Y's order.
  std::vector<int64_t> strides(x.size());
  int64_t s = 1;
  for (size_t i = x.size(); i-- > 0;) strides[i] = s, s *= x[i];
  dnnl::memory::dims ydims, ystrides_of_x;
  for (int64_t p : perm) ydims.push_back(x[p]), ystrides_of_x.push_back(strides[p]);
  auto src_md = dnnl_compat::strided(ydims, ystrides_of_x);
  auto dst_md = dnnl_compat::plain(ctx.shape(n.outputs[0]));
  steps.push_back({dnnl::reorder(dnnl_compat::reorder(ctx.engine(), src_md, dst_md)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], src_md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], dst_md)}}});
}

// Y[i_0, ..., i_r-1] = X[j] with j[perm[k]] = i_k: Y's axis k is X's axis perm[k]. X: (d0, ..., dr-1);
// Y: (d[perm[0]], ..., d[perm[r-1]]).
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const Shape& x = in[0]->shape;
  const Shape& y = out[0].shape;
  const auto perm = perm_of(g, n, x.size());
  std::vector<int64_t> xstride(x.size()), idx(y.size(), 0);
  for (int64_t i = static_cast<int64_t>(x.size()) - 1, s = 1; i >= 0; --i) xstride[i] = s, s *= x[i];
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    int64_t off = 0;
    for (size_t k = 0; k < y.size(); ++k) off += idx[k] * xstride[perm[k]];
    out[0].data[e] = in[0]->data[off];
    for (size_t k = y.size(); k-- > 0;)
      if (++idx[k] < y[k])
        break;
      else
        idx[k] = 0;
  }
}

// Y = transpose(X, perm); dX = transpose(dY, inverse(perm)).
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  auto perm = perm_of(b.graph(), n, b.shape(n.inputs[0]).size());
  ir::Attr inv;
  inv.kind = ir::Attr::Ints;
  inv.ints.resize(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv.ints[perm[i]] = static_cast<int64_t>(i);
  b.set_dX(n, 0, b.emit("Transpose", {dY}, {{"perm", inv}}));
}

}  // namespace

extern const OpDef kTranspose{.type = "Transpose",
                              .versions = {1, 13, 21},
                              .check = check_unary,
                              .infer = infer,
                              .forward = forward,
                              .gradient = gradient,
                              .reference = reference,
                              .cases = {{.opset = 1, .shapes = {{2, 3, 4}}},  // the default: the axes reversed
                                        {.opset = 1, .shapes = {{2, 3, 4}}, .attrs = {{"perm", attr({1, 2, 0})}}},
                                        {.opset = 13, .shapes = {{2, 7, 3}}, .attrs = {{"perm", attr({0, 2, 1})}}},
                                        {.opset = 21, .shapes = {{3, 5}}, .attrs = {{"perm", attr({1, 0})}}}}};

}  // namespace onnxtrain::ops
