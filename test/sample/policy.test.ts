import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';
import { compileSampling, evaluate, traceIdSelected, type TraceFacts } from '../../src/sample/policy.js';
import { loadSamplingFile } from '../../src/sample/policy-file.js';
import { DEFAULT_SAMPLING_FILE } from '../../src/sample/policy-schema.js';
import { createSamplingPolicyStore } from '../../src/sample/policy-store.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../helpers/gateway.js';
import { anyInt, anyString, bytes, double, kv, len, msg, span, str, vint, type Bytes } from '../helpers/wire-builder.js';
import { policyOf, request, traceId } from './helpers.js';
import { complete } from '../helpers/policy-file.js';

const noGate = () => true;

function facts(over: Partial<TraceFacts> = {}): TraceFacts {
  return { traceId: traceId(1), spans: 1, error: false, durationNs: 0, parts: [], ...over };
}

/** Facts of a one-trace request whose span (and resource) carry these attributes. */
function withAttributes(spanAttrs: Bytes[], resourceAttrs: Bytes[] = []): TraceFacts {
  const r = request({ resource: msg(...resourceAttrs.map((a) => len(1, a))), spans: [{ traceId: traceId(5), name: 'x', attributes: spanAttrs }] });
  return facts({ traceId: traceId(5), parts: [r.body] });
}

const anyBool = (b: boolean): Bytes => vint(2, b ? 1 : 0);
const anyDouble = (x: number): Bytes => double(4, x);

t.test('the shipped sampling.yaml is the built-in default, and a missing file means the same', async (t) => {
  const shipped = loadSamplingFile(join(packageRoot, 'policies', 'sampling.yaml'), 'default');
  if (!shipped.ok) throw new Error(shipped.errors.join('\n'));
  t.equal(shipped.present, true);
  const missing = loadSamplingFile(join(tmpdir(), 'no-such-dir', 'sampling.yaml'), 'default');
  if (!missing.ok) throw new Error(missing.errors.join('\n'));
  t.equal(missing.present, false);
  t.equal(shipped.policy.version, missing.policy.version);
  t.equal(shipped.policy.version, compileSampling(DEFAULT_SAMPLING_FILE, 'default').version);
  const p = shipped.policy.forTenant('anyone');
  t.same(evaluate(p, facts({ error: true }), 't', noGate), { keep: true, reason: 'errors' });
  t.same(evaluate(p, facts({ durationNs: 2_000_000_001 }), 't', noGate), { keep: true, reason: 'slow' });
  t.same(evaluate(p, facts({ durationNs: 2_000_000_000 }), 't', noGate).reason !== 'slow', true, '2 s exactly is not above 2 s');
});

t.test('ordered composite: the first matching rule decides; drop rules; otherwise', async (t) => {
  const p = policyOf({
    rules: [
      { name: 'health', when: { attributes: { 'url.path': ['/healthz', '/readyz'] } }, action: 'drop' },
      { name: 'errors', when: { error: true } },
      { name: 'big', when: { spansAtLeast: 100 } },
      { name: 'tiny-drop', when: { spansAtMost: 1 }, action: 'drop' },
    ],
    otherwise: 'keep',
  }).forTenant('x');
  const health = withAttributes([kv('url.path', anyString('/healthz'))]);
  t.same(evaluate(p, { ...health, error: true }, 'x', noGate), { keep: false, reason: 'health' }, 'the drop rule comes first');
  t.same(evaluate(p, facts({ error: true }), 'x', noGate), { keep: true, reason: 'errors' });
  t.same(evaluate(p, facts({ spans: 100 }), 'x', noGate), { keep: true, reason: 'big' });
  t.same(evaluate(p, facts({ spans: 1 }), 'x', noGate), { keep: false, reason: 'tiny-drop' });
  t.same(evaluate(p, facts({ spans: 5 }), 'x', noGate), { keep: true, reason: 'otherwise' });
});

t.test('attribute matches: strings, numbers, booleans, ranges, on spans and resources', async (t) => {
  const p = (attributes: Record<string, unknown>) => policyOf({ rules: [{ name: 'm', when: { attributes } }], otherwise: 'drop' }).forTenant('x');
  const keep = (policy: ReturnType<typeof p>, f: TraceFacts) => evaluate(policy, f, 'x', noGate).keep;
  const trace = withAttributes(
    [kv('http.route', anyString('/orders')), kv('http.response.status_code', anyInt(503)), kv('cache.hit', anyBool(true)), kv('ratio', anyDouble(0.75)), kv('neg', anyInt(-5))],
    [kv('service.name', anyString('checkout'))],
  );
  t.ok(keep(p({ 'http.route': '/orders' }), trace), 'string on a span');
  t.notOk(keep(p({ 'http.route': '/order' }), trace), 'strings compare whole');
  t.ok(keep(p({ 'service.name': ['payments', 'checkout'] }), trace), 'one of a list, on the resource');
  t.ok(keep(p({ 'http.response.status_code': 503 }), trace), 'int');
  t.ok(keep(p({ 'http.response.status_code': { min: 500, max: 599 } }), trace), 'int range');
  t.notOk(keep(p({ 'http.response.status_code': { max: 499 } }), trace));
  t.ok(keep(p({ ratio: { min: 0.5 } }), trace), 'double range');
  t.ok(keep(p({ ratio: 0.75 }), trace), 'double equality');
  t.ok(keep(p({ neg: -5 }), trace), 'negative int64');
  t.ok(keep(p({ 'cache.hit': true }), trace), 'boolean');
  t.notOk(keep(p({ 'cache.hit': false }), trace));
  t.notOk(keep(p({ 'http.route': 503 }), trace), 'a string attribute does not equal a number');
  t.ok(keep(p({ 'http.route': '/orders', 'service.name': 'checkout' }), trace), 'several keys: all must match');
  t.notOk(keep(p({ 'http.route': '/orders', 'service.name': 'payments' }), trace));
  t.notOk(keep(p({ missing: 'x' }), trace), 'absent key');
  // Across fragments of one trace: the key can be in any of them.
  const a = request({ spans: [{ traceId: traceId(5), name: 'a', attributes: [kv('k1', anyString('v1'))] }] });
  const b = request({ spans: [{ traceId: traceId(5), name: 'b', attributes: [kv('k2', anyString('v2'))] }] });
  t.ok(keep(p({ k1: 'v1', k2: 'v2' }), facts({ parts: [a.body, b.body] })), 'keys found in different fragments');
  // Unicode keys and values compare as UTF-8 bytes.
  t.ok(keep(p({ 'ключ': 'Grüße 東京' }), withAttributes([kv('ключ', anyString('Grüße 東京'))])));
});

t.test('probability: deterministic and exact at the threshold', async (t) => {
  const at = (p: number) => {
    const tv = BigInt(Math.round((1 - p) * 2 ** 56));
    return { hi: Number(tv >> 32n), lo: Number(tv & 0xffffffffn) };
  };
  t.ok(traceIdSelected('00000000000000000080000000000000', at(0.5)));
  t.notOk(traceIdSelected('ffffffffffffffffff7fffffffffffff', at(0.5)));
  t.ok(traceIdSelected('00000000000000000000000000000000', at(1)), 'p = 1 keeps every id');
  t.notOk(traceIdSelected('ffffffffffffffffffffffffffffffff', at(0)), 'p = 0 keeps none');
  t.notOk(traceIdSelected('', at(0.5)), 'an empty id has R = 0');
  // R is read digit by digit: every digit of the 14 counts, in either case; anything else means R = 0.
  t.ok(traceIdSelected('ffffffffffffffffffc0000000000000', at(0.25)));
  t.notOk(traceIdSelected('ffffffffffffffffffbfffffffffffff', at(0.25)));
  t.ok(traceIdSelected('FFFFFFFFFFFFFFFFFFC0000000000000', at(0.25)), 'upper-case hex');
  t.notOk(traceIdSelected('ffffffffffffffffffc000000000000g', at(0.25)), 'not hex: R = 0');
  const p = policyOf({ rules: [{ name: 'half', probability: 0.5, when: { error: false } }] }).forTenant('x');
  t.same(evaluate(p, facts({ traceId: '00000000000000000080000000000000' }), 'x', noGate), { keep: true, reason: 'half' });
  t.same(evaluate(p, facts({ traceId: '00000000000000000080000000000000', error: true }), 'x', noGate), { keep: false, reason: 'otherwise' }, 'conditions and probability both');
});

t.test('rate limit: a rule keeps at most spansPerSecond per tenant, then the next rule decides', async (t) => {
  const p = policyOf({ rules: [{ name: 'capped', spansPerSecond: 100 }, { name: 'rest', action: 'drop' }] }).forTenant('x');
  let now = 0;
  const buckets = new Map<string, { tokens: number; at: number }>();
  // The sampler's gate, reproduced with a hand clock (src/sample/sampler.ts rateGate): one second of burst.
  const gate = (tenant: string, rule: string, rate: number, spans: number): boolean => {
    const key = `${tenant}/${rule}`;
    const b = buckets.get(key) ?? { tokens: rate, at: now };
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    buckets.set(key, b);
    if (b.tokens < spans) return false;
    b.tokens -= spans;
    return true;
  };
  const keptSpans = (tenant: string, traces: number) =>
    Array.from({ length: traces }, () => evaluate(p, facts({ spans: 10 }), tenant, gate)).filter((d) => d.keep).length * 10;
  t.equal(keptSpans('a', 50), 100, 'the burst: one second of rate');
  t.equal(keptSpans('b', 50), 100, 'per tenant');
  now += 500;
  t.equal(keptSpans('a', 50), 50, 'half a second refills half');
  t.same(evaluate(p, facts({ spans: 10 }), 'a', gate), { keep: false, reason: 'rest' });
});

t.test('per-tenant and per-profile overrides replace rules whole', async (t) => {
  const raw = {
    rules: [{ name: 'errors', when: { error: true } }],
    tenants: { acme: { otherwise: 'keep' }, globex: { rules: [{ name: 'nothing', action: 'drop' }] } },
    profiles: { forensic: { otherwise: 'keep' } },
  };
  const d = policyOf(raw);
  t.same(evaluate(d.forTenant('other'), facts(), 'other', noGate), { keep: false, reason: 'otherwise' });
  t.same(evaluate(d.forTenant('acme'), facts(), 'acme', noGate), { keep: true, reason: 'otherwise' });
  t.same(evaluate(d.forTenant('acme'), facts({ error: true }), 'acme', noGate), { keep: true, reason: 'errors' }, 'inherits the rules');
  t.same(evaluate(d.forTenant('globex'), facts({ error: true }), 'globex', noGate), { keep: false, reason: 'nothing' });
  const f = policyOf(raw, 'forensic');
  t.same(evaluate(f.forTenant('other'), facts(), 'other', noGate), { keep: true, reason: 'otherwise' });
  t.not(d.version, f.version, 'the profile is part of the version');
  t.equal(policyOf(raw).version, d.version, 'the same content, the same version');
});

t.test('invalid files: every error names the file, line and column, the path and the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-sampling-'));
  const file = join(dir, 'sampling.yaml');
  writeFileSync(
    file,
    [
      'rules:',
      '  - name: errors',
      '    when: { error: yes-please }',
      '  - name: errors',
      '    probability: 10',
      '  - name: slow',
      '    when: { durationAbove: soon, spansAtLeast: 5, spansAtMost: 2 }',
      '    action: maybe',
      '  - name: attrs',
      '    when: { attributes: { a: { min: 5, max: 1 }, b: [], c: { exact: 1 } } }',
      '  - name: limited',
      '    action: drop',
      '    spansPerSecond: 5',
      '  - nmae: typo',
      'otherwise: perhaps',
      'tenants:',
      '  "bad tenant!": {}',
      '  acme: { rules: nope }',
      'version: 1',
      '',
    ].join('\n'),
  );
  const r = loadSamplingFile(file, 'default');
  t.equal(r.ok, false);
  if (r.ok) return;
  const expected = [
    `${file}:3:20 rules[0].when.error: expected true or false (got "yes-please")`,
    `${file}:4:11 rules[1].name: duplicate rule name "errors"`,
    `${file}:5:18 rules[1].probability: expected a probability from 0 to 1, such as 0.1 (got 10)`,
    `${file}:7:28 rules[2].when.durationAbove: expected a duration such as 500ms or 2s (got "soon")`,
    `${file}:7:64 rules[2].when.spansAtMost: is below spansAtLeast (2 < 5)`,
    `${file}:8:13 rules[2].action: expected one of keep, drop (got "maybe")`,
    `${file}:10:30 rules[3].when.attributes.a: min (5) is above max (1)`,
    `${file}:10:53 rules[3].when.attributes.b: expected a list of 1 to 256 values (got 0)`,
    `${file}:10:62 rules[3].when.attributes.c.exact: unknown key "exact"; expected one of min, max`,
    `${file}:10:60 rules[3].when.attributes.c: a range needs min, max or both`,
    `${file}:13:21 rules[4].spansPerSecond: a rate limit applies to keep rules only`,
    `${file}:14:5 rules[5].nmae: unknown key "nmae" (did you mean "name"?)`,
    `${file}:15:12 otherwise: expected one of keep, drop (got "perhaps")`,
    `${file}:17:3 tenants["bad tenant!"]: expected a tenant id`,
    `${file}:18:18 tenants.acme.rules: expected a list of rules (got "nope")`,
  ];
  for (const e of expected) t.ok(r.errors.some((x) => x.startsWith(e)), e);
  t.ok(r.errors.some((x) => x.includes('rules[5].name: expected a rule name')), 'a rule without a name');
  t.equal(r.errors.length, expected.length + 1, r.errors.join('\n'));

  writeFileSync(file, complete('rules: [\n'));
  const y = loadSamplingFile(file, 'default');
  t.ok(!y.ok && y.errors[0]!.startsWith(`${file}:`), 'YAML syntax errors carry the position');
});

t.test('hot reload: a change is picked up, a bad edit keeps the last good version and is counted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-sampling-'));
  const file = join(dir, 'sampling.yaml');
  writeFileSync(file, complete('rules: []\notherwise: drop\n'));
  const metrics = createMetrics({ defaultMetrics: false });
  const store = createSamplingPolicyStore(file, { profile: 'default', logger: silentLogger, metrics, debounceMs: 20 });
  store.start();
  t.teardown(() => store.stop());
  const v1 = store.current().version;
  t.equal(evaluate(store.current().forTenant('a'), facts(), 'a', noGate).keep, false);
  t.match(await metrics.registry.metrics(), new RegExp(`sampling_policy_version_info\\{version="${v1}"\\} 1`));

  // A rename into place, as the README recommends: picked up by the directory watch.
  writeFileSync(join(dir, 'next.tmp'), complete('rules: []\notherwise: keep\n'));
  renameSync(join(dir, 'next.tmp'), file);
  const deadline = Date.now() + 5000;
  while (store.current().version === v1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  t.not(store.current().version, v1, 'reloaded after the change');
  t.equal(evaluate(store.current().forTenant('a'), facts(), 'a', noGate).keep, true);
  const v2 = store.current().version;

  writeFileSync(file, complete('rules: [{ name: x, probability: 2 }]\n'));
  const bad = await store.reload();
  t.equal(bad.status, 'rejected');
  t.equal(store.current().version, v2, 'the last good version stays');
  t.match(await metrics.registry.metrics(), /sampling_policy_reload_failures_total \d*[1-9]/);

  // An invalid file at start-up fails fast, listing the errors.
  const other = createSamplingPolicyStore(file, { profile: 'default', logger: silentLogger });
  t.throws(() => other.start(), /invalid sampling policy .*probability/s);
});

t.test('span attribute scans ignore other messages: scope and event attributes do not match', async (t) => {
  const scopeWithAttr = len(1, str(1, 'scope'), len(3, msg(str(1, 'k'), len(2, anyString('v')))));
  const event = len(11, msg(str(2, 'ev'), len(3, msg(str(1, 'k'), len(2, anyString('v'))))));
  const body = bytes(len(1, len(2, scopeWithAttr, len(2, span({ traceId: traceId(9), name: 'x', extra: [event] })))));
  const p = policyOf({ rules: [{ name: 'm', when: { attributes: { k: 'v' } } }], otherwise: 'drop' }).forTenant('x');
  t.equal(evaluate(p, facts({ parts: [body] }), 'x', noGate).keep, false);
});

// Fail closed: after a good load, an empty, truncated, oversized or deleted sampling.yaml never replaces
// the rules that are deciding.
for (const [name, breakIt, reason] of [
  ['emptied', (f: string) => writeFileSync(f, ''), 'empty'],
  ['truncated before its last line', (f: string) => writeFileSync(f, 'rules: []\notherwise: keep\n'), 'incomplete'],
  ['deleted', (f: string) => rmSync(f), 'missing'],
  ['grown past policy.maxFileBytes', (f: string) => writeFileSync(f, complete(`# ${'x'.repeat(4096)}\nrules: []\n`)), 'too_large'],
] as const) {
  t.test(`fail closed: sampling.yaml ${name} keeps the last good policy`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'stella-sampling-'));
    const file = join(dir, 'sampling.yaml');
    writeFileSync(file, complete('rules: []\notherwise: drop\n'));
    const metrics = createMetrics({ defaultMetrics: false });
    const limits = { maxFileBytes: 2048, maxCustomPatterns: 10, maxPatternBytes: 1024 };
    const store = createSamplingPolicyStore(file, { profile: 'default', logger: silentLogger, metrics, debounceMs: 60_000, limits });
    store.start();
    t.teardown(() => store.stop());
    const v1 = store.current().version;
    breakIt(file);
    t.equal((await store.reload()).status, 'rejected');
    t.equal(store.current().version, v1);
    t.equal(evaluate(store.current().forTenant('a'), facts(), 'a', noGate).keep, false, 'still drops as the good file said');
    const counted = (await metrics.policyFileRejections.get()).values.map((v) => `${v.labels.file}/${v.labels.reason}=${v.value}`);
    t.same(counted, [`sampling.yaml/${reason}=1`]);
  });
}
