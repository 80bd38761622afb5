// The fast path under the shipped default policies on the PII corpus, at the worker level (the
// integration test repeats it through the running gateway): no line of secrets.txt survives in the
// output bytes or in their OTLP/JSON rendering, every negative does, the shape and ids are kept.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadPolicy } from '../../../src/policy/load.js';
import { defaultPoliciesDir } from '../../../src/paths.js';
import { decodeForComparison } from '../../../src/process/reference/reference.js';
import { otlpJsonToProtobuf } from '../../../src/process/wire/otlp-json.js';
import { compileRules } from '../../../src/process/worker/policy-rules.js';
import { processRequest } from '../../../src/process/worker/process-request.js';
import type { Signal } from '../../../src/signals.js';
import { piiFixtures } from '../../helpers/fixtures.js';

const list = (file: string): [string, string][] =>
  readFileSync(join(piiFixtures, file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => [l.slice(0, l.indexOf('\t')), l.slice(l.indexOf('\t') + 1)]);

const loaded = loadPolicy(defaultPoliciesDir, 'default');
if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
const rules = compileRules(loaded.policy);

t.test('default policies: no secret leaves, every negative survives (protobuf and JSON input)', async (t) => {
  const outputs: Buffer[] = [];
  for (const [file, signal, items] of [['traces.json', 'traces', 120], ['logs.json', 'logs', 40], ['metrics.json', 'metrics', 23]] as const) {
    const json = readFileSync(join(piiFixtures, file));
    const converted = otlpJsonToProtobuf(signal as Signal, json);
    if (!converted.ok) throw new Error(converted.message);
    for (const [encoding, body] of [['protobuf', converted.bytes], ['json', json]] as const) {
      const r = processRequest({ signal, encoding, body: Uint8Array.from(body), tenant: 'default', tenantAttribute: 'tenant.id' }, rules);
      if (r.status !== 'ok') {
        t.fail(`${file} ${encoding}: ${r.message}`);
        continue;
      }
      t.equal(r.items, items, `${file} ${encoding}: every item kept`);
      t.equal(r.policyVersion, loaded.policy.version, 'the version applied is reported');
      t.ok(Object.keys(r.redactions ?? {}).length >= 8, `${file}: redactions counted by category ${JSON.stringify(r.redactions)}`);
      const rendered = JSON.stringify(decodeForComparison(signal, r.body));
      t.notOk(rendered.includes('"key":"tenant.id","value":{"stringValue":"x"}'), 'no client tenant value');
      outputs.push(Buffer.from(r.body), Buffer.from(rendered));
    }
  }
  const emitted = Buffer.concat(outputs);
  const leaks = list('secrets.txt').filter(([, v]) => emitted.includes(v));
  t.same(leaks, [], 'no secret in the raw or decoded output');
  const lost = list('negatives.txt').filter(([, v]) => !emitted.includes(v));
  t.same(lost, [], 'every negative survives');
});

t.test('ids and structure are unchanged; only strings change', async (t) => {
  const json = readFileSync(join(piiFixtures, 'traces.json'));
  const converted = otlpJsonToProtobuf('traces', json);
  if (!converted.ok) throw new Error(converted.message);
  const before = decodeForComparison('traces', converted.bytes) as { resourceSpans: { scopeSpans: { spans: { traceId: string; spanId: string; parentSpanId?: string; links?: unknown[] }[] }[] }[] };
  const r = processRequest({ signal: 'traces', encoding: 'protobuf', body: converted.bytes.slice(), tenant: 'default' }, rules);
  if (r.status !== 'ok') return t.fail(r.message);
  const after = decodeForComparison('traces', r.body) as typeof before;
  const ids = (x: typeof before) => x.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => [s.traceId, s.spanId, s.parentSpanId, (s.links ?? []).length])));
  t.same(ids(after), ids(before));
  const plain = processRequest({ signal: 'traces', encoding: 'protobuf', body: converted.bytes.slice(), tenant: 'default' });
  if (plain.status !== 'ok') return t.fail(plain.message);
  t.same(r.traces, plain.traces, 'same trace summaries as without a policy');
});
