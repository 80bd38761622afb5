// The incident store: which tenants (or the whole fleet) are in incident mode, until when, and why.
// It implements IncidentState for the sampler and the forensic tee (a map lookup on the hot path) and
// on()/off() for the admin API. Every change is
//   1. persisted: state.json is replaced atomically (temp file, fsync, rename), so a restart keeps an
//      active incident and its expiry (one that expired while the gateway was down is expired at start
//      and reported as an expiry);
//   2. appended to audit.log (JSON lines: who, when, what, why), never rewritten;
//   3. shown in telemetry_incident_mode{tenant} (tenant "_all" for the fleet);
//   4. passed to onChange listeners (Notify, the sampler, the tee).
// Persistence is synchronous: changes are rare (an operator's request, an expiry) and the files tiny,
// and on() answers only once the incident is on disk ("acknowledged means safe").
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { GatewayConfig } from '../config/types.js';
import { TENANT_RE } from '../config/validate.js';
import type { Logger } from '../telemetry/logger-types.js';
import { appendAudit, AUDIT_FILE } from './audit-log.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { MAX_TIMER_MS, systemClock, type Clock, type TimerHandle } from './clock.js';
import { FLEET, type Incident, type IncidentState } from './types.js';

export interface IncidentStoreConfig {
  /** Holds state.json and audit.log (created when missing). */
  dir: string;
  /** false: nothing is ever in incident mode; on() answers DISABLED. */
  enabled: boolean;
  defaultTtlMs: number;
  maxTtlMs: number;
  maxIncidents: number;
}

export interface IncidentStoreDeps {
  logger: Logger;
  metrics?: GatewayMetrics;
  clock?: Clock;
}

export type IncidentChange = { type: 'start' | 'end' | 'expire'; incident: Incident };

export type IncidentErrorCode = 'INVALID_SCOPE' | 'INVALID_TTL' | 'INVALID_REASON' | 'TOO_MANY' | 'NOT_FOUND' | 'DISABLED' | 'PERSIST_FAILED';

export interface IncidentError {
  code: IncidentErrorCode;
  message: string;
}

export type OnResult = { ok: true; incident: Incident; /** true: the scope was already on; reason and expiry replaced. */ updated: boolean } | { ok: false; error: IncidentError };
export type OffResult = { ok: true; incident: Incident } | { ok: false; error: IncidentError };

export interface StartOptions {
  reason: string;
  /** Default: the configured defaultTtl. */
  ttlMs?: number;
  /** Who starts it: an admin token's name, "env", "cli". */
  by: string;
}

export interface IncidentStore extends IncidentState {
  /** Loads state.json (throws, naming the file, when it is unreadable), expires what ran out while down, arms the timer. */
  start(): void;
  /** Starts incident mode for a scope (a tenant id or FLEET), or replaces the reason and TTL of an active one. */
  on(scope: string, options: StartOptions): OnResult;
  /** Ends incident mode for a scope. */
  off(scope: string, by: string, reason?: string): OffResult;
  get(scope: string): Incident | undefined;
  /**
   * Every change made through on()/off() on this replica, updates (a new reason or TTL) included;
   * not expiries (each replica expires by itself) nor apply(). Cluster mode propagates these.
   */
  onLocalChange(listener: (scope: string, incident: Incident | null, ended?: { by: string; reason: string | null }) => void): () => void;
  /**
   * A change made on a peer (cluster mode), applied as it is: `incident` (its times kept) or null to
   * end the scope. Persisted, audited with `via` (the peer), announced to onChange listeners like a
   * local change, but not to onLocalChange ones. 'unchanged' when it is what we have, or an incident
   * that already expired; 'failed' when state.json cannot be written (nothing changed).
   */
  apply(scope: string, incident: Incident | null, via: { peer: string; by: string; reason: string | null }): 'applied' | 'unchanged' | 'failed';
  /** Cancels the expiry timer (state stays on disk for the next start). */
  stop(): void;
  readonly stateFile: string;
  readonly auditFile: string;
}

/** One line of audit.log. */
export interface AuditRecord {
  time: string;
  action: 'start' | 'update' | 'end' | 'expire';
  /** Cluster mode: the change came from this peer replica (it was made there). */
  via?: string;
  scope: string;
  /** Who did it: a token name, "env", "cli", or "ttl" for an expiry. */
  by: string;
  /** Why: the incident's reason on start/update, the caller's reason (or null) on end, the cause of an expiry. */
  reason: string | null;
  incident: Incident;
}

const STATE_VERSION = 1;
export const MAX_REASON_LENGTH = 1000;

/** The store's settings from the gateway config: the directory defaults to `${dataDir}/incidents`. */
export function incidentStoreConfig(config: GatewayConfig): IncidentStoreConfig {
  const c = config.incidents;
  return {
    dir: resolve(c.dir ?? join(config.dataDir, 'incidents')),
    enabled: c.enabled,
    defaultTtlMs: c.defaultTtlMs,
    maxTtlMs: c.maxTtlMs,
    maxIncidents: c.maxIncidents,
  };
}

export function isValidScope(scope: string): boolean {
  return scope === FLEET || TENANT_RE.test(scope);
}

export function createIncidentStore(config: IncidentStoreConfig, deps: IncidentStoreDeps): IncidentStore {
  const { logger, metrics } = deps;
  const clock = deps.clock ?? systemClock;
  const stateFile = join(config.dir, 'state.json');
  const auditFile = join(config.dir, AUDIT_FILE);
  const active = new Map<string, Incident>();
  const listeners = new Set<(e: IncidentChange) => void>();
  const localListeners = new Set<(scope: string, incident: Incident | null, ended?: { by: string; reason: string | null }) => void>();
  let timer: TimerHandle | undefined;
  let stopped = false;

  const iso = (ms: number) => new Date(ms).toISOString();
  const err = (code: IncidentErrorCode, message: string) => ({ ok: false as const, error: { code, message } });

  function writeState(incidents: Map<string, Incident>): void {
    mkdirSync(config.dir, { recursive: true });
    const body = JSON.stringify({ version: STATE_VERSION, incidents: [...incidents.values()] }, null, 2) + '\n';
    const tmp = `${stateFile}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, stateFile);
    // The rename itself is durable once the directory is synced (best effort: not every platform allows it).
    try {
      const dirFd = openSync(config.dir, 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch {
      /* not supported here */
    }
  }

  function audit(record: Omit<AuditRecord, 'time'>): void {
    try {
      appendAudit(auditFile, clock.now(), record);
    } catch (e) {
      metrics?.incidentPersistFailures.inc({ file: 'audit' });
      logger.error({ err: (e as Error).message, file: auditFile, record }, 'cannot append to the incident audit log');
    }
  }

  function emit(change: IncidentChange): void {
    metrics?.incidentMode.set({ tenant: change.incident.scope }, change.type === 'start' ? 1 : 0);
    for (const fn of listeners) {
      try {
        fn(change);
      } catch (e) {
        logger.error({ err: (e as Error).message, change: change.type, scope: change.incident.scope }, 'incident listener failed');
      }
    }
  }

  /** Replace state.json with `next`; on failure the in-memory state is left as it was. */
  function persist(next: Map<string, Incident>): boolean {
    try {
      writeState(next);
      return true;
    } catch (e) {
      metrics?.incidentPersistFailures.inc({ file: 'state' });
      logger.error({ err: (e as Error).message, file: stateFile }, 'cannot write the incident state');
      return false;
    }
  }

  function emitLocal(scope: string, incident: Incident | null, ended?: { by: string; reason: string | null }): void {
    for (const fn of localListeners) {
      try {
        fn(scope, incident, ended);
      } catch (e) {
        logger.error({ err: (e as Error).message, scope }, 'incident listener failed');
      }
    }
  }

  /** Expires every incident whose time has come. `cause` goes to the audit log. */
  function expireDue(cause = 'ttl expired'): void {
    const now = clock.now();
    const due = [...active.values()].filter((i) => i.expiresAt !== null && Date.parse(i.expiresAt) <= now);
    if (due.length === 0) return;
    for (const i of due) active.delete(i.scope);
    // An expiry happens whether or not the disk cooperates; a stale state.json is expired again at start.
    persist(active);
    for (const incident of due) {
      audit({ action: 'expire', scope: incident.scope, by: 'ttl', reason: cause, incident });
      logger.info({ scope: incident.scope, expiresAt: incident.expiresAt }, 'incident mode expired');
      emit({ type: 'expire', incident });
    }
  }

  function arm(): void {
    timer?.cancel();
    timer = undefined;
    if (stopped) return;
    let next = Infinity;
    for (const i of active.values()) if (i.expiresAt !== null) next = Math.min(next, Date.parse(i.expiresAt));
    if (next === Infinity) return;
    const wait = Math.min(Math.max(0, next - clock.now()), MAX_TIMER_MS);
    timer = clock.setTimer(() => {
      timer = undefined;
      expireDue();
      arm();
    }, wait);
  }

  function load(): Incident[] {
    let text: string;
    try {
      text = readFileSync(stateFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new Error(`${stateFile}: cannot read the incident state: ${(e as Error).message}`);
    }
    const bad = (why: string) => new Error(`${stateFile}: not a valid incident state file (${why}); fix or remove it`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw bad((e as Error).message);
    }
    const o = parsed as { version?: unknown; incidents?: unknown };
    if (typeof o !== 'object' || o === null || o.version !== STATE_VERSION || !Array.isArray(o.incidents)) throw bad(`expected {"version": ${STATE_VERSION}, "incidents": [...]}`);
    return o.incidents.map((x: unknown, n) => {
      const i = x as Record<string, unknown>;
      const ok =
        typeof i === 'object' && i !== null &&
        typeof i.scope === 'string' && isValidScope(i.scope) &&
        typeof i.reason === 'string' && typeof i.by === 'string' &&
        typeof i.startedAt === 'string' && !Number.isNaN(Date.parse(i.startedAt)) &&
        (i.expiresAt === null || (typeof i.expiresAt === 'string' && !Number.isNaN(Date.parse(i.expiresAt))));
      if (!ok) throw bad(`incidents[${n}] is not an incident`);
      return { scope: i.scope, reason: i.reason, by: i.by, startedAt: i.startedAt, expiresAt: i.expiresAt } as Incident;
    });
  }

  const store: IncidentStore = {
    stateFile,
    auditFile,

    isActive(tenant) {
      return active.size !== 0 && (active.has(FLEET) || active.has(tenant));
    },

    list() {
      expireDue();
      return [...active.values()].sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.scope.localeCompare(b.scope));
    },

    get(scope) {
      expireDue();
      return active.get(scope);
    },

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    start() {
      if (!config.enabled) return;
      const loaded = load();
      for (const i of loaded) active.set(i.scope, i);
      // Restored incidents are announced as the gauge only: they started (and were notified) before.
      for (const i of active.values()) metrics?.incidentMode.set({ tenant: i.scope }, 1);
      if (active.size > 0) logger.info({ incidents: [...active.keys()] }, 'incident mode restored from disk');
      expireDue('ttl expired while the gateway was down');
      arm();
    },

    on(scope, options) {
      if (!config.enabled) return err('DISABLED', 'incident mode is disabled in the config (incidents.enabled: false)');
      if (!isValidScope(scope)) return err('INVALID_SCOPE', `expected a tenant id of letters, digits, ".", "_" or "-", or "${FLEET}" for the fleet (got ${JSON.stringify(scope)})`);
      const reason = options.reason.trim();
      if (reason === '') return err('INVALID_REASON', 'a reason is required (it goes to the audit log and the notification)');
      if (reason.length > MAX_REASON_LENGTH) return err('INVALID_REASON', `the reason must be at most ${MAX_REASON_LENGTH} characters`);
      const ttlMs = options.ttlMs ?? config.defaultTtlMs;
      if (!Number.isFinite(ttlMs) || ttlMs < 1000) return err('INVALID_TTL', 'the TTL must be at least 1s');
      if (ttlMs > config.maxTtlMs) return err('INVALID_TTL', `the TTL must not exceed incidents.maxTtl (${config.maxTtlMs / 1000}s)`);
      expireDue();
      const previous = active.get(scope);
      if (!previous && active.size >= config.maxIncidents) {
        return err('TOO_MANY', `${active.size} incidents are active, the configured maximum (incidents.maxIncidents)`);
      }
      const now = clock.now();
      const incident: Incident = {
        scope,
        reason,
        by: options.by,
        startedAt: previous?.startedAt ?? iso(now),
        expiresAt: iso(now + ttlMs),
      };
      const next = new Map(active).set(scope, incident);
      if (!persist(next)) return err('PERSIST_FAILED', `cannot write ${stateFile}; incident mode was not changed`);
      active.set(scope, incident);
      audit({ action: previous ? 'update' : 'start', scope, by: options.by, reason, incident });
      logger.info({ scope, by: options.by, reason, expiresAt: incident.expiresAt }, previous ? 'incident mode extended' : 'incident mode on');
      // An update changes nothing a listener acts on (the scope stays in incident mode): no event.
      if (!previous) emit({ type: 'start', incident });
      emitLocal(scope, incident);
      arm();
      return { ok: true, incident, updated: previous !== undefined };
    },

    off(scope, by, reason) {
      if (!isValidScope(scope)) return err('INVALID_SCOPE', `expected a tenant id or "${FLEET}" (got ${JSON.stringify(scope)})`);
      expireDue();
      const incident = active.get(scope);
      if (!incident) return err('NOT_FOUND', scope === FLEET ? 'the fleet is not in incident mode' : `tenant ${JSON.stringify(scope)} is not in incident mode`);
      const next = new Map(active);
      next.delete(scope);
      if (!persist(next)) return err('PERSIST_FAILED', `cannot write ${stateFile}; incident mode was not changed`);
      active.delete(scope);
      audit({ action: 'end', scope, by, reason: reason?.trim() || null, incident });
      logger.info({ scope, by, reason }, 'incident mode off');
      emit({ type: 'end', incident });
      emitLocal(scope, null, { by, reason: reason?.trim() || null });
      arm();
      return { ok: true, incident };
    },

    onLocalChange(listener) {
      localListeners.add(listener);
      return () => localListeners.delete(listener);
    },

    apply(scope, incident, via) {
      if (!config.enabled || !isValidScope(scope)) return 'unchanged';
      expireDue();
      const previous = active.get(scope);
      if (incident === null) {
        if (!previous) return 'unchanged';
        const next = new Map(active);
        next.delete(scope);
        if (!persist(next)) return 'failed';
        active.delete(scope);
        audit({ action: 'end', scope, by: via.by, reason: via.reason, incident: previous, via: via.peer });
        logger.info({ scope, by: via.by, peer: via.peer }, 'incident mode off (from a peer)');
        emit({ type: 'end', incident: previous });
        arm();
        return 'applied';
      }
      if (incident.expiresAt !== null && Date.parse(incident.expiresAt) <= clock.now()) return 'unchanged';
      if (previous && JSON.stringify(previous) === JSON.stringify(incident)) return 'unchanged';
      if (!previous && active.size >= config.maxIncidents) {
        logger.warn({ scope, peer: via.peer, maxIncidents: config.maxIncidents }, 'incident from a peer refused: incidents.maxIncidents reached');
        return 'failed';
      }
      const next = new Map(active).set(scope, incident);
      if (!persist(next)) return 'failed';
      active.set(scope, incident);
      audit({ action: previous ? 'update' : 'start', scope, by: incident.by, reason: incident.reason, incident, via: via.peer });
      logger.info({ scope, by: incident.by, peer: via.peer, expiresAt: incident.expiresAt }, previous ? 'incident mode extended (from a peer)' : 'incident mode on (from a peer)');
      if (!previous) emit({ type: 'start', incident });
      arm();
      return 'applied';
    },

    stop() {
      stopped = true;
      timer?.cancel();
      timer = undefined;
    },
  };
  return store;
}
