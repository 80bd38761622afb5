// The differential test of DESIGN.md decision 3: the fast path (wire walk) against the reference path
// (protobufjs decode → encode) on the shared fixtures, on generated requests of all three signals and
// on mutated variants of them. Whenever the fast path accepts, the reference must accept too, and both
// must give the same decoded output, item count and trace summaries; when the fast path refuses, it
// does so with a message, never a throw. Valid generated requests must be accepted by both.
// The seed is fixed so failures reproduce; OTLP_DIFF_SEED=<n> explores other sequences.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type protobuf from 'protobufjs';
import t, { type Test } from 'tap';
import type { ProcessResult } from '../../../src/process/protocol.js';
import { decodeForComparison, referenceProcess } from '../../../src/process/reference/reference.js';
import { otlpJsonToProtobuf } from '../../../src/process/wire/otlp-json.js';
import { requestType } from '../../../src/process/wire/otlp-schema.js';
import { processRequest } from '../../../src/process/worker/process-request.js';
import { readLength, readTag, skipVarint, wire } from '../../../src/process/wire/wire-reader.js';
import type { Signal } from '../../../src/signals.js';
import { createRng, generateRequest, type Rng } from '../../helpers/generate-otlp.js';
import { otlpJsonFixtures, piiFixtures } from '../../helpers/fixtures.js';
import { str, vint } from '../../helpers/wire-builder.js';

const SEED = Number(process.env.OTLP_DIFF_SEED ?? 0x5eed);
const GENERATED = 1000;
const MUTANTS_EACH = 4;
const SIGNALS: Signal[] = ['traces', 'metrics', 'logs'];

interface Tally {
  checked: number;
  accepted: number;
  rejected: number;
}

const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x))?.slice(0, 400) ?? 'undefined';

/** Top-level field numbers of an encoded request (the output must hold only field 1). */
function topLevelFields(body: Uint8Array): number[] {
  const out: number[] = [];
  let pos = 0;
  while (pos < body.length && pos >= 0) {
    pos = readTag(body, pos, body.length);
    if (pos < 0) break;
    const tag = wire.tag;
    out.push(tag >>> 3);
    if ((tag & 7) === 2) {
      pos = readLength(body, pos, body.length);
      if (pos >= 0) pos += wire.lo;
    } else if ((tag & 7) === 0) pos = skipVarint(body, pos, body.length);
    else pos += (tag & 7) === 1 ? 8 : 4;
  }
  return out;
}

/**
 * Runs both paths on one input and checks the contract. Returns whether the fast path accepted.
 * Reports at most a few failures per subtest (a systematic bug would otherwise print thousands).
 */
function compare(t: Test, signal: Signal, body: Uint8Array, label: string, mustAccept: boolean, failures: { n: number }): boolean {
  const fail = (why: string): false => {
    if (failures.n++ < 5) t.fail(`${label}: ${why} [seed ${SEED}, input ${Buffer.from(body).toString('base64').slice(0, 600)}]`);
    return false;
  };
  let fast: ProcessResult;
  try {
    // The walker may own the buffer afterwards (its output is the input): give it a copy.
    fast = processRequest({ signal, encoding: 'protobuf', body: body.slice(), tenant: 'diff' });
  } catch (e) {
    return fail(`the fast path threw: ${(e as Error).stack}`);
  }
  const ref = referenceProcess(signal, body);
  if (fast.status !== 'ok') {
    if (fast.code !== 'MALFORMED_PAYLOAD' || typeof fast.message !== 'string' || fast.message.length === 0) return fail(`bad rejection ${show(fast)}`);
    if (mustAccept) return fail(`the fast path refused a valid request: ${fast.message}`);
    return false;
  }
  if (ref.status !== 'ok') return fail(`the fast path accepted what the reference refuses: ${ref.message}`);
  if (fast.items !== ref.items) return fail(`items ${fast.items} != reference ${ref.items}`);
  if (fast.rejectedItems !== ref.rejectedItems) return fail(`rejectedItems ${fast.rejectedItems} != ${ref.rejectedItems}`);
  if (!isDeepStrictEqual(fast.traces, ref.traces)) return fail(`trace summaries differ:\n fast ${show(fast.traces)}\n ref  ${show(ref.traces)}`);
  const top = topLevelFields(fast.body);
  if (top.some((f) => f !== 1)) return fail(`output has top-level fields ${top}`);
  let a: unknown;
  let b: unknown;
  try {
    a = decodeForComparison(signal, fast.body);
    b = decodeForComparison(signal, ref.body);
  } catch (e) {
    return fail(`decodeForComparison threw: ${(e as Error).message}`);
  }
  if (!isDeepStrictEqual(a, b)) return fail(`decoded outputs differ:\n fast ${show(a)}\n ref  ${show(b)}`);
  return true;
}

// ---- mutations ----

interface Positions {
  /** Offsets of tags. */
  tags: number[];
  /** Offsets of length prefixes (of LEN fields at any depth that parse as messages). */
  lengths: number[];
}

/** Where tags and length prefixes are, found by parsing LEN fields as messages where they parse. */
function positions(buf: Uint8Array): Positions {
  const out: Positions = { tags: [], lengths: [] };
  const scan = (start: number, end: number, depth: number): boolean => {
    const tags: number[] = [];
    const lens: [number, number, number][] = [];
    let pos = start;
    while (pos < end) {
      tags.push(pos);
      pos = readTag(buf, pos, end);
      if (pos < 0 || wire.tag >>> 3 === 0) return false;
      switch (wire.tag & 7) {
        case 0:
          pos = skipVarint(buf, pos, end);
          break;
        case 1:
          pos += 8;
          break;
        case 2: {
          const at = pos;
          pos = readLength(buf, pos, end);
          if (pos < 0) return false;
          lens.push([at, pos, pos + wire.lo]);
          pos += wire.lo;
          break;
        }
        case 5:
          pos += 4;
          break;
        default:
          return false;
      }
      if (pos < 0 || pos > end) return false;
    }
    out.tags.push(...tags);
    for (const [at, s, e] of lens) {
      out.lengths.push(at);
      if (depth < 40 && e > s) scan(s, e, depth + 1);
    }
    return true;
  };
  scan(0, buf.length, 0);
  return out;
}

const MUTATIONS = ['truncate', 'bitflip', 'insert', 'delete', 'length', 'wiretype', 'duplicate', 'top-level-unknown'] as const;
type Mutation = (typeof MUTATIONS)[number];

function mutate(rng: Rng, body: Uint8Array, kind: Mutation): Uint8Array {
  const b = Buffer.from(body);
  const at = (): number => rng.int(0, Math.max(0, b.length - 1));
  switch (kind) {
    case 'truncate':
      return b.subarray(0, rng.int(0, Math.max(0, b.length - 1)));
    case 'bitflip': {
      if (b.length === 0) return b;
      const n = rng.int(1, 3);
      for (let i = 0; i < n; i++) b[at()]! ^= 1 << rng.int(0, 7);
      return b;
    }
    case 'insert': {
      const p = rng.int(0, b.length);
      return Buffer.concat([b.subarray(0, p), rng.bytes(rng.int(1, 3)), b.subarray(p)]);
    }
    case 'delete': {
      const p = at();
      return Buffer.concat([b.subarray(0, p), b.subarray(Math.min(b.length, p + rng.int(1, 3)))]);
    }
    case 'length': {
      const { lengths } = positions(b);
      if (lengths.length === 0) return b;
      const p = rng.pick(lengths);
      // Rewrite the first byte of the prefix: off by one either way, or a random value.
      const v = b[p]!;
      b[p] = rng.pick([(v + 1) & 0xff, (v - 1) & 0xff, rng.int(0, 255), v | 0x80]);
      return b;
    }
    case 'wiretype': {
      const { tags } = positions(b);
      if (tags.length === 0) return b;
      const p = rng.pick(tags);
      b[p] = (b[p]! & ~7) | rng.pick([0, 1, 2, 3, 4, 5, 6, 7]);
      return b;
    }
    case 'duplicate': {
      // Repeat one field (tag to end of its value) right after itself: singular fields then appear
      // twice (last wins, messages merge), repeated ones gain an element; lengths of parents are not
      // fixed, so nested duplicates usually break the framing, top-level ones do not.
      const { tags } = positions(b);
      if (tags.length === 0) return b;
      const p = rng.pick(tags);
      let pos = readTag(b, p, b.length);
      if (pos < 0) return b;
      switch (wire.tag & 7) {
        case 0:
          pos = skipVarint(b, pos, b.length);
          break;
        case 1:
          pos += 8;
          break;
        case 2:
          pos = readLength(b, pos, b.length);
          if (pos >= 0) pos += wire.lo;
          break;
        default:
          pos += 4;
      }
      if (pos < 0 || pos > b.length) return b;
      return Buffer.concat([b.subarray(0, pos), b.subarray(p, pos), b.subarray(pos)]);
    }
    case 'top-level-unknown': {
      const extra = Buffer.from(rng.chance(0.5) ? vint(rng.int(2, 100), rng.int(0, 1e6)) : str(rng.int(2, 100), 'unknown'));
      return rng.chance(0.5) ? Buffer.concat([extra, b]) : Buffer.concat([b, extra]);
    }
  }
}

// ---- coverage of the generator ----

/** Marks every field present in a decoded message, recursively, as `Type.field`. */
function markFields(type: protobuf.Type, m: Record<string, unknown>, seen: Set<string>): void {
  for (const f of type.fieldsArray) {
    if (!Object.prototype.hasOwnProperty.call(m, f.name)) continue;
    const v = m[f.name];
    if (Array.isArray(v) && v.length === 0) continue;
    seen.add(`${type.fullName}.${f.name}`);
    const child = f.resolvedType;
    if (child && 'fieldsById' in child) {
      for (const x of Array.isArray(v) ? v : [v]) markFields(child as protobuf.Type, x as Record<string, unknown>, seen);
    }
  }
}

function allFields(type: protobuf.Type, out = new Set<string>(), visited = new Set<string>()): Set<string> {
  if (visited.has(type.fullName)) return out;
  visited.add(type.fullName);
  for (const f of type.fieldsArray) {
    out.add(`${type.fullName}.${f.name}`);
    if (f.resolvedType && 'fieldsById' in f.resolvedType) allFields(f.resolvedType as protobuf.Type, out, visited);
  }
  return out;
}

// ---- the tests ----

function fixtureFiles(): { file: string; signal: Signal; json: Buffer }[] {
  const out: { file: string; signal: Signal; json: Buffer }[] = [];
  for (const dir of [otlpJsonFixtures, piiFixtures]) {
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
      const json = readFileSync(join(dir, name));
      const top = Object.keys(JSON.parse(json.toString('utf8')) as object);
      const signal: Signal = top.includes('resourceSpans') ? 'traces' : top.includes('resourceMetrics') ? 'metrics' : 'logs';
      out.push({ file: join(dir, name), signal, json });
    }
  }
  return out;
}

t.test('every shared fixture: both paths accept and agree', async (t) => {
  const files = fixtureFiles();
  t.ok(files.length >= 7, `found ${files.length} fixtures`);
  const failures = { n: 0 };
  for (const { file, signal, json } of files) {
    const converted = otlpJsonToProtobuf(signal, json);
    if (!converted.ok) {
      t.fail(`${file}: ${converted.message}`);
      continue;
    }
    t.ok(compare(t, signal, converted.bytes, file, true, failures), file);
  }
});

t.test(`${GENERATED} generated requests and their mutants (seed ${SEED})`, async (t) => {
  const rng = createRng(SEED);
  const failures = { n: 0 };
  const valid: Tally = { checked: 0, accepted: 0, rejected: 0 };
  const mutants = new Map<Mutation, Tally>(MUTATIONS.map((m) => [m, { checked: 0, accepted: 0, rejected: 0 }]));
  const seen = new Set<string>();
  const previous = new Map<Signal, Uint8Array>();
  let concatenations = 0;
  let packedVariants = 0;
  let unpackedVariants = 0;

  for (let i = 0; i < GENERATED; i++) {
    const signal = SIGNALS[i % 3]!;
    const packed = rng.chance(0.5);
    if (packed) packedVariants++;
    else unpackedVariants++;
    const g = generateRequest(signal, rng, { packed });
    const type = requestType(signal);
    markFields(type, type.decode(g.bytes) as unknown as Record<string, unknown>, seen);

    valid.checked++;
    if (compare(t, signal, g.bytes, `generated #${i} (${signal}, ${packed ? 'packed' : 'unpacked'})`, true, failures)) valid.accepted++;
    else valid.rejected++;

    // Decision 1: outputs concatenate into a valid request holding both.
    const before = previous.get(signal);
    if (before) {
      compare(t, signal, Buffer.concat([before, g.bytes]), `concatenation before #${i}`, true, failures);
      concatenations++;
    }
    previous.set(signal, g.bytes);

    for (let k = 0; k < MUTANTS_EACH; k++) {
      const kind = rng.pick(MUTATIONS);
      const tally = mutants.get(kind)!;
      tally.checked++;
      // An unknown top-level field keeps a request valid: it must be accepted (and stripped).
      const mustAccept = kind === 'top-level-unknown';
      if (compare(t, signal, mutate(rng, g.bytes, kind), `#${i} ${kind}`, mustAccept, failures)) tally.accepted++;
      else tally.rejected++;
    }
  }

  t.equal(failures.n, 0, 'no disagreement between the paths');
  t.equal(valid.accepted, GENERATED, 'every generated request accepted');
  t.ok(concatenations > 100, `${concatenations} concatenations checked`);
  t.ok(packedVariants > 100 && unpackedVariants > 100, 'packed and unpacked encodings both generated');
  let mutantsChecked = 0;
  for (const [kind, tally] of mutants) {
    mutantsChecked += tally.checked;
    if (kind !== 'top-level-unknown') t.ok(tally.rejected > 0, `${kind}: some mutants refused (${tally.rejected}/${tally.checked})`);
    t.comment(`${kind}: ${tally.accepted} accepted and agreed, ${tally.rejected} refused, of ${tally.checked}`);
  }
  t.equal(mutantsChecked, MUTANTS_EACH * GENERATED, `${mutantsChecked} mutants checked`);
  // Mutations that keep the framing must sometimes be accepted (and then agree), or the comparison
  // branch would be untested.
  t.equal(mutants.get('top-level-unknown')!.rejected, 0, 'top-level unknown fields always accepted');
  t.ok(mutants.get('bitflip')!.accepted > 0, 'some bit flips accepted');
  t.ok(mutants.get('duplicate')!.accepted > 0, 'some duplicated fields accepted');

  const expected = new Set<string>();
  for (const s of SIGNALS) allFields(requestType(s), expected);
  const missing = [...expected].filter((f) => !seen.has(f));
  t.same(missing, [], 'the generator covers every field of every message');
});
