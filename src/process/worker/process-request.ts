// One task of the worker pool: bytes in, bytes out plus a small summary (DESIGN.md decisions 1-2).
// JSON is converted to protobuf first (the reference codec), then everything takes the same fast path:
// walk (validate, count, summarise) ─▶ rewrite (policy, tenant stamping; rewrite.ts) ─▶ output,
// with each trace located when the tail sampler asks (../wire/locate-traces.ts).
// With no rules and no stamping the output is the input, untouched.
import type { ProcessOk, ProcessResult, ProcessTask } from '../protocol.js';
import { otlpJsonToProtobuf } from '../wire/otlp-json.js';
import type { VersionRules } from './policy-rules.js';
import { rewriteRequest } from './rewrite.js';
import { locateTraceColumns } from '../wire/locate-traces.js';
import { walkRequest } from './walk.js';
import { WireType, readLength, readTag, skipVarint, wire } from '../wire/wire-reader.js';

/**
 * Processes one request under `policy` (the compiled rules of task.policyVersion; the worker entry
 * resolves it). Never throws on any input: malformed bodies come back as rejections.
 */
export function processRequest(task: ProcessTask, policy?: VersionRules, now?: () => number): ProcessResult {
  let body = task.body;
  if (task.encoding === 'json') {
    const converted = otlpJsonToProtobuf(task.signal, body);
    if (!converted.ok) return { status: 'rejected', code: 'MALFORMED_PAYLOAD', message: converted.message };
    body = converted.bytes;
  }
  // Without a tail sampler downstream, nobody reads the per-trace summaries: do not build them. For
  // the sampler (splitTraces) they go as columns of numbers, cheaper to build and to clone than objects.
  const summarise = task.splitTraces === true ? 'columns' : !task.omitTraceSummaries;
  const walked = walkRequest(task.signal, body, summarise);
  if (!walked.ok) return { status: 'rejected', code: 'MALFORMED_PAYLOAD', message: walked.message };
  const ruleSet = policy?.forTenant(task.tenant);
  const rules = ruleSet && !ruleSet.noop ? ruleSet : null;
  const result: ProcessOk = { status: 'ok', body, items: walked.items, rejectedItems: 0 };
  if (walked.traces) result.traces = walked.traces;
  if (walked.traceColumns) result.traceColumns = walked.traceColumns;
  if (policy) result.policyVersion = policy.version;
  if (rules === null && task.tenantAttribute === undefined) {
    if (walked.foreignTopLevel) result.body = keepResourceFields(body);
    return splitIfAsked(task, result);
  }
  // `now` (performance.now, from the worker entry) times the rewrite: policy_evaluation_seconds.
  const started = now?.();
  const rewritten = rewriteRequest(task.signal, body, { rules, tenant: task.tenant, tenantAttribute: task.tenantAttribute });
  if (started !== undefined) result.policySeconds = (now!() - started) / 1000;
  result.body = rewritten.body;
  if (rewritten.droppedItems > 0) {
    // Items went with a dropped metric or resource: count and summarise what is left.
    const again = walkRequest(task.signal, rewritten.body, summarise);
    if (!again.ok) throw new Error(`rewrite produced an invalid request: ${again.message}`);
    result.items = again.items;
    if (again.traces) result.traces = again.traces;
    if (again.traceColumns) result.traceColumns = again.traceColumns;
  }
  if (task.tenantAttribute !== undefined) result.tenantOverwrites = rewritten.tenantOverwrites;
  if (Object.keys(rewritten.redactions).length > 0) result.redactions = rewritten.redactions;
  if (Object.keys(rewritten.dropped).length > 0) result.dropped = rewritten.dropped;
  return splitIfAsked(task, result);
}

/**
 * For the tail sampler: where each trace lies in the (unsplit) body. Regrouping every request by trace
 * here cost about 1 µs per span and inflated what the sampler buffers and exports (each trace's run repeats
 * its resources' and scopes' headers); the sampler now writes runs only for the kept traces of partly kept
 * requests, and forwards a request whose traces are all kept as it is.
 */
function splitIfAsked(task: ProcessTask, result: ProcessOk): ProcessOk {
  if (!task.splitTraces || !result.traceColumns) return result;
  // Null for one trace, which needs no layout: the body is its run (the sampler takes it whole).
  const layout = locateTraceColumns(result.body, result.traceColumns);
  if (layout) result.traceLayout = layout;
  return result;
}

/**
 * The request with only its top-level field 1 entries (resource_spans / _metrics / _logs), copied
 * verbatim in order, so that outputs concatenate into valid batches. Only called on a request the walk
 * accepted, whose top-level fields are therefore well-formed.
 */
export function keepResourceFields(body: Uint8Array): Uint8Array {
  let size = 0;
  scanTopLevel(body, (start, end) => {
    size += end - start;
  });
  const out = new Uint8Array(size);
  let at = 0;
  scanTopLevel(body, (start, end) => {
    out.set(body.subarray(start, end), at);
    at += end - start;
  });
  return out;
}

function scanTopLevel(body: Uint8Array, onResourceField: (start: number, end: number) => void): void {
  let pos = 0;
  while (pos < body.length) {
    const start = pos;
    pos = readTag(body, pos, body.length);
    if (pos < 0) throw new Error(`keepResourceFields: bad tag at ${start}`);
    const tag = wire.tag;
    switch (tag & 7) {
      case WireType.VARINT:
        pos = skipVarint(body, pos, body.length);
        break;
      case WireType.I64:
        pos += 8;
        break;
      case WireType.LEN:
        pos = readLength(body, pos, body.length);
        if (pos >= 0) pos += wire.lo;
        break;
      case WireType.I32:
        pos += 4;
        break;
      default:
        pos = -1;
    }
    if (pos < 0 || pos > body.length) throw new Error(`keepResourceFields: bad field at ${start}`);
    if (tag === ((1 << 3) | WireType.LEN)) onResourceField(start, pos);
  }
}
