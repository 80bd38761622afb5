// The worker entry's policy delivery: a task names a version; without the compiled policy the worker
// answers need-policy and hands the body back untouched; with it attached the worker compiles and
// caches it, so later tasks of that version need only the version.
import { valueSymbol } from 'piscina';
import t from 'tap';
import type { ProcessNeedPolicy, ProcessOk, WorkerResult } from '../../../src/process/protocol.js';
import processTask from '../../../src/process/worker/worker.js';
import { requestType } from '../../../src/process/wire/otlp-schema.js';
import { policyFrom } from './policy-fixtures.js';

// piscina's move() wraps results; the value is what the pool receives.
const unwrap = (r: WorkerResult): WorkerResult => ((r as unknown as Record<symbol, unknown>)[valueSymbol] as WorkerResult | undefined) ?? r;

const body = (): Uint8Array => {
  const type = requestType('traces');
  return type.encode(type.fromObject({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'mail jane@example.com' }] }] }] })).finish().slice();
};

t.test('need-policy hands the body back; the policy is cached by version', async (t) => {
  const p1 = policyFrom({ detectors: { email: 'mask' } });
  const p2 = policyFrom({ detectors: { email: 'drop' } });
  const b = body();
  const copy = b.slice();
  const asked = unwrap(processTask({ signal: 'traces', encoding: 'protobuf', body: b, tenant: 'a', policyVersion: p1.version })) as ProcessNeedPolicy;
  t.equal(asked.status, 'need-policy');
  t.equal(asked.policyVersion, p1.version);
  t.same([...asked.body], [...copy], 'the body comes back untouched');

  const first = unwrap(processTask({ signal: 'traces', encoding: 'protobuf', body: asked.body, tenant: 'a', policyVersion: p1.version, policy: p1 })) as ProcessOk;
  t.equal(first.status, 'ok');
  t.equal(first.policyVersion, p1.version);
  t.same(first.redactions, { email: 1 });

  const cached = unwrap(processTask({ signal: 'traces', encoding: 'protobuf', body: body(), tenant: 'a', policyVersion: p1.version })) as ProcessOk;
  t.equal(cached.status, 'ok', 'the version is cached: no policy needed');
  t.same(cached.redactions, { email: 1 });

  const other = unwrap(processTask({ signal: 'traces', encoding: 'protobuf', body: body(), tenant: 'a', policyVersion: p2.version }));
  t.equal(other.status, 'need-policy', 'another version is not confused with the cached one');

  // Three more versions evict the first (the cache keeps a few).
  for (const action of ['hash', 'truncate', 'mask']) {
    const p = policyFrom({ detectors: { email: action === 'truncate' ? { action, maxLength: 3 } : action }, summaryAttribute: `s.${action}` });
    t.equal(unwrap(processTask({ signal: 'traces', encoding: 'protobuf', body: body(), tenant: 'a', policyVersion: p.version, policy: p })).status, 'ok');
  }
  t.equal(unwrap(processTask({ signal: 'traces', encoding: 'protobuf', body: body(), tenant: 'a', policyVersion: p1.version })).status, 'need-policy', 'old versions are evicted');

  const none = unwrap(processTask({ signal: 'traces', encoding: 'protobuf', body: body(), tenant: 'a' })) as ProcessOk;
  t.equal(none.status, 'ok');
  t.equal(none.policyVersion, undefined, 'no version: pass-through');
  t.equal(none.redactions, undefined);
});

t.test("the input's memory is given back once the worker is done with it (Node 22+), never while the result uses it", async (t) => {
  const canRelease = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
  const own = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b); // a buffer of its own, as the pool transfers
  const p = policyFrom({ detectors: { email: 'mask' } });
  t.equal(unwrap(processTask({ signal: 'traces', encoding: 'protobuf', body: body(), tenant: 'a', policyVersion: p.version, policy: p })).status, 'ok');

  // Redacted: the output is a new body, the input is done with.
  const redacted = own(body());
  const size = redacted.byteLength;
  const r1 = unwrap(processTask({ signal: 'traces', encoding: 'protobuf', body: redacted, tenant: 'a', policyVersion: p.version })) as ProcessOk;
  t.equal(r1.status, 'ok');
  t.not(r1.body.buffer, redacted.buffer, 'the output has a buffer of its own');
  t.equal(redacted.buffer.byteLength, canRelease ? 0 : size, canRelease ? 'the input buffer is released at once' : 'Node without ArrayBuffer.transfer: left to the collector');

  // Malformed: refused, the input is done with.
  const malformed = own(Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2));
  const r2 = unwrap(processTask({ signal: 'traces', encoding: 'protobuf', body: malformed, tenant: 'a', policyVersion: p.version }));
  t.not(r2.status, 'ok');
  t.equal(malformed.buffer.byteLength, canRelease ? 0 : 8, 'a refused body is released too');

  // A view into a buffer shared with other bytes (as Node's Buffer pool is): never released.
  const shared = new Uint8Array(body().byteLength + 64);
  const inShared = shared.subarray(32, 32 + body().byteLength);
  inShared.set(body());
  shared.fill(7, 0, 32);
  const r4 = unwrap(processTask({ signal: 'traces', encoding: 'protobuf', body: inShared, tenant: 'a', policyVersion: p.version })) as ProcessOk;
  t.equal(r4.status, 'ok');
  t.equal(shared.buffer.byteLength, shared.byteLength, 'a shared buffer is left whole');
  t.same([...shared.subarray(0, 32)], Array(32).fill(7), 'and its other bytes untouched');
  t.equal(Buffer.from('still allocates').toString(), 'still allocates', "Node's Buffer pool still works");

  // Unchanged (no policy): the output is the input itself, which must stay whole.
  const plain = own(body());
  const r3 = unwrap(processTask({ signal: 'traces', encoding: 'protobuf', body: plain, tenant: 'a' })) as ProcessOk;
  t.equal(r3.status, 'ok');
  t.equal(r3.body.buffer, plain.buffer, 'the unchanged body moves back as it is');
  t.equal(r3.body.byteLength, plain.byteLength);
  t.ok(r3.body.byteLength > 0, 'and is not released');
});
