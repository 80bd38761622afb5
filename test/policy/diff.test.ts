import t from 'tap';
import { compilePolicy, type PolicyFiles } from '../../src/policy/compile.js';
import { diffPolicies } from '../../src/policy/diff.js';
import { validateAllowlists, validateRedaction } from '../../src/policy/schema.js';

function compile(redaction: unknown, allowlists: unknown = {}, profile = 'default') {
  const r = validateRedaction(redaction);
  const a = validateAllowlists(allowlists);
  if (!r.ok || !a.ok) throw new Error(JSON.stringify([r, a]));
  const files: PolicyFiles = { redaction: r.value, allowlists: a.value };
  return compilePolicy(files, profile);
}

t.test('equal policies: no lines', async (t) => {
  const a = compile({ detectors: { email: 'mask' } });
  const b = compile({ detectors: { email: { action: 'mask', keepPrefix: 0 } } });
  t.same(diffPolicies(a, b), []);
});

t.test('added, removed and changed rules, per view', async (t) => {
  const a = compile(
    { keys: { blocked: { '*password*': 'drop' } }, detectors: { email: 'mask', ipv4: 'mask' }, tenants: { acme: { detectors: { ipv4: 'off' } } } },
    { metricNames: ['http.*', 'process.*'] },
  );
  const b = compile(
    {
      keys: { blocked: { '*password*': 'drop' } },
      detectors: { email: 'hash', ipv4: 'mask' },
      custom: { 'order-ref': { regex: 'ORD-[0-9]{8}', action: 'drop' } },
      tenants: { acme: { detectors: { ipv4: 'off' } } },
    },
    { metricNames: ['http.*'] },
  );
  const lines = diffPolicies(a, b);
  t.same(lines, [
    '~ [default] allowlists.metricNames: only the listed names (2) → only the listed names (1)',
    '- [default] allowlists.metricNames["process.*"]: allowed',
    '+ [default] redaction.custom.order-ref: /ORD-[0-9]{8}/ → drop',
    '~ [default] redaction.detectors.email: mask → hash (key from $STELLA_HASH_KEY)',
    '~ [tenant acme] allowlists.metricNames: only the listed names (2) → only the listed names (1)',
    '- [tenant acme] allowlists.metricNames["process.*"]: allowed',
    '+ [tenant acme] redaction.custom.order-ref: /ORD-[0-9]{8}/ → drop',
    '~ [tenant acme] redaction.detectors.email: mask → hash (key from $STELLA_HASH_KEY)',
  ]);
  t.same(diffPolicies(a, b, { tenant: 'acme' }), lines.filter((l) => l.includes('[tenant acme]')), '--tenant: only that view');
  t.same(diffPolicies(b, a).filter((l) => l.startsWith('-')).length, 2, 'reversed: additions become removals');
});

t.test('a tenant on one side only is compared with the other side\'s defaults', async (t) => {
  const a = compile({ detectors: { email: 'mask' } });
  const b = compile({ detectors: { email: 'mask' }, tenants: { globex: { hashKeyEnv: 'GLOBEX_KEY', detectors: { email: 'hash' } } } });
  t.same(diffPolicies(a, b), ['~ [tenant globex] redaction.detectors.email: mask → hash (key from $GLOBEX_KEY)']);
  t.same(diffPolicies(a, b, { tenant: 'initech' }), [], 'a tenant neither side names: defaults vs defaults');
});

t.test('profiles', async (t) => {
  const raw = { detectors: { email: 'mask' }, profiles: { forensic: { detectors: { email: 'off' } } } };
  t.same(diffPolicies(compile(raw, {}, 'default'), compile(raw, {}, 'forensic')), ['- [default] redaction.detectors.email: mask']);
});
