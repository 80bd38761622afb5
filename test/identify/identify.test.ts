import t from 'tap';
import { createHash } from 'node:crypto';
import { createIdentifier, type ListenerFacts } from '../../src/identify/identify.js';
import { compileBindings, type TenantBindings } from '../../src/identify/tenants-file.js';
import type { TenantsFile } from '../../src/identify/tenants-schema.js';
import type { Protocol, RequestContext } from '../../src/receive/types.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

const file: TenantsFile = {
  defaults: {},
  tenants: {},
  identities: [
    { name: 'ci', kind: 'spiffe', match: 'spiffe://stella.local/ci', tenants: ['acme', 'globex'] },
    { name: 'legacy', kind: 'subject', match: 'CN=legacy,O=Acme', tenants: ['acme'] },
    { name: 'agent', kind: 'token', match: sha('tok-1'), tenants: ['globex', 'initech'] },
    // An explicit entry for a tenant SPIFFE ID widens what that certificate may use.
    { name: 'acme-wide', kind: 'spiffe', match: 'spiffe://stella.local/tenant/acme-ops', tenants: ['acme', 'acme-ops'] },
  ],
};

function cert(san: string | undefined, subject: Record<string, string> = { CN: 'x' }, fingerprint = san ?? 'fp'): object {
  return { subjectaltname: san, subject, fingerprint256: `FP:${fingerprint}:${JSON.stringify(subject)}` };
}

function ctx(protocol: Protocol, headers: Record<string, string> = {}, peerCertificate?: object): RequestContext {
  return { protocol, headers, ...(peerCertificate ? { peerCertificate } : {}) };
}

const tlsListeners: Record<Protocol, ListenerFacts> = { grpc: { tls: true, host: '0.0.0.0' }, http: { tls: true, host: '0.0.0.0' } };

function make(bindings: TenantBindings, listeners: Partial<Record<Protocol, ListenerFacts>> = tlsListeners, anonymous?: 'auto' | 'never' | 'always') {
  return createIdentifier(
    { defaultTenant: 'default', ...(anonymous ? { tenancy: { trustDomain: 'stella.local', anonymous } } : {}) },
    { bindings: () => bindings, listeners },
  );
}

t.test('a SPIFFE tenant certificate is its tenant; X-Scope-OrgID may only name it', async (t) => {
  const id = make(compileBindings(file, 'v1'));
  const acme = cert('URI:spiffe://stella.local/tenant/acme');
  t.same(id.identify(ctx('http', {}, acme)), { status: 'ok', tenant: 'acme', identity: 'spiffe://stella.local/tenant/acme' });
  t.match(id.identify(ctx('grpc', { 'x-scope-orgid': 'acme' }, acme)), { status: 'ok', tenant: 'acme' });
  t.match(id.identify(ctx('grpc', { 'x-scope-orgid': 'globex' }, acme)), { status: 'rejected', code: 'PERMISSION_DENIED', message: /not bound to tenant "globex"/ });
  t.match(id.identify(ctx('http', {}, cert('DNS:a, URI:spiffe://other.domain/tenant/acme'))), { code: 'PERMISSION_DENIED' }, 'another trust domain is not a tenant');
  t.match(id.identify(ctx('http', {}, cert('URI:spiffe://stella.local/tenant/bad tenant'))), { code: 'PERMISSION_DENIED' }, 'an invalid tenant id is not a tenant');
  t.match(id.identify(ctx('http', {}, cert(undefined, { CN: 'nobody' }))), { code: 'PERMISSION_DENIED', message: /bound to no tenant/ });
  // A quoted SAN (node JSON-quotes values with a comma) cannot smuggle in a second entry.
  t.match(id.identify(ctx('http', {}, cert('URI:"spiffe://evil/x, URI:spiffe://stella.local/tenant/acme"'))), { code: 'PERMISSION_DENIED' });
});

t.test('explicit identities: SPIFFE ID, subject and bearer token, each with its tenants', async (t) => {
  const id = make(compileBindings(file, 'v1'));
  const ci = cert('URI:spiffe://stella.local/ci');
  t.match(id.identify(ctx('grpc', {}, ci)), { status: 'ok', tenant: 'acme', identity: 'ci' }, 'first bound tenant without the header');
  t.match(id.identify(ctx('grpc', { 'x-scope-orgid': 'globex' }, ci)), { status: 'ok', tenant: 'globex' });
  t.match(id.identify(ctx('grpc', { 'x-scope-orgid': 'initech' }, ci)), { code: 'PERMISSION_DENIED' });
  t.match(id.identify(ctx('http', {}, cert(undefined, { O: 'Acme', CN: 'legacy' }))), { status: 'ok', tenant: 'acme', identity: 'legacy' });
  t.match(id.identify(ctx('http', { 'x-scope-orgid': 'acme-ops' }, cert('URI:spiffe://stella.local/tenant/acme-ops'))), { status: 'ok', tenant: 'acme-ops', identity: 'acme-wide' });
  t.match(id.identify(ctx('http', { 'x-scope-orgid': 'acme' }, cert('URI:spiffe://stella.local/tenant/acme-ops'))), { status: 'ok', tenant: 'acme' }, 'the explicit entry wins over the implicit tenant');
  t.match(id.identify(ctx('http', { authorization: 'Bearer tok-1', 'x-scope-orgid': 'initech' })), { status: 'ok', tenant: 'initech', identity: 'agent' });
  t.match(id.identify(ctx('grpc', { authorization: 'bearer tok-1' })), { status: 'ok', tenant: 'globex' }, 'scheme is case-insensitive');
  t.match(id.identify(ctx('http', { authorization: 'Bearer tok-2' })), { status: 'rejected', code: 'UNAUTHENTICATED', message: 'unknown bearer token' });
  t.match(
    id.identify(ctx('http', { authorization: 'Bearer tok-2' }, cert('URI:spiffe://stella.local/tenant/acme'))),
    { code: 'UNAUTHENTICATED' },
    'a wrong token is refused even next to a good certificate',
  );
  t.match(id.identify(ctx('http', { authorization: 'Basic dXNlcjpwdw==' })), { code: 'UNAUTHENTICATED', message: /no identity/ }, 'other schemes are no identity');
});

t.test('no identity: anonymous only on plain loopback listeners (auto), per policy otherwise', async (t) => {
  const b = compileBindings(file, 'v1');
  const plainLoopback = make(b, { grpc: { tls: false, host: '127.0.0.1' }, http: { tls: false, host: '::1' } });
  t.same(plainLoopback.identify(ctx('grpc')), { status: 'ok', tenant: 'default', identity: 'anonymous' });
  t.match(plainLoopback.identify(ctx('http')), { status: 'ok', tenant: 'default' });
  t.match(plainLoopback.identify(ctx('http', { 'x-scope-orgid': 'acme' })), { code: 'PERMISSION_DENIED' }, 'anonymous cannot pick a tenant');
  t.match(plainLoopback.identify(ctx('http', { authorization: 'Bearer tok-1' })), { status: 'ok', tenant: 'globex' }, 'tokens still work');

  const publicPlain = make(b, { grpc: { tls: false, host: '0.0.0.0' }, http: { tls: true, host: '127.0.0.1' } });
  t.match(publicPlain.identify(ctx('grpc')), { status: 'rejected', code: 'UNAUTHENTICATED' }, 'plain but not loopback');
  t.match(publicPlain.identify(ctx('http')), { code: 'UNAUTHENTICATED' }, 'loopback but TLS');
  t.match(publicPlain.identify(ctx('grpc', { authorization: 'Bearer tok-1' })), { status: 'ok', tenant: 'globex' }, 'a plain listener accepts bearer tokens');

  t.match(make(b, { http: { tls: false, host: '127.0.0.1' } }, 'never').identify(ctx('http')), { code: 'UNAUTHENTICATED' });
  t.match(make(b, tlsListeners, 'always').identify(ctx('http')), { status: 'ok', tenant: 'default' });
  const anonTenant = createIdentifier({ defaultTenant: 'x', tenancy: { trustDomain: 'stella.local', anonymous: 'auto', anonymousTenant: 'local' } }, { listeners: { http: { tls: false, host: 'localhost' } } });
  t.match(anonTenant.identify(ctx('http')), { status: 'ok', tenant: 'local' });
});

t.test('a certificate is resolved once per bindings version; a reload takes effect', async (t) => {
  let bindings = compileBindings(file, 'v1');
  const id = createIdentifier({ defaultTenant: 'default' }, { bindings: () => bindings, listeners: tlsListeners });
  const ci = cert('URI:spiffe://stella.local/ci');
  t.match(id.identify(ctx('grpc', { 'x-scope-orgid': 'globex' }, ci)), { status: 'ok', tenant: 'globex' });
  bindings = compileBindings({ ...file, identities: [{ name: 'ci', kind: 'spiffe', match: 'spiffe://stella.local/ci', tenants: ['acme'] }] }, 'v2');
  t.match(id.identify(ctx('grpc', { 'x-scope-orgid': 'globex' }, ci)), { code: 'PERMISSION_DENIED' }, 'the cached answer of v1 is not reused');
  t.match(id.identify(ctx('grpc', {}, ci)), { status: 'ok', tenant: 'acme' });
});

t.test('a certificate with more than one SPIFFE ID is refused, never bound to its first', async (t) => {
  const id = make(compileBindings(file, 'v1'));
  const two = cert('URI:spiffe://stella.local/tenant/acme, URI:spiffe://stella.local/tenant/globex');
  const refused = id.identify(ctx('grpc', {}, two));
  t.match(refused, { status: 'rejected', code: 'AMBIGUOUS_IDENTITY', message: /names 2 SPIFFE IDs \("spiffe:\/\/stella\.local\/tenant\/acme", "spiffe:\/\/stella\.local\/tenant\/globex"\); an X\.509-SVID has exactly one/ });
  t.match(id.identify(ctx('grpc', {}, two)), { code: 'AMBIGUOUS_IDENTITY' }, 'also from the cache');
  // Even when the first one is explicitly bound, and whatever the scheme's case.
  t.match(id.identify(ctx('http', {}, cert('URI:spiffe://stella.local/ci, URI:SPIFFE://stella.local/tenant/globex'))), { code: 'AMBIGUOUS_IDENTITY' });
  t.match(id.identify(ctx('http', { 'x-scope-orgid': 'globex' }, two)), { code: 'AMBIGUOUS_IDENTITY' }, 'X-Scope-OrgID does not pick one');
  // One SPIFFE ID beside other URI SANs is one identity.
  t.match(id.identify(ctx('http', {}, cert('URI:https://acme.example/app, URI:spiffe://stella.local/tenant/acme'))), { status: 'ok', tenant: 'acme' });
});
