// The gateway's own metrics (prom-client), served on the admin listener at /metrics.
// One registry per gateway instance, so tests can run several gateways in one process.
// Every metric name is listed in the README's metrics table.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface GatewayMetrics {
  registry: Registry;
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

  exporterSentItems: Counter<'exporter' | 'signal'>;
  exporterSentBatches: Counter<'exporter' | 'signal'>;
  exporterRetries: Counter<'exporter' | 'signal'>;
  /** OpenTelemetry Collector-compatible name: failed export attempts. */
  exportFailures: Counter<'exporter' | 'signal' | 'reason'>;
  exporterDroppedItems: Counter<'exporter' | 'signal' | 'reason'>;
  exporterQueueBytes: Gauge<'exporter'>;
  exporterQueueBatches: Gauge<'exporter'>;
  exporterRefusedItems: Counter<'exporter' | 'signal'>;

  admitInflightBytes: Gauge;

  policyVersionInfo: Gauge<'version'>;
  policyReloadFailures: Counter;
  /** Certificate / key / client CA changes on disk that were rejected (the previous ones keep serving). */
  tlsReloadFailures: Counter<'listener'>;
  samplingDecisions: Counter<'decision' | 'reason'>;
  incidentMode: Gauge<'tenant'>;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const m: GatewayMetrics = {
    registry,
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
    admitInflightBytes: new Gauge({
      name: 'admit_inflight_bytes',
      help: 'Request bytes admitted and not yet acknowledged',
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
    tlsReloadFailures: new Counter({
      name: 'tls_reload_failures_total',
      help: 'TLS certificate, key or client CA changes rejected (the previous ones keep serving)',
      labelNames: ['listener'],
      registers,
    }),
    samplingDecisions: new Counter({
      name: 'sampling_decisions_total',
      help: 'Tail-sampling decisions per trace',
      labelNames: ['decision', 'reason'],
      registers,
    }),
    incidentMode: new Gauge({
      name: 'telemetry_incident_mode',
      help: '1 while incident mode is on for the tenant (or _all for the fleet)',
      labelNames: ['tenant'],
      registers,
    }),
  };
  m.incidentMode.set({ tenant: '_all' }, 0);
  m.policyReloadFailures.inc(0);
  return m;
}
