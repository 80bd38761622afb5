// Hot reload of one versioned document (policies, tenant bindings, sampling rules), shared by every
// store that operators steer by editing files. A change in the watched directory (fs.watch, debounced:
// editors write a file in several steps, ConfigMaps swap a symlink) or a SIGHUP runs load ─▶ validate ─▶
// compile ─▶ swap. The swap is one assignment, so a reader sees the old or the new value, never a mix.
// A bad edit is rejected: the last good version keeps serving, the errors are logged and the failure
// counter counts it. The version gauge has exactly one series, the active version, at 1.
//
// Fail closed (docs/guides/policy-safety.md): the loaders refuse empty, truncated (no final `version: 1`),
// oversized and — once a version is active — missing files, so a half-written file, a deleted file or
// a directory renamed away never replaces the last good version. Each refusal is counted per file and
// reason (policy_file_rejections_total), logged at warn, and, with `audit`, written to the audit log
// with every version change (the gateway's hash-chained log, src/incident/audit-log.ts).
//
// A reload may load asynchronously (the policies compile in a worker thread, off the event loop);
// reloads never overlap: one that is asked for while another runs follows it, once.
//
// A directory created later is not watched (fs.watch needs it to exist): send SIGHUP after creating it.
//
// Symlink swaps: when the directory's path goes through symlinks (a `stella telemetry deploy` target,
// a Kubernetes volume), the parent of each symlink is watched too, for that name (watch-path.ts), and
// the watches are set up again after a swap, so the next edit in the new directory is seen as well.
import { basename } from 'node:path';
import { realpathSync, watch, type FSWatcher } from 'node:fs';
import { symlinksOf } from './watch-path.js';
import type { Counter, Gauge } from 'prom-client';
import type { Logger } from '../telemetry/logger-types.js';
import type { FileRejection } from './load.js';

export type ReloadOutcome =
  | { status: 'ok'; version: string; changed: boolean }
  /** The files are invalid; `version` is the one still active (undefined before the first good load). */
  | { status: 'rejected'; errors: string[]; version?: string };

export type Loaded<T> = { ok: true; value: T; version: string; logFields?: Record<string, unknown> } | { ok: false; errors: string[]; rejected?: FileRejection[] };

/**
 * What the loader is asked for: the first load (a missing file is the shipped default) or a reload (a
 * file the active version was loaded from is refused when missing).
 */
export interface LoadContext {
  initial: boolean;
}

export interface HotReloadOptions<T> {
  /** What is reloaded, for log lines and errors ("policy", "tenants file", ...). */
  what: string;
  /** The directory watched. */
  dir: string;
  /** How start-up errors name the source: `invalid <what> <source>:` (a file, or "in DIR"). */
  source: string;
  /** Reload only on events naming this file (other files share the directory); absent: any event. */
  fileName?: string;
  /** Loads synchronously (start-up, and reloads without `loadAsync`). */
  load(ctx: LoadContext): Loaded<T>;
  /** Loads off the event loop for reloads (a worker thread); absent: `load`. */
  loadAsync?(ctx: LoadContext): Promise<Loaded<T>>;
  logger: Logger;
  failures?: Pick<Counter, 'inc'>;
  /** Refused files by file name and reason (policy_file_rejections_total). */
  rejections?: Pick<Counter<'file' | 'reason'>, 'inc'>;
  versionInfo?: Pick<Gauge<'version'>, 'reset' | 'set'>;
  /** Quiet time after the last file event before reloading; 200 ms by default. */
  debounceMs?: number;
  /** Told of every version change and every refused load, for the audit log (src/incident/audit-log.ts). */
  audit?: ReloadAudit;
}

/** What a reload tells the audit log: the version before and after, or the refusal and its reason. */
export type ReloadAudit = (event: { what: string; outcome: 'active' | 'refused'; versionBefore: string | null; versionAfter: string | null; file?: string; reason?: string; errors?: string[] }) => void;

export interface HotReloaded<T> {
  /** The active value; undefined before the first good load. */
  active(): T | undefined;
  /** Loads (throws, listing every error, if invalid: fail fast at start-up), then watches. */
  start(): void;
  /** Stops watching and removes the SIGHUP handler. */
  stop(): void;
  /** Loads now (after a reload already running, if any); swaps on success. */
  reload(): Promise<ReloadOutcome>;
  /** Called after each swap to a new version; returns the unsubscribe function. */
  onChange(fn: (value: T) => void): () => void;
}

export function createHotReload<T>(options: HotReloadOptions<T>): HotReloaded<T> {
  const { what, dir, source, fileName, logger } = options;
  const debounceMs = options.debounceMs ?? 200;
  let active: { value: T; version: string } | undefined;
  let watchers: FSWatcher[] = [];
  /** What the watches were set up for: the directory's real path and the symlinks on the way to it. */
  let watchedKey = '';
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  const listeners = new Set<(value: T) => void>();

  function apply(result: Loaded<T>): ReloadOutcome {
    if (!result.ok) {
      options.failures?.inc();
      const n = result.errors.length;
      const rejected = result.rejected ?? [];
      if (rejected.length === 0) logger.warn({ audit: true, dir, reason: 'failed', errors: result.errors, activeVersion: active?.version }, `${what}: load failed`);
      for (const r of rejected) {
        options.rejections?.inc({ file: basename(r.file), reason: r.reason });
        const errors = result.errors.filter((e) => e.startsWith(r.file));
        logger.warn({ audit: true, file: r.file, reason: r.reason, errors: errors.length > 0 ? errors : result.errors, activeVersion: active?.version }, `${what}: ${basename(r.file)} refused (${r.reason})${active ? '; the last good version stays active' : ''}`);
      }
      logger.error({ dir, errors: result.errors, activeVersion: active?.version }, `${what} reload rejected (${n} error${n === 1 ? '' : 's'}); the last good version stays active`);
      const keep = active?.version ?? null;
      if (rejected.length === 0) options.audit?.({ what, outcome: 'refused', versionBefore: keep, versionAfter: keep, reason: 'failed', errors: result.errors.slice(0, 5) });
      for (const r of rejected) options.audit?.({ what, outcome: 'refused', versionBefore: keep, versionAfter: keep, file: r.file, reason: r.reason });
      return { status: 'rejected', errors: result.errors, ...(active ? { version: active.version } : {}) };
    }
    if (active?.version === result.version) return { status: 'ok', version: result.version, changed: false };
    const previousVersion = active?.version;
    active = { value: result.value, version: result.version };
    options.versionInfo?.reset();
    options.versionInfo?.set({ version: result.version }, 1);
    logger.info({ dir, version: result.version, previousVersion, ...result.logFields }, `${what} active`);
    options.audit?.({ what, outcome: 'active', versionBefore: previousVersion ?? null, versionAfter: result.version });
    for (const fn of listeners) {
      try {
        fn(result.value);
      } catch (err) {
        logger.error({ err }, `${what} change listener failed`);
      }
    }
    return { status: 'ok', version: result.version, changed: true };
  }

  function loadSync(): ReloadOutcome {
    return apply(options.load({ initial: active === undefined }));
  }

  let inflight: Promise<ReloadOutcome> | undefined;
  let queued: Promise<ReloadOutcome> | undefined;

  function runOnce(): Promise<ReloadOutcome> {
    const ctx = { initial: active === undefined };
    let settled = false;
    const run = (async () => {
      try {
        const result = options.loadAsync ? await options.loadAsync(ctx) : options.load(ctx);
        return apply(result);
      } catch (err) {
        // A loader never throws by contract; if one does (a worker that died), the last good version stays.
        return apply({ ok: false, errors: [`${what}: loading failed: ${(err as Error).message}`] });
      } finally {
        settled = true;
        inflight = undefined;
      }
    })();
    // A synchronous loader has already finished here.
    if (!settled) inflight = run;
    return run;
  }

  function reload(): Promise<ReloadOutcome> {
    if (queued) return queued;
    if (inflight) {
      queued = inflight.then(() => {
        queued = undefined;
        return runOnce();
      });
      return queued;
    }
    return runOnce();
  }

  const onSighup = (): void => {
    logger.info({ dir }, `SIGHUP: reloading the ${what}`);
    if (running) rewatch();
    void reload();
  };

  function schedule(_event: string, name: string | Buffer | null): void {
    if (!running) return;
    // Kubernetes swaps `..data` symlinks; some platforms send events without a name.
    if (fileName !== undefined && name !== null && String(name) !== fileName && !String(name).startsWith('..')) return;
    scheduleReload();
  }

  function scheduleReload(): void {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (!running) return;
      // A swapped symlink points the directory elsewhere: watch the new one (before loading it, so an
      // edit made while it loads is not missed).
      rewatch();
      void reload();
    }, debounceMs);
    timer.unref();
  }

  function watchKey(): string {
    let real = dir;
    try {
      real = realpathSync(dir);
    } catch {
      /* missing: watched as written */
    }
    return JSON.stringify([real, symlinksOf(dir)]);
  }

  /** (Re)creates the watches when the directory resolves differently than when they were made. */
  function rewatch(): void {
    const key = watchKey();
    if (key === watchedKey && watchers.length > 0) return;
    for (const w of watchers) w.close();
    watchers = [];
    watchedKey = key;
    try {
      // Watch the directory, not the file: editors and Kubernetes replace files (rename, symlink
      // swap), which a watch on the old inode would miss. An unchanged version is a no-op.
      const w = watch(dir, { persistent: false }, schedule);
      w.on('error', (err) => logger.warn({ dir, err }, `${what} watch failed; SIGHUP still reloads`));
      watchers.push(w);
    } catch (err) {
      logger.info({ dir, code: (err as NodeJS.ErrnoException).code }, `${what} directory not watched (create it, then send SIGHUP)`);
      return;
    }
    for (const link of symlinksOf(dir)) {
      try {
        const w = watch(link.dir, { persistent: false }, (_e, name) => {
          if (running && (name === null || String(name) === link.name)) scheduleReload();
        });
        w.on('error', (err) => logger.warn({ dir: link.dir, err }, `${what} symlink watch failed; SIGHUP still reloads`));
        watchers.push(w);
      } catch (err) {
        logger.warn({ dir: link.dir, code: (err as NodeJS.ErrnoException).code }, `${what}: cannot watch the symlink ${link.name}; a swap is seen at the next SIGHUP`);
      }
    }
  }

  return {
    active: () => active?.value,
    start() {
      if (running) return;
      const first = loadSync();
      if (first.status === 'rejected' && !active) throw new Error(`invalid ${what} ${source}:\n${first.errors.join('\n')}`);
      running = true;
      rewatch();
      // Installed only while running: without a listener, SIGHUP's default action ends the process.
      process.on('SIGHUP', onSighup);
    },
    stop() {
      if (!running) return;
      running = false;
      clearTimeout(timer);
      timer = undefined;
      for (const w of watchers) w.close();
      watchers = [];
      watchedKey = '';
      process.off('SIGHUP', onSighup);
    },
    reload,
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
