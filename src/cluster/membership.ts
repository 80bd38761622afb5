// Who is in the cluster: this replica plus every peer whose readiness probe answers.
//
// Peers come from cluster.peers: a static list, or `dns:NAME:PORT` looked up every dnsInterval (a
// Kubernetes headless Service has one address per ready pod; a failed or slow lookup keeps the last
// good answer and is counted). Each known endpoint is probed every probeInterval with
// GET /cluster/v1/ready on its peer listener (mTLS; the answer names the replica's id). A peer becomes
// live on its first good answer and is declared down after probeMisses failures in a row (a
// replica that is shutting down answers 503, so it leaves after the same misses). An endpoint that
// answers with our own id is us (the Service lists this pod too) and is not probed again.
//
// live() is sorted and stable (the same array until membership changes), so a router can key caches
// on it; onChange listeners hear every change.
import { lookup } from 'node:dns/promises';
import type { ClusterConfig } from '../config/sections/cluster.js';
import { REPLICA_ID_RE } from '../config/sections/cluster.js';
import { formatHostPort } from '../config/validate.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { PeerRequestError, type PeerClient } from './peer-client.js';

export interface Membership {
  readonly self: string; // this replica's id
  live(): readonly string[]; // ids of live members incl. self, sorted, stable
  endpointOf(id: string): string | undefined; // host:port of a member's peer listener
  onChange(listener: (live: readonly string[]) => void): () => void; // returns unsubscribe
  stop(): void;
}

export const READY_PATH = '/cluster/v1/ready';

export interface MemberStatus {
  id: string | null;
  endpoint: string;
  live: boolean;
  /** Failed probes in a row. */
  misses: number;
  lastError: string | null;
  /** ISO time of the last good probe; null when never. */
  lastSeen: string | null;
}

export interface MembershipStatus {
  self: string;
  live: readonly string[];
  peers: MemberStatus[];
  discovery: string;
}

export interface RunningMembership extends Membership {
  /** Starts DNS lookups (if any) and the first probe round at once. */
  start(): void;
  status(): MembershipStatus;
}

export interface MembershipDeps {
  client: PeerClient;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Replaces the DNS lookup (tests); returns addresses. */
  resolve?: (name: string) => Promise<string[]>;
}

interface Target {
  endpoint: string;
  /** From the config; a probe answer must agree. */
  configuredId?: string;
  id?: string;
  live: boolean;
  misses: number;
  probing: boolean;
  self: boolean;
  lastError?: string;
  lastSeen?: number;
}

export function createMembership(config: ClusterConfig, deps: MembershipDeps): RunningMembership {
  const { client, logger, metrics } = deps;
  const self = config.self;
  const targets = new Map<string, Target>();
  const listeners = new Set<(live: readonly string[]) => void>();
  let current: readonly string[] = Object.freeze([self]);
  let probeTimer: NodeJS.Timeout | undefined;
  let dnsTimer: NodeJS.Timeout | undefined;
  let dnsBusy = false;
  let stopped = false;
  for (const change of ['join', 'leave']) metrics.clusterMembershipChanges.inc({ change }, 0);
  for (const reason of ['timeout', 'network', 'status', 'wrong_id', 'identity']) metrics.clusterProbeFailures.inc({ reason }, 0);
  metrics.clusterDnsFailures.inc(0);
  metrics.clusterPeersLive.set(1);

  const addTarget = (endpoint: string, configuredId?: string): void => {
    if (!targets.has(endpoint)) targets.set(endpoint, { endpoint, ...(configuredId !== undefined && { configuredId }), live: false, misses: 0, probing: false, self: false });
  };
  if (config.peers.kind === 'static') for (const p of config.peers.peers) addTarget(p.endpoint, p.id);

  function recompute(): void {
    const ids = new Set<string>([self]);
    for (const t of targets.values()) if (t.live && t.id !== undefined) ids.add(t.id);
    const next = [...ids].sort();
    if (next.length === current.length && next.every((id, i) => id === current[i])) return;
    const before = new Set(current);
    const joined = next.filter((id) => !before.has(id));
    const left = current.filter((id) => !ids.has(id));
    current = Object.freeze(next);
    metrics.clusterPeersLive.set(next.length);
    if (joined.length) metrics.clusterMembershipChanges.inc({ change: 'join' }, joined.length);
    if (left.length) metrics.clusterMembershipChanges.inc({ change: 'leave' }, left.length);
    logger.info({ live: next, joined, left }, 'cluster membership changed');
    for (const l of listeners) {
      try {
        l(current);
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'cluster membership listener failed');
      }
    }
  }

  function miss(t: Target, reason: string, message: string): void {
    metrics.clusterProbeFailures.inc({ reason });
    t.misses++;
    if (t.lastError !== message) logger.debug({ endpoint: t.endpoint, id: t.id, reason, err: message }, 'peer probe failed');
    t.lastError = message;
    if (t.live && t.misses >= config.probeMisses) {
      t.live = false;
      logger.warn({ endpoint: t.endpoint, id: t.id, misses: t.misses, err: message }, 'peer declared down');
      recompute();
    }
  }

  async function probe(t: Target): Promise<void> {
    t.probing = true;
    try {
      const res = await client.request(t.endpoint, { path: READY_PATH, timeoutMs: config.probeTimeoutMs, maxResponseBytes: 4096 });
      if (stopped || !targets.has(t.endpoint)) return;
      let id: unknown;
      try {
        id = (JSON.parse(res.body.toString('utf8')) as { id?: unknown }).id;
      } catch {
        id = undefined;
      }
      if (typeof id !== 'string' || !REPLICA_ID_RE.test(id)) return miss(t, 'status', `answered ${res.status} without a replica id`);
      if (id === self) {
        // Our own listener (the Service lists this pod too): never a peer.
        t.self = true;
        t.live = false;
        t.id = id;
        return;
      }
      if (t.configuredId !== undefined && id !== t.configuredId) return miss(t, 'wrong_id', `answered as ${id}, configured as ${t.configuredId}`);
      if (res.status !== 200) return miss(t, 'status', `answered ${res.status} (not ready)`);
      const claimed = [...targets.values()].find((o) => o !== t && o.live && o.id === id);
      if (claimed) return miss(t, 'wrong_id', `answered as ${id}, which ${claimed.endpoint} already is`);
      t.misses = 0;
      t.lastSeen = Date.now();
      delete t.lastError;
      if (!t.live || t.id !== id) {
        t.id = id;
        t.live = true;
        logger.info({ endpoint: t.endpoint, id }, 'peer is live');
        recompute();
      }
    } catch (err) {
      if (stopped || !targets.has(t.endpoint)) return;
      const reason = err instanceof PeerRequestError ? (err.reason === 'closed' || err.reason === 'too_large' || err.reason === 'egress' ? 'network' : err.reason) : 'network';
      miss(t, reason, (err as Error).message);
    } finally {
      t.probing = false;
    }
  }

  function probeRound(): void {
    // One probe in flight per peer: a slow peer is not probed twice at once.
    for (const t of targets.values()) if (!t.self && !t.probing) void probe(t);
  }

  const resolveName = deps.resolve ?? (async (name: string) => (await lookup(name, { all: true })).map((a) => a.address));

  async function refreshDns(): Promise<void> {
    if (config.peers.kind !== 'dns' || dnsBusy || stopped) return;
    const { name, port } = config.peers;
    dnsBusy = true;
    let timeout: NodeJS.Timeout | undefined;
    try {
      const addresses = await Promise.race([
        resolveName(name),
        new Promise<never>((_, reject) => {
          timeout = setTimeout(() => reject(new Error(`no answer within ${config.dnsTimeoutMs} ms`)), config.dnsTimeoutMs);
        }),
      ]);
      if (stopped) return;
      const endpoints = new Set(addresses.map((a) => formatHostPort({ host: a, port })));
      let changed = false;
      for (const e of endpoints) {
        if (!targets.has(e)) {
          addTarget(e);
          changed = true;
        }
      }
      for (const [e, t] of targets) {
        if (!endpoints.has(e)) {
          targets.delete(e);
          if (t.live) changed = true;
        }
      }
      if (changed) {
        recompute();
        probeRound();
      }
    } catch (err) {
      metrics.clusterDnsFailures.inc();
      logger.warn({ name, err: (err as Error).message }, 'cannot look up the cluster peers; keeping the last answer');
    } finally {
      clearTimeout(timeout);
      dnsBusy = false;
    }
  }

  return {
    self,
    live: () => current,
    endpointOf(id) {
      if (id === self) return formatHostPort(config.listen);
      for (const t of targets.values()) if (t.id === id && t.live) return t.endpoint;
      return undefined;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    start() {
      if (config.peers.kind === 'dns') {
        void refreshDns();
        dnsTimer = setInterval(() => void refreshDns(), config.dnsIntervalMs);
        dnsTimer.unref();
      }
      probeRound();
      probeTimer = setInterval(probeRound, config.probeIntervalMs);
      probeTimer.unref();
    },
    stop() {
      stopped = true;
      clearInterval(probeTimer);
      clearInterval(dnsTimer);
      listeners.clear();
    },
    status() {
      return {
        self,
        live: current,
        discovery: config.peers.kind === 'dns' ? `dns:${config.peers.name}:${config.peers.port}` : 'static',
        peers: [...targets.values()]
          .filter((t) => !t.self)
          .map((t) => ({
            id: t.id ?? t.configuredId ?? null,
            endpoint: t.endpoint,
            live: t.live,
            misses: t.misses,
            lastError: t.lastError ?? null,
            lastSeen: t.lastSeen !== undefined ? new Date(t.lastSeen).toISOString() : null,
          })),
      };
    },
  };
}
