// UTF-8 validation without decoding. proto3 `string` fields must hold valid UTF-8
// (https://protobuf.dev/programming-guides/proto3/#scalar): Go receivers (the Collector, Tempo, Loki)
// refuse a whole request that breaks the rule, and protobufjs (the reference path) refuses it too, so
// the fast path must not let one through. The rules are the WHATWG decoder's (no overlong forms, no
// surrogates, nothing above U+10FFFF): https://encoding.spec.whatwg.org/#utf-8-decoder

// ASCII, the common case, is checked eight bytes a step through a DataView (two 32-bit loads are much
// cheaper than eight byte loads). The view is cached for the buffer being walked: one per request.
let viewed: Uint8Array | undefined;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/** Whether buf[start, end) is valid UTF-8. */
export function isValidUtf8(buf: Uint8Array, start: number, end: number): boolean {
  if (viewed !== buf) {
    viewed = buf;
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  let i = start;
  const end8 = end - 7;
  while (i < end8) {
    if (((view.getUint32(i, true) | view.getUint32(i + 4, true)) & 0x80808080) !== 0) return validateFrom(buf, i, end);
    i += 8;
  }
  while (i < end) {
    if (buf[i]! >= 0x80) return validateFrom(buf, i, end);
    i++;
  }
  return true;
}

function validateFrom(buf: Uint8Array, i: number, end: number): boolean {
  while (i < end) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    if (b < 0xc2) return false; // continuation byte or overlong 2-byte lead
    if (b < 0xe0) {
      if (i + 1 >= end || (buf[i + 1]! & 0xc0) !== 0x80) return false;
      i += 2;
      continue;
    }
    if (b < 0xf0) {
      if (i + 2 >= end) return false;
      const b1 = buf[i + 1]!;
      // E0 needs A0..BF (no overlong), ED needs 80..9F (no surrogates).
      const lo = b === 0xe0 ? 0xa0 : 0x80;
      const hi = b === 0xed ? 0x9f : 0xbf;
      if (b1 < lo || b1 > hi || (buf[i + 2]! & 0xc0) !== 0x80) return false;
      i += 3;
      continue;
    }
    if (b < 0xf5) {
      if (i + 3 >= end) return false;
      const b1 = buf[i + 1]!;
      // F0 needs 90..BF (no overlong), F4 needs 80..8F (nothing above U+10FFFF).
      const lo = b === 0xf0 ? 0x90 : 0x80;
      const hi = b === 0xf4 ? 0x8f : 0xbf;
      if (b1 < lo || b1 > hi || (buf[i + 2]! & 0xc0) !== 0x80 || (buf[i + 3]! & 0xc0) !== 0x80) return false;
      i += 4;
      continue;
    }
    return false;
  }
  return true;
}
