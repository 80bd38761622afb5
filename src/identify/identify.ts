// Binds a request to a tenant. This stage only knows the configured default tenant today: the
// shipped config listens on loopback without TLS, and every request there is the `default` tenant.
// The tenancy stage (mTLS identities, bearer tokens, X-Scope-OrgID) replaces the body of `identify`
// without changing its signature.
import type { Refusal } from '../errors.js';
import type { RequestContext } from '../receive/types.js';

export type IdentifyOutcome = { status: 'ok'; tenant: string } | Refusal;

export interface Identifier {
  identify(ctx: RequestContext): IdentifyOutcome;
}

export function createIdentifier(config: { defaultTenant: string }): Identifier {
  const ok: IdentifyOutcome = { status: 'ok', tenant: config.defaultTenant };
  return { identify: () => ok };
}
