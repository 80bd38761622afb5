// Shared quotas: a tenant's limit divided by the live members, the spec object stable until the share
// changes (so the token buckets adapt exactly then), unlimited tenants untouched; with the real quota
// buckets, a replica's share of a burst is all it admits.
import t from 'tap';
import { createQuotaShare } from '../../src/cluster/quota-share.js';
import { createQuotas } from '../../src/admit/quota.js';
import type { QuotaSpec } from '../../src/config/sections/tenancy.js';

const spec: QuotaSpec = { itemsPerSecond: 300, itemsBurst: 600, bytesPerSecond: 3000, bytesBurst: 0 };

t.test('the share divides rates and bursts and is stable between membership changes', async (t) => {
  const q = createQuotaShare();
  t.equal(q.share(spec), spec, 'alone: the whole limit');
  q.setMembers(3);
  const third = q.share(spec);
  t.same(third, { itemsPerSecond: 100, itemsBurst: 200, bytesPerSecond: 1000, bytesBurst: 0 }, 'a burst of 0 stays "one second of the rate"');
  t.equal(q.share(spec), third, 'the same object until the share changes');
  q.setMembers(3);
  t.equal(q.share(spec), third);
  q.setMembers(2);
  t.not(q.share(spec), third);
  t.equal(q.share(spec).itemsPerSecond, 150);
  const unlimited: QuotaSpec = { itemsPerSecond: 0, itemsBurst: 0, bytesPerSecond: 0, bytesBurst: 0 };
  t.equal(q.share(unlimited), unlimited);
  q.setMembers(0);
  t.equal(q.members, 1, 'never less than this replica');
});

t.test('with the quota buckets: a third of the burst, then the bucket follows a membership change', async (t) => {
  let now = 0;
  const q = createQuotaShare(3);
  const quotas = createQuotas({ quotaFor: () => q.share({ itemsPerSecond: 30, itemsBurst: 30, bytesPerSecond: 0, bytesBurst: 0 }), now: () => now });
  let admitted = 0;
  for (let i = 0; i < 20; i++) {
    if (quotas.admit('acme', 10).status !== 'ok') break;
    quotas.chargeItems('acme', 1);
    admitted++;
  }
  t.equal(admitted, 10, "the share's burst: 30 / 3");
  now += 1000;
  t.equal(quotas.admit('acme', 10).status, 'ok', 'refills at the share of the rate');
  q.setMembers(1);
  quotas.chargeItems('acme', 25);
  now += 1000;
  // Alone again: 15 items of debt repaid in half a second at 30/s (at a third of it, still 5 in debt).
  t.equal(quotas.admit('acme', 10).status, 'ok');
  const control = createQuotaShare(3);
  let t2 = 0;
  const thirds = createQuotas({ quotaFor: () => control.share({ itemsPerSecond: 30, itemsBurst: 30, bytesPerSecond: 0, bytesBurst: 0 }), now: () => t2 });
  t.equal(thirds.admit('acme', 10).status, 'ok');
  thirds.chargeItems('acme', 25);
  t2 += 1000;
  t.not(thirds.admit('acme', 10).status, 'ok', 'the same debt at a third of the rate is still refused');
});
