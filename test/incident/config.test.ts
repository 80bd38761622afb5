// The `incidents` config section: defaults, a full example, and an error for every bad value that
// names the path.
import t from 'tap';
import { DEFAULT_INCIDENTS } from '../../src/config/sections/incidents.js';
import { validateConfig } from '../../src/config/validate.js';

const HASH = 'a'.repeat(64);

t.test('defaults: enabled, 1h / 24h, no tokens, no webhooks', async (t) => {
  const r = validateConfig({});
  t.ok(r.ok);
  if (r.ok) t.same(r.config.incidents, DEFAULT_INCIDENTS);
  t.same(DEFAULT_INCIDENTS, { enabled: true, defaultTtlMs: 3_600_000, maxTtlMs: 86_400_000, maxIncidents: 1000, adminTokens: [], notify: { maxQueue: 256, webhooks: [] }, captureOnEnd: { enabled: false, leadMs: 300_000, cooldownMs: 60_000 } });
});

t.test('captureOnEnd: off by default, on in the forensic profile, lead and cooldown checked', async (t) => {
  const forensic = validateConfig({}, undefined, { profile: 'forensic' });
  t.ok(forensic.ok);
  if (forensic.ok) t.same(forensic.config.incidents.captureOnEnd, { enabled: true, leadMs: 300_000, cooldownMs: 60_000 });
  const set = validateConfig({ incidents: { captureOnEnd: { enabled: true, lead: '10m', cooldown: 0 } } });
  t.ok(set.ok);
  if (set.ok) t.same(set.config.incidents.captureOnEnd, { enabled: true, leadMs: 600_000, cooldownMs: 0 });
  const bad = validateConfig({ incidents: { captureOnEnd: { enabled: 'yes', lead: 'soon', when: 1 } } });
  t.notOk(bad.ok);
  if (!bad.ok) {
    t.ok(bad.errors.some((e) => e.startsWith('incidents.captureOnEnd.enabled: expected true or false')), bad.errors.join('\n'));
    t.ok(bad.errors.some((e) => e.startsWith('incidents.captureOnEnd.lead: expected a duration')), bad.errors.join('\n'));
    t.ok(bad.errors.some((e) => e.includes('incidents.captureOnEnd') && e.includes('when')), bad.errors.join('\n'));
  }
});

t.test('a full section', async (t) => {
  const r = validateConfig({
    incidents: {
      dir: '/var/lib/stella/incidents',
      defaultTtl: '30m',
      maxTtl: '4h',
      maxIncidents: 50,
      adminTokens: [
        { name: 'oncall', sha256: HASH.toUpperCase(), role: 'operator', tenants: ['acme', 'globex'] },
        { name: 'sre', sha256: 'b'.repeat(64), role: 'admin', tenants: '*' },
        { name: 'ro', sha256: 'c'.repeat(64), role: 'viewer', tenants: ['*'] },
      ],
      notify: {
        maxQueue: 10,
        webhooks: [
          { url: 'https://hooks.example.com/stella', secretEnv: 'STELLA_NOTIFY_SECRET', timeout: '2s', retries: 3, backoff: '500ms', maxBackoff: '10s' },
          { url: 'http://127.0.0.1:9000/x', secret: 'inline' },
        ],
      },
    },
  });
  t.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  if (!r.ok) return;
  const c = r.config.incidents;
  t.equal(c.dir, '/var/lib/stella/incidents');
  t.equal(c.defaultTtlMs, 1_800_000);
  t.equal(c.maxTtlMs, 14_400_000);
  t.equal(c.maxIncidents, 50);
  t.same(c.adminTokens, [
    { name: 'oncall', sha256: HASH, role: 'operator', tenants: ['acme', 'globex'] },
    { name: 'sre', sha256: 'b'.repeat(64), role: 'admin', tenants: '*' },
    { name: 'ro', sha256: 'c'.repeat(64), role: 'viewer', tenants: '*' },
  ]);
  t.same(c.notify, {
    maxQueue: 10,
    webhooks: [
      { url: 'https://hooks.example.com/stella', secretEnv: 'STELLA_NOTIFY_SECRET', timeoutMs: 2000, retries: 3, initialBackoffMs: 500, maxBackoffMs: 10_000 },
      { url: 'http://127.0.0.1:9000/x', secret: 'inline', timeoutMs: 5000, retries: 5, initialBackoffMs: 1000, maxBackoffMs: 60_000 },
    ],
  });
});

t.test('every bad value is named by its path', async (t) => {
  const cases: [unknown, string][] = [
    [{ enabeld: true }, 'incidents: unknown key "enabeld" (did you mean "enabled"?)'],
    [{ defaultTtl: '2h', maxTtl: '1h' }, 'incidents.defaultTtl: must not exceed incidents.maxTtl (got "2h")'],
    [{ maxTtl: 'forever' }, 'incidents.maxTtl: expected a duration such as 30s, 200ms or 5m (got "forever")'],
    [{ adminTokens: { name: 'x' } }, 'incidents.adminTokens: expected a list of tokens (got a mapping)'],
    [{ adminTokens: [{ name: 'x', sha256: 'abc', role: 'admin', tenants: '*' }] }, 'incidents.adminTokens[0].sha256: expected 64 hex digits (printf %s TOKEN | sha256sum) (got "abc")'],
    [{ adminTokens: [{ name: 'x', sha256: HASH, role: 'root', tenants: '*' }] }, 'incidents.adminTokens[0].role: expected one of viewer, operator, admin (got "root")'],
    [{ adminTokens: [{ name: 'x', sha256: HASH, role: 'admin' }] }, 'incidents.adminTokens[0].tenants: required: "*" (every tenant and the fleet) or a list of tenant ids'],
    [{ adminTokens: [{ name: 'x', sha256: HASH, role: 'admin', tenants: ['ok', 'not ok'] }] }, 'incidents.adminTokens[0].tenants[1]: expected a tenant id of letters, digits, ".", "_" or "-" (got "not ok")'],
    [{ adminTokens: [{ sha256: HASH, role: 'admin', tenants: '*' }] }, 'incidents.adminTokens[0].name: required: a name for audit logs'],
    [
      { adminTokens: [{ name: 'x', sha256: HASH, role: 'admin', tenants: '*' }, { name: 'x', sha256: 'b'.repeat(64), role: 'viewer', tenants: '*' }] },
      'incidents.adminTokens[1].name: duplicate token name "x"',
    ],
    [
      { adminTokens: [{ name: 'x', sha256: HASH, role: 'admin', tenants: '*' }, { name: 'y', sha256: HASH.toUpperCase(), role: 'viewer', tenants: '*' }] },
      'incidents.adminTokens[1].sha256: the same token hash is configured twice',
    ],
    [{ notify: { webhooks: [{ url: 'ftp://x', secret: 's' }] } }, 'incidents.notify.webhooks[0].url: expected an http:// or https:// URL (got "ftp://x")'],
    [{ notify: { webhooks: [{ url: 'https://x' }] } }, 'incidents.notify.webhooks[0]: set exactly one of secret or secretEnv'],
    [{ notify: { webhooks: [{ url: 'https://x', secret: 's', secretEnv: 'S' }] } }, 'incidents.notify.webhooks[0]: set exactly one of secret or secretEnv'],
    [{ notify: { webhooks: [{ url: 'https://x', secretEnv: 'not-a-var' }] } }, 'incidents.notify.webhooks[0].secretEnv: expected an environment variable name (got "not-a-var")'],
    [{ notify: { webhooks: [{ url: 'https://x', secret: 's', retries: -1 }] } }, 'incidents.notify.webhooks[0].retries: expected an integer from 0 to 100 (got -1)'],
    [{ notify: { maxQueue: 0 } }, 'incidents.notify.maxQueue: expected an integer from 1 to 100000 (got 0)'],
  ];
  for (const [incidents, message] of cases) {
    const r = validateConfig({ incidents });
    t.notOk(r.ok, message);
    if (!r.ok) t.ok(r.errors.some((e) => e.startsWith(message)), `${message}\n  got: ${r.errors.join('\n  ')}`);
  }
});
