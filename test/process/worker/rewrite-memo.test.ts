// The rewrite's shortcuts that persist across requests in a worker (rewrite.ts): the memo of prefilter
// verdicts for strings that trigger no enabled detector, and the key cache. They may only skip work,
// never change an output: a verdict memoised under one rule set must not hide a secret from another
// rule set, from a sensitive key, from custom patterns, or from a different string of the same length.
import t from 'tap';
import { compileRules } from '../../../src/process/worker/policy-rules.js';
import { processRequest } from '../../../src/process/worker/process-request.js';
import { decodeForComparison, referenceProcess } from '../../../src/process/reference/reference.js';
import { requestType } from '../../../src/process/wire/otlp-schema.js';
import type { ProcessOk } from '../../../src/process/protocol.js';
import { policyFrom } from './policy-fixtures.js';
import { varint } from '../../helpers/wire-builder.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const encode = (o: Obj): Uint8Array => {
  const type = requestType('traces');
  return type.encode(type.fromObject(o)).finish().slice();
};
const request = (values: [string, string][]): Uint8Array =>
  encode({
    resourceSpans: [
      {
        resource: { attributes: [] },
        scopeSpans: [
          {
            spans: values.map(([key, v], i) => ({
              traceId: Buffer.alloc(16, 1),
              spanId: Buffer.alloc(8, i + 1),
              name: 'op',
              attributes: [{ key, value: { stringValue: v } }],
            })),
          },
        ],
      },
    ],
  });
const valuesOf = (body: Uint8Array): string[] =>
  (decodeForComparison('traces', body) as Obj).resourceSpans[0].scopeSpans[0].spans.map((s: Obj) => s.attributes[0].value.stringValue);

function fast(redaction: unknown, values: [string, string][]): { out: string[]; r: ProcessOk } {
  const rules = compileRules(policyFrom(redaction));
  const r = processRequest({ signal: 'traces', encoding: 'protobuf', body: request(values), tenant: 'default' }, rules);
  if (r.status !== 'ok') throw new Error(r.message);
  return { out: valuesOf(r.body), r };
}

function reference(redaction: unknown, values: [string, string][]): string[] {
  const rules = compileRules(policyFrom(redaction)).forTenant('default');
  const r = referenceProcess('traces', request(values), { policy: { rules, tenant: 'default' } });
  if (r.status !== 'ok') throw new Error(r.message);
  return valuesOf(r.body);
}

const PHONE = '+1 415 555 0123';

t.test('a string memoised as clean under one rule set is still redacted under another', async (t) => {
  // Only e-mail on: the phone number's triggers (digits, `+digit`) lead to no enabled detector, so its
  // verdict is memoised, repeatedly.
  const emailOnly = { detectors: { email: 'mask' } };
  const first = fast(emailOnly, Array.from({ length: 20 }, () => ['note', PHONE] as [string, string]));
  t.same(first.out, Array(20).fill(PHONE), 'kept whole where no detector applies');
  t.equal(first.r.redactions, undefined);
  // The same bytes under a rule set with the phone detector: the memo must give the real triggers.
  const phones = { detectors: { phone: 'mask' } };
  const second = fast(phones, [['note', PHONE], ['note', `call ${PHONE}`]]);
  t.same(second.out, ['****', 'call ****'], 'the memoised string meets the phone detector');
  t.same(second.r.redactions, { phone: 2 });
  t.same(second.out, reference(phones, [['note', PHONE], ['note', `call ${PHONE}`]]), 'as the reference path');
});

t.test('memoised clean strings: a sensitive key, custom patterns and same-length strings still count', async (t) => {
  const rules = { detectors: { email: 'mask', password_by_key: 'mask' } };
  // Warm the memo with a clean value, many times.
  const warm = fast(rules, Array.from({ length: 10 }, () => ['note', 'hunter22'] as [string, string]));
  t.same(warm.out, Array(10).fill('hunter22'));
  // The same bytes under a sensitive key: the whole value is one finding (the memo is not consulted).
  const sensitive: [string, string][] = [['note', 'hunter22'], ['password', 'hunter22'], ['note', 'hunter22']];
  const out = fast(rules, sensitive);
  t.same(out.out, ['hunter22', '****', 'hunter22']);
  t.same(out.out, reference(rules, sensitive), 'as the reference path');
  // Custom patterns have no byte trigger: every string is searched, memoised or not.
  const custom = { detectors: { email: 'mask' }, custom: { hunter: { regex: 'hunter[0-9]{1,8}', action: 'mask' } } };
  const c = fast(custom, [['note', 'hunter22']]);
  t.same(c.out, ['****'], 'a custom pattern finds what the memo called clean');
  // Strings of the same length as memoised ones, differing in one byte, are scanned on their own.
  const sameLength: [string, string][] = [
    ['note', 'abcdefgh@example.com'],
    ['note', 'abcdefghXexample.com'],
    ['note', 'abcdefgh@example.com'],
  ];
  const warm2 = fast(rules, [['note', 'abcdefghXexample.com'], ['note', 'abcdefghXexample.com']]);
  t.same(warm2.out, ['abcdefghXexample.com', 'abcdefghXexample.com']);
  const mixed = fast(rules, sameLength);
  t.same(mixed.out, ['****', 'abcdefghXexample.com', '****']);
  t.same(mixed.out, reference(rules, sameLength), 'as the reference path');
});

t.test('many distinct clean strings (memo collisions) never change a verdict', async (t) => {
  const rules = { detectors: { email: 'mask', ipv4: 'mask', phone: 'mask' } };
  // Far more distinct strings than memo slots, clean and secret interleaved, twice (the second pass
  // meets a memo full of colliding entries).
  const values: [string, string][] = [];
  for (let i = 0; i < 6000; i++) {
    values.push(['note', `item-${i.toString(36)}-ok`]);
    if (i % 7 === 0) values.push(['note', `u${i}@example.org`]);
    if (i % 11 === 0) values.push(['note', `192.0.2.${i % 250}`]);
  }
  for (const pass of [1, 2]) {
    const out = fast(rules, values).out;
    const expected = reference(rules, values);
    t.equal(out.length, values.length);
    t.same(out, expected, `pass ${pass}: as the reference path`);
    t.equal(out.filter((v) => v === '****').length, values.filter(([, v]) => /@|^192/.test(v)).length, `pass ${pass}: every secret masked`);
  }
});

const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

t.test('"no finding" verdicts are kept per rule set, never for version keys, never across sensitive keys', async (t) => {
  // The user agent meets the digit triggers (phone and SSN detectors run) and has no finding.
  const phones = { detectors: { phone: 'mask', ipv4: 'mask', password_by_key: 'mask' } };
  const warm = fast(phones, Array.from({ length: 5 }, () => ['user_agent.original', UA] as [string, string]));
  t.same(warm.out, Array(5).fill(UA), 'searched, nothing found, kept');
  // Another rule set (its own id) searches the same bytes again and finds its custom pattern.
  const gecko = { detectors: { phone: 'mask' }, custom: { gecko: { regex: 'Gecko/[0-9]{8}', action: 'mask' } } };
  const other = fast(gecko, [['user_agent.original', UA]]);
  t.same(other.out, [UA.replace('Gecko/20100101', '****')], 'a different rule set is not answered from the memo');
  // A sensitive key makes the memoised value one finding.
  const sensitive = fast(phones, [['password', UA], ['user_agent.original', UA]]);
  t.same(sensitive.out, ['****', UA]);
  t.same(sensitive.out, reference(phones, [['password', UA], ['user_agent.original', UA]]), 'as the reference path');
  // Under a version key an IPv4-shaped value has no finding; that verdict must not carry to other keys.
  const version = '10.1.2.3';
  const v: [string, string][] = [['service.version', version], ['service.version', version], ['note', version], ['service.version', version]];
  const first = fast(phones, v);
  t.same(first.out, [version, version, '****', version], 'exempt under the version key only');
  const again = fast(phones, [['note', version]]);
  t.same(again.out, ['****'], 'and still masked under another key in a later request');
  t.same(first.out, reference(phones, v), 'as the reference path');
});

// ---- the one-edit rebuild of a KeyValue holding a string (rewrite.ts stringKeyValue) ----

const field = (num: number, content: Uint8Array | number[]): number[] => [(num << 3) | 2, ...varint(content.length), ...content];
const utf8 = (s: string): number[] => [...Buffer.from(s, 'utf8')];

t.test('a KeyValue rebuilt in one edit: size changes across varint boundaries, non-ASCII, odd field order', async (t) => {
  const rules = { detectors: { email: 'mask', ipv4: 'mask' } };
  const long = `${'é'.repeat(70)} mail ana@example.com then 🎉 ${'x'.repeat(60)}`; // > 127 bytes before and after
  const short = `to ${'y'.repeat(124)} bo@example.org`; // 148 bytes, 140 after: the prefix stays two bytes
  const shrink = `${'z'.repeat(110)} c@example.co 192.0.2.1`; // 135 bytes -> < 128: the prefix shrinks
  const values: [string, string][] = [['note', long], ['note', short], ['note', shrink], ['é.key', 'é 198.51.100.7 ü']];
  const fastOut = fast(rules, values).out;
  t.same(fastOut, reference(rules, values), 'as the reference path');
  t.ok(fastOut.every((v) => !/@example|192\.0\.2\.1|198\.51/.test(v)), 'every secret masked');
  t.ok(fastOut[0]!.startsWith('é'.repeat(70)) && fastOut[0]!.includes('🎉'), 'non-ASCII text around the finding kept');

  // KeyValue{value, key} (value first) and a KeyValue with an unknown field after its value: the
  // bytes around the value are kept as they are.
  const any = (s: string) => field(1, utf8(s));
  const kvValueFirst = [...field(2, any('write to ann@example.com')), ...field(1, utf8('note'))];
  const kvTrailing = [...field(1, utf8('note')), ...field(2, any('ip 192.0.2.8')), 0x18, 0x07]; // field 3 varint 7: unknown
  const span = (kv: number[], id: number) => [
    ...field(1, Buffer.alloc(16, 1)),
    ...field(2, Buffer.alloc(8, id)),
    ...field(5, utf8('op')),
    ...field(9, kv),
  ];
  const body = Uint8Array.from(field(1, field(2, [...field(2, span(kvValueFirst, 1)), ...field(2, span(kvTrailing, 2))])));
  const ruleSet = compileRules(policyFrom(rules));
  const r = processRequest({ signal: 'traces', encoding: 'protobuf', body: body.slice(), tenant: 'default' }, ruleSet);
  const ref = referenceProcess('traces', body.slice(), { policy: { rules: ruleSet.forTenant('default'), tenant: 'default' } });
  if (r.status !== 'ok' || ref.status !== 'ok') return t.fail('rejected');
  t.same(decodeForComparison('traces', r.body), decodeForComparison('traces', ref.body), 'same decoded output as the reference');
  const out = Buffer.from(r.body);
  t.notOk(out.includes('ann@example.com') || out.includes('192.0.2.8'), 'both masked');
  t.ok(out.includes(Buffer.from([0x18, 0x07])), 'the unknown field after the value is kept');
  t.same(r.redactions, { email: 1, ipv4: 1 });
});
