// Request-body decompression for both receivers (HTTP Content-Encoding, gRPC grpc-encoding).
// OTLP requires servers to accept `none` and `gzip` and to limit the body size *after* decompression
// (https://opentelemetry.io/docs/specs/otlp/#otlphttp-request). Inflation is streamed chunk by chunk
// (zlib's 16 KiB output chunks, on libuv's thread pool): each chunk is checked against the size limit
// and admitted against the in-flight budget (`admit`) before it is kept, so a gzip bomb never holds
// more than the limit (plus one chunk), and 150 of them at once never more than the budget.
import type { Transform } from 'node:stream';
import { createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import { rejected, type Refusal } from '../errors.js';

/** A refusal (a subset of Outcome) when the body cannot be used. */
export type DecompressResult = { ok: true; body: Buffer } | Refusal;

/** The in-flight budget of the request (an OpenRequest, src/receive/types.ts): output is admitted before it is kept. */
export interface ByteBudget {
  grow(bytes: number): Refusal | undefined;
  shrink(bytes: number): void;
}

type Inflater = (options: { chunkSize: number }) => Transform;

/** zlib's output chunk without a size hint: larger than its 16 KiB default, so fewer, larger allocations. */
const DEFAULT_OUTPUT_CHUNK = 256 * 1024;

/**
 * Decompress `body` according to the Content-Encoding header (gzip, x-gzip, deflate, identity, none;
 * a comma-separated list is undone right to left, RFC 9110 §8.4). The result never exceeds `maxBytes`
 * (PAYLOAD_TOO_LARGE); an unknown coding is UNSUPPORTED_ENCODING; corrupt data is MALFORMED_PAYLOAD
 * with zlib's reason. The inflation runs on libuv's thread pool, off the event loop.
 */
export async function decompressBody(
  body: Buffer,
  contentEncoding: string | undefined,
  maxBytes: number,
  budget?: ByteBudget,
): Promise<DecompressResult> {
  const codings = parseCodings(contentEncoding);
  for (const coding of codings) {
    if (!isKnownCoding(coding)) {
      return rejected('UNSUPPORTED_ENCODING', `unsupported Content-Encoding "${coding}"; use gzip, deflate or identity`);
    }
  }
  let current = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!;
    if (coding === 'identity' || coding === 'none') continue;
    const result = await inflateWith(coding === 'deflate' ? deflateInflater(current) : createGunzip, current, maxBytes, coding, budget);
    if (!('ok' in result)) return result;
    current = result.body;
  }
  if (current.length > maxBytes) return tooLarge(maxBytes);
  return { ok: true, body: current };
}

function parseCodings(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '');
}

export function isKnownCoding(coding: string): boolean {
  return coding === 'gzip' || coding === 'x-gzip' || coding === 'deflate' || coding === 'identity' || coding === 'none';
}

/**
 * HTTP's `deflate` is the zlib format (RFC 9110 §8.4.1.2), but some clients send raw deflate. A zlib
 * stream starts with a CMF byte whose method is 8 and a header checksum (CMF*256+FLG divisible by 31),
 * which raw deflate data almost never satisfies, so two bytes decide which inflater to use.
 */
function deflateInflater(buf: Buffer): Inflater {
  if (buf.length >= 2 && (buf[0]! & 0x0f) === 8 && (buf[0]! * 256 + buf[1]!) % 31 === 0) return createInflate;
  return createInflateRaw;
}

/**
 * Collects a body chunk by chunk without holding it twice: with a size hint the chunks are copied
 * into one buffer of that size as they come (pages are touched only as they fill), else kept and
 * joined at the end, unless they are consecutive views of one buffer (zlib's output buffer), which is
 * then used as it is.
 */
export class ByteCollector {
  private buf: Buffer | undefined;
  private fill = 0;
  private chunks: Buffer[] = [];
  private total = 0;

  constructor(hint?: number) {
    if (hint !== undefined && hint > 0) this.buf = Buffer.allocUnsafe(hint);
  }

  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.buf && this.chunks.length === 0 && this.fill + chunk.length <= this.buf.length) {
      chunk.copy(this.buf, this.fill);
      this.fill += chunk.length;
    } else {
      this.chunks.push(chunk);
    }
  }

  /** The whole body (a buffer of its own when possible, so the worker pool can take it without a copy). */
  result(): Buffer {
    const { buf, fill, chunks } = this;
    if (chunks.length === 0) {
      if (buf === undefined) return Buffer.alloc(0);
      // Shorter than announced: a copy of the filled part.
      return fill === buf.length ? buf : Buffer.from(buf.subarray(0, fill));
    }
    if (buf === undefined) {
      if (chunks.length === 1) return chunks[0]!;
      const first = chunks[0]!;
      let end = first.byteOffset;
      const contiguous = chunks.every((c) => {
        const ok = c.buffer === first.buffer && c.byteOffset === end;
        end += c.length;
        return ok;
      });
      if (contiguous) return Buffer.from(first.buffer, first.byteOffset, this.total);
    }
    return Buffer.concat(buf ? [buf.subarray(0, fill), ...chunks] : chunks, this.total);
  }
}

/** Deflate's ceiling: one 258-byte match per ~2 bits at best, so no body inflates more than ~1,032-fold. */
const MAX_DEFLATE_RATIO = 1032;

/**
 * gzip states the inflated size (mod 2^32) of its last member in its last 4 bytes. A stated size over
 * the limit is refused before any inflating: that member alone inflates past it (the modulus only
 * lets a body state less than it holds, never more). A size deflate cannot reach from this many bytes
 * is no statement (a truncated body ends in compressed data): such bodies, like lying ones, are
 * bounded chunk by chunk. Within the limit it is the size hint.
 */
function gzipStatedSize(input: Buffer, create: Inflater): number | undefined {
  if (create !== createGunzip || input.length < 18 || input[0] !== 0x1f || input[1] !== 0x8b) return undefined;
  const isize = input.readUInt32LE(input.length - 4);
  return isize > 0 && isize <= input.length * MAX_DEFLATE_RATIO ? isize : undefined;
}

function inflateWith(create: Inflater, input: Buffer, maxBytes: number, coding: string, budget?: ByteBudget): Promise<DecompressResult> {
  const stated = gzipStatedSize(input, create);
  if (stated !== undefined && stated > maxBytes) {
    return Promise.resolve(rejected('PAYLOAD_TOO_LARGE', `the request body exceeds ${maxBytes} bytes after decompression (its gzip trailer states ${stated})`));
  }
  // The stated size is admitted before any work: a refused bomb costs no inflating at all.
  let admitted = 0;
  if (stated !== undefined && budget) {
    const refused = budget.grow(stated);
    if (refused) return Promise.resolve(refused);
    admitted = stated;
  }
  return new Promise((resolve) => {
    // With the stated size as zlib's output chunk, zlib writes the body into one buffer of that size
    // and hands out views of it: no per-chunk allocations, no second copy (ByteCollector.result).
    const zlib = create({ chunkSize: stated ?? DEFAULT_OUTPUT_CHUNK });
    let out: ByteCollector | undefined = new ByteCollector();
    let settled = false;
    const settle = (result: DecompressResult): void => {
      if (settled) return;
      settled = true;
      const kept = 'ok' in result ? result.body.length : 0;
      if (budget && admitted > kept) budget.shrink(admitted - kept);
      out = undefined;
      zlib.destroy();
      resolve(result);
    };
    zlib.on('data', (chunk: Buffer) => {
      if (settled || !out) return;
      const total = out.length + chunk.length;
      if (total > maxBytes) return settle(tooLarge(maxBytes));
      if (budget && total > admitted) {
        const refused = budget.grow(total - admitted);
        if (refused) return settle(refused);
        admitted = total;
      }
      out.push(chunk);
    });
    zlib.on('error', (err: Error) => settle(rejected('MALFORMED_PAYLOAD', `cannot decompress the ${coding} body: ${err.message}`)));
    zlib.on('end', () => {
      if (out) settle({ ok: true, body: out.result() });
    });
    zlib.end(input);
  });
}

function tooLarge(maxBytes: number): Refusal {
  return rejected('PAYLOAD_TOO_LARGE', `the request body exceeds ${maxBytes} bytes after decompression`);
}
