// The exporter entry the fault tests write into a real gateway's config file: OTLP/HTTP to the fault
// backend, traces only, short batching and retry delays so that recovery is quick.
export function faultExporter(backendUrl: string, queue: Record<string, unknown>, patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'backend',
    endpoint: backendUrl,
    signals: ['traces'],
    timeout: '2s',
    concurrency: 2,
    batch: { flushInterval: '20ms' },
    retry: { initialBackoff: '20ms', maxBackoff: '200ms', maxElapsed: '5m' },
    queue,
    ...patch,
  };
}
