// The active tenant bindings of a running gateway, hot-reloaded like the other policy files
// (src/policy/policy-store.ts): a change of tenants.yaml (fs.watch on its directory, debounced:
// editors write in steps, Kubernetes swaps a symlink) or a SIGHUP runs load ─▶ validate ─▶ compile ─▶
// swap. The swap is one assignment, so identify() sees the old or the new table, never a mix. A bad
// edit is rejected: the last good version keeps serving, the errors are logged and
// tenancy_reload_failures_total counts it; tenancy_bindings_info{version} shows the active version.
import { dirname } from 'node:path';
import { UNLIMITED_QUOTA, type QuotaSpec } from '../config/sections/tenancy.js';
import type { PolicyLimits } from '../config/sections/policy.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { createHotReload, type ReloadAudit, type ReloadOutcome } from '../policy/hot-reload.js';
import { emptyBindings, loadTenantsFile, type TenantBindings } from './tenants-file.js';

export type TenantsReload = ReloadOutcome;

export interface TenantStoreOptions {
  logger: Logger;
  /** Version changes and refused loads, for the audit log. */
  audit?: ReloadAudit;
  metrics?: Pick<GatewayMetrics, 'tenancyReloadFailures' | 'policyFileRejections' | 'tenancyBindingsInfo'>;
  /** Quota of tenants the file does not limit. */
  defaultQuota?: QuotaSpec;
  /** Quiet time after the last file event before reloading; 200 ms by default. */
  debounceMs?: number;
  /** Bounds on the file (config `policy`). */
  limits?: PolicyLimits;
  /** Trusted public keys (PEM, config `trust.keys`): an unsigned or tampered file is refused (reason `signature`). */
  trustKeys?: readonly string[];
}

export interface TenantStore {
  /** The active bindings (before start(): the empty table). */
  current(): TenantBindings;
  /** Loads the file (throws, listing every error, if it is invalid: fail fast at start-up), then watches. */
  start(): void;
  stop(): void;
  /** Loads the file now; swaps on success. */
  reload(): Promise<TenantsReload>;
}

export function createTenantStore(file: string, options: TenantStoreOptions): TenantStore {
  const { metrics } = options;
  const defaultQuota = options.defaultQuota ?? UNLIMITED_QUOTA;
  let fallback: TenantBindings | undefined;
  // Missing at start-up: the defaults, while it stays missing; missing after a good load of it: refused.
  let present = false;
  const store = createHotReload<TenantBindings>({
    what: 'tenants file',
    dir: dirname(file),
    source: file,
    logger: options.logger,
    ...(options.audit ? { audit: options.audit } : {}),
    failures: metrics?.tenancyReloadFailures,
    rejections: metrics?.policyFileRejections,
    versionInfo: metrics?.tenancyBindingsInfo,
    ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
    load(ctx) {
      const r = loadTenantsFile(file, defaultQuota, { missing: !ctx.initial && present ? 'refuse' : 'defaults', ...(options.limits ? { limits: options.limits } : {}), ...(options.trustKeys?.length ? { trustKeys: options.trustKeys } : {}) });
      if (!r.ok) return r;
      present = r.present;
      return { ok: true, value: r.bindings, version: r.bindings.version, logFields: { file, identities: r.bindings.identityCount, present: r.present } };
    },
  });
  return {
    current() {
      const active = store.active();
      if (active) return active;
      fallback ??= emptyBindings(defaultQuota);
      return fallback;
    },
    start: store.start,
    stop: store.stop,
    reload: store.reload,
  };
}
