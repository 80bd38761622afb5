// A minimal deterministic ustar writer and reader (POSIX.1-1988 ustar, see
// https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html#tag_20_92_13_06). Regular files
// only; every header has mode 0644, uid/gid 0, no user or group names and the given mtime (0 by
// default), so the same entries in the same order always give the same bytes. The pieces (header,
// padding, end) are exported for writers that stream an archive to disk (bundle.ts); writeTar builds
// a small one in memory.
export const TAR_BLOCK = 512;
const BLOCK = TAR_BLOCK;

export interface TarEntry {
  name: string;
  data: Uint8Array;
}

function writeString(h: Buffer, value: string, at: number, width: number): void {
  const b = Buffer.from(value, 'utf8');
  if (b.length > width) throw new RangeError(`tar: "${value}" longer than ${width} bytes`);
  b.copy(h, at);
}

function writeOctal(h: Buffer, value: number, at: number, width: number): void {
  writeString(h, `${value.toString(8).padStart(width - 1, '0')}\0`, at, width);
}

/** The 512-byte ustar header of a regular file of `size` bytes. */
export function tarHeader(name: string, size: number, mtimeSec = 0): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new RangeError(`tar: name too long: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  writeString(h, base, 0, 100);
  writeOctal(h, 0o644, 100, 8);
  writeOctal(h, 0, 108, 8);
  writeOctal(h, 0, 116, 8);
  writeOctal(h, size, 124, 12);
  writeOctal(h, mtimeSec, 136, 12);
  h.fill(0x20, 148, 156); // checksum field counts as spaces
  h.write('0', 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  writeOctal(h, 0, 329, 8);
  writeOctal(h, 0, 337, 8);
  writeString(h, prefix, 345, 155);
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, `${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

/** The zero bytes that follow `size` bytes of file data up to the next block boundary. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The end-of-archive marker: two zero blocks. */
export function tarEnd(): Buffer {
  return Buffer.alloc(BLOCK * 2);
}

/** The archive's bytes, in memory: entries in the given order, then two zero blocks. */
export function writeTar(entries: readonly TarEntry[], mtimeSec = 0): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) parts.push(tarHeader(e.name, e.data.length, mtimeSec), Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength), tarPadding(e.data.length));
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

export type TarRead = { ok: true; entries: TarEntry[] } | { ok: false; reason: string };

function readString(h: Buffer, at: number, width: number): string {
  const field = h.subarray(at, at + width);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? width : end).toString('utf8');
}

/** One 512-byte header block: the end of the archive (a zero block), a regular file, or why it is not one. */
export type TarHeaderRead = { kind: 'end' } | { kind: 'file'; name: string; size: number } | { kind: 'bad'; reason: string };

/** Parses the header block `h` found at offset `at` of the archive (the offset only names it in messages). */
export function parseTarHeader(h: Buffer, at: number): TarHeaderRead {
  if (h.every((b) => b === 0)) return { kind: 'end' };
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  const stored = parseInt(readString(h, 148, 8).trim(), 8);
  if (stored !== sum) return { kind: 'bad', reason: `bad tar header checksum at offset ${at}` };
  const type = String.fromCharCode(h[156]!);
  if (type !== '0' && type !== '\0') return { kind: 'bad', reason: `unsupported tar entry type "${type}" at offset ${at}` };
  const size = parseInt(readString(h, 124, 12).trim() || '0', 8);
  const prefix = readString(h, 345, 155);
  const name = (prefix ? `${prefix}/` : '') + readString(h, 0, 100);
  if (!Number.isSafeInteger(size) || size < 0) return { kind: 'bad', reason: `truncated tar entry ${name}` };
  return { kind: 'file', name, size };
}

/** Where the entry after one of `size` bytes whose header starts at `at` begins. */
export function nextTarHeader(at: number, size: number): number {
  return at + BLOCK + Math.ceil(size / BLOCK) * BLOCK;
}

/** Reads an archive written by writeTar (or any ustar of regular files); data are views into `bytes`. */
export function readTar(bytes: Uint8Array): TarRead {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: TarEntry[] = [];
  let at = 0;
  while (at + BLOCK <= buf.length) {
    const h = parseTarHeader(buf.subarray(at, at + BLOCK), at);
    if (h.kind === 'end') return { ok: true, entries };
    if (h.kind === 'bad') return { ok: false, reason: h.reason };
    const start = at + BLOCK;
    if (start + h.size > buf.length) return { ok: false, reason: `truncated tar entry ${h.name}` };
    entries.push({ name: h.name, data: buf.subarray(start, start + h.size) });
    at = nextTarHeader(at, h.size);
  }
  return { ok: false, reason: 'tar archive ends without its end-of-archive blocks' };
}
