// The active tenant bindings of a running gateway, hot-reloaded like the other policy files
// (src/policy/policy-store.ts): a change of tenants.yaml (fs.watch on its directory, debounced:
// editors write in steps, Kubernetes swaps a symlink) or a SIGHUP runs load ─▶ validate ─▶ compile ─▶
// swap. The swap is one assignment, so identify() sees the old or the new table, never a mix. A bad
// edit is rejected: the last good version keeps serving, the errors are logged and
// tenancy_reload_failures_total counts it; tenancy_bindings_info{version} shows the active version.
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { UNLIMITED_QUOTA, type QuotaSpec } from '../config/sections/tenancy.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { emptyBindings, loadTenantsFile, type TenantBindings } from './tenants-file.js';

export type TenantsReload =
  | { status: 'ok'; version: string; changed: boolean }
  | { status: 'rejected'; errors: string[]; version?: string };

export interface TenantStoreOptions {
  logger: Logger;
  metrics?: Pick<GatewayMetrics, 'tenancyReloadFailures' | 'tenancyBindingsInfo'>;
  /** Quota of tenants the file does not limit. */
  defaultQuota?: QuotaSpec;
  /** Quiet time after the last file event before reloading; 200 ms by default. */
  debounceMs?: number;
}

export interface TenantStore {
  /** The active bindings (before start(): the empty table). */
  current(): TenantBindings;
  /** Loads the file (throws, listing every error, if it is invalid: fail fast at start-up), then watches. */
  start(): void;
  stop(): void;
  /** Loads the file now; swaps on success. */
  reload(): TenantsReload;
}

export function createTenantStore(file: string, options: TenantStoreOptions): TenantStore {
  const { logger, metrics } = options;
  const defaultQuota = options.defaultQuota ?? UNLIMITED_QUOTA;
  const debounceMs = options.debounceMs ?? 200;
  let active: TenantBindings | undefined;
  let fallback: TenantBindings | undefined;
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  function reload(): TenantsReload {
    const result = loadTenantsFile(file, defaultQuota);
    if (!result.ok) {
      metrics?.tenancyReloadFailures.inc();
      logger.error(
        { file, errors: result.errors, activeVersion: active?.version },
        `tenants file rejected (${result.errors.length} error${result.errors.length === 1 ? '' : 's'}); the last good version stays active`,
      );
      return { status: 'rejected', errors: result.errors, ...(active ? { version: active.version } : {}) };
    }
    const next = result.bindings;
    if (active?.version === next.version) return { status: 'ok', version: next.version, changed: false };
    const previous = active;
    active = next;
    if (metrics) {
      metrics.tenancyBindingsInfo.reset();
      metrics.tenancyBindingsInfo.set({ version: next.version }, 1);
    }
    logger.info({ file, version: next.version, previousVersion: previous?.version, identities: next.identityCount, present: result.present }, 'tenant bindings active');
    return { status: 'ok', version: next.version, changed: true };
  }

  const onSighup = (): void => {
    logger.info({ file }, 'SIGHUP: reloading the tenants file');
    reload();
  };

  function schedule(): void {
    if (!running) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (running) reload();
    }, debounceMs);
    timer.unref();
  }

  return {
    current() {
      if (active) return active;
      fallback ??= emptyBindings(defaultQuota);
      return fallback;
    },
    start() {
      if (running) return;
      const first = reload();
      if (first.status === 'rejected' && !active) throw new Error(`invalid tenants file ${file}:\n${first.errors.join('\n')}`);
      running = true;
      try {
        // Watch the directory, not the file: a rename over it or a symlink swap replaces the inode.
        // Any event in the directory schedules a reload: an unchanged version is a no-op.
        watcher = watch(dirname(file), { persistent: false }, schedule);
        watcher.on('error', (err) => logger.warn({ file, err }, 'tenants file watch failed; SIGHUP still reloads'));
      } catch (err) {
        logger.info({ file, code: (err as NodeJS.ErrnoException).code }, 'tenants file directory not watched (create it, then send SIGHUP)');
      }
      process.on('SIGHUP', onSighup);
    },
    stop() {
      if (!running) return;
      running = false;
      clearTimeout(timer);
      timer = undefined;
      watcher?.close();
      watcher = undefined;
      process.off('SIGHUP', onSighup);
    },
    reload,
  };
}
