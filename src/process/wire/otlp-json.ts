// OTLP/JSON ⇄ protobuf bytes, driven by the protobufjs reflection of the OTLP schema.
//
// OTLP/JSON is the proto3 JSON mapping with OTLP's own deviations
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
//   - trace_id, span_id and parent_span_id (Span, Span.Link, LogRecord, Exemplar) are hex strings,
//     case-insensitive on input, not base64;
//   - enums are integers only (names are accepted too, as a proto3 JSON parser would);
//   - field names are lowerCamelCase; parsers must also accept the original snake_case names
//     (https://protobuf.dev/programming-guides/json/);
//   - unknown fields are ignored.
// We walk the JSON ourselves instead of using protobufjs' fromObject so that every refusal names the JSON
// path and the reason (fromObject neither checks hex ids nor reports where a value is wrong), and so that
// nesting is bounded before anything recursive runs: a hostile body cannot exhaust the stack.
import protobuf from 'protobufjs';
import type { Signal } from '../../signals.js';
import { requestType } from './otlp-schema.js';

export type JsonToProtobufResult = { ok: true; bytes: Uint8Array } | { ok: false; message: string };

/** Nested messages deeper than this are refused (AnyValue can nest arbitrarily). */
export const MAX_JSON_DEPTH = 64;

/** Bytes fields that OTLP/JSON writes as hex, with the byte length a valid non-empty id has. */
const HEX_ID_BYTES: Readonly<Record<string, number>> = { traceId: 16, spanId: 8, parentSpanId: 8 };
const HEX_ID_MESSAGES = new Set([
  'opentelemetry.proto.trace.v1.Span',
  'opentelemetry.proto.trace.v1.Span.Link',
  'opentelemetry.proto.logs.v1.LogRecord',
  'opentelemetry.proto.metrics.v1.Exemplar',
]);

type Kind =
  | 'double'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string'
  | 'bytes'
  | 'hexId'
  | 'enum'
  | 'message';

interface FieldInfo {
  field: protobuf.Field;
  kind: Kind;
  /** hexId: the byte length of a valid id. */
  idBytes: number;
}

interface MessageInfo {
  type: protobuf.Type;
  /** By JSON name and by proto (snake_case) name. */
  byName: Map<string, FieldInfo>;
  fields: FieldInfo[];
}

const KIND_OF_SCALAR: Readonly<Record<string, Kind>> = {
  double: 'double',
  float: 'double',
  int32: 'int32',
  sint32: 'int32',
  sfixed32: 'int32',
  uint32: 'uint32',
  fixed32: 'uint32',
  int64: 'int64',
  sint64: 'int64',
  sfixed64: 'int64',
  uint64: 'uint64',
  fixed64: 'uint64',
  bool: 'bool',
  string: 'string',
  bytes: 'bytes',
};

const infoCache = new WeakMap<protobuf.Type, MessageInfo>();

function messageInfo(type: protobuf.Type): MessageInfo {
  let info = infoCache.get(type);
  if (info) return info;
  const byName = new Map<string, FieldInfo>();
  const fields: FieldInfo[] = [];
  for (const field of type.fieldsArray) {
    field.resolve();
    let kind: Kind;
    let idBytes = 0;
    if (field.resolvedType instanceof protobuf.Type) kind = 'message';
    else if (field.resolvedType instanceof protobuf.Enum) kind = 'enum';
    else {
      const k = KIND_OF_SCALAR[field.type];
      if (k === undefined) throw new Error(`otlp-json: unsupported field type ${field.type} of ${type.fullName}.${field.name}`);
      kind = k;
    }
    if (kind === 'bytes' && HEX_ID_MESSAGES.has(type.fullName.replace(/^\./, '')) && HEX_ID_BYTES[field.name] !== undefined) {
      kind = 'hexId';
      idBytes = HEX_ID_BYTES[field.name]!;
    }
    const fi: FieldInfo = { field, kind, idBytes };
    fields.push(fi);
    byName.set(field.name, fi);
    byName.set(snakeName(field), fi);
  }
  info = { type, byName, fields };
  infoCache.set(type, info);
  return info;
}

function snakeName(field: protobuf.Field): string {
  const proto = (field as unknown as { protoName?: string }).protoName;
  return proto || field.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

// ---------------------------------------------------------------------------------------------------
// JSON → protobuf
// ---------------------------------------------------------------------------------------------------

/** A JSON path built only when an error needs it. */
interface Path {
  parent: Path | undefined;
  key: string | number;
}

function renderPath(p: Path | undefined): string {
  const parts: (string | number)[] = [];
  for (let q = p; q; q = q.parent) parts.push(q.key);
  parts.reverse();
  const join = (ps: (string | number)[], first: boolean) => {
    let out = '';
    for (const k of ps) out += typeof k === 'number' ? `[${k}]` : first && out === '' ? k : `.${k}`;
    return out;
  };
  // a path 64 messages deep is kilobytes long: keep its head and tail
  if (parts.length > 16) return `${join(parts.slice(0, 10), true)}…${join(parts.slice(-4), true)}`;
  return join(parts, true) || '(root)';
}

class JsonShapeError {
  constructor(
    readonly path: Path | undefined,
    readonly reason: string,
  ) {}
}

function fail(path: Path | undefined, reason: string): never {
  throw new JsonShapeError(path, reason);
}

/** A short, safe rendering of an offending value for messages. */
function show(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') {
    const s = v.length > 40 ? `${v.slice(0, 40)}…` : v;
    return JSON.stringify(s);
  }
  return String(v);
}

const Long = protobuf.util.Long as unknown as {
  fromString(s: string, unsigned?: boolean): protobuf.Long;
};

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const DECIMAL = /^-?(0|[1-9]\d*)$/;
const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const HEX = /^[0-9a-fA-F]*$/;
const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

function parseInt64(v: unknown, unsigned: boolean, path: Path): number | protobuf.Long {
  let big: bigint;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) fail(path, `expected an integer (got ${show(v)})`);
    big = BigInt(v);
  } else if (typeof v === 'string') {
    // proto3 JSON also allows an exponent form in strings; OTLP writes plain decimals.
    if (DECIMAL.test(v)) big = BigInt(v);
    else if (JSON_NUMBER.test(v) && Number.isInteger(Number(v))) big = BigInt(Number(v));
    else fail(path, `expected a decimal integer string (got ${show(v)})`);
  } else fail(path, `expected an integer or a decimal string (got ${show(v)})`);
  if (unsigned ? big < 0n || big > UINT64_MAX : big < INT64_MIN || big > INT64_MAX) {
    fail(path, `${unsigned ? 'uint64' : 'int64'} out of range (got ${show(v)})`);
  }
  if (big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(big);
  return Long.fromString(big.toString(), unsigned);
}

function parseInt32(v: unknown, unsigned: boolean, path: Path): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && JSON_NUMBER.test(v)) n = Number(v);
  else fail(path, `expected an integer (got ${show(v)})`);
  if (!Number.isInteger(n)) fail(path, `expected an integer (got ${show(v)})`);
  if (unsigned ? n < 0 || n > 0xffffffff : n < -0x80000000 || n > 0x7fffffff) {
    fail(path, `${unsigned ? 'uint32' : 'int32'} out of range (got ${show(v)})`);
  }
  return n;
}

function parseDouble(v: unknown, path: Path): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    if (JSON_NUMBER.test(v)) return Number(v);
  }
  fail(path, `expected a number (got ${show(v)})`);
}

function parseHexId(v: unknown, bytes: number, path: Path): Uint8Array {
  if (typeof v !== 'string') fail(path, `expected a hex string (got ${show(v)})`);
  if (v === '') return new Uint8Array(0);
  if (v.length !== bytes * 2 || !HEX.test(v)) fail(path, `expected ${bytes * 2} hex characters (got ${show(v)})`);
  return Buffer.from(v, 'hex');
}

function parseBase64(v: unknown, path: Path): Uint8Array {
  if (typeof v !== 'string') fail(path, `expected a base64 string (got ${show(v)})`);
  const body = v.replace(/=+$/, '');
  if (!BASE64.test(v) || body.length % 4 === 1 || (v.length !== body.length && v.length % 4 !== 0)) {
    fail(path, `expected base64 (got ${show(v)})`);
  }
  return Buffer.from(body, 'base64');
}

function parseEnum(v: unknown, e: protobuf.Enum, path: Path): number {
  if (typeof v === 'number') return parseInt32(v, false, path);
  if (typeof v === 'string') {
    const n = e.values[v];
    if (n !== undefined) return n;
    if (DECIMAL.test(v)) return parseInt32(v, false, path);
    fail(path, `unknown ${e.name} value ${show(v)}`);
  }
  fail(path, `expected an enum integer (got ${show(v)})`);
}

function convertScalar(fi: FieldInfo, v: unknown, path: Path, depth: number): unknown {
  switch (fi.kind) {
    case 'double':
      return parseDouble(v, path);
    case 'int32':
      return parseInt32(v, false, path);
    case 'uint32':
      return parseInt32(v, true, path);
    case 'int64':
      return parseInt64(v, false, path);
    case 'uint64':
      return parseInt64(v, true, path);
    case 'bool':
      if (typeof v !== 'boolean') fail(path, `expected true or false (got ${show(v)})`);
      return v;
    case 'string':
      if (typeof v !== 'string') fail(path, `expected a string (got ${show(v)})`);
      return v;
    case 'bytes':
      return parseBase64(v, path);
    case 'hexId':
      return parseHexId(v, fi.idBytes, path);
    case 'enum':
      return parseEnum(v, fi.field.resolvedType as protobuf.Enum, path);
    case 'message':
      return convertMessage(messageInfo(fi.field.resolvedType as protobuf.Type), v, path, depth + 1);
  }
}

function convertMessage(info: MessageInfo, json: unknown, path: Path | undefined, depth: number): Record<string, unknown> {
  if (depth > MAX_JSON_DEPTH) fail(path, `nesting deeper than ${MAX_JSON_DEPTH} messages`);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(path, `expected an object (got ${show(json)})`);
  const out: Record<string, unknown> = {};
  const seenOneofs = new Map<string, string>();
  for (const key of Object.keys(json)) {
    const fi = info.byName.get(key);
    if (fi === undefined) continue; // unknown fields are ignored (OTLP/JSON receivers MUST ignore them)
    const v = (json as Record<string, unknown>)[key];
    const fpath: Path = { parent: path, key };
    const name = fi.field.name;
    if (Object.prototype.hasOwnProperty.call(out, name)) fail(fpath, `field given twice (as ${fi.field.name} and ${snakeName(fi.field)})`);
    if (v === null) continue; // proto3 JSON: null means the default value
    if (fi.field.repeated) {
      if (!Array.isArray(v)) fail(fpath, `expected an array (got ${show(v)})`);
      const arr = new Array<unknown>(v.length);
      for (let i = 0; i < v.length; i++) {
        const e = v[i];
        const epath: Path = { parent: fpath, key: i };
        if (e === null) fail(epath, 'null is not allowed in a repeated field');
        arr[i] = convertScalar(fi, e, epath, depth);
      }
      out[name] = arr;
      continue;
    }
    const oneof = fi.field.partOf;
    // proto3 `optional` fields are synthetic oneofs of one member; only real oneofs can conflict.
    if (oneof && oneof.fieldsArray.length > 1) {
      const other = seenOneofs.get(oneof.name);
      if (other !== undefined) fail(fpath, `only one of the fields of oneof ${oneof.name} may be set (${other} is set too)`);
      seenOneofs.set(oneof.name, key);
    }
    out[name] = convertScalar(fi, v, fpath, depth);
  }
  return out;
}

function decodeBody(body: Uint8Array | string): { ok: true; text: string } | { ok: false; message: string } {
  if (typeof body === 'string') return { ok: true, text: body };
  try {
    let text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return { ok: true, text };
  } catch {
    return { ok: false, message: 'invalid JSON: the body is not valid UTF-8' };
  }
}

/**
 * The bytes in an ArrayBuffer of their own. protobufjs' writer returns Node Buffers, and small ones are
 * slices of Node's shared allocation pool, which cannot be transferred to another thread (the pool's
 * ArrayBuffer is untransferable); results cross threads by transfer, so they must own their memory.
 */
export function ownedBytes(b: Uint8Array): Uint8Array {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  return new Uint8Array(b);
}

/**
 * Convert an OTLP/JSON request body of `signal` into the encoded Export*ServiceRequest.
 * Never throws: a body that is not valid OTLP/JSON yields `{ ok: false, message }` with a message that
 * names the JSON path and the reason, safe to return to the client.
 */
export function otlpJsonToProtobuf(signal: Signal, body: Uint8Array | string): JsonToProtobufResult {
  try {
    const decoded = decodeBody(body);
    if (!decoded.ok) return decoded;
    let json: unknown;
    try {
      json = JSON.parse(decoded.text);
    } catch (e) {
      return { ok: false, message: `invalid JSON: ${(e as Error).message}` };
    }
    const type = requestType(signal);
    const obj = convertMessage(messageInfo(type), json, undefined, 0);
    return { ok: true, bytes: ownedBytes(type.encode(obj).finish()) };
  } catch (e) {
    if (e instanceof JsonShapeError) return { ok: false, message: `${renderPath(e.path)}: ${e.reason}` };
    return { ok: false, message: `cannot convert the OTLP/JSON request: ${e instanceof Error ? e.message : String(e)}` };
  }
}

// ---------------------------------------------------------------------------------------------------
// protobuf → JSON
// ---------------------------------------------------------------------------------------------------

export interface RenderOptions {
  /** Render every bytes field as lower-case hex (for comparisons), not only the OTLP id fields. */
  allBytesHex?: boolean;
}

function isLong(v: unknown): v is protobuf.Long {
  return typeof v === 'object' && v !== null && 'low' in v && 'high' in v;
}

function isDefault(fi: FieldInfo, v: unknown): boolean {
  switch (fi.kind) {
    case 'message':
      return v == null;
    case 'bytes':
    case 'hexId':
      return (v as Uint8Array).length === 0;
    case 'int64':
    case 'uint64':
      return isLong(v) ? v.low === 0 && v.high === 0 : v === 0;
    case 'double':
      return Object.is(v, 0);
    case 'string':
      return v === '';
    case 'bool':
      return v === false;
    default:
      return v === 0;
  }
}

function renderScalar(fi: FieldInfo, v: unknown, opts: RenderOptions): unknown {
  switch (fi.kind) {
    case 'int64':
    case 'uint64':
      return isLong(v) ? v.toString() : String(v);
    case 'double': {
      const n = v as number;
      if (Number.isNaN(n)) return 'NaN';
      if (n === Infinity) return 'Infinity';
      if (n === -Infinity) return '-Infinity';
      return n;
    }
    case 'hexId':
      return Buffer.from(v as Uint8Array).toString('hex');
    case 'bytes':
      return Buffer.from(v as Uint8Array).toString(opts.allBytesHex ? 'hex' : 'base64');
    case 'message':
      return renderMessage(messageInfo(fi.field.resolvedType as protobuf.Type), v as Record<string, unknown>, opts);
    default:
      return v; // int32/uint32/bool/string, and enums as integers (OTLP/JSON)
  }
}

/**
 * Render a decoded protobufjs message as a canonical OTLP/JSON object: fields in schema order, proto3
 * implicit-presence fields omitted when they hold their default value, empty repeated fields omitted,
 * oneof and `optional` members present exactly when set.
 */
export function renderMessage(info: MessageInfo, msg: Record<string, unknown>, opts: RenderOptions = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const fi of info.fields) {
    const name = fi.field.name;
    const v = msg[name];
    if (fi.field.repeated) {
      if (!Array.isArray(v) || v.length === 0) continue;
      out[name] = v.map((e) => renderScalar(fi, e, opts));
      continue;
    }
    if (v == null) continue;
    if (fi.field.partOf) {
      // decoded messages carry oneof/optional members as own properties only when they were on the wire
      if (!Object.prototype.hasOwnProperty.call(msg, name)) continue;
    } else if (isDefault(fi, v)) continue;
    out[name] = renderScalar(fi, v, opts);
  }
  return out;
}

/** The reflection info renderMessage needs, for a message type. */
export function otlpMessageInfo(type: protobuf.Type): MessageInfo {
  return messageInfo(type);
}
export type { MessageInfo };

/**
 * The OTLP/JSON rendering of an encoded Export*ServiceRequest: hex ids in lower case, 64-bit integers as
 * decimal strings, enums as integers, other bytes as base64. For tests and debugging: it throws if the
 * bytes are not a valid request.
 */
export function protobufToOtlpJson(signal: Signal, bytes: Uint8Array): Record<string, unknown> {
  const type = requestType(signal);
  const msg = type.decode(bytes) as unknown as Record<string, unknown>;
  return renderMessage(messageInfo(type), msg);
}
