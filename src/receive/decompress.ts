// Request-body decompression for OTLP/HTTP (OTLP/gRPC bodies are decompressed by grpc-js itself).
// OTLP requires servers to accept `none` and `gzip` and to limit the body size *after* decompression
// (https://opentelemetry.io/docs/specs/otlp/#otlphttp-request). zlib's `maxOutputLength` stops
// inflating as soon as the output passes the limit, so a gzip bomb never allocates more than the
// limit (plus one zlib chunk) no matter how far it would expand.
import { constants as bufferConstants } from 'node:buffer';
import { gunzip, inflate, inflateRaw, type InputType, type ZlibOptions } from 'node:zlib';
import { rejected, type Refusal } from '../errors.js';

/** A refusal (a subset of Outcome) when the body cannot be used. */
export type DecompressResult = { ok: true; body: Buffer } | Refusal;

const MAX_LENGTH = bufferConstants.MAX_LENGTH;

type Inflater = (buf: InputType, options: ZlibOptions, cb: (err: Error | null, result: Buffer) => void) => void;

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
    const result = await inflateWith(coding === 'deflate' ? deflateInflater(current) : gunzip, current, maxBytes, coding);
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

function isKnownCoding(coding: string): boolean {
  return coding === 'gzip' || coding === 'x-gzip' || coding === 'deflate' || coding === 'identity' || coding === 'none';
}

/**
 * HTTP's `deflate` is the zlib format (RFC 9110 §8.4.1.2), but some clients send raw deflate. A zlib
 * stream starts with a CMF byte whose method is 8 and a header checksum (CMF*256+FLG divisible by 31),
 * which raw deflate data almost never satisfies, so two bytes decide which inflater to use.
 */
function deflateInflater(buf: Buffer): Inflater {
  if (buf.length >= 2 && (buf[0]! & 0x0f) === 8 && (buf[0]! * 256 + buf[1]!) % 31 === 0) return inflate;
  return inflateRaw;
}

function inflateWith(fn: Inflater, input: Buffer, maxBytes: number, coding: string): Promise<DecompressResult> {
  return new Promise((resolve) => {
    // maxOutputLength must lie in [1, buffer.constants.MAX_LENGTH]; a larger limit could not be honoured anyway.
    const maxOutputLength = Math.min(Math.max(1, maxBytes), MAX_LENGTH);
    fn(input, { maxOutputLength }, (err, result) => {
      if (!err) {
        resolve({ ok: true, body: result });
        return;
      }
      const code = (err as NodeJS.ErrnoException).code;
      // Node reports the maxOutputLength cut-off as ERR_BUFFER_TOO_LARGE (a RangeError).
      if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) resolve(tooLarge(maxBytes));
      else resolve(rejected('MALFORMED_PAYLOAD', `cannot decompress the ${coding} body: ${err.message}`));
    });
  });
}

function tooLarge(maxBytes: number): Refusal {
  return rejected('PAYLOAD_TOO_LARGE', `the request body exceeds ${maxBytes} bytes after decompression`);
}
