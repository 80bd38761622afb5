// Every hot-reloaded policy file is covered by trust.keys: the policies (compiled in a worker thread),
// tenants.yaml and sampling.yaml. Signed files load; a tampered one is refused at reload with reason
// `signature` (counted per file) and the last good version stays; an unsigned directory cannot start;
// a file the signed manifest lists cannot be deleted to let a default take over.
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTenantStore } from '../../src/identify/tenant-store.js';
import { packageRoot } from '../../src/paths.js';
import { createPolicyStore } from '../../src/policy/policy-store.js';
import { createSamplingPolicyStore } from '../../src/sample/policy-store.js';
import { generateSigningKeyPair } from '../../src/tee/sign.js';
import type { Logger } from '../../src/telemetry/logger-types.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';
import { DIR_MANIFEST_BUNDLE, signDirectory } from '../../src/trust/signed-files.js';

const key = generateSigningKeyPair();
const logger: Logger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

async function signedPolicies(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'stella-trusted-policies-'));
  cpSync(join(packageRoot, 'policies'), dir, { recursive: true, filter: (s) => !s.endsWith('README.md') });
  await signDirectory(dir, key.privateKeyPem);
  return dir;
}

async function signatureRejections(metrics: GatewayMetrics, file: string): Promise<number> {
  return (await metrics.policyFileRejections.get()).values.find((v) => v.labels.file === file && v.labels.reason === 'signature')?.value ?? 0;
}

/** Appends a comment: still a valid, complete file, but not the signed bytes. */
function tamper(file: string): void {
  writeFileSync(file, `# edited after signing\n${readFileSync(file, 'utf8')}`);
}

const trustKeys = [key.publicKeyPem];

t.test('policies (worker thread), tenants and sampling: tampered files refused at reload, last good kept', async (t) => {
  const dir = await signedPolicies();
  const metrics = createMetrics({ defaultMetrics: false });
  const policies = createPolicyStore(dir, { profile: 'default', logger, metrics, trustKeys });
  const tenants = createTenantStore(join(dir, 'tenants.yaml'), { logger, metrics, trustKeys });
  const sampling = createSamplingPolicyStore(join(dir, 'sampling.yaml'), { profile: 'default', logger, metrics, trustKeys });
  for (const s of [policies, tenants, sampling]) {
    s.start();
    t.teardown(() => s.stop());
  }
  const before = { p: policies.current().version, s: sampling.current().version };

  for (const [name, store] of [['allowlists.yaml', policies], ['tenants.yaml', tenants], ['sampling.yaml', sampling]] as const) {
    const file = join(dir, name);
    const good = readFileSync(file);
    tamper(file);
    const r = await store.reload();
    t.equal(r.status, 'rejected', `${name}: refused`);
    t.match(r.status === 'rejected' ? r.errors.join('\n') : '', new RegExp(`^${file}: tampered: .*signed manifest`, 'm'), `${name}: named, with the reason`);
    t.equal(await signatureRejections(metrics, name), 1, `${name}: counted as reason signature`);
    writeFileSync(file, good);
    t.equal((await store.reload()).status, 'ok', `${name}: the signed bytes load again`);
  }
  t.equal(policies.current().version, before.p);
  t.equal(sampling.current().version, before.s);
});

t.test('start-up: an unsigned directory, or a signed file deleted, stops the start', async (t) => {
  const dir = await signedPolicies();
  unlinkSync(join(dir, DIR_MANIFEST_BUNDLE));
  const unsigned = createPolicyStore(dir, { profile: 'default', logger, trustKeys, worker: false });
  t.throws(() => unsigned.start(), new RegExp(`${join(dir, 'redaction.yaml')}: .*cannot read its signature`));

  const dir2 = await signedPolicies();
  unlinkSync(join(dir2, 'tenants.yaml'));
  const tenants = createTenantStore(join(dir2, 'tenants.yaml'), { logger, trustKeys });
  t.throws(() => tenants.start(), new RegExp(`${join(dir2, 'tenants.yaml')}: missing, but listed in the signed manifest`));
  // Without trust keys the same directory starts (the file's absence is the documented default).
  const open = createTenantStore(join(dir2, 'tenants.yaml'), { logger });
  open.start();
  open.stop();
  t.pass('without trust keys a missing tenants.yaml is the empty default');
});
