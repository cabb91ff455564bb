// Runs a model in ONNX Runtime (onnxruntime-node) on one input read from a .npy file and writes its first output
// to a .npy file, for check_families.py. Takes float32, int64, int32 and uint8 inputs; writes float32 outputs.
// Usage: node ort_run.js MODEL X.npy Y.npy
const fs = require('fs');
const ort = require('onnxruntime-node');

const kinds = {'<f4': ['float32', Float32Array], '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array],
               '|u1': ['uint8', Uint8Array]};

function readNpy(path) {
  const b = fs.readFileSync(path);
  const headerLen = b.readUInt16LE(8);
  const header = b.toString('latin1', 10, 10 + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').filter((s) => s.trim()).map(Number);
  if (!kinds[descr] || /'fortran_order':\s*True/.test(header)) throw new Error(`${path}: unsupported ${descr}`);
  const [type, Arr] = kinds[descr];
  const start = 10 + headerLen, data = b.buffer.slice(b.byteOffset + start, b.byteOffset + b.length);
  return new ort.Tensor(type, new Arr(data.slice(0)), shape);
}

function writeNpy(path, t) {
  if (t.type !== 'float32') throw new Error(`output is ${t.type}`);
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${t.dims.join(', ')}${t.dims.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64) header += ' ';
  header += '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  fs.writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
}

async function main() {
  const [model, xPath, yPath] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 1, interOpNumThreads: 1});
  const out = await session.run({[session.inputNames[0]]: readNpy(xPath)});
  writeNpy(yPath, out[session.outputNames[0]]);
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
