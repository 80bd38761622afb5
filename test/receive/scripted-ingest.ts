// A real `ingest` for receiver tests: records every call and answers with scripted outcomes.
import type { PayloadEncoding } from '../../src/process/protocol.js';
import type { IngestOutcome, OpenOutcome, RequestContext } from '../../src/receive/types.js';
import type { Signal } from '../../src/signals.js';
import type { Logger } from '../../src/telemetry/logger-types.js';

export interface IngestCall {
  signal: Signal;
  encoding: PayloadEncoding;
  body: Buffer;
  ctx: RequestContext;
}

type Answer = IngestOutcome | ((call: IngestCall) => IngestOutcome | Promise<IngestOutcome>);

export interface ScriptedIngest {
  calls: IngestCall[];
  /** Answer the next requests with this (until changed); default `{ status: 'ok' }`. */
  answer(next: Answer): void;
  ingest(signal: Signal, encoding: PayloadEncoding, body: Buffer, ctx: RequestContext): Promise<IngestOutcome>;
  /** The receivers' seam (src/receive/types.ts): every caller admitted, no byte budget; bodies go to `ingest`. */
  open(signal: Signal, ctx: RequestContext): OpenOutcome;
}

export function scriptedIngest(): ScriptedIngest {
  const calls: IngestCall[] = [];
  let next: Answer = { status: 'ok' };
  const self: ScriptedIngest = {
    calls,
    answer(a) {
      next = a;
    },
    async ingest(signal, encoding, body, ctx) {
      // Copy: the receiver may reuse nothing, but the test must see what arrived, not a later view.
      const call = { signal, encoding, body: Buffer.from(body), ctx };
      calls.push(call);
      return typeof next === 'function' ? next(call) : next;
    },
    open(signal, ctx) {
      return {
        status: 'ok',
        request: {
          tenant: 'test',
          grow: () => undefined,
          shrink: () => undefined,
          ingest: (encoding, body) => self.ingest(signal, encoding, body, ctx),
          close: () => undefined,
        },
      };
    },
  };
  return self;
}

export interface RecordingLogger extends Logger {
  lines: { level: string; obj: object; msg?: string }[];
}

export function recordingLogger(): RecordingLogger {
  const lines: RecordingLogger['lines'] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj, msg });
  };
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

/** A recognisable, non-trivial body (the receivers never parse it). */
export function payload(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >> 16;
  }
  return b;
}
