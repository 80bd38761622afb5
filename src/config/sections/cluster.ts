// The `cluster` section of the config file: several replicas acting as one gateway (src/cluster,
// docs/guides/cluster.md). Absent = a single replica, nothing changes. Called by ../validate.ts.
//
//   cluster:
//     self: gw-0                     # this replica's id (a Kubernetes pod name: ${env:POD_NAME})
//     listen: 0.0.0.0:4319           # the peer listener (HTTP/2, mTLS only)
//     peers: dns:stella-gateway-peers:4319     # a headless Service, re-resolved every dnsInterval …
//     # peers: [ {id: gw-1, endpoint: 10.0.0.2:4319}, {endpoint: gw-2.local:4319} ]   # … or a static list
//     tls:
//       certFile: /certs/peer.pem    # this replica's certificate: presented as server AND as client
//       keyFile: /certs/peer-key.pem
//       caFile: /certs/ca.pem        # the CA that signs peer certificates
//       peerNames: ["spiffe://stella.local/peer/*"]   # identities accepted from peers (URI or DNS SANs)
//     probeInterval: 2s              # readiness probe of every peer …
//     probeTimeout: 1s               # … answered within this, …
//     probeMisses: 2                 # … missed this many times in a row: the peer is down
//     dnsInterval: 5s
//     maxConnections: 256            # peer listener bounds
//     maxBodyBytes: 16MiB
//     requestTimeout: 10s
import type { HostPort, TlsMinVersion } from '../types.js';
import { isPlainObject, type RawConfig } from '../profiles.js';
import type { Reader } from '../validate.js';
import { DEFAULT_CLUSTER_ROUTING, readClusterRouting, type ClusterRoutingConfig } from '../../cluster/routing-config.js';

export interface ClusterPeerConfig {
  /** The peer's replica id when known; otherwise learned from its readiness answer. */
  id?: string;
  /** host:port of the peer's listener. */
  endpoint: string;
}

export type ClusterPeers = { kind: 'static'; peers: ClusterPeerConfig[] } | { kind: 'dns'; name: string; port: number };

export interface ClusterTlsConfig {
  certFile: string;
  keyFile: string;
  caFile: string;
  /**
   * Identities accepted from a peer's certificate (as server and as client): `spiffe://…` entries match
   * URI SANs, others DNS SANs; `*` matches any run of characters other than "/" and ".".
   */
  peerNames: string[];
  minVersion: TlsMinVersion;
}

export interface ClusterConfig {
  self: string;
  listen: HostPort;
  peers: ClusterPeers;
  tls: ClusterTlsConfig;
  probeIntervalMs: number;
  probeTimeoutMs: number;
  /** Consecutive failed probes before a live peer is declared down. */
  probeMisses: number;
  dnsIntervalMs: number;
  /** How long a DNS lookup may take before it counts as failed (the last good answer is kept). */
  dnsTimeoutMs: number;
  maxConnections: number;
  /** Largest request body the peer listener buffers (checked before buffering). */
  maxBodyBytes: number;
  /** A peer request (either direction) that takes longer is cancelled. */
  requestTimeoutMs: number;
  /** Trace-affine routing (src/cluster/routing-config.ts). */
  routing: ClusterRoutingConfig;
}

export const DEFAULT_CLUSTER_PORT = 4319;

export const DEFAULT_CLUSTER: Omit<ClusterConfig, 'self' | 'peers' | 'tls'> = {
  listen: { host: '0.0.0.0', port: DEFAULT_CLUSTER_PORT },
  probeIntervalMs: 2_000,
  probeTimeoutMs: 1_000,
  probeMisses: 2,
  dnsIntervalMs: 5_000,
  dnsTimeoutMs: 2_000,
  maxConnections: 256,
  maxBodyBytes: 16 * 1024 * 1024,
  requestTimeoutMs: 10_000,
  routing: DEFAULT_CLUSTER_ROUTING,
};

/** Replica ids become metric labels, log fields and HTTP header values. */
export const REPLICA_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const DNS_NAME_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?$/;
const PEER_NAME_RE = /^(spiffe:\/\/[A-Za-z0-9._*/-]+|[A-Za-z0-9*](?:[A-Za-z0-9_.*-]{0,251}[A-Za-z0-9_*])?)$/;
const KEYS = ['self', 'listen', 'peers', 'tls', 'probeInterval', 'probeTimeout', 'probeMisses', 'dnsInterval', 'dnsTimeout', 'maxConnections', 'maxBodyBytes', 'requestTimeout', 'routing'] as const;
const TLS_KEYS = ['certFile', 'keyFile', 'caFile', 'peerNames', 'minVersion'] as const;

// validate.ts's show() cannot be imported as a value here (an import cycle: see sections/incidents.ts).
function show(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

/** `host:port` (or `[v6]:port`) with a port 1..65535, else undefined. */
export function parsePeerEndpoint(value: string): HostPort | undefined {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(value) ?? /^([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1]!, port } : undefined;
}

/** Reads `cluster`; undefined when the section is absent (a single replica). */
export function readCluster(r: Reader, value: unknown, checkFile: (path: string, file: unknown, what: string) => string | undefined): ClusterConfig | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) {
    r.fail('cluster', `expected a mapping such as {self: gw-0, peers: "dns:stella-gateway-peers:${DEFAULT_CLUSTER_PORT}", tls: {...}} (got ${show(value)})`);
    return undefined;
  }
  const s: RawConfig = r.section('cluster', value, KEYS);
  const D = DEFAULT_CLUSTER;
  if (s.self === undefined || s.self === null) r.fail('cluster.self', 'required: this replica\'s id (for example ${env:POD_NAME})');
  const self = r.string('cluster.self', s.self, '', { re: REPLICA_ID_RE, what: 'a replica id of letters, digits, ".", "_" or "-" (at most 63)' });
  const listen = r.hostPort('cluster.listen', s.listen, D.listen);
  const peers = readPeers(r, s.peers, self);
  const tls = readClusterTls(r, s.tls, checkFile);
  const probeIntervalMs = r.duration('cluster.probeInterval', s.probeInterval, D.probeIntervalMs, 50);
  const probeTimeoutMs = r.duration('cluster.probeTimeout', s.probeTimeout, Math.min(D.probeTimeoutMs, probeIntervalMs), 10);
  if (probeTimeoutMs > probeIntervalMs) r.fail('cluster.probeTimeout', `must not exceed cluster.probeInterval (got ${show(s.probeTimeout)})`);
  const config: ClusterConfig = {
    self,
    listen,
    peers,
    tls,
    probeIntervalMs,
    probeTimeoutMs,
    probeMisses: r.int('cluster.probeMisses', s.probeMisses, D.probeMisses, 1, 100),
    dnsIntervalMs: r.duration('cluster.dnsInterval', s.dnsInterval, D.dnsIntervalMs, 100),
    dnsTimeoutMs: r.duration('cluster.dnsTimeout', s.dnsTimeout, D.dnsTimeoutMs, 10),
    maxConnections: r.int('cluster.maxConnections', s.maxConnections, D.maxConnections, 1, 100_000),
    maxBodyBytes: r.size('cluster.maxBodyBytes', s.maxBodyBytes, D.maxBodyBytes, 1024),
    requestTimeoutMs: r.duration('cluster.requestTimeout', s.requestTimeout, D.requestTimeoutMs, 10),
    routing: readClusterRouting(r, s.routing),
  };
  return config;
}

function readPeers(r: Reader, value: unknown, self: string): ClusterPeers {
  const what = `a list of {id, endpoint: host:port} or "dns:NAME:PORT" (a Kubernetes headless Service)`;
  if (value === undefined || value === null) {
    r.fail('cluster.peers', `required: ${what}`);
    return { kind: 'static', peers: [] };
  }
  if (typeof value === 'string') {
    const m = /^dns:([^:]+):(\d{1,5})$/.exec(value);
    const port = m ? Number(m[2]) : 0;
    if (!m || !DNS_NAME_RE.test(m[1]!) || port < 1 || port > 65535) {
      r.fail('cluster.peers', `expected "dns:NAME:PORT" such as "dns:stella-gateway-peers:${DEFAULT_CLUSTER_PORT}" (got ${show(value)})`);
      return { kind: 'static', peers: [] };
    }
    return { kind: 'dns', name: m[1]!, port };
  }
  if (!Array.isArray(value)) {
    r.fail('cluster.peers', `expected ${what} (got ${show(value)})`);
    return { kind: 'static', peers: [] };
  }
  const peers: ClusterPeerConfig[] = [];
  const ids = new Set<string>();
  const endpoints = new Set<string>();
  value.forEach((entry: unknown, i) => {
    const path = `cluster.peers[${i}]`;
    // A bare "host:port" is accepted as {endpoint: "host:port"}.
    const e: RawConfig = typeof entry === 'string' ? { endpoint: entry } : isPlainObject(entry) ? r.section(path, entry, ['id', 'endpoint']) : {};
    if (typeof entry !== 'string' && !isPlainObject(entry)) {
      r.fail(path, `expected {id: gw-1, endpoint: "10.0.0.2:${DEFAULT_CLUSTER_PORT}"} or "host:port" (got ${show(entry)})`);
      return;
    }
    const before = r.errors.length;
    const id = e.id === undefined || e.id === null ? undefined : r.string(`${path}.id`, e.id, '', { re: REPLICA_ID_RE, what: 'a replica id of letters, digits, ".", "_" or "-" (at most 63)' });
    if (typeof e.endpoint !== 'string' || parsePeerEndpoint(e.endpoint) === undefined) {
      r.fail(`${path}.endpoint`, `expected host:port with a port 1..65535 (got ${show(e.endpoint)})`);
      return;
    }
    if (id !== undefined && ids.has(id)) r.fail(`${path}.id`, `duplicate peer id ${show(id)}`);
    if (endpoints.has(e.endpoint)) r.fail(`${path}.endpoint`, `duplicate peer endpoint ${show(e.endpoint)}`);
    if (r.errors.length !== before) return;
    if (id !== undefined) ids.add(id);
    endpoints.add(e.endpoint);
    // This replica may be in the list (one list shared by every replica): it is skipped, not probed.
    if (id !== undefined && id === self) return;
    peers.push(id === undefined ? { endpoint: e.endpoint } : { id, endpoint: e.endpoint });
  });
  return { kind: 'static', peers };
}

function readClusterTls(r: Reader, value: unknown, checkFile: (path: string, file: unknown, what: string) => string | undefined): ClusterTlsConfig {
  const empty: ClusterTlsConfig = { certFile: '', keyFile: '', caFile: '', peerNames: [], minVersion: 'TLSv1.2' };
  if (value === undefined || value === null) {
    r.fail('cluster.tls', 'required: peers talk mTLS only ({certFile, keyFile, caFile, peerNames}; see docs/guides/cluster.md)');
    return empty;
  }
  if (!isPlainObject(value)) {
    r.fail('cluster.tls', `expected a mapping {certFile, keyFile, caFile, peerNames} (got ${show(value)})`);
    return empty;
  }
  const t: RawConfig = r.section('cluster.tls', value, TLS_KEYS);
  const certFile = checkFile('cluster.tls.certFile', t.certFile, "this replica's certificate (server and client auth)") ?? '';
  const keyFile = checkFile('cluster.tls.keyFile', t.keyFile, 'its private key') ?? '';
  const caFile = checkFile('cluster.tls.caFile', t.caFile, 'the CA that signs peer certificates') ?? '';
  const peerNames: string[] = [];
  if (!Array.isArray(t.peerNames) || t.peerNames.length === 0) {
    r.fail('cluster.tls.peerNames', `required: a list of the identities peers present, such as ["spiffe://stella.local/peer/*"] (got ${show(t.peerNames)})`);
  } else {
    t.peerNames.forEach((n: unknown, i) => {
      if (typeof n !== 'string' || !PEER_NAME_RE.test(n) || n === '*') {
        r.fail(`cluster.tls.peerNames[${i}]`, `expected a SPIFFE ID (spiffe://…) or a DNS name, "*" allowed inside (got ${show(n)})`);
      } else peerNames.push(n);
    });
  }
  const minVersion = r.oneOf('cluster.tls.minVersion', t.minVersion, 'TLSv1.2', ['TLSv1.2', 'TLSv1.3'] as const);
  return { certFile, keyFile, caFile, peerNames, minVersion };
}
