// google.rpc.Status with an optional google.rpc.RetryInfo detail, encoded and decoded by hand: the
// messages are tiny and fixed, and both receivers (answering) and exporters (reading a backend's
// answer) need them without a protobuf runtime on the hot path.
// https://github.com/googleapis/googleapis/blob/master/google/rpc/status.proto
// https://github.com/googleapis/googleapis/blob/master/google/rpc/error_details.proto (RetryInfo)
import { pushLenField, pushVarint } from './process/wire/wire-writer.js';

export const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

export interface RpcStatus {
  code: number;
  message: string;
  /** From a RetryInfo detail, when present. */
  retryDelayMs?: number;
}

function encodeDuration(ms: number): Uint8Array {
  const out: number[] = [];
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  if (seconds > 0) {
    out.push(0x08);
    pushVarint(out, seconds);
  }
  if (nanos > 0) {
    out.push(0x10);
    pushVarint(out, nanos);
  }
  return Uint8Array.from(out);
}

/** Encode a google.rpc.Status (protobuf). */
export function encodeRpcStatus(status: RpcStatus): Buffer {
  const out: number[] = [];
  if (status.code !== 0) {
    out.push(0x08);
    pushVarint(out, status.code);
  }
  if (status.message) pushLenField(out, 2, Buffer.from(status.message, 'utf8'));
  if (status.retryDelayMs !== undefined) {
    const retryInfo: number[] = [];
    pushLenField(retryInfo, 1, encodeDuration(status.retryDelayMs));
    const any: number[] = [];
    pushLenField(any, 1, Buffer.from(RETRY_INFO_TYPE_URL));
    pushLenField(any, 2, Uint8Array.from(retryInfo));
    pushLenField(out, 3, Uint8Array.from(any));
  }
  return Buffer.from(out);
}

/** The OTLP/JSON form of google.rpc.Status (proto3 JSON mapping). */
export function rpcStatusJson(status: RpcStatus): string {
  const body: Record<string, unknown> = { code: status.code, message: status.message };
  if (status.retryDelayMs !== undefined) {
    body.details = [{ '@type': RETRY_INFO_TYPE_URL, retryDelay: `${(status.retryDelayMs / 1000).toFixed(3)}s` }];
  }
  return JSON.stringify(body);
}

// ---- decoding (a backend's error answer); tolerant: anything malformed yields undefined ----

interface Field {
  num: number;
  wire: number;
  value: number;
  bytes?: Uint8Array;
}

function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const readVarint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= buf.length || shift > 63) throw new Error('truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  };
  while (pos < buf.length) {
    const tag = readVarint();
    const num = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) yield { num, wire, value: readVarint() };
    else if (wire === 2) {
      const len = readVarint();
      if (pos + len > buf.length) throw new Error('truncated field');
      yield { num, wire, value: len, bytes: buf.subarray(pos, pos + len) };
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
    if (pos > buf.length) throw new Error('truncated field');
  }
}

function decodeRetryInfo(buf: Uint8Array): number | undefined {
  for (const f of fields(buf)) {
    if (f.num === 1 && f.bytes) {
      let seconds = 0;
      let nanos = 0;
      for (const d of fields(f.bytes)) {
        if (d.num === 1 && d.wire === 0) seconds = d.value;
        if (d.num === 2 && d.wire === 0) nanos = d.value;
      }
      return seconds * 1000 + nanos / 1e6;
    }
  }
  return undefined;
}

/** Decode a google.rpc.Status (for example from gRPC's `grpc-status-details-bin` trailer). */
export function decodeRpcStatus(buf: Uint8Array): RpcStatus | undefined {
  try {
    const status: RpcStatus = { code: 0, message: '' };
    for (const f of fields(buf)) {
      if (f.num === 1 && f.wire === 0) status.code = f.value;
      else if (f.num === 2 && f.bytes) status.message = Buffer.from(f.bytes).toString('utf8');
      else if (f.num === 3 && f.bytes) {
        let typeUrl = '';
        let value: Uint8Array | undefined;
        for (const a of fields(f.bytes)) {
          if (a.num === 1 && a.bytes) typeUrl = Buffer.from(a.bytes).toString('utf8');
          if (a.num === 2 && a.bytes) value = a.bytes;
        }
        if (typeUrl === RETRY_INFO_TYPE_URL && value) status.retryDelayMs = decodeRetryInfo(value);
      }
    }
    return status;
  } catch {
    return undefined;
  }
}

/**
 * Parse an HTTP Retry-After header: delay-seconds or an HTTP date
 * (https://www.rfc-editor.org/rfc/rfc9110#field.retry-after). Returns milliseconds, or undefined.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
