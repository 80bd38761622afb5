// The error catalogue is the one status table: every code must be documented in the status-code reference
// with the same gRPC code and HTTP status (and the reference lists no other), the mapping must follow the
// OTLP rules on retryability, and the metrics reference lists exactly the metrics the gateway registers.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, GrpcCode, type ErrorCode } from '../src/errors.js';
import { packageRoot } from '../src/paths.js';
import { createMetrics } from '../src/telemetry/metrics.js';

const statusDoc = readFileSync(join(packageRoot, 'docs', 'reference', 'status-codes.md'), 'utf8');
const metricsDoc = readFileSync(join(packageRoot, 'docs', 'reference', 'metrics.md'), 'utf8');
const grpcName = (code: number) => Object.entries(GrpcCode).find(([, v]) => v === code)![0];

t.test('every error code is documented in the status-code reference, and only those', async (t) => {
  const documented = statusDoc.split('\n').flatMap((l) => /^\| `([A-Z_]+)` \|/.exec(l)?.[1] ?? []);
  t.same([...documented].sort(), Object.keys(ERRORS).sort(), 'the table and the catalogue list the same codes');
  for (const [code, spec] of Object.entries(ERRORS) as [ErrorCode, (typeof ERRORS)[ErrorCode]][]) {
    const row = statusDoc.split('\n').find((l) => l.startsWith(`| \`${code}\``));
    t.ok(row, `${code} has a row`);
    if (!row) continue;
    t.match(row, new RegExp(`\\| ${spec.http} \\|`), `${code}: HTTP ${spec.http}`);
    t.match(row, new RegExp(`\\| ${grpcName(spec.grpc)} \\|`), `${code}: gRPC ${grpcName(spec.grpc)}`);
    t.match(row, new RegExp(`\\| ${spec.retryable ? 'yes' : 'no'} \\|`), `${code}: retryable ${spec.retryable}`);
  }
});

t.test('the mapping follows the OTLP failure rules', async (t) => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    // OTLP/HTTP: only 429, 502, 503, 504 are retryable.
    t.equal([429, 502, 503, 504].includes(spec.http), spec.retryable, `${code}: HTTP ${spec.http} retryable iff ${spec.retryable}`);
    // OTLP/gRPC: RESOURCE_EXHAUSTED is retryable only with RetryInfo, which retryable refusals always carry.
    const retryableGrpc: number[] = [GrpcCode.CANCELLED, GrpcCode.DEADLINE_EXCEEDED, GrpcCode.ABORTED, GrpcCode.OUT_OF_RANGE, GrpcCode.UNAVAILABLE, GrpcCode.DATA_LOSS];
    if (spec.retryable) t.ok(retryableGrpc.includes(spec.grpc) || spec.grpc === GrpcCode.RESOURCE_EXHAUSTED, `${code}: gRPC code is retryable`);
    else t.notOk(retryableGrpc.includes(spec.grpc), `${code}: gRPC code is not retryable`);
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
