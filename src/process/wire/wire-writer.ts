// Protobuf wire-format writing: varints and the length prefixes built from them
// (https://protobuf.dev/programming-guides/encoding/#varints). The one implementation for every thread and
// stage: the sampler's trace runs, the gRPC status and export responses, the file exporter's records.
// Values are non-negative integers up to 2^53 (lengths, counts, durations); nothing here allocates but
// varintBytes.

/** Bytes of n as a varint. */
export function varintSize(n: number): number {
  if (n < 0x10000000) return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
  let size = 4;
  for (let v = Math.floor(n / 0x10000000); v > 0; v = Math.floor(v / 128)) size++;
  return size;
}

/** Writes n as a varint into out at `at`; returns the position after it (at + varintSize(n)). */
export function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n > 0x7f) {
    out[at++] = (n & 0x7f) | 0x80;
    // >>> is exact below 2^32 (and cheaper); above, divide (bit operators would truncate to 32 bits).
    n = n < 0x100000000 ? n >>> 7 : Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/** n as a varint in a buffer of its own (for small messages built once, not for hot loops). */
export function varintBytes(n: number): Uint8Array {
  const out = new Uint8Array(varintSize(n));
  writeVarint(out, 0, n);
  return out;
}

/** Appends n as a varint to a list of bytes (small messages built as number[]). */
export function pushVarint(out: number[], n: number): void {
  for (const b of varintBytes(n)) out.push(b);
}

/** Appends a length-delimited field (tag, length, payload) to a list of bytes. */
export function pushLenField(out: number[], field: number, payload: Uint8Array): void {
  pushVarint(out, (field << 3) | 2);
  pushVarint(out, payload.length);
  for (const b of payload) out.push(b);
}
