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

/** Admits `bytes` more output before it is kept; a refusal stops inflating (see src/receive/types.ts). */
export type AdmitBytes = (bytes: number) => Refusal | undefined;

type Inflater = () => Transform;

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
  admit?: AdmitBytes,
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
    const result = await inflateWith(coding === 'deflate' ? deflateInflater(current) : createGunzip, current, maxBytes, coding, admit);
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

function inflateWith(create: Inflater, input: Buffer, maxBytes: number, coding: string, admit?: AdmitBytes): Promise<DecompressResult> {
  return new Promise((resolve) => {
    const zlib = create();
    let chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const settle = (result: DecompressResult): void => {
      if (settled) return;
      settled = true;
      if (!('ok' in result)) chunks = [];
      zlib.destroy();
      resolve(result);
    };
    zlib.on('data', (chunk: Buffer) => {
      if (settled) return;
      total += chunk.length;
      if (total > maxBytes) return settle(tooLarge(maxBytes));
      const refused = admit?.(chunk.length);
      if (refused) return settle(refused);
      chunks.push(chunk);
    });
    zlib.on('error', (err: Error) => settle(rejected('MALFORMED_PAYLOAD', `cannot decompress the ${coding} body: ${err.message}`)));
    zlib.on('end', () => settle({ ok: true, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total) }));
    zlib.end(input);
  });
}

function tooLarge(maxBytes: number): Refusal {
  return rejected('PAYLOAD_TOO_LARGE', `the request body exceeds ${maxBytes} bytes after decompression`);
}
