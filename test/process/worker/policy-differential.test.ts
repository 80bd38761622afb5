// The differential test of DESIGN.md decision 3, with policies: the fast path's wire rewrite
// (rewrite.ts) against the reference path's object rewrite (reference/apply-policy.ts) under the
// shipped default policies and custom ones (every action, custom patterns, summary attributes, key
// allowlists in both modes, metric and service allowlists, per-tenant overrides), with and without
// tenant stamping, on the shared fixtures (the PII corpus included), the repository's pii-places fixture
// (secrets in keys, schema URLs, trace states, bytes values, ...) and on generated requests whose
// strings (every string field), keys and bytes values are salted with secrets, negatives and sensitive names. Both must give the same
// decoded output, item counts, trace summaries and policy counts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import t, { type Test } from 'tap';
import type { CompiledPolicy } from '../../../src/policy/compile.js';
import { loadPolicy } from '../../../src/policy/load.js';
import { defaultPoliciesDir } from '../../../src/paths.js';
import { decodeForComparison, referenceProcess } from '../../../src/process/reference/reference.js';
import { otlpJsonToProtobuf } from '../../../src/process/wire/otlp-json.js';
import { requestType } from '../../../src/process/wire/otlp-schema.js';
import { compileRules } from '../../../src/process/worker/policy-rules.js';
import { processRequest } from '../../../src/process/worker/process-request.js';
import type { Signal } from '../../../src/signals.js';
import { otlpJsonFixtures, piiFixtures, piiPlacesFixtures } from '../../helpers/fixtures.js';
import { createRng, generateRequest, type Rng } from '../../helpers/generate-otlp.js';
import { policyFrom } from './policy-fixtures.js';

process.env.STELLA_HASH_KEY = 'differential-test-key';
const SEED = Number(process.env.OTLP_DIFF_SEED ?? 0x9011);
const GENERATED = 240;
const SIGNALS: Signal[] = ['traces', 'metrics', 'logs'];
type Obj = Record<string, unknown>;

const loaded = loadPolicy(defaultPoliciesDir, 'default');
if (!loaded.ok) throw new Error(loaded.errors.join('\n'));

const POLICIES: Record<string, CompiledPolicy> = {
  defaults: loaded.policy,
  actions: policyFrom(
    {
      keys: { blocked: { '*password*': { action: 'mask', keepPrefix: 2 }, '*cookie*': 'drop', 'http.request.header.*': 'mask' } },
      detectors: {
        email: 'hash',
        credit_card: { action: 'mask', keepSuffix: 4 },
        jwt: { action: 'truncate', maxLength: 10 },
        ipv4: 'drop',
        ipv6: 'hash',
        phone: 'drop',
        us_ssn: 'mask',
        iban: { action: 'mask', keepPrefix: 4, keepSuffix: 2 },
        password_by_key: 'mask',
        url_query_secret: 'hash',
        bearer_token: 'mask',
        aws_access_key_id: 'mask',
        private_key: 'drop',
      },
      custom: { 'order-ref': { regex: 'ORD-[0-9]{4,8}', action: 'hash' }, words: { regex: 'caf[eé]|launch', flags: 'i', action: 'mask' } },
      summaryAttribute: 'stella.redactions',
      tenants: { acme: { detectors: { ipv4: 'off', email: 'mask' }, summaryAttribute: 'off' } },
    },
    { tenants: { acme: { attributeKeys: { traces: ['service.*', 'http.*', 'db.*', 'user.*'] } } } },
  ),
  allowlists: policyFrom(
    { detectors: { email: 'mask', ipv4: 'mask' }, summaryAttribute: 'redacted' },
    {
      metricNames: ['http.*', 'checkout', 'x'],
      serviceNames: ['checkout', 'payments-*'],
      attributeKeys: { traces: ['service.*', 'http.*', 'user.id', 'tenant.id'], metrics: any(), logs: ['service.name', 'k8s.*', 'ключ'] },
    },
  ),
  keyAllowlistMode: policyFrom(
    { keys: { mode: 'allowlist', blocked: { 'user.*': 'drop' } }, detectors: { email: 'mask', phone: 'mask' } },
    { attributeKeys: { traces: ['service.name', 'user.id', 'http.method'], metrics: ['service.*'] } },
  ),
};

function any(): 'any' {
  return 'any';
}

/** Runs both paths and compares everything they report. */
function compare(t: Test, signal: Signal, bytes: Uint8Array, policyName: string, tenant: string, tenantAttribute: string | undefined, label: string, failures: { n: number }): boolean {
  const policy = POLICIES[policyName]!;
  const fail = (why: string): false => {
    if (failures.n++ < 5) t.fail(`${label} [${policyName}, tenant ${tenant}, stamp ${tenantAttribute}]: ${why}`);
    return false;
  };
  const task = { signal, encoding: 'protobuf' as const, body: bytes.slice(), tenant, ...(tenantAttribute ? { tenantAttribute } : {}) };
  const fast = processRequest(task, compileRules(policy));
  const ref = referenceProcess(signal, bytes, { policy: { rules: compileRules(policy).forTenant(tenant), tenant, tenantAttribute } });
  if (fast.status !== 'ok' || ref.status !== 'ok') return fail(`not accepted: fast ${fast.status === 'ok' ? 'ok' : fast.message}, ref ${ref.status === 'ok' ? 'ok' : ref.message}`);
  if (fast.items !== ref.items) return fail(`items ${fast.items} != ${ref.items}`);
  if (!isDeepStrictEqual(fast.traces, ref.traces)) return fail('trace summaries differ');
  if (!isDeepStrictEqual(fast.redactions, ref.redactions)) return fail(`redactions ${JSON.stringify(fast.redactions)} != ${JSON.stringify(ref.redactions)}`);
  if (!isDeepStrictEqual(fast.dropped, ref.dropped)) return fail(`dropped ${JSON.stringify(fast.dropped)} != ${JSON.stringify(ref.dropped)}`);
  if (fast.tenantOverwrites !== ref.tenantOverwrites) return fail(`overwrites ${fast.tenantOverwrites} != ${ref.tenantOverwrites}`);
  const a = decodeForComparison(signal, fast.body);
  const b = decodeForComparison(signal, ref.body);
  if (!isDeepStrictEqual(a, b)) {
    const sa = JSON.stringify(a);
    const sb = JSON.stringify(b);
    let i = 0;
    while (i < sa.length && sa[i] === sb[i]) i++;
    return fail(`decoded outputs differ at ${i}:\n fast …${sa.slice(Math.max(0, i - 300), i + 200)}\n ref  …${sb.slice(Math.max(0, i - 300), i + 200)}`);
  }
  return true;
}

const lines = (file: string): string[] =>
  readFileSync(join(piiFixtures, file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(l.indexOf('\t') + 1));
const SECRETS = lines('secrets.txt');
const NEGATIVES = lines('negatives.txt');
const SALT_KEYS = ['db.password', 'service.name', 'service.version', 'tenant.id', 'user.email', 'http.request.header.cookie', 'access_token', 'http.method', 'user.id', 'k8s.pod', ''];
const METRIC_NAMES = ['http.server.duration', 'checkout', 'rpc.calls', '', 'x'];
const SERVICES = ['checkout', 'payments-eu', 'inventory', ''];

/** Every string field of the OTLP data model besides keys and string values (issue 18 finding 6). */
const STRING_FIELDS = new Set(['name', 'message', 'version', 'schemaUrl', 'traceState', 'severityText', 'eventName', 'description', 'unit', 'type']);

const secretText = (rng: Rng): string => `${rng.pick(['', 'x ', 'Grüße '])}${rng.pick(SECRETS)}${rng.pick(['', ' ORD-12345', ' café'])}`;

/**
 * Salts a generated request's strings (every string field, keys and entity-ref key lists included)
 * with secrets and negatives, its keys with meaningful names or secrets, and its bytes values with
 * secrets as UTF-8 text or inside binary data (the Latin-1 reading).
 */
function salt(rng: Rng, o: unknown, parentKey = ''): void {
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) {
      // String lists (entity refs' key lists); other lists of strings hold 64-bit integers.
      if (typeof o[i] === 'string' && (parentKey === 'idKeys' || parentKey === 'descriptionKeys') && rng.chance(0.5)) o[i] = rng.chance(0.6) ? secretText(rng) : rng.pick(NEGATIVES);
      else salt(rng, o[i], parentKey);
    }
    return;
  }
  if (o === null || typeof o !== 'object' || o instanceof Uint8Array) return;
  const obj = o as Obj;
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v === 'string') {
      if (k === 'key' && rng.chance(0.5)) obj[k] = rng.chance(0.8) ? rng.pick(SALT_KEYS) : secretText(rng);
      else if (k === 'name' && parentKey === 'metrics' && rng.chance(0.7)) obj[k] = rng.pick(METRIC_NAMES);
      else if ((k === 'stringValue' || STRING_FIELDS.has(k)) && rng.chance(0.5)) obj[k] = rng.chance(0.6) ? secretText(rng) : rng.pick(NEGATIVES);
    } else if (k === 'bytesValue' && v instanceof Uint8Array && rng.chance(0.6)) {
      const secret = Buffer.from(secretText(rng), 'utf8');
      // Binary around it (0xff is never UTF-8), or the text alone.
      obj[k] = rng.chance(0.5) ? Buffer.concat([Buffer.from([0xff, 0x00, 0x81]), Buffer.from(rng.pick(SECRETS), 'latin1'), Buffer.from([0xc3])]) : secret;
    } else salt(rng, v, k);
  }
  // Resources: sometimes a service.name the allowlists refuse or allow.
  if (Array.isArray(obj.attributes) && parentKey === 'resource' && rng.chance(0.5)) {
    (obj.attributes as Obj[]).push({ key: 'service.name', value: { stringValue: rng.pick(SERVICES) } });
  }
}

function fixtureFiles(): { file: string; signal: Signal; bytes: Uint8Array }[] {
  const out: { file: string; signal: Signal; bytes: Uint8Array }[] = [];
  for (const dir of [otlpJsonFixtures, piiFixtures, piiPlacesFixtures]) {
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
      const json = readFileSync(join(dir, name));
      const top = Object.keys(JSON.parse(json.toString('utf8')) as object);
      const signal: Signal = top.includes('resourceSpans') ? 'traces' : top.includes('resourceMetrics') ? 'metrics' : 'logs';
      const converted = otlpJsonToProtobuf(signal, json);
      if (!converted.ok) throw new Error(`${name}: ${converted.message}`);
      out.push({ file: name, signal, bytes: converted.bytes });
    }
  }
  return out;
}

t.test('shared fixtures: both paths agree under every policy, with and without stamping', async (t) => {
  const failures = { n: 0 };
  let redacted = 0;
  for (const { file, signal, bytes } of fixtureFiles()) {
    for (const policyName of Object.keys(POLICIES)) {
      for (const [tenant, stamp] of [['default', undefined], ['acme', 'tenant.id']] as const) {
        compare(t, signal, bytes, policyName, tenant, stamp, file, failures);
      }
    }
    const r = processRequest({ signal, encoding: 'protobuf', body: bytes.slice(), tenant: 'default' }, compileRules(POLICIES.defaults!));
    if (r.status === 'ok') redacted += Object.values(r.redactions ?? {}).reduce((a, b) => a + b, 0);
  }
  t.equal(failures.n, 0, 'no disagreement');
  t.ok(redacted > 300, `the default policy redacts the PII corpus (${redacted} redactions; overlapping secrets are one finding)`);
});

t.test(`${GENERATED} generated, salted requests (seed ${SEED})`, async (t) => {
  const rng = createRng(SEED);
  const failures = { n: 0 };
  const names = Object.keys(POLICIES);
  const seen = { redactions: 0, dropped: 0, overwrites: 0 };
  for (let i = 0; i < GENERATED; i++) {
    const signal = SIGNALS[i % 3]!;
    const g = generateRequest(signal, rng);
    salt(rng, g.object);
    const type = requestType(signal);
    const bytes = type.encode(type.fromObject(g.object)).finish();
    const policyName = names[i % names.length]!;
    const tenant = rng.pick(['default', 'acme']);
    const stamp = rng.chance(0.5) ? 'tenant.id' : undefined;
    if (compare(t, signal, bytes, policyName, tenant, stamp, `generated #${i} (${signal})`, failures)) {
      const r = processRequest({ signal, encoding: 'protobuf', body: bytes.slice(), tenant, ...(stamp ? { tenantAttribute: stamp } : {}) }, compileRules(POLICIES[policyName]!));
      if (r.status === 'ok') {
        seen.redactions += Object.values(r.redactions ?? {}).reduce((a, b) => a + b, 0);
        seen.dropped += Object.values(r.dropped ?? {}).reduce((a, b) => a + b, 0);
        seen.overwrites += r.tenantOverwrites ?? 0;
      }
    }
  }
  t.equal(failures.n, 0, 'no disagreement');
  t.ok(seen.redactions > 100, `redactions exercised (${seen.redactions})`);
  t.ok(seen.dropped > 20, `drops exercised (${seen.dropped})`);
  t.ok(seen.overwrites > 5, `stamp overwrites exercised (${seen.overwrites})`);
});
