import protobuf from 'protobufjs';
import t from 'tap';
import { DEFAULT_RETRY_AFTER_MS, ERRORS, rejected, retryable, type ErrorCode } from '../../src/errors.js';
import {
  encodeExportResponse,
  errorBody,
  exportResponseJson,
  refusalAnswer,
  retryAfterSeconds,
  successBody,
} from '../../src/receive/responses.js';
import { decodeRpcStatus } from '../../src/rpc-status.js';

// The oracle: the collector response messages as the OTLP protos define them, decoded by protobufjs.
const { root } = protobuf.parse(`
syntax = "proto3";
package t;
message ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
message ExportMetricsPartialSuccess { int64 rejected_data_points = 1; string error_message = 2; }
message ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1; }
message ExportLogsPartialSuccess { int64 rejected_log_records = 1; string error_message = 2; }
message ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1; }
`);

function decode(type: string, buf: Uint8Array): Record<string, unknown> {
  const T = root.lookupType(`t.${type}`);
  return T.toObject(T.decode(buf), { longs: String, defaults: false }) as Record<string, unknown>;
}

t.test('full success is an empty message / {}', async (t) => {
  t.equal(encodeExportResponse().length, 0);
  t.equal(encodeExportResponse({ rejectedItems: 0 }).length, 0, 'partial_success stays unset with nothing rejected');
  t.equal(exportResponseJson('traces'), '{}');
  t.equal(exportResponseJson('logs', { rejectedItems: 0, errorMessage: '' }), '{}');
  t.equal(successBody('metrics', 'json'), '{}');
  t.same(successBody('metrics', 'protobuf'), Buffer.alloc(0));
});

t.test('partial success in protobuf decodes with the OTLP schema for every signal', async (t) => {
  const buf = encodeExportResponse({ rejectedItems: 3, errorMessage: 'spans without trace id — dropped' });
  t.same(decode('ExportTraceServiceResponse', buf), {
    partialSuccess: { rejectedSpans: '3', errorMessage: 'spans without trace id — dropped' },
  });
  t.same(decode('ExportMetricsServiceResponse', buf), {
    partialSuccess: { rejectedDataPoints: '3', errorMessage: 'spans without trace id — dropped' },
  });
  t.same(decode('ExportLogsServiceResponse', buf), {
    partialSuccess: { rejectedLogRecords: '3', errorMessage: 'spans without trace id — dropped' },
  });
  // multi-byte varints and long messages
  const big = encodeExportResponse({ rejectedItems: 300_000_000_000, errorMessage: 'x'.repeat(300) });
  t.same(decode('ExportTraceServiceResponse', big), {
    partialSuccess: { rejectedSpans: '300000000000', errorMessage: 'x'.repeat(300) },
  });
  // a warning: rejected 0 with a message (allowed by OTLP)
  t.same(decode('ExportLogsServiceResponse', encodeExportResponse({ rejectedItems: 0, errorMessage: 'note' })), {
    partialSuccess: { errorMessage: 'note' },
  });
});

t.test('partial success in OTLP/JSON uses the per-signal field and an int64 string', async (t) => {
  t.same(JSON.parse(exportResponseJson('traces', { rejectedItems: 3, errorMessage: 'bad' })), {
    partialSuccess: { rejectedSpans: '3', errorMessage: 'bad' },
  });
  t.same(JSON.parse(exportResponseJson('metrics', { rejectedItems: 2 })), { partialSuccess: { rejectedDataPoints: '2' } });
  t.same(JSON.parse(successBody('logs', 'json', { rejectedItems: 1, errorMessage: 'm' }) as string), {
    partialSuccess: { rejectedLogRecords: '1', errorMessage: 'm' },
  });
});

t.test('refusals take code, status and retryability from the catalogue only', async (t) => {
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    const spec = ERRORS[code];
    const outcome = spec.retryable ? retryable(code, 2500) : rejected(code, `because ${code}`);
    const a = refusalAnswer(outcome);
    t.equal(a.grpc, spec.grpc, `${code} grpc`);
    t.equal(a.http, spec.http, `${code} http`);
    t.equal(a.retryAfterMs, spec.retryable ? 2500 : undefined, `${code} retry hint`);

    const pb = decodeRpcStatus(errorBody(a, 'protobuf') as Buffer);
    t.same(pb, { code: spec.grpc, message: outcome.message, ...(spec.retryable ? { retryDelayMs: 2500 } : {}) });
    const json = JSON.parse(errorBody(a, 'json') as string) as Record<string, unknown>;
    t.equal(json.code, spec.grpc);
    t.equal(json.message, outcome.message);
    if (spec.retryable) t.same(json.details, [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '2.500s' }]);
    else t.notOk('details' in json);
  }
});

t.test('a retryable code refused without a hint still gets the default hint', async (t) => {
  t.equal(refusalAnswer(rejected('OVERLOADED')).retryAfterMs, DEFAULT_RETRY_AFTER_MS);
  // and a non-retryable code never carries RetryInfo, whatever the outcome says
  t.equal(refusalAnswer(retryable('PAYLOAD_TOO_LARGE', 5000)).retryAfterMs, undefined);
});

t.test('Retry-After is whole seconds, rounded up', async (t) => {
  t.equal(retryAfterSeconds(0), '0');
  t.equal(retryAfterSeconds(1), '1');
  t.equal(retryAfterSeconds(1000), '1');
  t.equal(retryAfterSeconds(1001), '2');
  t.equal(retryAfterSeconds(2500), '3');
});
