#!/usr/bin/env bash
# Fails (exit 1, one line per violation: file:line: rule: the line) when a dependency leaks past the boundary that
# confines it, so that the boundaries hold by construction rather than by discipline. Usage: check_boundaries.sh [ROOT]
# (default: this repository; its tracked files, or every file when ROOT is not a git work tree).
#
# Scanned: the C and C++ sources (.h .hpp .cpp .cc .c .inc), comments included, since a comment naming a 2.x API goes
# stale with the port as surely as code does. tests/ and bench/ are scanned like the rest: they use oneDNN only
# through names that are the same in 2.x and 3.x, or through dnnl_compat, and include no protobuf.
#
# protobuf and ONNX: only importers/ and exporters/ may include
#   - <onnx/...> (ONNX's checker, its generated onnx_pb.h, onnx-data_pb.h, ...), <google/protobuf/...>, or any
#     generated header (*.pb.h, *_pb.h);
#   - a header of importers/ or exporters/ that includes one of those, directly or through another such header
#     (importers/onnx_source.h holds a ModelProto, so including it anywhere else brings protobuf along).
#
# oneDNN: only runtime/exec/dnnl_compat.h and dnnl_compat.cpp may use a name whose spelling or meaning differs between
# oneDNN 2.x, which Debian ships, and 3.x (the list at the top of dnnl_compat.h says what becomes of each):
#   - op descriptors: any X::desc other than memory::desc (3.x has none), and the C API's dnnl_*_desc_init and
#     dnnl_primitive_desc_create;
#   - constructing an X::primitive_desc other than reorder's, whether as X::primitive_desc(...) or
#     X::primitive_desc pd(...): 2.x takes (desc, [attr,] engine[, hint]), 3.x (engine, ..., [attr | hint]). Holding
#     one returned by dnnl_compat (auto pd = dnnl_compat::matmul(...)) is fine;
#   - softmax_v2 / pooling_v2 / layer_normalization_v2 (named without _v2 in 3.x), and dnnl::softmax_forward/backward,
#     dnnl::logsoftmax_* (2.x's legacy softmax; 3.x renames softmax_v2 to them and drops logsoftmax);
#   - post_ops::append_eltwise, at any arity (2.x: scale, alg, alpha, beta; 3.x: alg, alpha, beta), and the attribute
#     calls that changed: set_output_scales, DNNL_ARG_ATTR_OUTPUT_SCALES, set_scales, set_scales_mask,
#     set_zero_points, append_dw*;
#   - memory descriptor queries: 2.x's md.data.<field>, md.dims(), md.data_type() and dnnl_memory_desc_t (a struct in
#     2.x, an opaque handle in 3.x); 3.x's md.get_dims(), get_strides(), get_ndims(), get_data_type(), ...; .dims()
#     and .data_type() not in importers/ and exporters/, where they are onnx::TensorProto's;
#   - version tests: DNNL_VERSION_*, dnnl_version();
#   - using namespace dnnl, which would hide the dnnl:: these rules look for.
# Names the same in both versions stay free to use anywhere: dnnl::memory and memory::desc construction, get_size,
# get/set_data_handle, the primitive classes (dnnl::matmul(pd), dnnl::reorder, ...), DNNL_ARG_*, engine, stream,
# dnnl_primitive_execute. The patterns are textual: a function declared to return an X::primitive_desc outside
# dnnl_compat would be reported too (return auto or keep it in dnnl_compat), and a oneDNN call reached through an
# alias of another name would not. A 3.x build still stops at dnnl_compat.h's #error first.
set -euo pipefail
root="${1:-$(dirname "$0")/..}"
cd "$root"

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.h' '*.hpp' '*.cpp' '*.cc' '*.c' '*.inc')
else
  mapfile -t files < <(find . -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.cpp' -o -name '*.cc' -o -name '*.c' \
                         -o -name '*.inc' \) -not -path './build*' -printf '%P\n' | sort)
fi

found=()
# report RULE PCRE FILE...: every line of the files that matches, as file:line: rule: line, into found.
report() {
  local rule="$1" pattern="$2"
  shift 2
  (($#)) || return 0
  local hits
  hits="$(grep -HnP -- "$pattern" "$@" || true)"
  [[ -n "$hits" ]] || return 0
  while IFS= read -r hit; do
    local where="${hit%%:*}" rest="${hit#*:}"
    local line="${rest%%:*}" text="${rest#*:}"
    found+=("$where:$line: $rule: $(sed -E 's/^[[:space:]]+//' <<<"$text")")
  done <<<"$hits"
}

include_re='^\s*#\s*include\s*[<"]'
proto_re="$include_re"'(onnx/|google/protobuf/|[^>"]*(\.pb|_pb)\.h[>"])'

# The headers of importers/ and exporters/ that bring protobuf with them: those that include it, then, to a fixed
# point, those that include one of them.
proto_side=() tainted=() outside_proto=() outside_dnnl=()
for f in "${files[@]}"; do
  case "$f" in
    importers/* | exporters/*) proto_side+=("$f") ;;
    *) outside_proto+=("$f") ;;
  esac
  case "$f" in
    runtime/exec/dnnl_compat.h | runtime/exec/dnnl_compat.cpp) ;;
    *) outside_dnnl+=("$f") ;;
  esac
done
taint_re="$proto_re"
if ((${#proto_side[@]})); then
  while :; do
    mapfile -t now < <(grep -lP -- "$taint_re" "${proto_side[@]}" | grep -E '\.(h|hpp|inc)$' || true)
    ((${#now[@]} == ${#tainted[@]})) && break
    tainted=("${now[@]}")
    alts="$(printf '%s\n' "${tainted[@]}" | sed 's/[.]/\\./g' | paste -sd'|')"
    taint_re="$proto_re|$include_re($alts)\""
  done
fi

report "protobuf or ONNX header outside importers/ and exporters/" "$proto_re" "${outside_proto[@]}"
if ((${#tainted[@]})); then
  alts="$(printf '%s\n' "${tainted[@]}" | sed 's/[.]/\\./g' | paste -sd'|')"
  report "header that includes protobuf, outside importers/ and exporters/" "$include_re($alts)\"" \
    "${outside_proto[@]}"
fi

dnnl_rule="oneDNN 2.x/3.x-specific name outside runtime/exec/dnnl_compat.{h,cpp}"
dnnl_patterns=(
  '(?<!memory)::desc\b|\bdnnl_[a-z0-9_]+_desc_init\b|\bdnnl_primitive_desc_create\b'
  '(?<!reorder)::primitive_desc\s*([A-Za-z_][A-Za-z0-9_]*\s*)?[({]'
  '\b(softmax|pooling|layer_normalization)_v2'
  '\bdnnl::(log)?softmax_(forward|backward)\b|\blogsoftmax_(forward|backward)\b'
  '\bappend_eltwise\s*\(|set_output_scales|DNNL_ARG_ATTR_OUTPUT_SCALES|\bset_scales(_mask)?\s*\(|\bset_zero_points'
  '\bappend_dw'
  '\.data\.(ndims|dims|data_type|format_kind|format_desc|padded_dims|padded_offsets|offset0|extra)\b'
  '\bdnnl_memory_desc_t\b'
  '\.get_(dims|strides|ndims|data_type|format_kind|padded_dims|padded_offsets|submemory_offset)\s*\('
  '\.get_inner_(nblks|blks|idxs)\s*\('
  '\bDNNL_VERSION_|\bdnnl_version\s*\('
  '\busing\s+namespace\s+dnnl\b'
)
for p in "${dnnl_patterns[@]}"; do report "$dnnl_rule" "$p" "${outside_dnnl[@]}"; done
# md.dims() and md.data_type() are also onnx::TensorProto's, which is all importers/ and exporters/ mean by them.
mapfile -t runtime_side < <(printf '%s\n' "${outside_dnnl[@]}" | grep -vE '^(importers|exporters)/' || true)
report "$dnnl_rule" '\.(dims|data_type)\(\)' "${runtime_side[@]}"

if ((${#found[@]})); then
  printf '%s\n' "${found[@]}" | sort -t: -k1,1 -k2,2n
  echo "check_boundaries: ${#found[@]} violation(s); see the rules at the top of scripts/check_boundaries.sh" >&2
  exit 1
fi
echo "check_boundaries: ${#files[@]} files, no protobuf outside importers/ and exporters/, no version-specific oneDNN" \
  "name outside runtime/exec/dnnl_compat.{h,cpp}"
