// How the rewrite writes a string with findings (rewrite.ts redactString / writeRedacted): an ASCII
// string is written from the request's bytes between the replacements, any other string is rebuilt as
// text. Both must give exactly the reference path's strings, with findings at the start, the end, next
// to each other, several per string, and inside multi-byte text.
import t from 'tap';
import { compileRules } from '../../../src/process/worker/policy-rules.js';
import { processRequest } from '../../../src/process/worker/process-request.js';
import { decodeForComparison, referenceProcess } from '../../../src/process/reference/reference.js';
import { requestType } from '../../../src/process/wire/otlp-schema.js';
import { policyFrom } from './policy-fixtures.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const POLICY = policyFrom({
  detectors: { email: 'mask', phone: { action: 'mask', keepSuffix: 2 }, ipv4: 'drop', credit_card: { action: 'mask', keepSuffix: 4 } },
  custom: { order: { regex: 'ORD-[0-9]{6}', action: 'truncate', maxLength: 4 } },
});

const VALUES: [string, string][] = [
  ['a', 'zoe@example.org'],
  ['b', 'mail zoe@example.org'],
  ['c', 'zoe@example.org, then'],
  ['d', 'a@example.org b@example.org'],
  ['e', 'call +14155550123 or 192.0.2.7 re ORD-123456 card 4111 1111 1111 1111.'],
  ['f', 'Zoë: zoe@example.org ☎ +1 415 555 0123 (ORD-654321) 𝄞 198.51.100.7'],
  ['g', '„192.0.2.1“'],
  ['h', 'nothing here, 1234'],
];

const request = (): Uint8Array => {
  const type = requestType('traces');
  const o = {
    resourceSpans: [
      {
        resource: { attributes: [] },
        scopeSpans: [
          {
            spans: VALUES.map(([key, v], i) => ({
              traceId: Buffer.alloc(16, 1),
              spanId: Buffer.alloc(8, i + 1),
              name: v,
              attributes: [{ key, value: { stringValue: v } }],
              status: { code: 2, message: v },
            })),
          },
        ],
      },
    ],
  };
  return type.encode(type.fromObject(o)).finish().slice();
};

t.test('redacted strings, ASCII and not, equal the reference path', async (t) => {
  const rules = compileRules(POLICY);
  const fast = processRequest({ signal: 'traces', encoding: 'protobuf', body: request(), tenant: 'acme' }, rules);
  const ref = referenceProcess('traces', request(), { policy: { rules: rules.forTenant('acme'), tenant: 'acme' } });
  if (fast.status !== 'ok' || ref.status !== 'ok') throw new Error('not ok');
  const got = decodeForComparison('traces', fast.body) as Obj;
  t.same(got, decodeForComparison('traces', ref.body));
  const spans = got.resourceSpans[0].scopeSpans[0].spans as Obj[];
  const attrs = spans.map((s) => s.attributes[0].value.stringValue);
  t.same(attrs, [
    '****',
    'mail ****',
    '****, then',
    '**** ****',
    'call ****23 or  re ORD- card ****1111.',
    'Zoë: **** ☎ ****23 (ORD-) 𝄞 ',
    '„“',
    'nothing here, 1234',
  ]);
  t.same(spans.map((s) => s.name), attrs, 'span names the same');
  t.same(spans.map((s) => s.status.message), attrs, 'status messages the same');
  // Three strings per span, each finding counted once.
  t.same(fast.redactions, { email: 18, phone: 6, ipv4: 9, credit_card: 3, 'custom.order': 6 });
  t.same(fast.redactions, ref.redactions, 'counts as the reference counts them');
});
