// The policy file schema through the loader: the invalid fixtures (keyed by case, with the expected
// message including file:line:column), and what a valid file turns into.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { loadPolicyFiles } from '../../src/policy/load.js';
import { ALLOWLISTS_FILE, REDACTION_FILE, validateAllowlists, validateRedaction } from '../../src/policy/schema.js';
import { formatPath } from '../../src/schema-check.js';
import { defaultPoliciesDir, packageRoot } from '../../src/paths.js';
import { complete } from '../helpers/policy-file.js';

interface InvalidCase {
  text: string;
  error: string;
  count?: number;
  /** false: written as it is, without the end marker `version: 1`. */
  marker?: boolean;
}

const fixtures = join(packageRoot, 'test/fixtures/policies/invalid');

for (const [fixture, fileName] of [
  ['redaction-cases.yaml', REDACTION_FILE],
  ['allowlists-cases.yaml', ALLOWLISTS_FILE],
] as const) {
  t.test(`invalid ${fileName} (test/fixtures/policies/invalid/${fixture})`, async (t) => {
    const cases = parse(readFileSync(join(fixtures, fixture), 'utf8')) as Record<string, InvalidCase>;
    t.ok(Object.keys(cases).length >= 7, 'the fixture holds the cases');
    const dir = mkdtempSync(join(tmpdir(), 'policy-schema-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    for (const [name, c] of Object.entries(cases)) {
      t.test(name, async (t) => {
        t.type(c.error, 'string', 'the case names its expected message');
        rmSync(join(dir, REDACTION_FILE), { force: true });
        rmSync(join(dir, ALLOWLISTS_FILE), { force: true });
        writeFileSync(join(dir, fileName), c.marker === false ? c.text : complete(c.text));
        const r = loadPolicyFiles(dir);
        t.equal(r.ok, false, 'rejected');
        if (r.ok) return;
        t.ok(
          r.errors.some((e) => e.includes(c.error)),
          `an error contains ${JSON.stringify(c.error)}; got ${JSON.stringify(r.errors)}`,
        );
        t.equal(r.errors.length, c.count ?? 1, `error count; got ${JSON.stringify(r.errors)}`);
        for (const e of r.errors) t.ok(e.startsWith(join(dir, fileName)), `the error names the file: ${e}`);
      });
    }
  });
}

t.test('errors of both files are reported together', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-schema-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, REDACTION_FILE), complete('detectors: { email: erase }\n'));
  writeFileSync(join(dir, ALLOWLISTS_FILE), complete('metricNames: nope\n'));
  const r = loadPolicyFiles(dir);
  t.equal(r.ok, false);
  if (r.ok) return;
  t.equal(r.errors.length, 2);
  t.match(r.errors[0], /redaction\.yaml:1:21 detectors\.email: /);
  t.match(r.errors[1], /allowlists\.yaml:1:14 metricNames: /);
});

t.test('a key pasted where its variable name belongs is never echoed', async (t) => {
  const r = validateRedaction({ hashKeyEnv: 'c2VjcmV0LWtleS1tYXRlcmlhbA==', detectors: { email: { action: 'hash', hashKeyEnv: 'also secret!' } } });
  t.equal(r.ok, false);
  if (r.ok) return;
  t.equal(r.errors.length, 2);
  for (const e of r.errors) {
    t.notMatch(e.message, /c2VjcmV0|also secret/, 'the value is not in the message');
    t.match(e.message, /not shown/);
  }
});

t.test('a valid redaction file: shorthand and full actions, off, overrides', async (t) => {
  const r = validateRedaction({
    keys: { mode: 'allowlist', blocked: { '*password*': 'drop', 'http.request.header.authorization': { action: 'mask', keepPrefix: 2 } } },
    detectors: { email: 'hash', credit_card: { action: 'mask', keepSuffix: 4 }, jwt: { action: 'truncate', maxLength: 10 }, ipv4: 'off' },
    custom: { 'order-ref': { regex: 'ORD-[0-9]{8}', flags: 'i', action: 'hash', hashKeyEnv: 'ORDER_KEY' } },
    hashKeyEnv: 'STELLA_HASH_KEY',
    summaryAttribute: 'stella.redactions',
    tenants: { acme: { detectors: { email: 'drop' }, hashKeyEnv: 'ACME_HASH_KEY' } },
    profiles: { forensic: { summaryAttribute: 'off' } },
  });
  t.equal(r.ok, true, r.ok ? '' : JSON.stringify(r.errors));
  if (!r.ok) return;
  t.same(r.value.keys, { mode: 'allowlist', blocked: { '*password*': { action: 'drop' }, 'http.request.header.authorization': { action: 'mask', keepPrefix: 2 } } });
  t.same(r.value.detectors, { email: { action: 'hash' }, credit_card: { action: 'mask', keepSuffix: 4 }, jwt: { action: 'truncate', maxLength: 10 }, ipv4: 'off' });
  t.same(r.value.custom, { 'order-ref': { action: 'hash', hashKeyEnv: 'ORDER_KEY', regex: 'ORD-[0-9]{8}', flags: 'i' } });
  t.same(r.value.tenants, { acme: { detectors: { email: { action: 'drop' } }, hashKeyEnv: 'ACME_HASH_KEY' } });
  t.same(r.value.profiles, { forensic: { summaryAttribute: 'off' } });
});

t.test('a valid allowlists file', async (t) => {
  const r = validateAllowlists({
    metricNames: ['http.server.*', 'process.cpu.time'],
    attributeKeys: { traces: ['http.*', 'service.name'], logs: 'any' },
    serviceNames: 'any',
    tenants: { acme: { serviceNames: ['checkout', 'payments-*'] } },
  });
  t.equal(r.ok, true, r.ok ? '' : JSON.stringify(r.errors));
  if (!r.ok) return;
  t.same(r.value.attributeKeys, { traces: ['http.*', 'service.name'], logs: 'any' });
  t.same(r.value.tenants.acme, { serviceNames: ['checkout', 'payments-*'] });
});

t.test('an empty document validates to no rules; the loader refuses it unless it states "version: 1"', async (t) => {
  for (const raw of [null, undefined, {}]) {
    const r = validateRedaction(raw);
    t.same(r, { ok: true, value: { tenants: {}, profiles: {} } });
  }
  const dir = mkdtempSync(join(tmpdir(), 'policy-schema-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, REDACTION_FILE), '# nothing yet\n');
  const empty = loadPolicyFiles(dir);
  t.equal(empty.ok, false, 'comments only: refused');
  t.same(!empty.ok && empty.rejected, [{ file: join(dir, REDACTION_FILE), reason: 'empty' }]);
  writeFileSync(join(dir, REDACTION_FILE), '# nothing yet\nversion: 1\n');
  const explicit = loadPolicyFiles(dir);
  t.equal(explicit.ok, true, '"version: 1" alone: an explicit empty policy');
  if (explicit.ok) {
    t.same(explicit.files.redaction, { tenants: {}, profiles: {} });
    t.same(explicit.present, [REDACTION_FILE]);
    t.same(explicit.defaulted, [join(defaultPoliciesDir, ALLOWLISTS_FILE)], 'the missing file is the shipped default');
  }
  const none = loadPolicyFiles(join(dir, 'does-not-exist'), { missing: 'refuse' });
  t.equal(none.ok, false, 'missing and refused (a reload after a good load)');
  t.same(!none.ok && none.rejected.map((r) => r.reason), ['missing', 'missing']);
});

t.test('formatPath', async (t) => {
  t.equal(formatPath(['detectors', 'email', 'action']), 'detectors.email.action');
  t.equal(formatPath(['keys', 'blocked', '*password*']), 'keys.blocked["*password*"]');
  t.equal(formatPath(['metricNames', 3]), 'metricNames[3]');
  t.equal(formatPath(['custom', 'order-ref']), 'custom.order-ref');
});
