import t from 'tap';
import { GrpcCode, RETRYABLE_GRPC_CODES } from '../../src/errors.js';
import { classifyGrpcStatus } from '../../src/export/grpc-status.js';
import { encodeRpcStatus } from '../../src/rpc-status.js';

// The retryable codes are the catalogue's (src/errors.ts; test/errors.test.ts holds them to the OTLP spec).
t.test('classification table (OTLP spec)', async (t) => {
  for (const code of Object.values(GrpcCode)) {
    if (code === GrpcCode.OK) continue;
    const r = classifyGrpcStatus(code, 'x');
    t.equal(r.status, RETRYABLE_GRPC_CODES.has(code) ? 'retryable' : 'permanent', `code ${code} without RetryInfo`);
  }
  const withInfo = encodeRpcStatus({ code: GrpcCode.RESOURCE_EXHAUSTED, message: 'slow down', retryDelayMs: 2500 });
  t.same(classifyGrpcStatus(GrpcCode.RESOURCE_EXHAUSTED, 'x', withInfo), {
    status: 'retryable',
    reason: 'grpc_resource_exhausted',
    retryAfterMs: 2500,
    message: 'slow down',
  });
  t.same(classifyGrpcStatus(GrpcCode.UNAVAILABLE, 'detail', Buffer.from([0xff, 0xff])), { status: 'retryable', reason: 'grpc_unavailable', message: 'detail' }, 'garbage details are ignored');
});
