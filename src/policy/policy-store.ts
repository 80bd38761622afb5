// The active policy of a running gateway, hot-reloaded. A change in the policies directory (fs.watch,
// debounced: editors write a file in several steps, ConfigMaps swap a symlink) or a SIGHUP runs
// validate ─▶ compile ─▶ swap. The swap is one assignment, so a reader sees the old or the new
// CompiledPolicy, never a mix. A bad edit is rejected: the last good version keeps serving, the errors
// are logged, and policy_reload_failures_total counts it. policy_version_info{version} has exactly one
// series, the active version, at 1.
//
// A missing directory or missing files are an empty policy (see load.ts). A directory created later is
// not watched (fs.watch needs it to exist): send SIGHUP after creating it.
import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { CompiledPolicy } from './compile.js';
import { loadPolicy } from './load.js';

export type ReloadOutcome =
  | { status: 'ok'; version: string; changed: boolean }
  /** The files are invalid; `version` is the one still active (undefined before the first good load). */
  | { status: 'rejected'; errors: string[]; version?: string };

export interface PolicyStoreOptions {
  /** The gateway profile whose overrides apply. */
  profile: string;
  metrics?: Pick<GatewayMetrics, 'policyVersionInfo' | 'policyReloadFailures'>;
  logger: Logger;
  /** Quiet time after the last file event before reloading; 200 ms by default. */
  debounceMs?: number;
}

export interface PolicyStore {
  /** The active compiled policy. Throws before the first good load (start() does it). */
  current(): CompiledPolicy;
  /** Loads the policy (throws, listing every error, if it is invalid: fail fast at start-up), then watches. */
  start(): void;
  /** Stops watching and removes the SIGHUP handler. */
  stop(): void;
  /** Validates and compiles the directory now; swaps on success. */
  reload(): ReloadOutcome;
  /** Called after each swap to a new version; returns the unsubscribe function. */
  onChange(fn: (policy: CompiledPolicy) => void): () => void;
}

export function createPolicyStore(dir: string, options: PolicyStoreOptions): PolicyStore {
  const { profile, metrics, logger } = options;
  const debounceMs = options.debounceMs ?? 200;
  let active: CompiledPolicy | undefined;
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  const listeners = new Set<(policy: CompiledPolicy) => void>();

  function reload(): ReloadOutcome {
    const result = loadPolicy(dir, profile);
    if (!result.ok) {
      metrics?.policyReloadFailures.inc();
      logger.error({ dir, errors: result.errors, activeVersion: active?.version }, `policy reload rejected (${result.errors.length} error${result.errors.length === 1 ? '' : 's'}); the last good version stays active`);
      return { status: 'rejected', errors: result.errors, ...(active ? { version: active.version } : {}) };
    }
    const next = result.policy;
    if (active?.version === next.version) return { status: 'ok', version: next.version, changed: false };
    const previous = active;
    active = next;
    if (metrics) {
      metrics.policyVersionInfo.reset();
      metrics.policyVersionInfo.set({ version: next.version }, 1);
    }
    logger.info({ dir, profile, version: next.version, previousVersion: previous?.version, files: result.present }, 'policy active');
    for (const fn of listeners) {
      try {
        fn(next);
      } catch (err) {
        logger.error({ err }, 'policy change listener failed');
      }
    }
    return { status: 'ok', version: next.version, changed: true };
  }

  const onSighup = (): void => {
    logger.info({ dir }, 'SIGHUP: reloading policies');
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
      if (!active) throw new Error('policy store: no policy loaded yet (call start())');
      return active;
    },
    start() {
      if (running) return;
      const first = reload();
      if (first.status === 'rejected' && !active) {
        throw new Error(`invalid policies in ${dir}:\n${first.errors.join('\n')}`);
      }
      running = true;
      try {
        // Watch the directory, not the files: editors and Kubernetes replace files (rename, symlink
        // swap), which a watch on the old inode would miss. Any event triggers a reload; an unchanged
        // version is a no-op.
        watcher = watch(dir, { persistent: false }, schedule);
        watcher.on('error', (err) => logger.warn({ dir, err }, 'policy directory watch failed; SIGHUP still reloads'));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        logger.info({ dir, code }, 'policy directory not watched (create it, then send SIGHUP)');
      }
      // Installed only while running: without a listener, SIGHUP's default action ends the process.
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
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
