// Micro-benchmark of the fast path (DESIGN.md decision 2): nanoseconds per span for the validating wire
// walk on a 500-span ExportTraceServiceRequest, next to a protobufjs decode of the same bytes.
// No framework: warm up, then time a fixed number of iterations and report the best of several rounds.
//   node dist/bench/walk-micro.js [spans=500] [rounds=7]
import { performance } from 'node:perf_hooks';
import { walkRequest } from '../src/process/worker/walk.js';
import { processRequest } from '../src/process/worker/process-request.js';
import { requestType } from '../src/process/wire/otlp-schema.js';
import { generateSpans } from '../test/helpers/generate-otlp.js';

const spans = Number(process.argv[2] ?? 500);
const rounds = Number(process.argv[3] ?? 7);
const body = generateSpans(spans);
const type = requestType('traces');

function nsPerSpan(label: string, iterations: number, run: () => unknown): number {
  for (let i = 0; i < Math.max(20, iterations / 10); i++) run(); // warm up (JIT)
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) run();
    const ns = ((performance.now() - t0) * 1e6) / (iterations * spans);
    best = Math.min(best, ns);
  }
  console.log(`${label.padEnd(34)} ${best.toFixed(0).padStart(7)} ns/span  (${((best * spans) / 1000).toFixed(1)} µs/request)`);
  return best;
}

console.log(`request: ${spans} spans, ${body.length} bytes (${(body.length / spans).toFixed(0)} bytes/span)`);
const check = walkRequest('traces', body);
if (!check.ok || check.items !== spans) throw new Error(`the walker refused the benchmark request: ${JSON.stringify(check)}`);
const walk = nsPerSpan('walkRequest (validate+count+group)', 400, () => walkRequest('traces', body));
nsPerSpan('processRequest (worker task)', 400, () => processRequest({ signal: 'traces', encoding: 'protobuf', body, tenant: 'bench' }));
const decode = nsPerSpan('protobufjs decode', 20, () => type.decode(body));
nsPerSpan('protobufjs decode + toObject', 10, () => type.toObject(type.decode(body), { longs: String, bytes: String }));
console.log(`walk is ${(decode / walk).toFixed(1)}x faster than protobufjs decode`);
