// The active sampling policy of a running gateway, hot-reloaded like the other policy files
// (src/policy/policy-store.ts): a change of sampling.yaml (fs.watch on its directory, debounced: editors
// write in steps, Kubernetes swaps a symlink) or a SIGHUP runs load ─▶ validate ─▶ compile ─▶ swap. The
// swap is one assignment: a decision sees the old or the new policy, never a mix. A bad edit is
// rejected: the last good version keeps deciding, the errors are logged and
// sampling_policy_reload_failures_total counts it; sampling_policy_version_info{version} shows the
// active version.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { CompiledSampling } from './policy.js';
import { loadSamplingFile } from './policy-file.js';

export type SamplingReload =
  | { status: 'ok'; version: string; changed: boolean }
  /** The file is invalid; `version` is the one still active (undefined before the first good load). */
  | { status: 'rejected'; errors: string[]; version?: string };

export interface SamplingPolicyStoreOptions {
  /** The gateway profile whose `profiles.<name>` overrides apply. */
  profile: string;
  logger: Logger;
  metrics?: Pick<GatewayMetrics, 'samplingPolicyReloadFailures' | 'samplingPolicyVersionInfo'>;
  /** Quiet time after the last file event before reloading; 200 ms by default. */
  debounceMs?: number;
}

export interface SamplingPolicyStore {
  /** The active policy. Throws before the first good load (start() does it). */
  current(): CompiledSampling;
  /** Loads the file (throws, listing every error, if it is invalid: fail fast at start-up), then watches. */
  start(): void;
  stop(): void;
  /** Loads the file now; swaps on success. */
  reload(): SamplingReload;
}

export function createSamplingPolicyStore(file: string, options: SamplingPolicyStoreOptions): SamplingPolicyStore {
  const { logger, metrics, profile } = options;
  const debounceMs = options.debounceMs ?? 200;
  let active: CompiledSampling | undefined;
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  function reload(): SamplingReload {
    const result = loadSamplingFile(file, profile);
    if (!result.ok) {
      metrics?.samplingPolicyReloadFailures.inc();
      logger.error(
        { file, errors: result.errors, activeVersion: active?.version },
        `sampling policy rejected (${result.errors.length} error${result.errors.length === 1 ? '' : 's'}); the last good version stays active`,
      );
      return { status: 'rejected', errors: result.errors, ...(active ? { version: active.version } : {}) };
    }
    const next = result.policy;
    if (active?.version === next.version) return { status: 'ok', version: next.version, changed: false };
    const previous = active;
    active = next;
    if (metrics) {
      metrics.samplingPolicyVersionInfo.reset();
      metrics.samplingPolicyVersionInfo.set({ version: next.version }, 1);
    }
    logger.info({ file, profile, version: next.version, previousVersion: previous?.version, present: result.present }, 'sampling policy active');
    return { status: 'ok', version: next.version, changed: true };
  }

  const onSighup = (): void => {
    logger.info({ file }, 'SIGHUP: reloading the sampling policy');
    reload();
  };

  function schedule(_event: string, name: string | Buffer | null): void {
    if (!running) return;
    // Only this file's events (or unnamed ones, which some platforms send): other policy files live here too.
    if (name !== null && String(name) !== basename(file) && !String(name).startsWith('..')) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (running) reload();
    }, debounceMs);
    timer.unref();
  }

  return {
    current() {
      if (!active) throw new Error('sampling policy store: no policy loaded yet (call start())');
      return active;
    },
    start() {
      if (running) return;
      const first = reload();
      if (first.status === 'rejected' && !active) throw new Error(`invalid sampling policy ${file}:\n${first.errors.join('\n')}`);
      running = true;
      try {
        // Watch the directory, not the file: a rename over it or a symlink swap replaces the inode.
        watcher = watch(dirname(file), { persistent: false }, schedule);
        watcher.on('error', (err) => logger.warn({ file, err }, 'sampling policy watch failed; SIGHUP still reloads'));
      } catch (err) {
        logger.info({ file, code: (err as NodeJS.ErrnoException).code }, 'sampling policy directory not watched (create it, then send SIGHUP)');
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
