// Compiling validated files into per-profile, per-tenant effective policies: layering, `off` and `any`,
// plain (structured-clone-able) output, and a version that depends on content only.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { canonicalJson, compilePolicy, EMPTY_FILES, policyFor, type CompiledPolicy, type PolicyFiles } from '../../src/policy/compile.js';
import { loadPolicy } from '../../src/policy/load.js';
import { validateAllowlists, validateRedaction } from '../../src/policy/schema.js';
import { complete } from '../helpers/policy-file.js';

function files(redaction: unknown, allowlists: unknown = {}): PolicyFiles {
  const r = validateRedaction(redaction);
  const a = validateAllowlists(allowlists);
  if (!r.ok || !a.ok) throw new Error(JSON.stringify([r, a]));
  return { redaction: r.value, allowlists: a.value };
}

const REDACTION_YAML = `# the policy in one order and format
keys:
  mode: open
  blocked:
    "*password*": drop
    "*cookie*": { action: mask, keepPrefix: 2 }
detectors:
  email: mask
  credit_card: { action: mask, keepSuffix: 4 }
  ipv4: hash
custom:
  order-ref: { regex: "ORD-[0-9]{8}", action: truncate, maxLength: 6 }
  employee: { regex: "EMP[0-9]{6}", action: drop }
tenants:
  acme: { hashKeyEnv: ACME_HASH_KEY, detectors: { email: off } }
profiles:
  forensic: { summaryAttribute: stella.redactions }
`;

const REDACTION_YAML_REORDERED = `profiles: {forensic: {summaryAttribute: "stella.redactions"}}
tenants:
    acme:
        detectors: {email: 'off'}
        hashKeyEnv: 'ACME_HASH_KEY'
custom:
    employee: {action: drop, regex: 'EMP[0-9]{6}'}
    order-ref:
        maxLength: 6
        action: truncate
        regex: 'ORD-[0-9]{8}'
detectors: {ipv4: {action: hash}, credit_card: {keepSuffix: 4, action: mask}, email: {action: mask, keepPrefix: 0}}
keys: {blocked: {'*cookie*': {keepPrefix: 2, action: mask}, '*password*': {action: drop}}}
`;

const ALLOWLISTS_YAML = `metricNames: [http.server.duration, "process.*"]
serviceNames: any
tenants:
  acme: { serviceNames: [checkout, "payments-*"] }
`;
const ALLOWLISTS_YAML_REORDERED = `tenants: {acme: {serviceNames: ["payments-*", checkout, checkout]}}
metricNames:
  - process.*
  - http.server.duration
`;

function compileDir(t: Test, redaction: string, allowlists: string, profile = 'default'): CompiledPolicy {
  const dir = mkdtempSync(join(tmpdir(), 'policy-compile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'redaction.yaml'), complete(redaction));
  writeFileSync(join(dir, 'allowlists.yaml'), complete(allowlists));
  const r = loadPolicy(dir, profile);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.policy;
}

t.test('the same policy in another order and format has the same version', async (t) => {
  const a = compileDir(t, REDACTION_YAML, ALLOWLISTS_YAML);
  const b = compileDir(t, REDACTION_YAML_REORDERED, ALLOWLISTS_YAML_REORDERED);
  t.match(a.version, /^[0-9a-f]{64}$/);
  t.equal(a.version, b.version);
  t.same(a, b, 'and the same compiled policy');
  const fa = compileDir(t, REDACTION_YAML, ALLOWLISTS_YAML, 'forensic');
  const fb = compileDir(t, REDACTION_YAML_REORDERED, ALLOWLISTS_YAML_REORDERED, 'forensic');
  t.equal(fa.version, fb.version, 'per profile too');
  t.not(fa.version, a.version, 'a profile with overrides differs');
});

t.test('any change in effect changes the version', async (t) => {
  const base = compileDir(t, REDACTION_YAML, ALLOWLISTS_YAML).version;
  const edits: Array<[string, string, string]> = [
    ['an action', REDACTION_YAML.replace('email: mask', 'email: drop'), ALLOWLISTS_YAML],
    ['a mask width', REDACTION_YAML.replace('keepSuffix: 4', 'keepSuffix: 3'), ALLOWLISTS_YAML],
    ['a key pattern', REDACTION_YAML.replace('"*password*": drop', '"*passwd*": drop'), ALLOWLISTS_YAML],
    ['a custom regex', REDACTION_YAML.replace('ORD-[0-9]{8}', 'ORD-[0-9]{9}'), ALLOWLISTS_YAML],
    ['a tenant hash key', REDACTION_YAML.replace('ACME_HASH_KEY', 'ACME_KEY_2'), ALLOWLISTS_YAML],
    ['the key mode', REDACTION_YAML.replace('mode: open', 'mode: allowlist'), ALLOWLISTS_YAML],
    ['an allowlist entry', REDACTION_YAML, ALLOWLISTS_YAML.replace('"process.*"', '"process.cpu.*"')],
    ['a tenant allowlist', REDACTION_YAML, ALLOWLISTS_YAML.replace('checkout,', 'cart,')],
    ['a new tenant', REDACTION_YAML.replace('tenants:\n', 'tenants:\n  globex: {}\n'), ALLOWLISTS_YAML],
  ];
  const seen = new Set([base]);
  for (const [what, r, a] of edits) {
    const v = compileDir(t, r, a).version;
    t.notOk(seen.has(v), `${what} gives a new version`);
    seen.add(v);
  }
  const inert = compileDir(t, REDACTION_YAML.replace('profiles:\n', '# a comment\nprofiles:\n'), ALLOWLISTS_YAML).version;
  t.equal(inert, base, 'a comment changes nothing');
});

t.test('layering: top level, then the profile, then the tenant', async (t) => {
  const p = compileDir(t, REDACTION_YAML, ALLOWLISTS_YAML, 'forensic');
  t.equal(p.profile, 'forensic');
  t.equal(p.defaults.redaction.summaryAttribute, 'stella.redactions', 'profile override');
  t.same(
    p.defaults.redaction.detectors,
    [
      { category: 'credit_card', action: { type: 'mask', keepPrefix: 0, keepSuffix: 4 } },
      { category: 'email', action: { type: 'mask', keepPrefix: 0, keepSuffix: 0 } },
      { category: 'ipv4', action: { type: 'hash', hashKeyEnv: 'STELLA_HASH_KEY' } },
    ],
    'sorted by category, defaults filled in, the default hash key variable',
  );
  const acme = policyFor(p, 'acme');
  t.same(acme.redaction.detectors.map((d) => d.category), ['credit_card', 'ipv4'], '`off` removes the inherited email rule');
  t.same(acme.redaction.detectors[1]!.action, { type: 'hash', hashKeyEnv: 'ACME_HASH_KEY' }, 'per-tenant hash key');
  t.equal(acme.redaction.summaryAttribute, 'stella.redactions', 'the tenant inherits the profile');
  t.same(acme.allowlists.serviceNames, ['checkout', 'payments-*'], 'tenant list replaces');
  t.same(acme.allowlists.metricNames, ['http.server.duration', 'process.*'], 'inherited list');
  t.equal(policyFor(p, 'someone-else'), p.defaults, 'a tenant without overrides gets the defaults');
  t.same(p.defaults.allowlists.attributeKeys, { traces: null, metrics: null, logs: null }, 'no list: no restriction');
  t.same(
    p.defaults.redaction.blockedKeys,
    [
      { pattern: '*cookie*', action: { type: 'mask', keepPrefix: 2, keepSuffix: 0 } },
      { pattern: '*password*', action: { type: 'drop' } },
    ],
  );
  t.same(p.defaults.redaction.custom, [
    { name: 'employee', regex: 'EMP[0-9]{6}', flags: '', action: { type: 'drop' } },
    { name: 'order-ref', regex: 'ORD-[0-9]{8}', flags: '', action: { type: 'truncate', maxLength: 6 } },
  ]);
});

t.test('`any` lifts an inherited list; `off` disables the summary', async (t) => {
  const p = compilePolicy(
    files(
      { summaryAttribute: 'stella.redactions', tenants: { t1: { summaryAttribute: 'off' } } },
      { serviceNames: ['a'], attributeKeys: { logs: ['x.*'] }, tenants: { t1: { serviceNames: 'any', attributeKeys: { logs: [] } } } },
    ),
    'default',
  );
  t.same(p.defaults.allowlists.serviceNames, ['a']);
  t.equal(p.tenants.t1!.allowlists.serviceNames, null);
  t.same(p.tenants.t1!.allowlists.attributeKeys.logs, [], 'an empty list allows nothing');
  t.equal(p.tenants.t1!.redaction.summaryAttribute, null);
});

t.test('the compiled policy is plain data: it survives structured cloning unchanged', async (t) => {
  const p = compileDir(t, REDACTION_YAML, ALLOWLISTS_YAML);
  const clone = structuredClone(p);
  t.same(clone, p);
  t.equal(canonicalJson(clone), canonicalJson(p));
  t.equal(JSON.stringify(JSON.parse(JSON.stringify(p))), JSON.stringify(p), 'and JSON');
});

t.test('the empty policy', async (t) => {
  const p = compilePolicy(EMPTY_FILES, 'default');
  t.same(p.defaults.redaction, { keyMode: 'open', blockedKeys: [], detectors: [], custom: [], summaryAttribute: null });
  t.same(p.tenants, {});
  t.equal(p.version, compilePolicy(files(null, null), 'default').version, 'empty files and no files are the same policy');
});

t.test('canonicalJson sorts keys at every depth', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [2, { z: 0, y: null }], c: 'x' } }), '{"a":{"c":"x","d":[2,{"y":null,"z":0}]},"b":1}');
  t.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
});
