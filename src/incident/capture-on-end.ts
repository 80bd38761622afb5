// Capture on incident end (incidents.captureOnEnd): when an incident ends (API, CLI or TTL), the window
// it covered — from its start minus `lead` to its end — is cut out of the forensic archive as a signed
// bundle per tenant (src/tee/capture.ts, the code behind POST /admin/v1/captures), so an incident leaves
// evidence without anyone having to remember to ask for it. A fleet-wide incident is captured for every
// tenant with archived records in the window.
//
// The capture waits `cooldown` after the end: a new incident of the same scope within it resumes the
// ended one (src/incident/store.ts keeps its start), this capture is dropped, and the resumed incident's
// own end captures the whole window — a flapping alert yields one incident and one bundle, not many.
//
// Each tenant's outcome is (1) an audit line (action "capture", via "incident"), (2) a Notify event,
// `capture.completed` with the bundle's path and manifest digest or `capture.failed` with the reason,
// and (3) counted in incident_captures_total{outcome} and tee_captures_total{outcome} (which the
// StellaCaptureFailed alert watches). Captures run one at a time, off the hot path.
import { readFileSync } from 'node:fs';
import type { CaptureLimitsConfig } from '../config/sections/forensic.js';
import { SIGNALS } from '../signals.js';
import { auditCapture, type CaptureAuditEntry } from '../tee/capture-audit.js';
import { ensurePrivateDir, pruneCaptures } from '../tee/capture-files.js';
import { captureWindow } from '../tee/capture.js';
import { childPath, listSegments } from '../tee/layout.js';
import { createKeySigner } from '../tee/sign.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { CaptureNotice, Notifier } from './notify.js';
import type { IncidentChange } from './store.js';
import { FLEET, type Incident, type IncidentState } from './types.js';

export interface IncidentCaptureConfig {
  leadMs: number;
  cooldownMs: number;
  /** The archive root (`forensicDir(config)`). */
  root: string;
  /** Where bundles go (`${dataDir}/captures`, shared with the admin API and pruned the same way). */
  capturesDir: string;
  /** The ECDSA P-256 private key PEM (`${dataDir}/keys/signing-key.pem`), read per capture. */
  signingKeyPath: string;
  profile: string;
  /** The hash-chained audit log (the incident store's audit.log). */
  auditFile: string;
  /** forensic.captures: bundle retention. */
  limits: Pick<CaptureLimitsConfig, 'retentionMs' | 'maxCount' | 'maxBytes'>;
}

export interface IncidentCaptureDeps {
  incidents: Pick<IncidentState, 'onChange'>;
  notifier?: Pick<Notifier, 'announceCapture'>;
  /** Flushed before reading, so the window's last records are on disk. */
  tee?: { flush(): Promise<void> };
  metrics?: Pick<GatewayMetrics, 'incidentCaptures' | 'teeCaptures' | 'teeCaptureFilesPruned' | 'incidentPersistFailures'>;
  logger: Logger;
  clock?: Clock;
}

/** One tenant's outcome. */
export type IncidentCaptureOutcome = { incident: Incident; type: 'capture.completed' | 'capture.failed'; capture: CaptureNotice };

export interface IncidentCapturer {
  /** Captures waiting for their cooldown, or queued or running. */
  pending(): number;
  /** Resolves once no capture is queued or running (those in their cooldown are not waited for). */
  idle(): Promise<void>;
  /** Called with every tenant's outcome (after the audit line, with the Notify event). */
  onOutcome(listener: (o: IncidentCaptureOutcome) => void): () => void;
  /** Stops listening; captures still in their cooldown run now; waits for them up to deadlineMs. */
  stop(deadlineMs?: number): Promise<void>;
}

interface Waiting {
  incident: Incident;
  fromMs: number;
  toMs: number;
  timer?: TimerHandle;
}

/** Tenants with archived records in [fromMs, toMs): a segment that began before the end and was written to after the start. */
export function tenantsSeen(root: string, fromMs: number, toMs: number): string[] {
  const out = new Set<string>();
  for (const seg of listSegments(root)) if (seg.firstRecordTimeMs < toMs && seg.mtimeMs >= fromMs) out.add(seg.tenant);
  return [...out].sort();
}

export function createIncidentCapturer(config: IncidentCaptureConfig, deps: IncidentCaptureDeps): IncidentCapturer {
  const { logger, metrics } = deps;
  const clock = deps.clock ?? systemClock;
  const waiting = new Map<string, Waiting>();
  const listeners = new Set<(o: IncidentCaptureOutcome) => void>();
  let queued = 0;
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;

  const unsubscribe = deps.incidents.onChange((change: IncidentChange) => {
    if (stopped) return;
    const { incident } = change;
    if (change.type === 'start') {
      // Resumed within the cooldown: the ended incident goes on, and so does its window.
      const w = waiting.get(incident.scope);
      if (w && change.resumed) {
        w.timer?.cancel();
        waiting.delete(incident.scope);
        logger.info({ scope: incident.scope, startedAt: incident.startedAt }, 'incident resumed within the cooldown: its capture waits for the new end');
      }
      return;
    }
    const toMs = change.type === 'expire' && incident.expiresAt !== null ? Date.parse(incident.expiresAt) : clock.now();
    const fromMs = Date.parse(incident.startedAt) - config.leadMs;
    // A capture still waiting for this scope (not resumed: a fresh start after a restart) runs now.
    const previous = waiting.get(incident.scope);
    if (previous) release(previous);
    const w: Waiting = { incident, fromMs, toMs };
    waiting.set(incident.scope, w);
    if (config.cooldownMs <= 0) release(w);
    else w.timer = clock.setTimer(() => release(w), config.cooldownMs);
  });

  /** Moves a waiting capture to the queue. */
  function release(w: Waiting): void {
    w.timer?.cancel();
    if (waiting.get(w.incident.scope) === w) waiting.delete(w.incident.scope);
    queued++;
    chain = chain.then(() => run(w)).finally(() => void queued--);
  }

  function outcome(o: IncidentCaptureOutcome, entry: Omit<CaptureAuditEntry, 'via' | 'by' | 'tenant'>): void {
    const ok = o.type === 'capture.completed';
    metrics?.incidentCaptures.inc({ outcome: ok ? 'ok' : 'failed' });
    metrics?.teeCaptures.inc({ outcome: ok ? 'ok' : 'failed' });
    try {
      auditCapture(config.auditFile, clock.now(), { via: 'incident', by: `incident:${o.incident.scope}`, tenant: o.capture.tenant, ...entry });
    } catch (err) {
      metrics?.incidentPersistFailures.inc({ file: 'audit' });
      logger.error({ err: (err as Error).message, file: config.auditFile }, 'cannot append a capture to the audit log');
    }
    deps.notifier?.announceCapture(o.type, o.incident, o.capture);
    for (const fn of listeners) {
      try {
        fn(o);
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'capture outcome listener failed');
      }
    }
  }

  async function run(w: Waiting): Promise<void> {
    const { incident, fromMs, toMs } = w;
    const from = new Date(fromMs).toISOString();
    const to = new Date(toMs).toISOString();
    try {
      await deps.tee?.flush();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'forensic tee flush before an incident capture failed; capturing what is on disk');
    }
    let tenants: string[];
    try {
      tenants = incident.scope === FLEET ? tenantsSeen(config.root, fromMs, toMs) : [incident.scope];
    } catch (err) {
      tenants = [];
      logger.error({ err: (err as Error).message, root: config.root }, 'cannot list the forensic archive');
    }
    if (tenants.length === 0) {
      logger.info({ scope: incident.scope, from, to }, 'incident ended: no tenant has archived records in its window, nothing to capture');
      return;
    }
    let keyPem: string | undefined;
    let keyError = '';
    try {
      keyPem = readFileSync(config.signingKeyPath, 'utf8');
    } catch {
      keyError = `no signing key at ${config.signingKeyPath}: run "stella telemetry keys init --out <dataDir>/keys"`;
    }
    for (const tenant of tenants) {
      const request = { tenant, fromMs, toMs, signals: [...SIGNALS] };
      if (keyPem === undefined) {
        logger.error({ scope: incident.scope, tenant, from, to, err: keyError }, 'incident capture failed');
        outcome({ incident, type: 'capture.failed', capture: { tenant, from, to, error: keyError } }, { outcome: 'failed', request, error: keyError });
        continue;
      }
      try {
        ensurePrivateDir(config.capturesDir);
        const path = childPath(config.capturesDir, `incident-${tenant}-${fromMs}-${toMs}.tar`);
        const result = await captureWindow({ root: config.root, tenant, fromMs, toMs, signals: SIGNALS, profile: config.profile, signer: createKeySigner(keyPem), now: () => clock.now(), out: path });
        logger.info({ scope: incident.scope, tenant, path, manifestSha256: result.manifestSha256, records: result.manifest.totals.records }, 'incident captured');
        outcome(
          { incident, type: 'capture.completed', capture: { tenant, from, to, path, manifestSha256: result.manifestSha256, bytes: result.bytes } },
          { outcome: 'ok', request, path, manifestSha256: result.manifestSha256, bytes: result.bytes, holdPath: result.holdPath },
        );
        prune(path);
      } catch (err) {
        const message = (err as Error).message;
        logger.error({ scope: incident.scope, tenant, from, to, err: message }, 'incident capture failed');
        outcome({ incident, type: 'capture.failed', capture: { tenant, from, to, error: message } }, { outcome: 'failed', request, error: message });
      }
    }
  }

  function prune(keep: string): void {
    const report = pruneCaptures(config.capturesDir, config.limits, clock.now(), keep);
    for (const d of report.deleted) metrics?.teeCaptureFilesPruned.inc({ reason: d.reason });
  }

  async function idle(): Promise<void> {
    // The chain may grow while it is awaited (a capture released meanwhile): wait until it stops growing.
    // Captures still in their cooldown are not waited for: nothing runs until their timers fire.
    for (;;) {
      const current = chain;
      await current;
      if (current === chain) return;
    }
  }

  return {
    pending: () => waiting.size + queued,
    idle,
    onOutcome(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop(deadlineMs = 5000) {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      // An ended incident is captured even when the gateway stops during its cooldown.
      for (const w of [...waiting.values()]) release(w);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([chain, new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)))]);
      clearTimeout(timer);
      if (queued > 0) logger.warn({ pending: queued }, 'shutdown deadline: incident captures still running were left to finish');
    },
  };
}
