// Fleet-wide incidents (issue 22, item 3): an incident started, extended or ended through any
// replica's admin API or CLI applies to every replica.
//
// Each scope (a tenant or "_all") carries a version: (time in ms at the replica that made the change,
// at least one more than any version this replica has seen for any scope, then that replica's id to
// break ties). A change is applied only when its version is newer than the one known here, so
// deliveries may repeat, cross or arrive late (idempotent, last writer wins). An end is kept as a
// tombstone (incident null) so that an older "start" arriving late cannot bring the incident back.
//
// - local change (store.onLocalChange) ─▶ POST /cluster/v1/incidents to every live peer at once,
//   each retried at most RETRIES times (250 ms, 500 ms, …) within the request timeout, then given up
//   (counted: the peer catches up when it next joins, below);
// - a peer that joins (membership) ─▶ we push it our whole state, and, until we have one, we pull the
//   state of a live peer (GET): so a replica that starts or restarts takes the incidents of the fleet.
// - every RESYNC_MS a replica pulls the state of one live peer (round robin), so a change whose pushes
//   were all given up still converges;
// - expiries are not sent: every replica holds the same expiresAt and expires by itself.
// Received changes are applied through store.apply (persisted, audited with `via: <replica>`).
import type { ServerHttp2Stream } from 'node:http2';
import { REPLICA_ID_RE } from '../config/sections/cluster.js';
import type { IncidentStore } from '../incident/store.js';
import { isValidScope } from '../incident/store.js';
import type { Incident } from '../incident/types.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { Membership } from './membership.js';
import type { PeerClient } from './peer-client.js';
import { readBody, sendJson, type PeerServer } from './peer-server.js';

export const INCIDENTS_PATH = '/cluster/v1/incidents';

/** One scope's state as peers exchange it. */
export interface IncidentEntry {
  scope: string;
  version: number;
  /** The replica that made the change. */
  origin: string;
  /** The active incident, or null: ended. */
  incident: Incident | null;
  /** Who ended it and why (with incident null). */
  by?: string;
  reason?: string | null;
}

export interface IncidentSync {
  /** The entries known here (tests, status). */
  entries(): IncidentEntry[];
  stop(): void;
}

export interface IncidentSyncDeps {
  self: string;
  store: IncidentStore;
  membership: Membership;
  client: PeerClient;
  server: PeerServer;
  logger: Logger;
  metrics: GatewayMetrics;
  requestTimeoutMs: number;
}

const RETRIES = 3;
const FIRST_BACKOFF_MS = 250;
/** Tombstones kept at most (the oldest go first); active incidents are bounded by incidents.maxIncidents. */
const MAX_TOMBSTONES = 10_000;
const MAX_ENTRIES_PER_MESSAGE = 20_000;
const RESYNC_MS = 30_000;

const newer = (a: { version: number; origin: string }, b: { version: number; origin: string } | undefined): boolean =>
  b === undefined || a.version > b.version || (a.version === b.version && a.origin > b.origin);

function isIncident(v: unknown, scope: string): v is Incident {
  const i = v as Record<string, unknown>;
  return (
    typeof i === 'object' && i !== null && i.scope === scope &&
    typeof i.reason === 'string' && typeof i.by === 'string' &&
    typeof i.startedAt === 'string' && !Number.isNaN(Date.parse(i.startedAt)) &&
    (i.expiresAt === null || (typeof i.expiresAt === 'string' && !Number.isNaN(Date.parse(i.expiresAt))))
  );
}

/** A received entry, checked field by field; undefined when malformed. */
function parseEntry(v: unknown): IncidentEntry | undefined {
  const e = v as Record<string, unknown>;
  if (typeof e !== 'object' || e === null) return undefined;
  if (typeof e.scope !== 'string' || !isValidScope(e.scope)) return undefined;
  if (typeof e.version !== 'number' || !Number.isSafeInteger(e.version) || e.version < 0) return undefined;
  if (typeof e.origin !== 'string' || !REPLICA_ID_RE.test(e.origin)) return undefined;
  if (e.incident !== null && !isIncident(e.incident, e.scope)) return undefined;
  const i = e.incident as Incident | null;
  return {
    scope: e.scope,
    version: e.version,
    origin: e.origin,
    incident: i && { scope: i.scope, reason: i.reason, by: i.by, startedAt: i.startedAt, expiresAt: i.expiresAt },
    ...(typeof e.by === 'string' && { by: e.by }),
    ...(typeof e.reason === 'string' && { reason: e.reason }),
  };
}

export function createIncidentSync(deps: IncidentSyncDeps): IncidentSync {
  const { self, store, membership, client, logger, metrics } = deps;
  const known = new Map<string, IncidentEntry>();
  let highest = 0;
  let pulled = false;
  let pulling = false;
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  for (const outcome of ['ok', 'failed', 'gave_up']) metrics.clusterIncidentSync.inc({ direction: 'sent', outcome }, 0);
  for (const outcome of ['applied', 'stale', 'invalid']) metrics.clusterIncidentSync.inc({ direction: 'received', outcome }, 0);

  function remember(e: IncidentEntry): void {
    known.delete(e.scope);
    known.set(e.scope, e);
    highest = Math.max(highest, e.version);
    if (known.size > MAX_TOMBSTONES + 1000) {
      for (const [scope, old] of known) {
        if (known.size <= MAX_TOMBSTONES) break;
        if (old.incident === null) known.delete(scope);
      }
    }
  }

  /** Our whole state: what we know the versions of, and active incidents we hold without one (restored from disk). */
  function snapshot(): IncidentEntry[] {
    const out = new Map<string, IncidentEntry>(known);
    for (const i of store.list()) if (!out.has(i.scope)) out.set(i.scope, { scope: i.scope, version: 0, origin: self, incident: i });
    return [...out.values()];
  }

  function peers(): string[] {
    return membership.live().filter((id) => id !== self);
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      t.unref();
      timers.add(t);
    });
  }

  async function send(peer: string, entries: IncidentEntry[]): Promise<void> {
    const body = Buffer.from(JSON.stringify({ from: self, entries }));
    for (let attempt = 0; attempt <= RETRIES && !stopped; attempt++) {
      // A peer that left meanwhile is not chased: it pulls our state when it comes back.
      const endpoint = membership.endpointOf(peer);
      if (!endpoint) break;
      try {
        const res = await client.request(endpoint, { method: 'POST', path: INCIDENTS_PATH, body, timeoutMs: deps.requestTimeoutMs, maxResponseBytes: 64 * 1024 });
        if (res.status === 200) {
          metrics.clusterIncidentSync.inc({ direction: 'sent', outcome: 'ok' }, entries.length);
          return;
        }
        throw new Error(`answered ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`);
      } catch (err) {
        metrics.clusterIncidentSync.inc({ direction: 'sent', outcome: 'failed' }, entries.length);
        logger.warn({ peer, attempt: attempt + 1, err: (err as Error).message }, 'cannot send incident changes to a peer');
        if (attempt < RETRIES) await sleep(FIRST_BACKOFF_MS * 2 ** attempt);
      }
    }
    if (!stopped) metrics.clusterIncidentSync.inc({ direction: 'sent', outcome: 'gave_up' }, entries.length);
  }

  function broadcast(entries: IncidentEntry[], to = peers()): void {
    for (const peer of to) void send(peer, entries);
  }

  /** Applies received entries; returns how many changed something here. */
  function receive(raw: unknown[], from: string): { applied: number; stale: number; invalid: number } {
    let applied = 0;
    let stale = 0;
    let invalid = 0;
    for (const r of raw) {
      const e = parseEntry(r);
      if (!e) {
        invalid++;
        continue;
      }
      highest = Math.max(highest, e.version);
      if (!newer(e, known.get(e.scope))) {
        stale++;
        continue;
      }
      const outcome = store.apply(e.scope, e.incident, { peer: e.origin, by: e.by ?? e.incident?.by ?? e.origin, reason: e.reason ?? null });
      if (outcome === 'failed') {
        // Not remembered: a later delivery (or pull) tries again.
        invalid++;
        continue;
      }
      remember(e);
      if (outcome === 'applied') applied++;
      else stale++;
    }
    metrics.clusterIncidentSync.inc({ direction: 'received', outcome: 'applied' }, applied);
    metrics.clusterIncidentSync.inc({ direction: 'received', outcome: 'stale' }, stale);
    metrics.clusterIncidentSync.inc({ direction: 'received', outcome: 'invalid' }, invalid);
    if (invalid > 0) logger.warn({ peer: from, invalid }, 'incident entries from a peer were not applied');
    return { applied, stale, invalid };
  }

  let turn = 0;
  async function pull(again = false): Promise<void> {
    if ((pulled && !again) || pulling || stopped) return;
    pulling = true;
    try {
      // Round robin over the live peers, so periodic pulls do not all go to the same one.
      const live = peers();
      const start = turn++ % Math.max(1, live.length);
      for (const peer of [...live.slice(start), ...live.slice(0, start)]) {
        const endpoint = membership.endpointOf(peer);
        if (!endpoint) continue;
        try {
          const res = await client.request(endpoint, { method: 'GET', path: INCIDENTS_PATH, timeoutMs: deps.requestTimeoutMs, maxResponseBytes: 16 * 1024 * 1024 });
          if (res.status !== 200) throw new Error(`answered ${res.status}`);
          const body = JSON.parse(res.body.toString('utf8')) as { entries?: unknown };
          if (!Array.isArray(body.entries)) throw new Error('no entries in the answer');
          const r = receive(body.entries, peer);
          pulled = true;
          if (!again || r.applied > 0) logger.info({ peer, entries: body.entries.length, applied: r.applied }, 'fetched the fleet\'s incidents from a peer');
          return;
        } catch (err) {
          logger.warn({ peer, err: (err as Error).message }, 'cannot fetch incidents from a peer; trying another');
        }
      }
    } finally {
      pulling = false;
    }
  }

  const offLocal = store.onLocalChange((scope, incident, ended) => {
    const entry: IncidentEntry = {
      scope,
      version: Math.max(Date.now(), highest + 1),
      origin: self,
      incident,
      ...(ended && { by: ended.by, reason: ended.reason }),
    };
    remember(entry);
    broadcast([entry]);
  });

  let previous = new Set(membership.live());
  const offMembership = membership.onChange((live) => {
    const joined = live.filter((id) => id !== self && !previous.has(id));
    previous = new Set(live);
    if (joined.length === 0) return;
    // A peer that joins (new, restarted or back from a partition) gets our whole state; we take
    // the fleet's once, from whoever is live first.
    const all = snapshot();
    if (all.length > 0) broadcast(all, joined);
    void pull();
  });

  const resync = setInterval(() => void pull(true), RESYNC_MS);
  resync.unref();

  deps.server.route(INCIDENTS_PATH, async (stream: ServerHttp2Stream, headers, peerId) => {
    const method = headers[':method'];
    if (method === 'GET') {
      sendJson(stream, 200, { from: self, entries: snapshot() });
      return;
    }
    if (method !== 'POST') {
      sendJson(stream, 405, { error: 'GET or POST' });
      return;
    }
    const body = await readBody(stream, headers, deps.server.maxBodyBytes, metrics);
    if (!body) return;
    let parsed: { from?: unknown; entries?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      metrics.clusterPeerRefused.inc({ reason: 'bad_request' });
      sendJson(stream, 400, { error: 'expected JSON {from, entries: [...]}' });
      return;
    }
    if (!Array.isArray(parsed.entries) || parsed.entries.length > MAX_ENTRIES_PER_MESSAGE) {
      metrics.clusterPeerRefused.inc({ reason: 'bad_request' });
      sendJson(stream, 400, { error: `expected {entries: [...]} with at most ${MAX_ENTRIES_PER_MESSAGE} entries` });
      return;
    }
    const from = typeof parsed.from === 'string' && REPLICA_ID_RE.test(parsed.from) ? parsed.from : peerId;
    sendJson(stream, 200, receive(parsed.entries, from));
  });

  return {
    entries: () => [...known.values()],
    stop() {
      stopped = true;
      clearInterval(resync);
      offLocal();
      offMembership();
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
