// The pool's policy delivery: tasks carry the active CompiledPolicy; workers get it once per version
// (need-policy ─▶ resend with the body they handed back), each request is processed under the version
// it was sent with, tenant stamping travels with the task, and redactions and drops are counted.
import t from 'tap';
import { createProcessPool } from '../../src/process/pool.js';
import type { ProcessTask } from '../../src/process/protocol.js';
import { decodeForComparison } from '../../src/process/reference/reference.js';
import { requestType } from '../../src/process/wire/otlp-schema.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { policyFrom } from './worker/policy-fixtures.js';

const body = (n: number): Uint8Array => {
  const type = requestType('traces');
  const spans = Array.from({ length: n }, (_, i) => ({ name: `s${i}`, attributes: [{ key: 'who', value: { stringValue: `u${i}@example.com` } }, { key: 'debug', value: { stringValue: 'x' } }] }));
  const bytes = type.encode(type.fromObject({ resourceSpans: [{ resource: { attributes: [{ key: 'tenant.id', value: { stringValue: 'spoof' } }] }, scopeSpans: [{ spans }] }] })).finish();
  const own = new Uint8Array(new ArrayBuffer(bytes.length));
  own.set(bytes);
  return own;
};

t.test('policies by version through real workers, counted in metrics', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const pool = createProcessPool({ workers: 2, maxQueue: 64, taskTimeoutMs: 10_000, maxQueueWaitMs: 10_000, maxExpectedWaitMs: 10_000 }, { metrics });
  t.teardown(() => pool.close());
  const mask = policyFrom({ detectors: { email: 'mask' } }, { attributeKeys: { traces: ['who', 'tenant.id'] } });
  const drop = policyFrom({ detectors: { email: 'drop' } });
  const task = (policy: typeof mask, n = 3): ProcessTask => ({ signal: 'traces', encoding: 'protobuf', body: body(n), tenant: 'acme', tenantAttribute: 'tenant.id', policy });

  // Many concurrent tasks: both workers ask for the version once, every task still comes back right.
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.run(task(i % 2 === 0 ? mask : drop))));
  for (const [i, r] of results.entries()) {
    if (r.status !== 'ok') {
      t.fail(`#${i}: ${JSON.stringify(r)}`);
      continue;
    }
    const p = i % 2 === 0 ? mask : drop;
    t.equal(r.policyVersion, p.version, `#${i}: processed under the version it was sent with`);
    const out = JSON.stringify(decodeForComparison('traces', r.body));
    t.notOk(out.includes('@example.com'), `#${i}: redacted`);
    t.ok(out.includes('"key":"tenant.id","value":{"stringValue":"acme"}') && !out.includes('spoof'), `#${i}: stamped`);
    t.equal(r.tenantOverwrites, 1);
  }
  const redactions = await metrics.policyRedactions.get();
  t.equal(redactions.values.find((v) => v.labels.category === 'email' && v.labels.tenant === 'acme')?.value, 60, 'policy_redactions_total');
  const dropped = await metrics.policyDropped.get();
  t.equal(dropped.values.find((v) => v.labels.reason === 'attribute_key')?.value, 30, 'policy_dropped_total (the debug attribute of the mask policy)');
  const tasks = await metrics.poolTasks.get();
  t.equal(tasks.values.filter((v) => v.labels.outcome === 'ok').reduce((a, v) => a + v.value, 0), 20, 'each task counted once, the resends included');
});

t.test('policy metrics carry the capped tenant label, not the raw tenant', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const pool = createProcessPool({ workers: 1, maxQueue: 8, taskTimeoutMs: 10_000, maxQueueWaitMs: 10_000, maxExpectedWaitMs: 10_000 }, { metrics, tenantLabel: (tenant) => (tenant === 'acme' ? 'acme' : '_other') });
  t.teardown(() => pool.close());
  const mask = policyFrom({ detectors: { email: 'mask' } });
  for (const tenant of ['acme', 'tenant-9999']) {
    const r = await pool.run({ signal: 'traces', encoding: 'protobuf', body: body(1), tenant, policy: mask });
    t.equal(r.status, 'ok', tenant);
  }
  const labels = (await metrics.policyRedactions.get()).values.map((v) => v.labels.tenant).sort();
  t.same(labels, ['_other', 'acme']);
});

t.test('a version the pool cannot supply is an INTERNAL refusal, not a hang', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const pool = createProcessPool({ workers: 1, maxQueue: 4, taskTimeoutMs: 5_000, maxQueueWaitMs: 10_000, maxExpectedWaitMs: 10_000 }, { metrics });
  t.teardown(() => pool.close());
  const r = await pool.run({ signal: 'traces', encoding: 'protobuf', body: body(1), tenant: 'a', policyVersion: 'f'.repeat(64) });
  t.match(r, { status: 'rejected', code: 'INTERNAL' });
});
