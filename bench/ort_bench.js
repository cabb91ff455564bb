// Times ONNX Runtime inference (onnxruntime-node) of a model for bench/run.py; prints key=value pairs like the others.
// Usage: node ort_bench.js MODEL THREADS BATCH SECONDS [DIMS]; DIMS: one sample's input dims, "784" (the default,
// an MLP's) or "1,28,28" (the bundled CNN's).
const ort = require('onnxruntime-node');

async function main() {
  const [path, threads, batch, seconds, dims = '784'] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const B = Number(batch), shape = [B, ...dims.split(',').map(Number)];
  const x = new ort.Tensor('float32', Float32Array.from({length: shape.reduce((a, b) => a * b)}, () => Math.random()),
                           shape);
  const feeds = {[session.inputNames[0]]: x};
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const now = () => Number(process.hrtime.bigint()) / 1e9;
  const repeats = 5, budget = Number(seconds);
  let t0 = now(), calib = 0;
  while (now() - t0 < budget / repeats / 4 || calib < 2) { await session.run(feeds); calib++; }
  const n = Math.max(3, Math.floor(budget / repeats / ((now() - t0) / calib)));
  const times = [];
  for (let r = 0; r < repeats; r++) {
    const s = now();
    for (let i = 0; i < n; i++) await session.run(feeds);
    times.push((now() - s) / n);
  }
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)];
  console.log(`mode=infer samples_per_s=${(B / med).toFixed(0)} spread=${((times[times.length - 1] - times[0]) / med).toFixed(3)}`);
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
