// Reads the trace columns the worker's walk returns (TraceColumns in ../protocol.ts: plain arrays of
// numbers, cheap to clone across threads) into TraceSummary objects on the main thread, for the tail
// sampler. The worker builds the columns (../worker/trace-groups.ts); this side only reads them.
import { TRACE_EMPTY_ID, TRACE_ERROR as ERROR, TRACE_ROOT as ROOT, type TraceColumns, type TraceSummary } from '../protocol.js';

const idBytes = Buffer.alloc(16);

/** Lower-case hex of trace `g`'s id in `c` ('' for the empty id): one native call, a flat string. */
export function traceIdHex(c: TraceColumns, g: number): string {
  if ((c.flags[g]! & TRACE_EMPTY_ID) !== 0) return '';
  for (let k = 0; k < 4; k++) idBytes.writeInt32LE(c.words[g * 4 + k]!, k * 4);
  return idBytes.toString('hex');
}

/** The summaries that `c` holds, in its order. */
export function summariesOf(c: TraceColumns): TraceSummary[] {
  const n = c.spans.length;
  const out: TraceSummary[] = new Array(n);
  for (let g = 0; g < n; g++) {
    const t = g * 4;
    out[g] = {
      traceId: traceIdHex(c, g),
      spans: c.spans[g]!,
      error: (c.flags[g]! & ERROR) !== 0,
      root: (c.flags[g]! & ROOT) !== 0,
      startNs: (BigInt(c.times[t]!) << 32n) | BigInt(c.times[t + 1]!),
      endNs: (BigInt(c.times[t + 2]!) << 32n) | BigInt(c.times[t + 3]!),
    };
  }
  return out;
}
