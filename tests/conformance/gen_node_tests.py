"""Generates ONNX's backend node test data (model.onnx + test_data_set_*) from the case definitions in Debian's
python3-onnx into OUTDIR/node. It writes data only; tests/conformance/test_node_conformance.cpp decides what runs."""
import sys

import numpy as np

# The generator in onnx 1.12 still uses aliases that numpy 1.24 removed.
for _name, _type in (("float", float), ("int", int), ("bool", bool), ("object", object)):
    setattr(np, _name, _type)

from onnx.backend.test.cmd_tools import main  # noqa: E402

if len(sys.argv) != 2:
    sys.exit("usage: gen_node_tests.py OUTDIR")
sys.argv = [sys.argv[0], "generate-data", "-o", sys.argv[1]]
main()
