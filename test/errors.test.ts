// The error catalogue (src/errors.ts) is the one status table, for the OTLP receivers and the admin API:
// the status-code reference documents every code with the catalogue's HTTP status and gRPC code (and
// retryability, for the receivers' codes), and documents no code the catalogue lacks; the mapping and
// the exporters' retryable sets follow the OTLP rules; the metrics reference lists exactly the metrics
// the gateway registers. (Model: fastify's lib/errors.js and its docs test.)
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_ERRORS, ERRORS, GrpcCode, isRetryableGrpc, RETRYABLE_GRPC_CODES, RETRYABLE_HTTP_STATUSES } from '../src/errors.js';
import { packageRoot } from '../src/paths.js';
import { createMetrics } from '../src/telemetry/metrics.js';

const statusDoc = readFileSync(join(packageRoot, 'docs', 'reference', 'status-codes.md'), 'utf8');
const metricsDoc = readFileSync(join(packageRoot, 'docs', 'reference', 'metrics.md'), 'utf8');
const grpcName = (code: number) => Object.entries(GrpcCode).find(([, v]) => v === code)![0];

/** The table rows (`| \`CODE\` | ... |`) of the doc's section under `heading`, by code. */
function documented(heading: string): Map<string, string[]> {
  const start = statusDoc.indexOf(`\n${heading}\n`);
  if (start < 0) return new Map();
  const next = statusDoc.indexOf('\n## ', start + heading.length + 1);
  const section = statusDoc.slice(start, next < 0 ? undefined : next);
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const m = /^\| `([A-Z_]+)` \|(.*)\|$/.exec(line);
    if (m) rows.set(m[1]!, m[2]!.split('|').map((c) => c.trim()));
  }
  return rows;
}

const tables = [
  { heading: '## OTLP receivers', catalogue: ERRORS as Record<string, { http: number; grpc: number; retryable?: boolean }> },
  { heading: '## Admin API', catalogue: ADMIN_ERRORS as Record<string, { http: number; grpc: number; retryable?: boolean }> },
];

for (const { heading, catalogue } of tables) {
  t.test(`${heading.slice(3)}: every code documented with its statuses, and every documented code defined`, async (t) => {
    const rows = documented(heading);
    t.ok(rows.size > 0, `the reference has a "${heading}" table`);
    for (const [code, spec] of Object.entries(catalogue)) {
      const cells = rows.get(code);
      if (!t.ok(cells, `${code} is documented`)) continue;
      const [http, grpc, retryable] = cells!;
      t.equal(http, String(spec.http), `${code}: HTTP ${spec.http}`);
      t.equal(grpc, grpcName(spec.grpc), `${code}: gRPC ${grpcName(spec.grpc)}`);
      if (spec.retryable !== undefined) t.equal(retryable, spec.retryable ? 'yes' : 'no', `${code}: retryable ${spec.retryable}`);
    }
    for (const code of rows.keys()) t.ok(code in catalogue, `documented ${code} is in the catalogue`);
  });
}

t.test('the two tables name their codes apart, and the reference lists no code outside them', async (t) => {
  const ingest = Object.keys(ERRORS);
  t.same(Object.keys(ADMIN_ERRORS).filter((c) => ingest.includes(c)), [], 'no name in both');
  const everyRow = statusDoc.split('\n').flatMap((l) => /^\| `([A-Z_]+)` \|/.exec(l)?.[1] ?? []);
  t.same(everyRow.filter((c) => !(c in ERRORS) && !(c in ADMIN_ERRORS)), [], 'no row outside the two tables');
  t.equal(everyRow.length, new Set(everyRow).size, 'each code has one row');
});

t.test('the retryable sets are the OTLP specification\'s', async (t) => {
  // https://opentelemetry.io/docs/specs/otlp/#failures-1 (HTTP) and #failures (gRPC)
  t.same([...RETRYABLE_HTTP_STATUSES].sort(), [429, 502, 503, 504]);
  t.same([...RETRYABLE_GRPC_CODES].map(grpcName).sort(), ['ABORTED', 'CANCELLED', 'DATA_LOSS', 'DEADLINE_EXCEEDED', 'OUT_OF_RANGE', 'UNAVAILABLE']);
  t.ok(isRetryableGrpc(GrpcCode.RESOURCE_EXHAUSTED, true), 'RESOURCE_EXHAUSTED with RetryInfo');
  t.notOk(isRetryableGrpc(GrpcCode.RESOURCE_EXHAUSTED, false), 'RESOURCE_EXHAUSTED without RetryInfo');
});

t.test('the receivers\' mapping follows the OTLP failure rules', async (t) => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    t.equal(RETRYABLE_HTTP_STATUSES.has(spec.http), spec.retryable, `${code}: HTTP ${spec.http} retryable iff ${spec.retryable}`);
    // Retryable refusals always carry RetryInfo, which makes RESOURCE_EXHAUSTED retryable too.
    t.equal(isRetryableGrpc(spec.grpc, spec.retryable), spec.retryable, `${code}: gRPC ${grpcName(spec.grpc)} retryable iff ${spec.retryable}`);
  }
  t.equal(ERRORS.MALFORMED_PAYLOAD.http, 400);
  t.equal(ERRORS.MALFORMED_PAYLOAD.grpc, GrpcCode.INVALID_ARGUMENT);
});

t.test('the metrics reference documents every self-metric, and only those', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
  t.ok(names.length > 10);
  const documented = metricsDoc.split('\n').flatMap((l) => /^\| `([a-z_]+)` \|/.exec(l)?.[1] ?? []);
  t.same([...documented].sort(), [...names].sort(), 'the table and the registry list the same metrics');
});
