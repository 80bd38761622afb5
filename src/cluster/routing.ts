// Trace-affine routing wired to the cluster (docs/guides/cluster.md "Trace-affine routing"): the
// router in front of the local tail sampler (trace-router.ts), forwarding over the cluster's peer
// client, and the owner's handler of forwarded spans on the peer listener (forward-grpc.ts). The
// gateway starts it only with sampling on, a `cluster` section and cluster.routing.enabled.
import type { ClusterConfig } from '../config/sections/cluster.js';
import type { IncidentState } from '../incident/types.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { Cluster } from './cluster.js';
import { createForwardClient, createForwardReceiver, TRACES_EXPORT_PATH } from './forward-grpc.js';
import { createTraceRouter, type LocalOffer, type TraceRouter } from './trace-router.js';

export interface TraceRoutingDeps {
  cluster: Pick<Cluster, 'membership' | 'peerServer' | 'peerClient'>;
  /** The local tail sampler's offer. */
  sampler: { offer: LocalOffer };
  incidents?: Pick<IncidentState, 'isActive'>;
  metrics: GatewayMetrics;
  logger: Logger;
}

export function startTraceRouting(config: ClusterConfig, deps: TraceRoutingDeps): TraceRouter {
  const { cluster, sampler, metrics, logger } = deps;
  const routing = config.routing;
  for (const reason of ['unavailable', 'timeout', 'refused', 'budget']) {
    metrics.clusterForwardFailures.inc({ reason }, 0);
    metrics.clusterForwardFallbackSpans.inc({ reason }, 0);
  }
  for (const route of ['local', 'forwarded']) metrics.clusterRoutedSpans.inc({ route }, 0);
  const offer: LocalOffer = (tenant, body, traces, layout, owned) => sampler.offer(tenant, body, traces, layout, owned);
  // The owner's side: only on the peer listener, where the caller's certificate was verified.
  const receiver = createForwardReceiver(
    { maxInflightBytes: routing.maxReceiveBytes, maxMessageBytes: config.maxBodyBytes },
    { offer, metrics, logger },
  );
  cluster.peerServer.route(TRACES_EXPORT_PATH, receiver.handler);
  const client = createForwardClient({
    endpointOf: (peer) => cluster.membership.endpointOf(peer),
    session: (endpoint) => cluster.peerClient.session(endpoint),
  });
  return createTraceRouter(
    { timeoutMs: routing.timeoutMs, maxInflightBytes: routing.maxInflightBytes, maxMessageBytes: config.maxBodyBytes },
    { membership: cluster.membership, local: offer, send: client.send, ...(deps.incidents && { incidents: deps.incidents }), metrics, logger },
  );
}
