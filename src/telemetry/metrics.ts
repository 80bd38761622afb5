// The gateway's own metrics (prom-client), served on the admin listener at /metrics.
// One registry per gateway instance, so tests can run several gateways in one process.
// Every metric name is listed in the README's metrics table.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { buildInfo } from './build-info.js';
import { SignalHistogram } from './signal-histogram.js';
import { SIGNALS, type Signal } from '../signals.js';

export interface GatewayMetrics {
  registry: Registry;
  /** What runs: version, Node and commit (value 1). */
  buildInfo: Gauge<'version' | 'node' | 'commit'>;
  /** Requests answered by a receiver, by outcome code ('ok' or an ErrorCode). */
  receiverRequests: Counter<'signal' | 'protocol' | 'outcome'>;
  /** Items (spans, data points, log records) acknowledged to the client. */
  receiverAcceptedItems: Counter<'signal' | 'tenant' | 'protocol'>;
  /** Requests refused, by reason (an ErrorCode). Items are unknown when the body never parsed. */
  receiverRefusedRequests: Counter<'signal' | 'tenant' | 'protocol' | 'reason'>;
  /** Items rejected inside an accepted request (OTLP partial_success). */
  receiverRefusedItems: Counter<'signal' | 'tenant' | 'protocol' | 'reason'>;
  receiverRequestBytes: Counter<'signal' | 'protocol'>;
  receiverLatency: Histogram<'signal' | 'protocol'>;

  poolQueueSize: Gauge;
  poolUtilization: Gauge;
  /** Read at scrape time (not per task: piscina's utilisation summarises histograms, which is costly). */
  poolStats?: () => { queued: number; utilization: number };
  poolTasks: Counter<'signal' | 'outcome'>;
  /**
   * Tasks nobody waits for any more, not run or not kept: reason client_gone | deadline | queue_wait,
   * stage arrival (refused at once) | queue (dropped before a worker took it) | result (processed,
   * then discarded unexported because the answer could no longer be ok).
   */
  poolDropped: Counter<'signal' | 'reason' | 'stage'>;

  exporterSentItems: Counter<'exporter' | 'signal'>;
  exporterSentBatches: Counter<'exporter' | 'signal'>;
  exporterRetries: Counter<'exporter' | 'signal'>;
  /** OpenTelemetry Collector-compatible name: failed export attempts. */
  exportFailures: Counter<'exporter' | 'signal' | 'reason'>;
  exporterDroppedItems: Counter<'exporter' | 'signal' | 'reason'>;
  exporterQueueBytes: Gauge<'exporter'>;
  exporterQueueBatches: Gauge<'exporter'>;
  exporterRefusedItems: Counter<'exporter' | 'signal'>;
  /** Age of the oldest entry an exporter holds, in memory or on disk (read at scrape time from exporterOldestAge). */
  exporterQueueOldestAge: Gauge<'exporter'>;
  /** Per exporter: the age (ms) of its oldest queued or in-flight batch, 0 when empty. */
  exporterOldestAge: Map<string, () => number>;
  /** Duration of one export attempt (request to answer), by outcome (ok, retryable, permanent). */
  exporterLatency: Histogram<'exporter' | 'outcome'>;
  /** Batches still failing after their retry budget (retry.maxElapsed) and kept, retrying (whenExhausted: keep). */
  exporterRetriesPastBudget: Counter<'exporter' | 'signal'>;
  /** Persistent export queue (src/export/queue). */
  exporterQueueDiskBytes: Gauge<'exporter'>;
  exporterQueueCapacityBytes: Gauge<'exporter' | 'medium'>;
  exporterQueueReplayedRecords: Counter<'exporter'>;
  exporterQueuePossibleDuplicates: Counter<'exporter'>;
  exporterQueueTornBytes: Counter<'exporter'>;
  exporterQueueCorruptBytes: Counter<'exporter'>;
  exporterQueueLostRecords: Counter<'exporter'>;
  exporterQueueSyncLatency: Histogram<'exporter'>;

  admitInflightBytes: Gauge;
  /** The highest admit_inflight_bytes since start (the budget holds when this stays <= budget + one message). */
  admitInflightBytesPeak: Gauge;

  /** Receiver connections (src/receive/connection-limits.ts): open now, per listener. */
  receiverConnections: Gauge<'protocol'>;
  /** Connections the receiver closed or refused, by reason (over_limit, handshake_timeout, idle, max_age, too_many_pings, keepalive_timeout, header_too_large). */
  receiverConnectionsClosed: Counter<'protocol' | 'reason'>;

  policyVersionInfo: Gauge<'version'>;
  policyReloadFailures: Counter;
  /** Policy files refused (any of the four), by file name and reason: the last good version stays active. */
  policyFileRejections: Counter<'file' | 'reason'>;
  /** Policy compilations in a worker thread, by outcome (ok, rejected, failed: the worker died or timed out). */
  policyCompileSeconds: Histogram<'outcome'>;
  /** Secrets redacted by the policy in the worker pool, by category (a detector, custom.<name>, blocked_key). */
  policyRedactions: Counter<'signal' | 'tenant' | 'category'>;
  /** What the policy dropped: attributes (attribute_key) and items (metric_name, service_name). */
  policyDropped: Counter<'signal' | 'tenant' | 'reason'>;
  /** Certificate / key / client CA changes on disk that were rejected (the previous ones keep serving). */
  tlsReloadFailures: Counter<'listener'>;
  /** Forensic tee (src/tee): records and bytes appended to segments. */
  teeWrittenRecords: Counter<'tenant'>;
  teeWrittenBytes: Counter<'tenant'>;
  /** Records the tee dropped instead of blocking ingest (buffer_full, disk_budget, write_error, shutdown). */
  teeShedRecords: Counter<'tenant' | 'reason'>;
  /** 1 while the tee is shedding a tenant's records (alert on it), else 0. */
  teeShedding: Gauge<'tenant'>;
  /** Bytes offered to the tee and not yet written. */
  teeBufferBytes: Gauge;
  /** Bytes under the archive dir, as the tee accounts them against forensic.maxBytes. */
  teeDiskBytes: Gauge;
  teeSealedSegments: Counter<'tier'>;
  teePrunedSegments: Counter<'tier'>;
  /** Captures asked of the admin API, by outcome (ok | refused | failed); each is also a line in the audit log. */
  teeCaptures: Counter<'outcome'>;
  /** Capture bundles deleted from the captures dir (reason: age | count | bytes | temp). */
  teeCaptureFilesPruned: Counter<'reason'>;
  samplingDecisions: Counter<'decision' | 'reason'>;
  /** Tail sampler (src/sample): spans kept or dropped by decisions, late spans included, per tenant. */
  samplingSpans: Counter<'tenant' | 'decision'>;
  /** Traces decided before their time because the buffer was full (max_traces, max_bytes), an incident started, or shutdown. */
  samplingEarlyDecisions: Counter<'reason'>;
  /** Spans that arrived after their trace was decided (they follow the decision). */
  samplingLateSpans: Counter<'decision'>;
  /** Kept spans that were lost anyway (export_refused: the export queue was full). */
  samplingDroppedSpans: Counter<'reason'>;
  /** Traces and span bytes buffered, read at scrape time through samplingStats. */
  samplingBufferedTraces: Gauge;
  samplingBufferedBytes: Gauge;
  samplingStats?: () => { traces: number; bytes: number };
  samplingPolicyReloadFailures: Counter;
  samplingPolicyVersionInfo: Gauge<'version'>;
  /** Trace-affine routing (src/cluster/trace-router.ts): spans by where their trace's owner is (local | forwarded). */
  clusterRoutedSpans: Counter<'route'>;
  /** Spans forwarded to their trace's owner and acknowledged by it. */
  clusterForwardedSpans: Counter;
  /** Forward calls that failed or could not start (unavailable | timeout | refused | budget): their traces were decided locally. */
  clusterForwardFailures: Counter<'reason'>;
  /** Spans decided locally because their forward failed, by the failure's reason. */
  clusterForwardFallbackSpans: Counter<'reason'>;
  /** Bytes of forwards in flight (bounded by cluster.routing.maxInflightBytes). */
  clusterForwardInflightBytes: Gauge;
  /** Spans received from peers as the owner of their traces. */
  clusterReceivedSpans: Counter;
  /** Forwards from peers refused (budget | too_large | malformed | tenant | failed): the sender decides them. */
  clusterReceiveRefused: Counter<'reason'>;
  incidentMode: Gauge<'tenant'>;
  /** Tenancy (src/identify, src/admit): quota refusals per tenant and reason (items | bytes). */
  tenantQuotaRefused: Counter<'tenant' | 'reason'>;
  /** Client-supplied tenant attributes the worker overwrote, per tenant. */
  tenantAttributeOverwrites: Counter<'tenant'>;
  /** tenants.yaml edits rejected (the last good version stays active). */
  tenancyReloadFailures: Counter;
  /** The active tenants.yaml version (value 1). */
  tenancyBindingsInfo: Gauge<'version'>;
  /** Incident state or audit log writes that failed (file: state | audit). */
  incidentPersistFailures: Counter<'file'>;
  /** Time a worker spent on one request (walk, policy, stamping, trace layout), per signal. */
  workerProcessingSeconds: SignalHistogram<Signal>;
  /** Of which applying the policy and stamping the tenant (the rewrite), per signal. */
  policyEvaluationSeconds: SignalHistogram<Signal>;
  /** Outbound connections refused before a socket was opened: the destination is not on egress.allow (src/egress). */
  egressRefused: Counter<'destination'>;
  /** Captures made because an incident ended (src/incident/capture-on-end.ts), one per tenant, by outcome (ok, failed). */
  incidentCaptures: Counter<'outcome'>;
  /** Notify: events delivered to a webhook (2xx). */
  incidentNotifyDelivered: Counter<'webhook' | 'event'>;
  /** Notify: failed delivery attempts (reason: http_<status> | timeout | network). */
  incidentNotifyFailures: Counter<'webhook' | 'reason'>;
  /** Notify: events given up (queue_full | retries_exhausted | rejected | shutdown). */
  incidentNotifyDropped: Counter<'webhook' | 'reason'>;
  /** Notify: events waiting or in flight, all webhooks. */
  incidentNotifyQueueSize: Gauge;

  /** Cluster mode (src/cluster): live members, this replica included. */
  clusterPeersLive: Gauge;
  /** Members that became live (join) or were declared down (leave). */
  clusterMembershipChanges: Counter<'change'>;
  /** Failed readiness probes of peers (timeout, network, status, wrong_id, identity). */
  clusterProbeFailures: Counter<'reason'>;
  /** Peer-name DNS lookups that failed or timed out (the last good answer is kept). */
  clusterDnsFailures: Counter;
  /** Connections or requests the peer listener refused (identity, over_limit, handshake_timeout, too_large, not_found, timeout). */
  clusterPeerRefused: Counter<'reason'>;
  /** Incident changes sent to peers and received from them, by outcome. */
  clusterIncidentSync: Counter<'direction' | 'outcome'>;
  /** This replica's share of each tenant quota (1 / live members). */
  clusterQuotaShare: Gauge;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const m: GatewayMetrics = {
    registry,
    buildInfo: new Gauge({
      name: 'build_info',
      help: 'What runs: the gateway version, the Node runtime and the commit (value 1)',
      labelNames: ['version', 'node', 'commit'],
      registers,
    }),
    receiverRequests: new Counter({
      name: 'receiver_requests_total',
      help: 'OTLP requests answered by a receiver, by outcome (ok or an error code)',
      labelNames: ['signal', 'protocol', 'outcome'],
      registers,
    }),
    receiverAcceptedItems: new Counter({
      name: 'receiver_accepted_items_total',
      help: 'Spans, data points and log records acknowledged to clients',
      labelNames: ['signal', 'tenant', 'protocol'],
      registers,
    }),
    receiverRefusedRequests: new Counter({
      name: 'receiver_refused_requests_total',
      help: 'OTLP requests refused, by reason',
      labelNames: ['signal', 'tenant', 'protocol', 'reason'],
      registers,
    }),
    receiverRefusedItems: new Counter({
      name: 'receiver_refused_items_total',
      help: 'Items refused inside accepted requests (partial success), by reason',
      labelNames: ['signal', 'tenant', 'protocol', 'reason'],
      registers,
    }),
    receiverRequestBytes: new Counter({
      name: 'receiver_request_bytes_total',
      help: 'Request body bytes received, after decompression',
      labelNames: ['signal', 'protocol'],
      registers,
    }),
    receiverLatency: new Histogram({
      name: 'receiver_request_duration_seconds',
      help: 'Time from a request arriving to its answer',
      labelNames: ['signal', 'protocol'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    poolQueueSize: new Gauge({
      name: 'worker_pool_queue_size',
      help: 'Tasks waiting for a worker',
      registers,
      collect() {
        const stats = m.poolStats?.();
        if (stats) this.set(stats.queued);
      },
    }),
    poolUtilization: new Gauge({
      name: 'worker_pool_utilization',
      help: 'Share of worker time spent running tasks since start (0..1)',
      registers,
      collect() {
        const stats = m.poolStats?.();
        if (stats) this.set(stats.utilization);
      },
    }),
    poolTasks: new Counter({
      name: 'worker_pool_tasks_total',
      help: 'Tasks run by the worker pool, by outcome',
      labelNames: ['signal', 'outcome'],
      registers,
    }),
    poolDropped: new Counter({
      name: 'worker_pool_dropped_tasks_total',
      help: 'Tasks not run or not kept because their client no longer waits, by reason (client_gone, deadline, queue_wait) and stage (arrival, queue, result)',
      labelNames: ['signal', 'reason', 'stage'],
      registers,
    }),
    exporterSentItems: new Counter({
      name: 'exporter_sent_items_total',
      help: 'Items acknowledged by a backend',
      labelNames: ['exporter', 'signal'],
      registers,
    }),
    exporterSentBatches: new Counter({
      name: 'exporter_sent_batches_total',
      help: 'Export requests acknowledged by a backend',
      labelNames: ['exporter', 'signal'],
      registers,
    }),
    exporterRetries: new Counter({
      name: 'exporter_retries_total',
      help: 'Export attempts retried after a retryable failure',
      labelNames: ['exporter', 'signal'],
      registers,
    }),
    exportFailures: new Counter({
      name: 'collector_export_failures_total',
      help: 'Failed export attempts, by reason',
      labelNames: ['exporter', 'signal', 'reason'],
      registers,
    }),
    exporterDroppedItems: new Counter({
      name: 'exporter_dropped_items_total',
      help: 'Items an exporter gave up on (permanent error, retries exhausted, shutdown deadline)',
      labelNames: ['exporter', 'signal', 'reason'],
      registers,
    }),
    exporterQueueBytes: new Gauge({
      name: 'exporter_queue_size_bytes',
      help: 'Bytes queued in an exporter (batching and awaiting the backend)',
      labelNames: ['exporter'],
      registers,
    }),
    exporterQueueBatches: new Gauge({
      name: 'exporter_queue_size',
      help: 'Batches queued in an exporter awaiting the backend',
      labelNames: ['exporter'],
      registers,
    }),
    exporterRefusedItems: new Counter({
      name: 'exporter_refused_items_total',
      help: 'Items refused at enqueue because an exporter queue was full',
      labelNames: ['exporter', 'signal'],
      registers,
    }),
    exporterQueueDiskBytes: new Gauge({
      name: 'exporter_queue_disk_bytes',
      help: 'Bytes of the persistent queue on disk (not yet acknowledged by the backend, and write buffer)',
      labelNames: ['exporter'],
      registers,
    }),
    exporterQueueCapacityBytes: new Gauge({
      name: 'exporter_queue_capacity_bytes',
      help: 'Queue bound in bytes: medium="memory" (queue.maxBytes) or "disk" (queue.maxDiskBytes, persistent queues)',
      labelNames: ['exporter', 'medium'],
      registers,
    }),
    exporterQueueOldestAge: new Gauge({
      name: 'exporter_queue_oldest_age_seconds',
      help: 'Age of the oldest entry an exporter holds: queued or in flight in memory, or on disk not yet acknowledged (0 when empty)',
      labelNames: ['exporter'],
      registers,
      collect() {
        for (const [exporter, age] of m.exporterOldestAge) this.set({ exporter }, age() / 1000);
      },
    }),
    exporterOldestAge: new Map(),
    exporterLatency: new Histogram({
      name: 'exporter_export_duration_seconds',
      help: 'Duration of one export attempt, from request to answer, by outcome (ok, retryable, permanent)',
      labelNames: ['exporter', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    exporterRetriesPastBudget: new Counter({
      name: 'exporter_retries_past_budget_total',
      help: 'Batches still failing after retry.maxElapsed and kept in the queue, retrying (retry.whenExhausted: keep)',
      labelNames: ['exporter', 'signal'],
      registers,
    }),
    exporterQueueReplayedRecords: new Counter({
      name: 'exporter_queue_replayed_records_total',
      help: 'Requests found on disk at start-up that the backend had not acknowledged, replayed before new data',
      labelNames: ['exporter'],
      registers,
    }),
    exporterQueuePossibleDuplicates: new Counter({
      name: 'exporter_queue_possible_duplicates_total',
      help: 'Replayed requests that had been handed to the sender before the restart (the backend may see them twice)',
      labelNames: ['exporter'],
      registers,
    }),
    exporterQueueTornBytes: new Counter({
      name: 'exporter_queue_torn_bytes_total',
      help: 'Bytes of a torn or corrupt tail cut off the persistent queue at start-up',
      labelNames: ['exporter'],
      registers,
    }),
    exporterQueueCorruptBytes: new Counter({
      name: 'exporter_queue_corrupt_bytes_total',
      help: 'Bytes of damaged records skipped while reading the persistent queue',
      labelNames: ['exporter'],
      registers,
    }),
    exporterQueueLostRecords: new Counter({
      name: 'exporter_queue_lost_records_total',
      help: 'Requests missing from the persistent queue (lost with a damaged stretch) before the backend acknowledged them',
      labelNames: ['exporter'],
      registers,
    }),
    exporterQueueSyncLatency: new Histogram({
      name: 'exporter_queue_durable_seconds',
      help: 'Time from append to durable (written and fsynced as queue.sync says) per request',
      labelNames: ['exporter'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    admitInflightBytes: new Gauge({
      name: 'admit_inflight_bytes',
      help: 'Request bytes admitted and not yet acknowledged',
      registers,
    }),
    admitInflightBytesPeak: new Gauge({
      name: 'admit_inflight_bytes_peak',
      help: 'The highest admit_inflight_bytes since start',
      registers,
    }),
    receiverConnections: new Gauge({
      name: 'receiver_connections',
      help: 'Open connections per receiver listener',
      labelNames: ['protocol'],
      registers,
    }),
    receiverConnectionsClosed: new Counter({
      name: 'receiver_connections_closed_total',
      help: 'Connections a receiver refused or closed on a limit, by reason',
      labelNames: ['protocol', 'reason'],
      registers,
    }),
    policyVersionInfo: new Gauge({
      name: 'policy_version_info',
      help: 'The active policy version (value 1)',
      labelNames: ['version'],
      registers,
    }),
    policyReloadFailures: new Counter({
      name: 'policy_reload_failures_total',
      help: 'Policy reloads rejected (the last good version stays active)',
      registers,
    }),
    policyFileRejections: new Counter({
      name: 'policy_file_rejections_total',
      help: 'Policy files refused by file and reason (missing, empty, incomplete, unparsable, invalid, unreadable, too_large, signature); the last good version stays active',
      labelNames: ['file', 'reason'],
      registers,
    }),
    policyCompileSeconds: new Histogram({
      name: 'policy_compile_seconds',
      help: 'Time to read, validate and compile the policies in a worker thread (off the event loop), by outcome',
      labelNames: ['outcome'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    policyRedactions: new Counter({
      name: 'policy_redactions_total',
      help: 'Values redacted by the policy, by category (detector, custom.<name>, blocked_key)',
      labelNames: ['signal', 'tenant', 'category'],
      registers,
    }),
    policyDropped: new Counter({
      name: 'policy_dropped_total',
      help: 'Dropped by the policy allowlists: attributes (reason attribute_key) and items (metric_name, service_name)',
      labelNames: ['signal', 'tenant', 'reason'],
      registers,
    }),
    tlsReloadFailures: new Counter({
      name: 'tls_reload_failures_total',
      help: 'TLS certificate, key or client CA changes rejected (the previous ones keep serving)',
      labelNames: ['listener'],
      registers,
    }),
    teeWrittenRecords: new Counter({
      name: 'tee_written_records_total',
      help: 'Records the forensic tee appended to segments',
      labelNames: ['tenant'],
      registers,
    }),
    teeWrittenBytes: new Counter({
      name: 'tee_written_bytes_total',
      help: 'Bytes the forensic tee appended to segments (frames as stored: compressed)',
      labelNames: ['tenant'],
      registers,
    }),
    teeShedRecords: new Counter({
      name: 'tee_shed_records_total',
      help: 'Records the forensic tee dropped instead of blocking ingest, by reason',
      labelNames: ['tenant', 'reason'],
      registers,
    }),
    teeShedding: new Gauge({
      name: 'tee_shedding',
      help: '1 while the forensic tee is shedding records of the tenant (the archive has a gap), else 0',
      labelNames: ['tenant'],
      registers,
    }),
    teeBufferBytes: new Gauge({
      name: 'tee_buffer_bytes',
      help: 'Bytes offered to the forensic tee and not yet written',
      registers,
    }),
    teeDiskBytes: new Gauge({
      name: 'tee_disk_bytes',
      help: 'Bytes under the forensic archive dir, counted against forensic.maxBytes',
      registers,
    }),
    teeSealedSegments: new Counter({
      name: 'tee_sealed_segments_total',
      help: 'Forensic segments sealed (complete, renamed to .segz), by retention tier',
      labelNames: ['tier'],
      registers,
    }),
    teePrunedSegments: new Counter({
      name: 'tee_pruned_segments_total',
      help: 'Sealed forensic segments deleted by the pruner after their tier expired',
      labelNames: ['tier'],
      registers,
    }),
    teeCaptures: new Counter({
      name: 'tee_captures_total',
      help: 'Captures asked of the admin API, by outcome (ok, refused, failed)',
      labelNames: ['outcome'],
      registers,
    }),
    teeCaptureFilesPruned: new Counter({
      name: 'tee_capture_files_pruned_total',
      help: 'Capture bundles deleted from the captures dir (age, count, bytes, temp)',
      labelNames: ['reason'],
      registers,
    }),
    samplingDecisions: new Counter({
      name: 'sampling_decisions_total',
      help: 'Tail-sampling decisions per trace',
      labelNames: ['decision', 'reason'],
      registers,
    }),
    samplingSpans: new Counter({
      name: 'sampling_spans_total',
      help: 'Spans kept or dropped by tail-sampling decisions (late spans included), per tenant',
      labelNames: ['tenant', 'decision'],
      registers,
    }),
    samplingEarlyDecisions: new Counter({
      name: 'sampling_early_decisions_total',
      help: 'Traces decided before their decision wait, by reason (max_traces, max_bytes, incident, shutdown)',
      labelNames: ['reason'],
      registers,
    }),
    samplingLateSpans: new Counter({
      name: 'sampling_late_spans_total',
      help: 'Spans that arrived after their trace was decided, by the decision they followed',
      labelNames: ['decision'],
      registers,
    }),
    samplingDroppedSpans: new Counter({
      name: 'sampling_dropped_spans_total',
      help: 'Spans the sampler kept but could not hand to the exporters, by reason (export_refused)',
      labelNames: ['reason'],
      registers,
    }),
    samplingBufferedTraces: new Gauge({
      name: 'sampling_buffered_traces',
      help: 'Traces buffered by the tail sampler, awaiting a decision',
      registers,
      collect() {
        const stats = m.samplingStats?.();
        if (stats) this.set(stats.traces);
      },
    }),
    samplingBufferedBytes: new Gauge({
      name: 'sampling_buffered_bytes',
      help: 'Span bytes buffered by the tail sampler (bounded by sampling.maxBytes)',
      registers,
      collect() {
        const stats = m.samplingStats?.();
        if (stats) this.set(stats.bytes);
      },
    }),
    samplingPolicyReloadFailures: new Counter({
      name: 'sampling_policy_reload_failures_total',
      help: 'sampling.yaml changes rejected (the last good version stays active)',
      registers,
    }),
    samplingPolicyVersionInfo: new Gauge({
      name: 'sampling_policy_version_info',
      help: 'The active sampling policy version (value 1)',
      labelNames: ['version'],
      registers,
    }),
    clusterRoutedSpans: new Counter({
      name: 'cluster_routed_spans_total',
      help: 'Spans routed by the owner of their trace: local (this replica) or forwarded (a peer)',
      labelNames: ['route'],
      registers,
    }),
    clusterForwardedSpans: new Counter({
      name: 'cluster_forwarded_spans_total',
      help: 'Spans forwarded to the owner of their trace and acknowledged by it',
      registers,
    }),
    clusterForwardFailures: new Counter({
      name: 'cluster_forward_failures_total',
      help: 'Forward calls to a trace owner that failed or could not start, by reason (unavailable, timeout, refused, budget)',
      labelNames: ['reason'],
      registers,
    }),
    clusterForwardFallbackSpans: new Counter({
      name: 'cluster_forward_fallback_spans_total',
      help: 'Spans decided locally because their forward to the trace owner failed, by reason',
      labelNames: ['reason'],
      registers,
    }),
    clusterForwardInflightBytes: new Gauge({
      name: 'cluster_forward_inflight_bytes',
      help: 'Bytes of forwards to trace owners waiting for a call or in flight (bounded by cluster.routing.maxInflightBytes)',
      registers,
    }),
    clusterReceivedSpans: new Counter({
      name: 'cluster_received_spans_total',
      help: 'Spans received from peers as the owner of their traces',
      registers,
    }),
    clusterReceiveRefused: new Counter({
      name: 'cluster_receive_refused_total',
      help: 'Forwards from peers refused, by reason (budget, too_large, malformed, tenant, failed)',
      labelNames: ['reason'],
      registers,
    }),
    tenantQuotaRefused: new Counter({
      name: 'tenant_quota_refused_requests_total',
      help: 'Requests refused because the tenant is over its quota, by reason (items, bytes)',
      labelNames: ['tenant', 'reason'],
      registers,
    }),
    tenantAttributeOverwrites: new Counter({
      name: 'tenant_attribute_overwrites_total',
      help: 'Client-supplied tenant resource attributes overwritten by the gateway',
      labelNames: ['tenant'],
      registers,
    }),
    tenancyReloadFailures: new Counter({
      name: 'tenancy_reload_failures_total',
      help: 'tenants.yaml changes rejected (the last good version stays active)',
      registers,
    }),
    tenancyBindingsInfo: new Gauge({
      name: 'tenancy_bindings_info',
      help: 'The active tenants.yaml version (value 1)',
      labelNames: ['version'],
      registers,
    }),
    incidentMode: new Gauge({
      name: 'telemetry_incident_mode',
      help: '1 while incident mode is on for the tenant (or _all for the fleet)',
      labelNames: ['tenant'],
      registers,
    }),
    incidentPersistFailures: new Counter({
      name: 'incident_persist_failures_total',
      help: 'Incident state (state) or audit log (audit) writes that failed',
      labelNames: ['file'],
      registers,
    }),
    workerProcessingSeconds: new SignalHistogram({
      name: 'worker_processing_seconds',
      help: 'Time a worker spent processing one request (walk, policy, stamping), per signal',
      values: SIGNALS,
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    policyEvaluationSeconds: new SignalHistogram({
      name: 'policy_evaluation_seconds',
      help: 'Time a worker spent applying the policy and stamping the tenant on one request, per signal',
      values: SIGNALS,
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    egressRefused: new Counter({
      name: 'egress_refused_total',
      help: 'Outbound connections refused before a socket was opened because the destination is not on egress.allow',
      labelNames: ['destination'],
      registers,
    }),
    incidentCaptures: new Counter({
      name: 'incident_captures_total',
      help: 'Signed bundles captured because an incident ended, one per tenant, by outcome (ok, failed)',
      labelNames: ['outcome'],
      registers,
    }),
    incidentNotifyDelivered: new Counter({
      name: 'incident_notify_delivered_total',
      help: 'Incident events delivered to a Notify webhook',
      labelNames: ['webhook', 'event'],
      registers,
    }),
    incidentNotifyFailures: new Counter({
      name: 'incident_notify_failures_total',
      help: 'Failed Notify delivery attempts, by reason (http_<status>, timeout, network)',
      labelNames: ['webhook', 'reason'],
      registers,
    }),
    incidentNotifyDropped: new Counter({
      name: 'incident_notify_dropped_total',
      help: 'Incident events given up for a webhook (queue_full, retries_exhausted, rejected, shutdown)',
      labelNames: ['webhook', 'reason'],
      registers,
    }),
    incidentNotifyQueueSize: new Gauge({
      name: 'incident_notify_queue_size',
      help: 'Incident events waiting for (or in flight to) Notify webhooks',
      registers,
    }),
    clusterPeersLive: new Gauge({
      name: 'cluster_peers_live',
      help: 'Live members of the cluster, this replica included (0 without cluster mode)',
      registers,
    }),
    clusterMembershipChanges: new Counter({
      name: 'cluster_membership_changes_total',
      help: 'Cluster members that became live (join) or were declared down (leave)',
      labelNames: ['change'],
      registers,
    }),
    clusterProbeFailures: new Counter({
      name: 'cluster_probe_failures_total',
      help: 'Failed readiness probes of peers, by reason (timeout, network, status, wrong_id, identity)',
      labelNames: ['reason'],
      registers,
    }),
    clusterDnsFailures: new Counter({
      name: 'cluster_dns_failures_total',
      help: 'Lookups of cluster.peers (dns:NAME:PORT) that failed or timed out; the last good answer is kept',
      registers,
    }),
    clusterPeerRefused: new Counter({
      name: 'cluster_peer_refused_total',
      help: 'Connections or requests refused by the peer listener, by reason',
      labelNames: ['reason'],
      registers,
    }),
    clusterIncidentSync: new Counter({
      name: 'cluster_incident_sync_total',
      help: 'Incident changes sent to (direction sent) or received from (received) peers, by outcome',
      labelNames: ['direction', 'outcome'],
      registers,
    }),
    clusterQuotaShare: new Gauge({
      name: 'cluster_quota_share',
      help: "This replica's share of every tenant quota (1 / live members; 1 without cluster mode)",
      registers,
    }),
  };
  m.clusterQuotaShare.set(1);
  m.incidentMode.set({ tenant: '_all' }, 0);
  m.policyReloadFailures.inc(0);
  m.buildInfo.set(buildInfo(), 1);
  return m;
}
