// The worker times each request and the pool observes it: worker_processing_seconds{signal} for every
// processed request, policy_evaluation_seconds{signal} for those whose rewrite ran (a tenant stamped or
// a policy applied), with real workers.
import t from 'tap';
import { createProcessPool } from '../../src/process/pool.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';
import { createRng, generateRequest } from '../helpers/generate-otlp.js';

async function histogramCount(h: GatewayMetrics['workerProcessingSeconds'], signal: string): Promise<{ count: number; sum: number }> {
  const values = (await h.get()).values.filter((v) => v.labels.signal === signal);
  const count = values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  const sum = values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
  return { count, sum };
}

t.test('every processed request is timed; the rewrite only when it runs', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const pool = createProcessPool({ workers: 1, maxQueue: 8, taskTimeoutMs: 10_000, maxQueueWaitMs: 10_000, maxExpectedWaitMs: 10_000 }, { metrics });
  t.teardown(() => pool.close());
  const rng = createRng(7);
  const own = (b: Uint8Array) => new Uint8Array(b);
  for (let i = 0; i < 3; i++) {
    const r = await pool.run({ signal: 'traces', encoding: 'protobuf', body: own(generateRequest('traces', rng).bytes), tenant: 'acme', tenantAttribute: 'tenant.id' });
    t.equal(r.status, 'ok');
  }
  const plain = await pool.run({ signal: 'logs', encoding: 'protobuf', body: own(generateRequest('logs', rng).bytes), tenant: 'acme' });
  t.equal(plain.status, 'ok');

  const traces = await histogramCount(metrics.workerProcessingSeconds, 'traces');
  t.equal(traces.count, 3, 'three traces requests timed');
  t.ok(traces.sum > 0 && traces.sum < 10, `a plausible total (${traces.sum}s)`);
  t.equal((await histogramCount(metrics.policyEvaluationSeconds, 'traces')).count, 3, 'stamping ran for each');
  t.equal((await histogramCount(metrics.workerProcessingSeconds, 'logs')).count, 1);
  t.equal((await histogramCount(metrics.policyEvaluationSeconds, 'logs')).count, 0, 'no policy, no stamping: no rewrite to time');
  const policy = await histogramCount(metrics.policyEvaluationSeconds, 'traces');
  t.ok(policy.sum <= traces.sum, 'the rewrite is part of the processing time');
});
