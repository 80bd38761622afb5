// The policies shipped in policies/: they validate, turn every built-in detector category on, and
// their blocked key patterns cover the sensitive names of the PII corpus README without touching the
// keys that hold its negatives (look-alikes that must survive).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { defaultPoliciesDir } from '../../src/paths.js';
import { CATEGORIES, isSensitiveKey } from '../../src/policy/detect/index.js';
import { globMatcher } from '../../src/policy/glob.js';
import { loadPolicy } from '../../src/policy/load.js';
import { piiFixtures } from '../helpers/fixtures.js';

const loaded = loadPolicy(defaultPoliciesDir, 'default');

t.test('the shipped policies validate, for every gateway profile', async (t) => {
  t.equal(loaded.ok, true, loaded.ok ? '' : loaded.errors.join('\n'));
  t.same(loaded.ok && loaded.present, ['redaction.yaml', 'allowlists.yaml'], 'both files are shipped');
  for (const profile of ['default', 'forensic', 'airgap']) t.equal(loadPolicy(defaultPoliciesDir, profile).ok, true, profile);
});

t.test('every built-in detector category is on', async (t) => {
  if (!loaded.ok) return t.fail('invalid');
  const on = loaded.policy.defaults.redaction.detectors.map((d) => d.category).sort();
  t.same(on, [...CATEGORIES].sort());
  t.notOk(loaded.policy.defaults.redaction.detectors.some((d) => d.action.type === 'hash'), 'no action needs a key the operator has not set');
});

t.test('nothing is filtered by default', async (t) => {
  if (!loaded.ok) return t.fail('invalid');
  t.same(loaded.policy.defaults.allowlists, { metricNames: null, attributeKeys: { traces: null, metrics: null, logs: null }, serviceNames: null });
  t.equal(loaded.policy.defaults.redaction.keyMode, 'open');
});

/** Every (key, string value) pair at any depth of an OTLP/JSON document: attributes and kvlist entries. */
function keyedStrings(node: unknown, out: Array<[string, string]> = []): Array<[string, string]> {
  if (Array.isArray(node)) for (const n of node) keyedStrings(n, out);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    const v = o.value as { stringValue?: unknown } | undefined;
    if (typeof o.key === 'string' && v && typeof v.stringValue === 'string') out.push([o.key, v.stringValue]);
    for (const child of Object.values(o)) keyedStrings(child, out);
  }
  return out;
}

const list = (f: string) =>
  readFileSync(join(piiFixtures, f), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(l.indexOf('\t') + 1));

t.test('blocked key patterns: the sensitive names of the corpus, none of its negatives', async (t) => {
  if (!loaded.ok) return t.fail('invalid');
  const blocked = globMatcher(loaded.policy.defaults.redaction.blockedKeys.map((k) => k.pattern), { ignoreCase: true });
  for (const key of ['db.password', 'DB_PASSWD', 'user.pwd', 'client_secret', 'http.request.header.authorization', 'http.request.header.cookie', 'http.request.header.x-api-key', 'apiKey', 'AWS_SECRET_ACCESS_KEY', 'Set-Cookie']) {
    t.ok(blocked(key), `blocks ${key}`);
  }
  for (const key of ['feature_flag.key', 'messaging.kafka.message.key', 'gen_ai.usage.input_tokens', 'trace_id', 'service.version', 'classname']) {
    t.notOk(blocked(key), `keeps ${key}`);
  }
  const pairs = ['traces.json', 'logs.json', 'metrics.json'].flatMap((f) => keyedStrings(JSON.parse(readFileSync(join(piiFixtures, f), 'utf8'))));
  t.ok(pairs.length > 300, `the corpus has keyed strings (${pairs.length})`);
  const negatives = new Set(list('negatives.txt'));
  const negativeKeys = new Set(pairs.filter(([, v]) => negatives.has(v)).map(([k]) => k));
  t.ok(negativeKeys.size > 10, `negatives sit under keys (${negativeKeys.size})`);
  for (const k of negativeKeys) t.notOk(blocked(k), `a negative's key is not blocked: ${k}`);
  // Each key the built-in sensitive-name rule marks is blocked by a pattern or left to the enabled
  // password_by_key detector (token and ssn names, which globs cannot tell from token counts).
  const sensitive = [...new Set(pairs.map(([k]) => k).filter((k) => isSensitiveKey(k)))];
  t.ok(sensitive.length > 10, `the corpus uses sensitive keys (${sensitive.length})`);
  const byDetector = sensitive.filter((k) => !blocked(k));
  for (const k of byDetector) t.match(k.toLowerCase(), /token|ssn/, `not blocked by a pattern, covered by password_by_key: ${k}`);
});
