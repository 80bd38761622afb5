// POST /admin/v1/captures with the real bearer-token auth: operator role, tenant scope, a bundle that
// verifies, and the error answers.
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { createAdminAuth, sha256Hex } from '../../src/admin/auth.js';
import { registerCaptureRoutes } from '../../src/admin/captures-routes.js';
import { verifyBundle } from '../../src/tee/verify-bundle.js';
import { makeArchive, T0 } from './bundle-archive.js';

const archive = makeArchive();
const keyPath = join(archive.dataDir, 'keys', 'signing-key.pem');
const tokens = [
  { name: 'op-acme', sha256: sha256Hex('op-acme-token'), role: 'operator' as const, tenants: ['acme'] },
  { name: 'viewer', sha256: sha256Hex('viewer-token'), role: 'viewer' as const, tenants: '*' as const },
];

async function app() {
  const a = Fastify();
  registerCaptureRoutes(a, {
    authorize: createAdminAuth(tokens, { env: {} }).authorize,
    root: join(archive.dataDir, 'forensic'),
    capturesDir: join(archive.dataDir, 'captures'),
    signingKeyPath: keyPath,
    profile: 'forensic',
    auditFile: join(archive.dataDir, 'incidents', 'audit.log'),
  });
  await a.ready();
  return a;
}

const body = { tenant: 'acme', from: new Date(T0).toISOString(), to: new Date(T0 + 60_000).toISOString() };
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

t.test('capture through the admin API', async (t) => {
  const a = await app();
  t.teardown(() => a.close());
  const noKey = await a.inject({ method: 'POST', url: '/admin/v1/captures', headers: auth('op-acme-token'), payload: body });
  t.equal(noKey.statusCode, 503);
  t.match(noKey.json(), { code: 14, message: /no signing key/, details: [{ reason: 'CAPTURE_NO_SIGNING_KEY', domain: 'stella.admin' }] });
  mkdirSync(join(archive.dataDir, 'keys'), { recursive: true });
  writeFileSync(keyPath, archive.keys.privateKeyPem, { mode: 0o600 });

  const ok = await a.inject({ method: 'POST', url: '/admin/v1/captures', headers: auth('op-acme-token'), payload: body });
  t.equal(ok.statusCode, 201, ok.body);
  const res = ok.json() as { path: string; manifestSha256: string; chunks: number; records: Record<string, number> };
  t.equal(res.chunks, 3);
  const count = (signal: string) => archive.inWindow.filter((r) => r.signal === signal).length;
  t.same(res.records, { traces: count('traces'), metrics: count('metrics'), logs: count('logs') });
  const v = verifyBundle(readFileSync(res.path), archive.keys.publicKeyPem);
  t.ok(v.ok, 'the written bundle verifies');
  if (v.ok) {
    t.equal(v.manifestSha256, res.manifestSha256);
    t.equal(v.manifest.profile, 'forensic');
  }

  const logsOnly = await a.inject({ method: 'POST', url: '/admin/v1/captures', headers: auth('op-acme-token'), payload: { ...body, signals: ['logs'] } });
  t.equal(logsOnly.statusCode, 201);
  t.same((logsOnly.json() as { records: unknown }).records, { traces: 0, metrics: 0, logs: count('logs') });

  t.equal((await a.inject({ method: 'POST', url: '/admin/v1/captures', payload: body })).statusCode, 401, 'no token');
  t.equal((await a.inject({ method: 'POST', url: '/admin/v1/captures', headers: auth('viewer-token'), payload: body })).statusCode, 403, 'viewer role');
  t.equal((await a.inject({ method: 'POST', url: '/admin/v1/captures', headers: auth('op-acme-token'), payload: { ...body, tenant: 'globex' } })).statusCode, 403, 'other tenant');
  const bad = await a.inject({ method: 'POST', url: '/admin/v1/captures', headers: auth('op-acme-token'), payload: { ...body, from: 'yesterday' } });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { code: 3, message: /^from: expected an ISO 8601 time/, details: [{ reason: 'CAPTURE_INVALID_REQUEST' }] });
  const badSignal = await a.inject({ method: 'POST', url: '/admin/v1/captures', headers: auth('op-acme-token'), payload: { ...body, signals: ['profiles'] } });
  t.equal(badSignal.statusCode, 400);
});
