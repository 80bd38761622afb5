import t from 'tap';
import { GrpcCode } from '../../src/errors.js';
import { classifyGrpcStatus } from '../../src/export/grpc-status.js';
import { encodeRpcStatus } from '../../src/rpc-status.js';

t.test('classification table (OTLP spec)', async (t) => {
  const retryableCodes: number[] = [GrpcCode.CANCELLED, GrpcCode.DEADLINE_EXCEEDED, GrpcCode.ABORTED, GrpcCode.OUT_OF_RANGE, GrpcCode.UNAVAILABLE, GrpcCode.DATA_LOSS];
  for (const code of Object.values(GrpcCode)) {
    if (code === GrpcCode.OK) continue;
    const r = classifyGrpcStatus(code, 'x');
    t.equal(r.status, retryableCodes.includes(code) ? 'retryable' : 'permanent', `code ${code} without RetryInfo`);
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
