import t from 'tap';
import { DEFAULT_SAMPLING } from '../../src/config/sections/sampling.js';
import { validateConfig } from '../../src/config/validate.js';

t.test('the sampling section: defaults (off), values with units, and errors naming the path', async (t) => {
  const none = validateConfig({});
  if (!none.ok) throw new Error(none.errors.join('\n'));
  t.same(none.config.sampling, DEFAULT_SAMPLING);
  t.equal(none.config.sampling.enabled, false, 'off unless the config says so: every span is forwarded');

  const on = validateConfig({
    sampling: { enabled: true, decisionWait: '30s', rootGrace: '500ms', maxTraces: 5000, maxBytes: '64MiB', decisionCache: 10, policyFile: '/etc/stella/sampling.yaml' },
  });
  if (!on.ok) throw new Error(on.errors.join('\n'));
  t.same(on.config.sampling, {
    enabled: true,
    decisionWaitMs: 30_000,
    rootGraceMs: 500,
    maxTraces: 5000,
    maxBytes: 64 * 1024 * 1024,
    decisionCacheSize: 10,
    policyFile: '/etc/stella/sampling.yaml',
  });

  const bad = validateConfig({ sampling: { enabled: 'yes', decisionWait: 'soon', rootGrace: '1m', maxTraces: 0, maxBytes: '1KiB', decisonCache: 5 } });
  t.equal(bad.ok, false);
  if (bad.ok) return;
  for (const e of [
    'sampling.enabled: expected true or false (got "yes")',
    'sampling.decisionWait: expected a duration such as 30s, 200ms or 5m (got "soon")',
    'sampling.rootGrace: must not exceed sampling.decisionWait (got "1m")',
    'sampling.maxTraces: expected an integer from 1 to 100000000 (got 0)',
    'sampling.maxBytes: must be at least 64KiB (got "1KiB")',
    'sampling: unknown key "decisonCache" (did you mean "decisionCache"?)',
  ]) {
    t.ok(bad.errors.includes(e), e);
  }
});
