// Encoding what the rewrite adds: length-delimited fields, the KeyValues of the tenant stamp
// and of the redaction summary.

import { varintSize, writeVarint } from '../../wire/wire-writer.js';

const encoder = new TextEncoder();

/** A length-delimited field: tag, length, content. */
export function lenField(field: number, content: Uint8Array): Uint8Array {
  const tag = (field << 3) | 2;
  const out = new Uint8Array(varintSize(tag) + varintSize(content.length) + content.length);
  let at = writeVarint(out, 0, tag);
  at = writeVarint(out, at, content.length);
  out.set(content, at);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** KeyValue{key, value: AnyValue{string_value}} content. */
export function keyValueString(key: string, value: string): Uint8Array {
  return concat(lenField(1, encoder.encode(key)), lenField(2, lenField(1, encoder.encode(value))));
}

/** KeyValue{key, value: AnyValue{int_value}} content. */
export function keyValueInt(key: string, value: number): Uint8Array {
  const any = new Uint8Array(1 + varintSize(value));
  any[0] = (3 << 3) | 0;
  writeVarint(any, 1, value);
  return concat(lenField(1, encoder.encode(key)), lenField(2, any));
}
