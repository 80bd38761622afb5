// Binds a request to exactly one tenant its identity may use (DESIGN.md, decision 4).
//
// The identity, in this order:
// 1. a bearer token (`Authorization: Bearer …`): its SHA-256 must be listed in tenants.yaml, else
//    UNAUTHENTICATED (an explicit but wrong credential is never ignored);
// 2. a client certificate the TLS handshake verified against the client CA (the receivers hand over
//    nothing else): an explicit `spiffeId` entry for one of its URI SANs, else an explicit `subject`
//    entry, else a URI SAN spiffe://<trustDomain>/tenant/<id>, which is tenant <id> with no further
//    configuration. A verified certificate that matches none is bound to no tenant: PERMISSION_DENIED;
//    one with more than one spiffe:// URI SAN is refused (AMBIGUOUS_IDENTITY), whatever is bound: an
//    X.509-SVID carries exactly one SPIFFE ID (https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md#2-spiffe-id),
//    and binding such a certificate to its first one would let SAN order pick the tenant;
// 3. nothing: the anonymous tenant where tenancy.anonymous allows it (by default only on plain
//    listeners bound to loopback), else UNAUTHENTICATED.
// Then the tenant: `X-Scope-OrgID` (gRPC metadata `x-scope-orgid`) picks one of the identity's tenants;
// a tenant the identity is not bound to is PERMISSION_DENIED; without the header the first bound
// tenant is used.
//
// identify() is synchronous and cheap: certificates are resolved once per fingerprint (bounded LRU,
// dropped when the bindings change) and tokens are one SHA-256 and a map lookup.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { DEFAULT_TENANCY, type TenancyConfig } from '../config/sections/tenancy.js';
import { rejected, type Refusal } from '../errors.js';
import type { Protocol, RequestContext } from '../receive/types.js';
import { asPeerCertificate, canonicalSubject, spiffeTenant, uriSans, type PeerCertificateLike } from './peer-identity.js';
import { boundIdentity, emptyBindings, type BoundIdentity, type TenantBindings } from './tenants-file.js';
import { TENANT_RE } from '../tenant-id.js';

export type IdentifyOutcome = { status: 'ok'; tenant: string; identity?: string } | Refusal;

export interface Identifier {
  identify(ctx: RequestContext): IdentifyOutcome;
  /** Whether requests with no credentials are served on this protocol's listener (tenancy.anonymous). */
  acceptsAnonymous(protocol: Protocol): boolean;
}

/** What the identifier needs to know about the listener a request came in on. */
export interface ListenerFacts {
  tls: boolean;
  host: string;
}

export interface IdentifierConfig {
  /** The tenant of anonymous requests when tenancy.anonymousTenant is unset. */
  defaultTenant: string;
  tenancy?: Pick<TenancyConfig, 'trustDomain' | 'anonymous' | 'anonymousTenant'>;
}

export interface IdentifierDeps {
  /** The active bindings (a TenantStore's current); default: no explicit identities. */
  bindings?: () => TenantBindings;
  /** Per protocol, the listener's TLS and bind address; a protocol not listed counts as TLS, non-loopback. */
  listeners?: Partial<Record<Protocol, ListenerFacts>>;
  /** Certificates resolved and remembered (default 10 000). */
  cacheSize?: number;
}

/** The header an identity bound to several tenants names one with (Grafana Mimir/Loki/Tempo's). */
export const TENANT_SELECT_HEADER = 'x-scope-orgid';

/** URI schemes compare case-insensitively (RFC 3986 §3.1). */
function isSpiffeId(uri: string): boolean {
  return uri.slice(0, 9).toLowerCase() === 'spiffe://';
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

const NOT_BOUND = Symbol('not bound');
const AMBIGUOUS = Symbol('ambiguous');

export function createIdentifier(config: IdentifierConfig, deps: IdentifierDeps = {}): Identifier {
  const tenancy = { ...DEFAULT_TENANCY, ...config.tenancy };
  const anonymous = boundIdentity('anonymous', [tenancy.anonymousTenant ?? config.defaultTenant]);
  const empty = emptyBindings();
  const bindingsOf = deps.bindings ?? (() => empty);
  const cacheSize = deps.cacheSize ?? 10_000;

  const anonymousAllowed: Record<Protocol, boolean> = { grpc: false, http: false };
  for (const protocol of ['grpc', 'http'] as const) {
    const facts = deps.listeners?.[protocol];
    anonymousAllowed[protocol] =
      tenancy.anonymous === 'always' || (tenancy.anonymous === 'auto' && facts !== undefined && !facts.tls && isLoopbackHost(facts.host));
  }

  let cacheFor: TenantBindings | undefined;
  let certCache = new LRUCache<string, BoundIdentity | typeof NOT_BOUND | typeof AMBIGUOUS>({ max: cacheSize });

  function certIdentity(bindings: TenantBindings, cert: PeerCertificateLike): BoundIdentity | typeof AMBIGUOUS | undefined {
    const key = cert.fingerprint256;
    if (key !== undefined) {
      if (cacheFor !== bindings) {
        cacheFor = bindings;
        certCache = new LRUCache({ max: cacheSize });
      }
      const hit = certCache.get(key);
      if (hit !== undefined) return hit === NOT_BOUND ? undefined : hit;
    }
    const found = resolveCert(bindings, cert);
    if (key !== undefined) certCache.set(key, found ?? NOT_BOUND);
    return found;
  }

  function resolveCert(bindings: TenantBindings, cert: PeerCertificateLike): BoundIdentity | typeof AMBIGUOUS | undefined {
    const uris = uriSans(cert.subjectaltname);
    if (uris.filter(isSpiffeId).length > 1) return AMBIGUOUS;
    for (const uri of uris) {
      const explicit = bindings.bySpiffe.get(uri);
      if (explicit) return explicit;
    }
    if (cert.subject && bindings.bySubject.size > 0) {
      const subject = canonicalSubject(cert.subject);
      const explicit = subject === undefined ? undefined : bindings.bySubject.get(subject);
      if (explicit) return explicit;
    }
    for (const uri of uris) {
      const tenant = spiffeTenant(uri, tenancy.trustDomain, TENANT_RE);
      if (tenant !== undefined) return boundIdentity(uri, [tenant]);
    }
    return undefined;
  }

  function identify(ctx: RequestContext): IdentifyOutcome {
    const bindings = bindingsOf();
    let identity: BoundIdentity | undefined;
    const authorization = ctx.headers.authorization;
    const token = authorization === undefined ? undefined : bearerToken(authorization);
    if (token !== undefined) {
      identity = bindings.byToken.get(createHash('sha256').update(token).digest('hex'));
      if (!identity) return rejected('UNAUTHENTICATED', 'unknown bearer token');
    } else {
      const cert = asPeerCertificate(ctx.peerCertificate);
      if (cert) {
        const found = certIdentity(bindings, cert);
        if (found === AMBIGUOUS) {
          const ids = uriSans(cert.subjectaltname).filter(isSpiffeId);
          return rejected('AMBIGUOUS_IDENTITY', `the client certificate names ${ids.length} SPIFFE IDs (${ids.slice(0, 4).map((u) => JSON.stringify(u.slice(0, 200))).join(', ')}); an X.509-SVID has exactly one`);
        }
        if (!found) return rejected('PERMISSION_DENIED', 'the client certificate is bound to no tenant');
        identity = found;
      } else if (anonymousAllowed[ctx.protocol]) {
        identity = anonymous;
      } else {
        return rejected('UNAUTHENTICATED', 'no identity: send a client certificate (mTLS) or a bearer token');
      }
    }
    const wanted = ctx.headers[TENANT_SELECT_HEADER]?.trim();
    if (wanted === undefined || wanted === '') return { status: 'ok', tenant: identity.tenants[0]!, identity: identity.name };
    if (identity.tenantSet.has(wanted)) return { status: 'ok', tenant: wanted, identity: identity.name };
    return rejected('PERMISSION_DENIED', `identity "${identity.name}" is not bound to tenant ${JSON.stringify(wanted.slice(0, 128))}`);
  }

  return { identify, acceptsAnonymous: (protocol) => anonymousAllowed[protocol] };
}

/** The token of `Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1); other schemes are not ours. */
function bearerToken(authorization: string): string | undefined {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(authorization);
  return m ? m[1] : undefined;
}
