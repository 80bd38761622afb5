// Fuzzing the walker: random bytes, random-but-structured messages (real field numbers with random wire
// types and payloads, nested), truncations, bit flips, overflowing lengths and deep nesting. The walker
// must always return a result (never throw), refuse with a message that names an offset, and finish in
// time linear in the input. Thousands of cases in a few seconds.
import t from 'tap';
import { walkRequest, type WalkResult } from '../../../src/process/worker/walk.js';
import type { Signal } from '../../../src/signals.js';
import { createRng, generateRequest, type Rng } from '../../helpers/generate-otlp.js';
import { nest, tag, varint, type Bytes } from '../../helpers/wire-builder.js';

const SEED = Number(process.env.OTLP_FUZZ_SEED ?? 0xf022);
const SIGNALS: Signal[] = ['traces', 'metrics', 'logs'];

interface Stats {
  cases: number;
  accepted: number;
  refused: number;
  problems: string[];
}

function run(stats: Stats, signal: Signal, body: Uint8Array, label: string): WalkResult | undefined {
  stats.cases++;
  let r: WalkResult;
  try {
    r = walkRequest(signal, body);
  } catch (e) {
    stats.problems.push(`${label}: threw ${(e as Error).stack} on ${Buffer.from(body).toString('base64').slice(0, 300)}`);
    return undefined;
  }
  if (r.ok) {
    stats.accepted++;
    if (!Number.isInteger(r.items) || r.items < 0) stats.problems.push(`${label}: bad item count ${r.items}`);
  } else {
    stats.refused++;
    if (!/^\S.*: .+ \(offset \d+\)$/.test(r.message)) stats.problems.push(`${label}: message without path or offset: ${r.message}`);
  }
  return r;
}

/** A message of real-looking fields: field numbers 1..17 with any wire type, nested at random. */
function structured(rng: Rng, depth: number, budget: { bytes: number }): Bytes {
  const out: Bytes = [];
  const n = rng.int(0, 6);
  for (let i = 0; i < n && budget.bytes > 0; i++) {
    const field = rng.chance(0.95) ? rng.int(1, 17) : rng.int(0, 2 ** 29 - 1);
    const wt = rng.chance(0.8) ? rng.pick([0, 1, 2, 2, 2, 5]) : rng.int(0, 7);
    out.push(...tag(field, wt));
    switch (wt) {
      case 0:
        out.push(...varint(rng.chance(0.5) ? rng.int(0, 300) : BigInt.asUintN(64, BigInt(rng.int(-(2 ** 31), 2 ** 31)) << BigInt(rng.int(0, 32)))));
        break;
      case 1:
        out.push(...rng.bytes(8));
        break;
      case 5:
        out.push(...rng.bytes(4));
        break;
      case 2: {
        const inner = depth < 12 && rng.chance(0.6) ? structured(rng, depth + 1, budget) : [...rng.bytes(rng.pick([0, 1, 8, 16, rng.int(0, 40)]))];
        budget.bytes -= inner.length;
        out.push(...varint(inner.length), ...inner);
        break;
      }
      default:
        out.push(...rng.bytes(rng.int(0, 3)));
    }
  }
  return out;
}

t.test(`thousands of hostile inputs get an answer, never a throw (seed ${SEED})`, async (t) => {
  const rng = createRng(SEED);
  const stats: Stats = { cases: 0, accepted: 0, refused: 0, problems: [] };
  const started = process.hrtime.bigint();

  for (let i = 0; i < 3000; i++) {
    const signal = SIGNALS[i % 3]!;
    // Random bytes, biased towards small values and valid-looking tags.
    const noise = rng.bytes(rng.int(0, 200));
    run(stats, signal, noise, 'random bytes');
    // Structured random messages, which reach deep into the schema.
    run(stats, signal, Uint8Array.from(structured(rng, 0, { bytes: 4000 })), 'structured');
  }

  for (let i = 0; i < 600; i++) {
    const signal = SIGNALS[i % 3]!;
    const valid = generateRequest(signal, rng, { packed: rng.chance(0.5) }).bytes;
    run(stats, signal, valid, 'valid');
    if (valid.length === 0) continue;
    run(stats, signal, valid.subarray(0, rng.int(0, valid.length - 1)), 'truncated');
    const flipped = Buffer.from(valid);
    for (let k = 0; k < rng.int(1, 8); k++) flipped[rng.int(0, flipped.length - 1)]! ^= 1 << rng.int(0, 7);
    run(stats, signal, flipped, 'bit flips');
    const wrongWire = Buffer.from(valid);
    wrongWire[rng.int(0, wrongWire.length - 1)] = rng.int(0, 255);
    run(stats, signal, wrongWire, 'byte replaced');
    // An overflowing length: a 5-byte length prefix spliced in at a random place.
    const p = rng.int(0, valid.length);
    run(stats, signal, Buffer.concat([valid.subarray(0, p), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x07]), valid.subarray(p)]), 'huge length');
  }

  // Deep nesting of every kind the schema allows, far past the limits, rooted where AnyValues live.
  const leaf = [0x0a, 0x01, 0x78]; // AnyValue { string_value: "x" }
  const deepCases: [Signal, Bytes][] = [
    ['logs', nest(nest(leaf, 20_000, [1, 5]), 1, [5, 2, 2, 1])], // log body: arrays of arrays
    ['logs', nest(nest(leaf, 20_000, [2, 1, 6]), 1, [5, 2, 2, 1])], // log body: kvlists of kvlists
    ['traces', nest(nest(leaf, 20_000, [1, 5]), 1, [2, 9, 2, 2, 1])], // span attribute value
  ];
  for (const [signal, deep] of deepCases) {
    const r = run(stats, signal, Uint8Array.from(deep), `deep ${signal}`);
    if (r?.ok !== false || !/nests (AnyValues|messages) deeper than/.test(r.message)) stats.problems.push(`deep ${signal}: ${JSON.stringify(r)}`);
  }
  // A large random body: the work stays linear.
  run(stats, 'traces', createRng(1).bytes(4 * 1024 * 1024), '4 MiB of noise');

  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.same(stats.problems.slice(0, 5), [], 'every case answered properly');
  t.ok(stats.cases > 6000, `${stats.cases} cases`);
  t.ok(stats.accepted > 600 && stats.refused > 3000, `both outcomes: ${stats.accepted} accepted, ${stats.refused} refused`);
  t.ok(ms < 20_000, `done in ${ms.toFixed(0)} ms`);
});

t.test('work is linear: 8 MiB of maximally nested values are walked in bounded time', async (t) => {
  // Log records whose bodies nest 32 AnyValues (the limit): the worst case for frame pushes and pops.
  const record = Buffer.from(nest(nest([0x0a, 0x01, 0x78], 31, [1, 5]), 1, [5, 2]));
  const copies = Math.floor((8 * 1024 * 1024) / record.length);
  const records = Buffer.concat(Array.from({ length: copies }, () => record));
  // resource_logs { scope_logs { records } }, the two outer prefixes written by hand.
  const scopeHeader = [0x12, ...varint(records.length)];
  const body = Buffer.concat([Buffer.from([0x0a, ...varint(scopeHeader.length + records.length), ...scopeHeader]), records]);
  const started = process.hrtime.bigint();
  const r = walkRequest('logs', body);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.match(r, { ok: true, items: copies }, `all ${copies} records walked`);
  t.ok(ms < 5000, `answered in ${ms.toFixed(0)} ms`);
});
