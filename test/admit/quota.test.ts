import t from 'tap';
import { createQuotas } from '../../src/admit/quota.js';
import { createAdmitter } from '../../src/admit/admitter.js';
import type { QuotaSpec } from '../../src/config/sections/tenancy.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

const none: QuotaSpec = { itemsPerSecond: 0, itemsBurst: 0, bytesPerSecond: 0, bytesBurst: 0 };

t.test('bytes: taken on admission; refused with the time until the bucket holds them', async (t) => {
  let now = 0;
  const spec: QuotaSpec = { ...none, bytesPerSecond: 1000, bytesBurst: 2000 };
  const q = createQuotas({ quotaFor: () => spec, now: () => now });
  t.same(q.admit('a', 1500), { status: 'ok' });
  const r = q.admit('a', 1000);
  t.match(r, { status: 'retryable', code: 'RATE_LIMITED', reason: 'bytes', retryAfterMs: 500 }, '500 bytes held, 1000 needed at 1000/s');
  now = 499;
  t.equal(q.admit('a', 1000).status, 'retryable', 'not a moment early');
  now = 500;
  t.same(q.admit('a', 1000), { status: 'ok' }, 'admitted exactly when the hint said');
  t.equal(q.admit('b', 2000).status, 'ok', 'tenants have their own buckets');
  // Larger than the burst: needs a full bucket, then leaves it in debt (not refused forever).
  now = 10_000;
  t.same(q.admit('a', 5000), { status: 'ok' });
  t.match(q.admit('a', 1), { reason: 'bytes', retryAfterMs: 3001 });
});

t.test('items: charged after processing; while in debt the next requests are refused', async (t) => {
  let now = 0;
  const spec: QuotaSpec = { ...none, itemsPerSecond: 100, itemsBurst: 100 };
  const q = createQuotas({ quotaFor: () => spec, now: () => now });
  t.same(q.admit('a', 10), { status: 'ok' });
  q.chargeItems('a', 300);
  const r = q.admit('a', 10);
  t.match(r, { status: 'retryable', code: 'RATE_LIMITED', reason: 'items', retryAfterMs: 2010 }, '200 items of debt + 1 at 100/s');
  now = 2009;
  t.equal(q.admit('a', 10).status, 'retryable');
  now = 2010;
  t.same(q.admit('a', 10), { status: 'ok' });
});

t.test('a changed spec (reload) adapts the bucket; unlimited tenants hold no bucket; buckets are bounded', async (t) => {
  let now = 0;
  let spec: QuotaSpec = { ...none, itemsPerSecond: 10, itemsBurst: 1000 };
  const q = createQuotas({ quotaFor: (tenant) => (tenant.startsWith('free') ? none : spec), now: () => now, maxBuckets: 3 });
  q.chargeItems('a', 5);
  spec = { ...none, itemsPerSecond: 10, itemsBurst: 2 };
  q.chargeItems('a', 3);
  t.match(q.admit('a', 1), { reason: 'items', retryAfterMs: 200 }, 'clamped to the new burst of 2, then 3 charged: 1 in debt');
  for (let i = 0; i < 10; i++) t.equal(q.admit(`free-${i}`, 1e9).status, 'ok');
  for (let i = 0; i < 10; i++) q.admit(`t${i}`, 1);
  t.equal(q.size, 3, 'the LRU bound holds');
  now = 1;
});

t.test('the admitter refuses over-quota requests before anything is reserved, counted per tenant and reason', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const spec: QuotaSpec = { ...none, bytesPerSecond: 100, bytesBurst: 100 };
  const quotas = createQuotas({ quotaFor: () => spec, now: () => 0 });
  const admitter = createAdmitter({ maxInflightBytes: 1 << 20 }, { metrics, quotas, tenantLabel: (x) => `L-${x}` });
  const a = admitter.admit(100, 'acme');
  t.equal(a.status, 'ok');
  const b = admitter.admit(50, 'acme');
  t.match(b, { status: 'retryable', code: 'RATE_LIMITED', retryAfterMs: 500 });
  t.notOk('reason' in b, 'the refusal is a plain Refusal');
  t.equal(admitter.inflightBytes(), 100, 'a refusal reserves nothing');
  t.equal(admitter.admit(50).status, 'ok', 'no tenant, no quota check');
  const counted = (await metrics.tenantQuotaRefused.get()).values;
  t.same(counted.map((v) => [v.labels, v.value]), [[{ tenant: 'L-acme', reason: 'bytes' }, 1]]);
});
