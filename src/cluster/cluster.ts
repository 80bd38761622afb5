// Cluster mode (DESIGN.md decision 11, docs/guides/cluster.md): the parts that make several replicas
// act as one gateway, started together by the gateway when the config has a `cluster` section.
//
//   peer listener (mTLS, src/cluster/peer-server.ts) ◀──── other replicas' peer clients
//     /cluster/v1/ready       readiness + replica id: what membership probes
//     /cluster/v1/incidents   fleet-wide incidents: pushed changes (POST), current state (GET)
//     (the trace router adds OTLP/gRPC Export for forwarded spans)
//   membership (src/cluster/membership.ts): live members ─▶ quota share, incident sync, trace router
//
// Start-up: the peer listener starts answering (503 until the gateway is ready), then membership
// probes the peers. Shut-down: membership stops, the listener closes, the client's sessions go.
import type { ClusterConfig } from '../config/sections/cluster.js';
import type { QuotaSpec } from '../config/sections/tenancy.js';
import type { HostPort } from '../config/types.js';
import { formatHostPort } from '../config/validate.js';
import type { IncidentStore } from '../incident/store.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { createIncidentSync, type IncidentSync } from './incident-sync.js';
import { createMembership, READY_PATH, type Membership, type MembershipStatus } from './membership.js';
import { createPeerClient, type PeerClient, type PeerEgress } from './peer-client.js';
import { clusterTlsReloader, createPeerServer, sendJson, type PeerServer } from './peer-server.js';
import { createQuotaShare } from './quota-share.js';

export interface ClusterStatus extends MembershipStatus {
  /** host:port the peer listener is bound to. */
  listen: string;
  /** This replica's share of every tenant quota (1 / live members). */
  quotaShare: number;
}

export interface Cluster {
  membership: Membership;
  /** Register more peer routes (the trace router's Export path). */
  peerServer: PeerServer;
  /** Calls to peers (mTLS, bounded). */
  peerClient: PeerClient;
  /** A tenant's quota as this replica enforces it: the limit ÷ live members. */
  shareQuota(spec: QuotaSpec): QuotaSpec;
  status(): ClusterStatus;
  stop(): Promise<void>;
}

export interface ClusterDeps {
  logger: Logger;
  metrics: GatewayMetrics;
  /** Fleet-wide incidents: changes here reach every peer, and theirs are applied here. */
  incidents: IncidentStore;
  /** The gateway takes traffic: the readiness answer peers probe. */
  isReady(): boolean;
  /** Sealed mode: peers are outbound destinations like any other (egress.allow). */
  egress?: PeerEgress;
}

export async function startCluster(config: ClusterConfig, deps: ClusterDeps): Promise<Cluster> {
  const { logger, metrics } = deps;
  const tls = clusterTlsReloader(config, { logger, metrics });
  const peerServer = createPeerServer(config, { logger, metrics, tls });
  const peerClient = createPeerClient(config, { tls, ...(deps.egress && { egress: deps.egress }) });
  const membership = createMembership(config, { client: peerClient, logger, metrics });
  const quotas = createQuotaShare(1);
  metrics.clusterQuotaShare.set(1);
  membership.onChange((live) => {
    quotas.setMembers(live.length);
    metrics.clusterQuotaShare.set(1 / live.length);
  });

  peerServer.route(READY_PATH, (stream) => {
    const ready = deps.isReady();
    sendJson(stream, ready ? 200 : 503, { id: config.self, ready });
  });
  let sync: IncidentSync | undefined;
  let listen: HostPort;
  try {
    sync = createIncidentSync({ self: config.self, store: deps.incidents, membership, client: peerClient, server: peerServer, logger, metrics, requestTimeoutMs: config.requestTimeoutMs });
    listen = await peerServer.start();
  } catch (err) {
    sync?.stop();
    peerClient.close();
    tls.close();
    throw new Error(`cluster: cannot listen on ${formatHostPort(config.listen)} (cluster.listen): ${(err as Error).message}`);
  }
  membership.start();
  logger.info({ self: config.self, listen: formatHostPort(listen), peers: config.peers.kind === 'dns' ? `dns:${config.peers.name}:${config.peers.port}` : config.peers.peers.map((p) => p.endpoint) }, 'cluster mode: peer listener up, probing peers');

  let stopping: Promise<void> | undefined;
  return {
    membership,
    peerServer,
    peerClient,
    shareQuota: (spec) => quotas.share(spec),
    status: () => ({ ...membership.status(), listen: formatHostPort(listen), quotaShare: 1 / quotas.members }),
    stop() {
      stopping ??= (async () => {
        membership.stop();
        sync?.stop();
        await peerServer.stop();
        peerClient.close();
        tls.close();
      })();
      return stopping;
    },
  };
}
