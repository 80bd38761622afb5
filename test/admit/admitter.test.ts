import t from 'tap';
import { createAdmitter } from '../../src/admit/admitter.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

t.test('bytes in flight are bounded; a refusal is retryable OVERLOADED; release gives the bytes back', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const admitter = createAdmitter({ maxInflightBytes: 1000 }, { metrics });
  const a = admitter.admit(600);
  t.equal(a.status, 'ok');
  const b = admitter.admit(500);
  t.equal(b.status, 'retryable', 'over the budget while another request is in flight');
  t.equal(b.status === 'retryable' && b.code, 'OVERLOADED');
  t.ok(b.status === 'retryable' && b.retryAfterMs > 0, 'carries a retry hint');
  t.equal(admitter.inflightBytes(), 600, 'a refusal reserves nothing');
  t.equal((await metrics.admitInflightBytes.get()).values[0]?.value, 600);
  if (a.status === 'ok') {
    a.admission.release();
    a.admission.release(); // twice: counted once
  }
  t.equal(admitter.inflightBytes(), 0);
  t.equal(admitter.admit(500).status, 'ok', 'room again after release');
});

t.test('a single request larger than the budget is admitted when nothing else is in flight', async (t) => {
  const admitter = createAdmitter({ maxInflightBytes: 100 }, { metrics: createMetrics({ defaultMetrics: false }) });
  const big = admitter.admit(5000);
  t.equal(big.status, 'ok', 'otherwise it could never be admitted');
  t.equal(admitter.admit(1).status, 'retryable', 'but nothing joins it');
});
