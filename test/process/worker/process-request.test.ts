import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { processRequest } from '../../../src/process/worker/process-request.js';
import { otlpJsonToProtobuf } from '../../../src/process/wire/otlp-json.js';
import { decodeForComparison } from '../../../src/process/reference/reference.js';
import { otlpJsonFixtures } from '../../helpers/fixtures.js';
import { bytes, len, span, str, tracesRequest, vint } from '../../helpers/wire-builder.js';

const T1 = '0102030405060708090a0b0c0d0e0f10';

t.test('protobuf: an accepted request comes back as the very same bytes', async (t) => {
  const body = tracesRequest(span({ traceId: T1, name: 'x' }));
  const r = processRequest({ signal: 'traces', encoding: 'protobuf', body, tenant: 'a' });
  t.equal(r.status, 'ok');
  if (r.status !== 'ok') return;
  t.equal(r.body, body, 'the input buffer, not a copy');
  t.equal(r.items, 1);
  t.equal(r.rejectedItems, 0);
  t.equal(r.traces?.length, 1);
});

t.test('protobuf: unknown top-level fields are stripped so that outputs concatenate', async (t) => {
  const a = [...tracesRequest(span({ traceId: T1, name: 'a' }))];
  const b = [...tracesRequest(span({ traceId: T1, name: 'b' }))];
  const body = bytes(vint(2, 5), a, str(7, 'junk'), b, len(3, [1, 2]));
  const r = processRequest({ signal: 'traces', encoding: 'protobuf', body, tenant: 'a' });
  if (r.status !== 'ok') return t.fail(r.message);
  t.same([...r.body], [...a, ...b], 'only the field-1 ranges, verbatim and in order');
  t.equal(r.items, 2);
});

t.test('protobuf: malformed input is a MALFORMED_PAYLOAD rejection with a path', async (t) => {
  const r = processRequest({ signal: 'traces', encoding: 'protobuf', body: bytes(vint(1, 1)), tenant: 'a' });
  t.same(r, { status: 'rejected', code: 'MALFORMED_PAYLOAD', message: 'ExportTraceServiceRequest: field 1 (resource_spans) has wire type 0, expected 2 (offset 0)' });
});

t.test('json: converted, then walked like protobuf', async (t) => {
  for (const [file, signal, items] of [['trace.json', 'traces', 1], ['metrics.json', 'metrics', 4], ['logs.json', 'logs', 1]] as const) {
    const json = readFileSync(join(otlpJsonFixtures, file));
    const r = processRequest({ signal, encoding: 'json', body: json, tenant: 'a' });
    if (r.status !== 'ok') {
      t.fail(`${file}: ${r.message}`);
      continue;
    }
    t.equal(r.items, items, `${file}: items`);
    const converted = otlpJsonToProtobuf(signal, json);
    if (!converted.ok) return t.fail(converted.message);
    t.same(decodeForComparison(signal, r.body), decodeForComparison(signal, converted.bytes), `${file}: the converted request`);
  }
});

t.test('json: a body that is not OTLP/JSON is rejected with the converter message', async (t) => {
  const r = processRequest({ signal: 'logs', encoding: 'json', body: Buffer.from('{"resourceLogs": 5}'), tenant: 'a' });
  t.equal(r.status, 'rejected');
  if (r.status === 'rejected') {
    t.equal(r.code, 'MALFORMED_PAYLOAD');
    t.match(r.message, /resourceLogs/);
  }
  const notJson = processRequest({ signal: 'logs', encoding: 'json', body: Buffer.from('{'), tenant: 'a' });
  t.match(notJson, { status: 'rejected', code: 'MALFORMED_PAYLOAD', message: /JSON/ });
});
