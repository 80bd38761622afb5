import t from 'tap';
import { DEFAULT_POLICY } from '../../../src/config/sections/policy.js';
import { validateConfig } from '../../../src/config/validate.js';

t.test('policy limits: defaults, units, and errors that name the key', async (t) => {
  const d = validateConfig({});
  t.equal(d.ok, true);
  if (d.ok) t.same(d.config.policy, DEFAULT_POLICY);
  t.same(DEFAULT_POLICY.limits, { maxFileBytes: 2 * 1024 * 1024, maxCustomPatterns: 20_000, maxPatternBytes: 1024 * 1024 });

  const r = validateConfig({ policy: { maxFileBytes: '8MiB', maxCustomPatterns: 50_000, maxPatternBytes: '4MiB' } });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  t.same(r.config.policy.limits, { maxFileBytes: 8 * 1024 * 1024, maxCustomPatterns: 50_000, maxPatternBytes: 4 * 1024 * 1024 });

  const bad = validateConfig({ policy: { maxFileBytes: 'lots', maxCustomPatterns: -1, maxPatterns: 3 } });
  t.equal(bad.ok, false);
  if (bad.ok) return;
  t.ok(bad.errors.some((e) => e.startsWith('policy.maxFileBytes:')), bad.errors.join('\n'));
  t.ok(bad.errors.some((e) => e.startsWith('policy.maxCustomPatterns:')), bad.errors.join('\n'));
  t.ok(bad.errors.some((e) => e.includes('maxPatterns')), 'an unknown key is named');
});
