// Per-rule unit tests of the fast path's rewrite (rewrite.ts + policy-rules.ts): each action, blocked
// keys, both key modes, metric and service allowlists, the summary attribute, tenant stamping, per-tenant
// hash keys, nesting, non-ASCII neighbours, length prefixes that change size, and zero copy.
import t from 'tap';
import { MASK, compileRules } from '../../../src/process/worker/policy-rules.js';
import { processRequest } from '../../../src/process/worker/process-request.js';
import { decodeForComparison } from '../../../src/process/reference/reference.js';
import { requestType } from '../../../src/process/wire/otlp-schema.js';
import type { ProcessOk, ProcessTask } from '../../../src/process/protocol.js';
import type { Signal } from '../../../src/signals.js';
import { policyFrom } from './policy-fixtures.js';

process.env.STELLA_HASH_KEY = 'unit-test-key';
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const encode = (signal: Signal, o: Obj): Uint8Array => {
  const type = requestType(signal);
  return type.encode(type.fromObject(o)).finish().slice();
};
const kv = (key: string, value: Obj) => ({ key, value });
const s = (v: string) => ({ stringValue: v });
const spans = (attrs: Obj[], extra: Obj = {}, resource: Obj = { attributes: [] }): Obj => ({
  resourceSpans: [{ resource, scopeSpans: [{ spans: [{ traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 2), name: 'op', attributes: attrs, ...extra }] }] }],
});

function run(signal: Signal, o: Obj, redaction: unknown, allowlists: unknown = {}, task: Partial<ProcessTask> = {}): { r: ProcessOk; out: Obj; input: Uint8Array } {
  const input = encode(signal, o);
  const r = processRequest({ signal, encoding: 'protobuf', body: input, tenant: 'default', ...task }, compileRules(policyFrom(redaction, allowlists)));
  if (r.status !== 'ok') throw new Error(r.message);
  return { r, out: decodeForComparison(signal, r.body) as Obj, input };
}
const spanOf = (out: Obj): Obj => out.resourceSpans[0].scopeSpans[0].spans[0];
const attrs = (x: Obj): Record<string, unknown> => Object.fromEntries((x.attributes ?? []).map((a: Obj) => [a.key, a.value?.stringValue ?? a.value?.intValue ?? a.value]));

t.test('nothing to redact: the output is the input buffer (zero copy)', async (t) => {
  const { r, input } = run('traces', spans([kv('http.method', s('GET')), kv('n', { intValue: 5 })]), { detectors: { email: 'mask', ipv4: 'mask' } });
  t.equal(r.body, input, 'same buffer');
  t.equal(r.redactions, undefined);
});

t.test('mask keeps the configured prefix/suffix only while half the secret stays hidden', async (t) => {
  const { r, out } = run('traces', spans([kv('card', s('paid 4111 1111 1111 1111 ok')), kv('short', s('x 415-555-0123 y'))]), {
    detectors: { credit_card: { action: 'mask', keepSuffix: 4 }, phone: { action: 'mask', keepPrefix: 8 } },
  });
  const a = attrs(spanOf(out));
  t.equal(a.card, `paid ${MASK}1111 ok`);
  t.equal(a.short, `x ${MASK} y`, 'a prefix of 8 would show most of the number: masked whole');
  t.same(r.redactions, { credit_card: 1, phone: 1 });
});

t.test('hash: HMAC per tenant (joinable within a tenant, not across), mask without a key', async (t) => {
  const o = spans([kv('who', s('mail jane@example.com'))]);
  const hash = (tenant: string) => attrs(spanOf(run('traces', o, { detectors: { email: 'hash' } }, {}, { tenant }).out)).who as string;
  t.match(hash('a'), /^mail hmac:[0-9a-f]{32}$/);
  t.equal(hash('a'), hash('a'), 'stable within a tenant');
  t.not(hash('a'), hash('b'), 'different across tenants');
  const missing = attrs(spanOf(run('traces', o, { detectors: { email: { action: 'hash', hashKeyEnv: 'STELLA_NO_SUCH_KEY' } } }).out)).who;
  t.equal(missing, `mail ${MASK}`, 'no key in the environment: masked, never an unkeyed hash');
});

t.test('drop removes the secret, truncate keeps its head', async (t) => {
  const { out } = run('traces', spans([kv('a', s('ip 192.0.2.10 end')), kv('b', s('tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU end'))]), {
    detectors: { ipv4: 'drop', jwt: { action: 'truncate', maxLength: 6 } },
  });
  t.same(attrs(spanOf(out)), { a: 'ip  end', b: 'tok eyJhbG end' });
});

t.test('blocked keys: drop the attribute or mask its value (any type), at any depth; case-insensitive', async (t) => {
  const { r, out } = run(
    'traces',
    spans([
      kv('DB.Password', s('hunter2hunter2')),
      kv('session.cookie', s('abc')),
      kv('api_secret', { intValue: 42 }),
      kv('nested', { kvlistValue: { values: [kv('x', { kvlistValue: { values: [kv('user_password', s('pw')), kv('ok', s('fine'))] } })] } }),
    ]),
    { keys: { blocked: { '*password*': { action: 'mask', keepPrefix: 2 }, '*cookie*': 'drop', '*secret*': 'mask' } } },
  );
  const a = spanOf(out).attributes as Obj[];
  t.same(a.map((x) => x.key), ['DB.Password', 'api_secret', 'nested'], 'the cookie attribute dropped');
  t.equal(a[0]!.value.stringValue, `hu${MASK}`);
  t.same(a[1]!.value, { stringValue: MASK }, 'a non-string value becomes the mask');
  t.same(a[2]!.value.kvlistValue.values[0].value.kvlistValue.values, [kv('user_password', s(MASK)), kv('ok', s('fine'))]);
  t.same(r.redactions, { blocked_key: 4 });
});

t.test('key allowlist: open mode filters listed signals; allowlist mode fails closed', async (t) => {
  const o = spans([kv('http.method', s('GET')), kv('user.id', s('7')), kv('debug', s('x'))], {}, { attributes: [kv('service.name', s('checkout')), kv('host', s('h'))] });
  const open = run('traces', o, {}, { attributeKeys: { traces: ['http.*', 'service.*'] } });
  t.same(Object.keys(attrs(spanOf(open.out))), ['http.method']);
  t.same(Object.keys(attrs(open.out.resourceSpans[0].resource)), ['service.name'], 'resource attributes too');
  t.same(open.r.dropped, { attribute_key: 3 });
  const closedLogs = run('logs', { resourceLogs: [{ scopeLogs: [{ logRecords: [{ attributes: [kv('a', s('1'))], body: s('hi') }] }] }] }, { keys: { mode: 'allowlist' } }, { attributeKeys: { traces: ['a'] } });
  t.same(closedLogs.out.resourceLogs[0].scopeLogs[0].logRecords[0].attributes ?? [], [], 'allowlist mode, no list for logs: no keys kept');
  const openNoList = run('logs', { resourceLogs: [{ scopeLogs: [{ logRecords: [{ attributes: [kv('a', s('1'))] }] }] }] }, { keys: { mode: 'open' } }, { attributeKeys: { traces: ['a'] } });
  t.equal(openNoList.r.dropped, undefined, 'open mode, no list for logs: everything kept');
});

t.test('metric names allowlist drops the rest with their data points, counted', async (t) => {
  const gauge = (name: string, points: number) => ({ name, gauge: { dataPoints: Array.from({ length: points }, () => ({ asInt: 1, attributes: [kv('k', s('v'))] })) } });
  const { r, out } = run('metrics', { resourceMetrics: [{ scopeMetrics: [{ metrics: [gauge('http.server.duration', 2), gauge('secret.metric', 3), gauge('process.cpu', 1)] }] }] }, {}, { metricNames: ['http.*', 'process.*'] });
  t.same(out.resourceMetrics[0].scopeMetrics[0].metrics.map((m: Obj) => m.name), ['http.server.duration', 'process.cpu']);
  t.equal(r.items, 3);
  t.same(r.dropped, { metric_name: 3 });
});

t.test('service names allowlist drops whole resources; trace summaries are recomputed', async (t) => {
  const rs = (service: string | null, trace: number) => ({
    resource: { attributes: service === null ? [] : [kv('service.name', s(service))] },
    scopeSpans: [{ spans: [{ traceId: Buffer.alloc(16, trace), spanId: Buffer.alloc(8, 1), name: 'x' }] }],
  });
  const { r, out } = run('traces', { resourceSpans: [rs('checkout', 1), rs('rogue', 2), rs(null, 3), rs('payments-eu', 4)] }, {}, { serviceNames: ['checkout', 'payments-*'] });
  t.equal(out.resourceSpans.length, 2);
  t.equal(r.items, 2);
  t.same(r.traces?.map((x) => x.traceId), ['01'.repeat(16), '04'.repeat(16)]);
  t.same(r.dropped, { service_name: 2 }, 'a resource without service.name is refused by a list');
});

t.test('summary attribute: per item, the number of redactions inside it', async (t) => {
  const { out } = run(
    'traces',
    spans([kv('a', s('x@example.com and y@example.com'))], { status: { message: 'failed for 192.0.2.7' }, events: [{ name: 'mail z@example.org' }] }),
    { detectors: { email: 'mask', ipv4: 'mask' }, summaryAttribute: 'stella.redactions' },
  );
  t.equal(attrs(spanOf(out))['stella.redactions'], '4');
});

t.test('log bodies: strings in kvlists and arrays at any depth, under their innermost key', async (t) => {
  const body = { kvlistValue: { values: [kv('l1', { arrayValue: { values: [{ kvlistValue: { values: [kv('version', s('4.2.0.118')), kv('ip', s('203.0.113.9')), kv('token', s('opaque'))] } }] } })] } };
  const { out } = run('logs', { resourceLogs: [{ scopeLogs: [{ logRecords: [{ body }] }] }] }, { detectors: { ipv4: 'mask', password_by_key: 'mask' } });
  const inner = out.resourceLogs[0].scopeLogs[0].logRecords[0].body.kvlistValue.values[0].value.arrayValue.values[0].kvlistValue.values;
  t.same(inner.map((x: Obj) => x.value.stringValue), ['4.2.0.118', MASK, MASK], 'version keys keep four-part numbers; sensitive keys mask whole values');
});

t.test('non-ASCII around secrets and length prefixes that change size', async (t) => {
  const long = `Rückruf „Café Zoë“ ${'ü'.repeat(40)} jane.doe+tag@example.com —`;
  const { out } = run('traces', spans([kv('a', s(long))]), { detectors: { email: 'hash' } });
  t.match(attrs(spanOf(out)).a, /^Rückruf „Café Zoë“ ü{40} hmac:[0-9a-f]{32} —$/);
  // 120 bytes growing past 127 and 16383 boundaries of the enclosing prefixes.
  const many = Array.from({ length: 300 }, (_, i) => kv(`k${i}`, s(`u${i}@example.com`)));
  const big = run('traces', spans(many), { detectors: { email: 'hash' } });
  t.equal(spanOf(big.out).attributes.length, 300);
  t.ok(spanOf(big.out).attributes.every((a: Obj) => /^hmac:/.test(a.value.stringValue)));
});

t.test('custom patterns, per-tenant overrides', async (t) => {
  const o = spans([kv('a', s('order ORD-00001234 from 198.51.100.20'))]);
  const redaction = { detectors: { ipv4: 'mask' }, custom: { order: { regex: 'ORD-[0-9]{8}', action: 'mask' } }, tenants: { acme: { detectors: { ipv4: 'off' } } } };
  t.equal(attrs(spanOf(run('traces', o, redaction).out)).a, `order ${MASK} from ${MASK}`);
  const acme = run('traces', o, redaction, {}, { tenant: 'acme' });
  t.equal(attrs(spanOf(acme.out)).a, `order ${MASK} from 198.51.100.20`);
  t.same(acme.r.redactions, { 'custom.order': 1 });
});

t.test('tenant stamping: every resource, client values overwritten and counted, a resource created', async (t) => {
  const o = {
    resourceSpans: [
      { resource: { attributes: [kv('tenant.id', s('evil')), kv('x', s('1')), kv('tenant.id', s('evil2'))] }, scopeSpans: [{ spans: [{ name: 'a' }] }] },
      { scopeSpans: [{ spans: [{ name: 'b' }] }] },
    ],
  };
  const input = encode('traces', o);
  const r = processRequest({ signal: 'traces', encoding: 'protobuf', body: input, tenant: 'acme', tenantAttribute: 'tenant.id' });
  if (r.status !== 'ok') return t.fail(r.message);
  const out = decodeForComparison('traces', r.body) as Obj;
  t.same(out.resourceSpans[0].resource.attributes, [kv('x', s('1')), kv('tenant.id', s('acme'))]);
  t.same(out.resourceSpans[1].resource.attributes, [kv('tenant.id', s('acme'))]);
  t.equal(r.tenantOverwrites, 2);
  t.equal(r.items, 2);
});

t.test('non-canonical encodings follow protobuf merge rules, as the reference path decodes them', async (t) => {
  const { bytes, len, str } = await import('../../helpers/wire-builder.js');
  const { referenceProcess } = await import('../../../src/process/reference/reference.js');
  const any = (s: string) => len(2, str(1, s));
  const kvs = [
    // value before key
    len(9, any('mail a@example.com'), str(1, 'note')),
    // two keys: the last one counts (a sensitive first key does not make the value secret)
    len(9, str(1, 'password'), str(1, 'note2'), any('plain text')),
    // two keys the other way round: the value is secret by its (last) key
    len(9, str(1, 'note3'), str(1, 'db.password'), any('hunter2')),
    // two values: they merge; both strings are redacted, the last wins
    len(9, str(1, 'two'), any('x@example.org'), any('y 192.0.2.55')),
    // a kvlist in one value and a string in another
    len(9, str(1, 'mixed'), len(2, len(6, len(1, str(1, 'token'), any('s3cr3t')))), any('z@example.net')),
  ];
  const spanBytes = [...str(5, 'first b@example.com'), ...str(5, 'second c@example.com'), ...kvs.flat()];
  const resource = (k: string, v: string) => len(1, len(1, str(1, k), any(v)));
  const body = bytes(len(1, resource('tenant.id', 'spoof'), len(2, len(2, spanBytes)), resource('host', 'h')));
  const policy = policyFrom({ keys: { blocked: { 'db.password': 'drop' } }, detectors: { email: 'mask', ipv4: 'mask', password_by_key: 'mask' } });
  const fast = processRequest({ signal: 'traces', encoding: 'protobuf', body: body.slice(), tenant: 'acme', tenantAttribute: 'tenant.id' }, compileRules(policy));
  const ref = referenceProcess('traces', body, { policy: { rules: compileRules(policy).forTenant('acme'), tenant: 'acme', tenantAttribute: 'tenant.id' } });
  if (fast.status !== 'ok' || ref.status !== 'ok') return t.fail('both accept');
  const a = decodeForComparison('traces', fast.body) as Obj;
  t.same(a, decodeForComparison('traces', ref.body), 'same decoded output');
  // The fast path redacts every occurrence, also those a decoder overwrites (they are still in the raw
  // bytes), so it may count more than the reference, never less.
  for (const [category, n] of Object.entries(ref.redactions ?? {})) t.ok((fast.redactions?.[category] ?? 0) >= n, `${category}: counted at least as often`);
  const out = JSON.stringify(a) + Buffer.from(fast.body).toString('latin1');
  for (const secret of ['a@example.com', 'b@example.com', 'c@example.com', 'x@example.org', '192.0.2.55', 's3cr3t', 'z@example.net', 'hunter2', 'spoof']) {
    t.notOk(out.includes(secret), `${secret} gone (decoded and raw bytes)`);
  }
  t.ok(out.includes('plain text'), 'a value whose last key is not sensitive is kept');
  t.same(a.resourceSpans[0].resource.attributes.filter((x: Obj) => x.key === 'tenant.id'), [kv('tenant.id', s('acme'))], 'one stamp, in the merged resource');
});
