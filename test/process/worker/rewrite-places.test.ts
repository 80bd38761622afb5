// Redaction over every client-controlled string (issue 18, finding 6): the places the shared PII corpus
// leaves clean (schema URLs, entity refs, scope name and version, trace states, attribute and kvlist
// keys, bytes values, log severity text and event name, metric name, description and unit), and
// percent-encoded e-mail addresses. The fixture test/fixtures/pii-places plants one secret in each;
// the fast path and the reference path must both remove all of them, keep the negatives, and agree.
// The integration test (test/integration/pii.test.ts) repeats this through the running gateway.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { loadPolicy } from '../../../src/policy/load.js';
import { defaultPoliciesDir } from '../../../src/paths.js';
import { decodeForComparison, referenceProcess } from '../../../src/process/reference/reference.js';
import { otlpJsonToProtobuf } from '../../../src/process/wire/otlp-json.js';
import { compileRules } from '../../../src/process/worker/policy-rules.js';
import { processRequest } from '../../../src/process/worker/process-request.js';
import type { Signal } from '../../../src/signals.js';
import { piiFixtures, piiPlacesFixtures } from '../../helpers/fixtures.js';
import { anyString, kv, len, logsRequest, msg, raw, str, tracesRequest } from '../../helpers/wire-builder.js';
import { policyFrom } from './policy-fixtures.js';

const loaded = loadPolicy(defaultPoliciesDir, 'default');
if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
const defaults = compileRules(loaded.policy);

const places = readFileSync(join(piiPlacesFixtures, 'places.txt'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => l.split('\t') as [string, string, string]);
const negatives = readFileSync(join(piiPlacesFixtures, 'negatives.txt'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => l.slice(l.indexOf('\t') + 1));
const FILES: [Signal, string][] = [
  ['traces', 'traces.json'],
  ['logs', 'logs.json'],
  ['metrics', 'metrics.json'],
];

t.test('default policies: every planted place is redacted by both paths, negatives survive, the paths agree', async (t) => {
  t.ok(places.length >= 30, `${places.length} planted secrets`);
  const fastOut: Buffer[] = [];
  const refOut: Buffer[] = [];
  for (const [signal, file] of FILES) {
    const json = readFileSync(join(piiPlacesFixtures, file));
    const converted = otlpJsonToProtobuf(signal, json);
    if (!converted.ok) throw new Error(converted.message);
    for (const [encoding, body] of [['protobuf', converted.bytes], ['json', json]] as const) {
      const fast = processRequest({ signal, encoding, body: Uint8Array.from(body), tenant: 'default' }, defaults);
      if (fast.status !== 'ok') return t.fail(`${file} ${encoding}: ${fast.message}`);
      fastOut.push(Buffer.from(fast.body), Buffer.from(JSON.stringify(decodeForComparison(signal, fast.body))));
    }
    const ref = referenceProcess(signal, converted.bytes, { policy: { rules: defaults.forTenant('default'), tenant: 'default' } });
    const fast = processRequest({ signal, encoding: 'protobuf', body: converted.bytes.slice(), tenant: 'default' }, defaults);
    if (ref.status !== 'ok' || fast.status !== 'ok') return t.fail(`${file}: not accepted`);
    refOut.push(Buffer.from(ref.body), Buffer.from(JSON.stringify(decodeForComparison(signal, ref.body))));
    t.same(decodeForComparison(signal, fast.body), decodeForComparison(signal, ref.body), `${file}: same decoded output`);
    t.same(fast.redactions, ref.redactions, `${file}: same counts ${JSON.stringify(fast.redactions)}`);
  }
  for (const [name, out] of [
    ['fast path', Buffer.concat(fastOut)],
    ['reference path', Buffer.concat(refOut)],
  ] as const) {
    t.same(
      places.filter(([, , v]) => out.includes(v)).map(([p, c]) => `${p} (${c})`),
      [],
      `${name}: no planted secret in the raw or decoded output`,
    );
    t.same(
      negatives.filter((v) => !out.includes(v)),
      [],
      `${name}: every negative survives`,
    );
  }
});

t.test('keys: a secret in a key is replaced in the key; the value keeps the rules of the key as sent', async (t) => {
  const rules = compileRules(
    policyFrom({ keys: { blocked: { '*password*': 'mask' } }, detectors: { email: 'mask', ipv4: 'drop' }, summaryAttribute: 'n' }),
  );
  const body = tracesRequest(
    msg(
      str(5, 'op'),
      len(9, kv('alice@example.com password', anyString('hunter2'))),
      len(9, kv('from 192.0.2.10', anyString('bob@example.org'))),
      len(9, kv('plain', anyString('v'))),
    ),
  );
  const fast = processRequest({ signal: 'traces', encoding: 'protobuf', body: body.slice(), tenant: 'default' }, rules);
  const ref = referenceProcess('traces', body, { policy: { rules: rules.forTenant('default'), tenant: 'default' } });
  if (fast.status !== 'ok' || ref.status !== 'ok') return t.fail('not accepted');
  const out = decodeForComparison('traces', fast.body) as { resourceSpans: { scopeSpans: { spans: { attributes: unknown[] }[] }[] }[] };
  t.same(out.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.attributes, [
    { key: '**** password', value: { stringValue: '****' } },
    { key: 'from ', value: { stringValue: '****' } },
    { key: 'plain', value: { stringValue: 'v' } },
    { key: 'n', value: { intValue: '4' } },
  ]);
  t.same(fast.redactions, { email: 2, ipv4: 1, blocked_key: 1 }, 'key findings counted by category, and in the summary');
  t.same(decodeForComparison('traces', ref.body), out, 'the reference path agrees');
  t.same(ref.redactions, fast.redactions);
});

t.test('keys: every key field of a KeyValue is redacted on the wire, not only the one protobuf keeps', async (t) => {
  const rules = compileRules(policyFrom({ detectors: { email: 'mask' } }));
  const body = tracesRequest(msg(str(5, 'op'), len(9, msg(str(1, 'carol@example.net'), str(1, 'plain'), len(2, anyString('v'))))));
  const fast = processRequest({ signal: 'traces', encoding: 'protobuf', body: body.slice(), tenant: 'default' }, rules);
  const ref = referenceProcess('traces', body, { policy: { rules: rules.forTenant('default'), tenant: 'default' } });
  if (fast.status !== 'ok' || ref.status !== 'ok') return t.fail('not accepted');
  t.notOk(Buffer.from(fast.body).includes('carol@example.net'), 'the overridden key field is redacted too');
  t.same(decodeForComparison('traces', fast.body), decodeForComparison('traces', ref.body), 'same decoded output as the reference path');
  t.same(fast.redactions, { email: 1 }, 'counted (the reference path, which never sees the overridden field, counts none)');
});

t.test('bytes values: UTF-8 text redacted as text; binary read as Latin-1, its other bytes kept', async (t) => {
  const binary = Buffer.concat([Buffer.from([0xff, 0x00, 0x81]), Buffer.from(' to dave@example.com '), Buffer.from([0xc3, 0xe9])]);
  const body = logsRequest(
    msg(len(5, raw(7, Buffer.from('card 4111 1111 1111 1111 ✓'))), len(6, kv('blob', raw(7, binary))), len(6, kv('clean', raw(7, Buffer.from([1, 2, 3])))), len(6, kv('session.token', raw(7, Buffer.from('hunter2'))))),
  );
  const fast = processRequest({ signal: 'logs', encoding: 'protobuf', body: body.slice(), tenant: 'default' }, defaults);
  const ref = referenceProcess('logs', body, { policy: { rules: defaults.forTenant('default'), tenant: 'default' } });
  if (fast.status !== 'ok' || ref.status !== 'ok') return t.fail('not accepted');
  const out = decodeForComparison('logs', fast.body) as {
    resourceLogs: { scopeLogs: { logRecords: { body: { bytesValue: string }; attributes: { value: { bytesValue: string } }[] }[] }[] }[];
  };
  const record = out.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!;
  // decodeForComparison renders bytes as hex.
  t.equal(Buffer.from(record.body.bytesValue, 'hex').toString('utf8'), 'card ****1111 ✓', 'UTF-8 bytes: the card masked (last four kept), the rest kept');
  t.same(
    Buffer.from(record.attributes[0]!.value.bytesValue, 'hex'),
    Buffer.concat([Buffer.from([0xff, 0x00, 0x81]), Buffer.from(' to **** '), Buffer.from([0xc3, 0xe9])]),
    'binary bytes: the address masked, every other byte as sent',
  );
  t.same(Buffer.from(record.attributes[1]!.value.bytesValue, 'hex'), Buffer.from([1, 2, 3]), 'bytes without a secret unchanged');
  t.equal(Buffer.from(record.attributes[2]!.value.bytesValue, 'hex').toString(), '****', 'bytes under a sensitive key: one finding, masked whole');
  t.same(fast.redactions, { credit_card: 1, email: 1, password_by_key: 1 });
  t.same(decodeForComparison('logs', ref.body), out, 'the reference path agrees');
});

t.test('stamping only (no policy): the new places are left as sent', async (t) => {
  const json = readFileSync(join(piiPlacesFixtures, 'traces.json'));
  const converted = otlpJsonToProtobuf('traces', json);
  if (!converted.ok) throw new Error(converted.message);
  const r = processRequest({ signal: 'traces', encoding: 'protobuf', body: converted.bytes.slice(), tenant: 'default' });
  if (r.status !== 'ok') return t.fail(r.message);
  t.ok(isDeepStrictEqual(Buffer.from(r.body), Buffer.from(converted.bytes)), 'byte for byte');
});

t.test('binary bytes values: the byte prefilter misses nothing the detectors find on the Latin-1 reading', async (t) => {
  // Every secret of the shared corpus inside binary (not UTF-8) bytes: the fast path, which skips the
  // detectors a value's bytes give no trigger for, must find what the reference path finds running them all.
  const secrets = readFileSync(join(piiFixtures, 'secrets.txt'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(l.indexOf('\t') + 1));
  let disagreements = 0;
  let redacted = 0;
  for (const secret of secrets) {
    const value = Buffer.concat([Buffer.from([0xff, 0xa0]), Buffer.from(secret, 'latin1'), Buffer.from([0xa0, 0xe9, 0x81])]);
    const body = logsRequest(msg(len(5, raw(7, value))));
    const fast = processRequest({ signal: 'logs', encoding: 'protobuf', body: body.slice(), tenant: 'default' }, defaults);
    const ref = referenceProcess('logs', body, { policy: { rules: defaults.forTenant('default'), tenant: 'default' } });
    if (fast.status !== 'ok' || ref.status !== 'ok') return t.fail('not accepted');
    if (!isDeepStrictEqual(decodeForComparison('logs', fast.body), decodeForComparison('logs', ref.body)) && disagreements++ < 5) t.fail(`differs on ${secret}`);
    if (!Buffer.from(fast.body).includes(Buffer.from(secret, 'latin1'))) redacted++;
  }
  t.equal(disagreements, 0, 'the fast path agrees with the reference path on every one');
  // Secrets recognised only by what surrounds them (a sensitive name, a query parameter's name, the
  // Bearer scheme, PEM armour: about 130 of the 403) stay when alone.
  t.ok(redacted > 250, `${redacted} of ${secrets.length} redacted on their own inside binary`);
});
