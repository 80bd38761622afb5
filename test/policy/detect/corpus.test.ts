// The PII corpus (../shared/fixtures/pii, see its README): every string value of the three requests,
// with its attribute/kvlist key as context, redacted with a mask. No listed secret may survive; every
// listed negative must survive unchanged; the prefilter must pass every string a detector changes.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { piiFixtures } from '../../helpers/fixtures.js';
import { findSecrets, isSensitiveKey, mayContainSecret, redactValue } from '../../../src/policy/detect/index.js';

type Listed = [category: string, value: string];
const list = (file: string): Listed[] =>
  readFileSync(join(piiFixtures, file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l): Listed => [l.slice(0, l.indexOf('\t')), l.slice(l.indexOf('\t') + 1)]);

interface Str {
  value: string;
  key: string | undefined; // the innermost attribute/kvlist key above the string, if any
  field: string; // the JSON field holding the string (stringValue, name, message, traceId, …)
}

function collect(node: unknown, key: string | undefined, field: string, out: Str[]): void {
  if (typeof node === 'string') {
    out.push({ value: node, key, field });
  } else if (Array.isArray(node)) {
    for (const x of node) collect(x, key, field, out);
  } else if (node !== null && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (typeof o.key === 'string' && 'value' in o) {
      // A KeyValue (attribute or kvlist entry): its key is the context of the values below it, down
      // to the next KeyValue (arrays keep it: `rpc.request.metadata > authorization: [..]`).
      collect(o.value, o.key, field, out);
      return;
    }
    for (const [k, v] of Object.entries(o)) collect(v, key, k, out);
  }
}

const strings: Str[] = [];
for (const file of ['traces.json', 'logs.json', 'metrics.json']) {
  collect(JSON.parse(readFileSync(join(piiFixtures, file), 'utf8')), undefined, '', strings);
}
const secrets = list('secrets.txt');
const negatives = list('negatives.txt');
const redacted = strings.map((s) => redactValue(s.value, s.key, () => '[REDACTED]').value);

t.test('the corpus is what the README describes', async (t) => {
  t.equal(secrets.length, 403);
  t.equal(negatives.length, 216);
  t.ok(strings.length > 2000, `${strings.length} strings`);
});

t.test('no secret survives, per category', async (t) => {
  const perCategory = new Map<string, [caught: number, total: number]>();
  const joined = redacted.join('\n');
  for (const [category, value] of secrets) {
    const entry = perCategory.get(category) ?? [0, 0];
    entry[1]++;
    if (joined.includes(value)) t.fail(`${category} leaked: ${value}`);
    else entry[0]++;
    perCategory.set(category, entry);
  }
  for (const [category, [caught, total]] of perCategory) {
    t.equal(caught, total, `${category}: ${caught}/${total} redacted`);
  }
  t.comment(`redacted per category: ${[...perCategory].map(([c, [k, n]]) => `${c} ${k}/${n}`).join(', ')}`);
  t.equal(perCategory.size, 16, 'all 16 categories are planted');
});

t.test('value detectors alone name most secrets by their category', async (t) => {
  // Without key context (the whole-value rule aside), which category does the finding covering each
  // secret get? Reported for information; the leak test above is the contract.
  const named = new Map<string, [right: number, total: number]>();
  for (const [category, value] of secrets) {
    const s = strings.find((x) => x.value.includes(value))!;
    const at = s.value.indexOf(value);
    const f = findSecrets(s.value).find((x) => x.start <= at && x.end >= at + value.length);
    const entry = named.get(category) ?? [0, 0];
    entry[1]++;
    if (f?.category === category) entry[0]++;
    named.set(category, entry);
  }
  const report = [...named].map(([c, [r, n]]) => `${c} ${r}/${n}`).join(', ');
  t.comment(`named by a value detector without key context: ${report}`);
  for (const c of ['email', 'credit_card', 'jwt', 'aws_access_key_id', 'github_token', 'slack_token', 'private_key', 'ipv4', 'ipv6', 'us_ssn', 'phone', 'iban', 'url_query_secret']) {
    const [r, n] = named.get(c)!;
    t.equal(r, n, `${c}: every one found by its own detector`);
  }
});

t.test('every negative survives unchanged', async (t) => {
  for (const [category, value] of negatives) {
    if (!redacted.some((r) => r.includes(value))) t.fail(`${category} changed: ${value}`);
  }
  t.pass(`${negatives.length} negatives checked`);
  // Ids are carried as strings in OTLP/JSON: none may change.
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i]!;
    if (['traceId', 'spanId', 'parentSpanId', 'traceState', 'schemaUrl'].includes(s.field) && redacted[i] !== s.value) t.fail(`${s.field} changed: ${s.value}`);
  }
});

t.test('the prefilter passes every string a detector changes, and few others', async (t) => {
  let changedByValue = 0;
  let passed = 0;
  let values = 0;
  let clean = 0;
  let cleanPassed = 0;
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i]!;
    const bytes = Buffer.from(s.value, 'utf8');
    const pass = mayContainSecret(bytes, 0, bytes.length);
    if (s.field === 'stringValue' || s.field === 'name' || s.field === 'message') {
      values++;
      if (pass) passed++;
      if (!secrets.some(([, v]) => s.value.includes(v))) {
        clean++;
        if (pass) cleanPassed++;
      }
    }
    const keyed = s.key !== undefined && isSensitiveKey(s.key);
    if (keyed) continue; // the whole-value rule needs no prefilter: the walker checks the key first
    if (redacted[i] !== s.value) {
      changedByValue++;
      if (!pass) t.fail(`prefilter missed ${JSON.stringify(s.value)}`);
    }
  }
  t.ok(changedByValue > 250, `${changedByValue} strings changed by value detectors, all passed the prefilter`);
  const pct = (a: number, b: number): string => `${((100 * a) / b).toFixed(1)}%`;
  t.comment(`prefilter pass rate: ${passed}/${values} string values (${pct(passed, values)}); ${cleanPassed}/${clean} secret-free ones (${pct(cleanPassed, clean)})`);
  t.ok(cleanPassed / clean < 0.3, 'most secret-free corpus strings are stopped by the prefilter');
});
