#!/usr/bin/env bash
# scripts/check_boundaries.sh against a small tree made here: each rule's violation reported by file:line, and the
# same lines left alone where the boundary allows them (importers/, exporters/, the dnnl_compat pair).
# Usage: test_check_boundaries.sh SOURCE_DIR
set -euo pipefail
script="$1/scripts/check_boundaries.sh"
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree"/{importers,exporters,runtime/exec}

# Every line of bad_dnnl is one violation; so is every line of bad_proto. (Line numbers below count from 1.)
dnnl_lines='dnnl::softmax_v2_forward f(pd);
dnnl::matmul::desc d(a, b, c);
dnnl::eltwise_forward::primitive_desc pd(d, eng);
return dnnl::sum::primitive_desc(md, scales, srcs, eng);
po.append_eltwise(1.f, alg::eltwise_relu, 0.f, 0.f);
attr.set_output_scales(0, {2.f});
#if DNNL_VERSION_MAJOR >= 3
int n = md.data.ndims;
auto dims = md.dims();
auto dims3 = md.get_dims();
dnnl::logsoftmax_forward lsm;
using namespace dnnl;'
printf '%s\n' "$dnnl_lines" >"$tree/runtime/bad_dnnl.cpp"
printf '%s\n' "$dnnl_lines" >"$tree/runtime/exec/dnnl_compat.cpp"
cat >"$tree/runtime/bad_proto.cpp" <<'SRC'
#include <onnx/onnx_pb.h>
#include <google/protobuf/message.h>
#include "importers/onnx_importer.h"
#include "generated/model.pb.h"
SRC
# Allowed: oneDNN names the same in 2.x and 3.x; a protobuf-free header of importers/.
cat >"$tree/runtime/ok.cpp" <<'SRC'
#include "importers/plain.h"
#include <dnnl.hpp>
dnnl::memory::desc md({2, 3}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
auto pd = dnnl_compat::matmul(eng, a, b, c, {});
auto r = dnnl::reorder(dnnl::reorder::primitive_desc(eng, md, eng, md));
auto s = dnnl_compat::softmax_bwd(dnnl_compat::softmax_backward(eng, md, 1));
void* p = m.get_data_handle();
size_t n = md.get_size();
SRC
echo '#include <onnx/onnx_pb.h>' >"$tree/importers/onnx_source.h"
echo '#include "importers/onnx_source.h"' >"$tree/importers/onnx_importer.h"
echo '// no protobuf here' >"$tree/importers/plain.h"
printf '#include "importers/onnx_importer.h"\nauto d = t.dims();\nauto k = t.data_type();\n' >"$tree/exporters/x.cpp"

status=0
out="$(bash "$script" "$tree" 2>&1)" || status=$?
echo "$out"
fail() { echo "FAIL: $*" >&2; exit 1; }
((status == 1)) || fail "exit status $status, not 1"
for i in $(seq 1 12); do grep -q "^runtime/bad_dnnl.cpp:$i: oneDNN" <<<"$out" || fail "bad_dnnl.cpp:$i not reported"; done
for i in 1 2 4; do grep -q "^runtime/bad_proto.cpp:$i: protobuf or ONNX header" <<<"$out" || fail "bad_proto.cpp:$i"; done
grep -q '^runtime/bad_proto.cpp:3: header that includes protobuf' <<<"$out" || fail "bad_proto.cpp:3 (transitive)"
if grep -E '^(runtime/ok\.cpp|runtime/exec/dnnl_compat\.cpp|importers/|exporters/)' <<<"$out"; then
  fail "a line the boundary allows was reported"
fi
reported="$(grep -cE '^[^ ]+:[0-9]+: ' <<<"$out" || true)"
distinct="$(grep -oE '^[^ ]+:[0-9]+:' <<<"$out" | sort -u | wc -l)"
((distinct == 16)) || fail "$distinct distinct lines reported, expected 16 ($reported reports)"
echo "PASS: 16 violations reported, the allowed lines left alone"
