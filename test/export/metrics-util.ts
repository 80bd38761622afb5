// Reading prom-client values in export tests.
import type { Counter, Gauge } from 'prom-client';

/** The value of one labelled series (0 when absent); labels not given are summed over. */
export async function valueOf(metric: Counter<string> | Gauge<string>, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}
