// The kit's tar, both ways. Writing streams ustar entries (src/tee/tar.ts: regular files, mode 0644,
// fixed mtime) to a file, so the same inputs give the same bytes. Reading is the untrusted side: a kit
// arrives on a USB stick, so the reader streams the file (hashing, never holding, all but the two small
// signed files), bounds what it admits before reading it (file size, entry count, entry size, name
// length), refuses anything but regular files (a symlink, hard link or directory could point an
// extraction outside the target), and refuses names that are absolute, contain `..`/`.` segments,
// backslashes or control characters.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { nextTarHeader, parseTarHeader, TAR_BLOCK, tarEnd, tarHeader, tarPadding } from '../tee/tar.js';

/** The mtime of every entry: npm pack's (1985-10-26T08:15:00Z): some tools mishandle times before 1980. */
export const KIT_MTIME_SEC = 499162500;

export interface KitTarLimits {
  /** The whole kit file. */
  maxBytes: number;
  maxEntries: number;
  /** One entry. */
  maxEntryBytes: number;
  /** Entries read into memory (manifest, signature). */
  maxHeldBytes: number;
}

export const KIT_TAR_LIMITS: KitTarLimits = {
  maxBytes: 4 * 1024 ** 3,
  maxEntries: 10_000,
  maxEntryBytes: 2 * 1024 ** 3,
  maxHeldBytes: 16 * 1024 ** 2,
};

const IO_CHUNK = 1 << 20;
const MAX_NAME_BYTES = 255;

/** Why `name` is not a safe relative path inside a kit, or undefined when it is. */
export function unsafeKitPath(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `a name longer than ${MAX_NAME_BYTES} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(name)) return 'a control character or backslash in the name';
  if (name.startsWith('/')) return 'an absolute path';
  for (const seg of name.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') return `a "${seg === '' ? '//' : seg}" path segment`;
  }
  return undefined;
}

export interface ScannedEntry {
  name: string;
  size: number;
  sha256: string;
  /** The bytes, for the entries asked to be held. */
  data?: Buffer;
}

export type KitTarScan = { ok: true; entries: ScannedEntry[] } | { ok: false; reason: string; path?: string };

const TYPE_NAMES: Record<string, string> = { '1': 'hard link', '2': 'symlink', '3': 'character device', '4': 'block device', '5': 'directory', '6': 'FIFO', x: 'pax header', g: 'pax global header', L: 'GNU long name' };

function headerName(h: Buffer): string {
  const field = (at: number, width: number) => {
    const f = h.subarray(at, at + width);
    const end = f.indexOf(0);
    return f.subarray(0, end < 0 ? width : end).toString('utf8');
  };
  const prefix = field(345, 155);
  return (prefix ? `${prefix}/` : '') + field(0, 100);
}

/**
 * Streams the tar at `path`: each entry's SHA-256 and size; the bytes of entries named in `hold`
 * (at most limits.maxHeldBytes each). Stops at the first entry that breaks a bound or a rule.
 */
export function scanKitTar(path: string, hold: ReadonlySet<string>, limits: KitTarLimits = KIT_TAR_LIMITS): KitTarScan {
  const fd = openSync(path, 'r');
  try {
    const fileBytes = fstatSync(fd).size;
    if (fileBytes > limits.maxBytes) return { ok: false, reason: `the file is ${fileBytes} bytes, more than a kit may be (${limits.maxBytes})` };
    const readFully = (into: Buffer, length: number, position: number): number => {
      let got = 0;
      while (got < length) {
        const n = readSync(fd, into, got, length - got, position + got);
        if (n === 0) break;
        got += n;
      }
      return got;
    };
    const buf = Buffer.allocUnsafe(IO_CHUNK);
    const header = Buffer.alloc(TAR_BLOCK);
    const entries: ScannedEntry[] = [];
    let at = 0;
    for (;;) {
      if (readFully(header, TAR_BLOCK, at) < TAR_BLOCK) return { ok: false, reason: 'the tar archive ends without its end-of-archive blocks' };
      const h = parseTarHeader(header, at);
      if (h.kind === 'end') return { ok: true, entries };
      if (h.kind === 'bad') {
        const type = TYPE_NAMES[String.fromCharCode(header[156]!)];
        if (type && !h.reason.startsWith('bad tar header checksum')) {
          const name = headerName(header);
          return { ok: false, path: name, reason: `${name}: a ${type} entry (refused: a kit holds regular files only)` };
        }
        return { ok: false, reason: h.reason };
      }
      const unsafe = unsafeKitPath(h.name);
      if (unsafe) return { ok: false, path: h.name, reason: `${JSON.stringify(h.name)}: refused, ${unsafe}` };
      if (entries.length >= limits.maxEntries) return { ok: false, reason: `more than ${limits.maxEntries} entries` };
      if (h.size > limits.maxEntryBytes) return { ok: false, path: h.name, reason: `${h.name} is ${h.size} bytes, more than an entry may be (${limits.maxEntryBytes})` };
      if (at + TAR_BLOCK + h.size > fileBytes) return { ok: false, path: h.name, reason: `truncated tar entry ${h.name}` };
      const held = hold.has(h.name);
      if (held && h.size > limits.maxHeldBytes) return { ok: false, path: h.name, reason: `${h.name} is ${h.size} bytes (at most ${limits.maxHeldBytes})` };
      const hash = createHash('sha256');
      const data = held ? Buffer.alloc(h.size) : undefined;
      for (let done = 0; done < h.size; ) {
        const want = Math.min(IO_CHUNK, h.size - done);
        const got = readFully(buf, want, at + TAR_BLOCK + done);
        if (got < want) return { ok: false, path: h.name, reason: `truncated tar entry ${h.name}` };
        hash.update(buf.subarray(0, got));
        data?.set(buf.subarray(0, got), done);
        done += got;
      }
      entries.push({ name: h.name, size: h.size, sha256: hash.digest('hex'), ...(data && { data }) });
      at = nextTarHeader(at, h.size);
    }
  } finally {
    closeSync(fd);
  }
}

/** A file to put in the kit: bytes in memory, or a file on disk streamed in. */
export type KitSource = { name: string; data: Buffer } | { name: string; file: string; size: number };

/** Writes `sources` in order as a ustar archive to `path` (created; the caller renames it into place). */
export async function writeKitTar(path: string, sources: readonly KitSource[]): Promise<number> {
  const out = await open(path, 'wx', 0o644);
  let bytes = 0;
  const write = async (b: Buffer) => {
    await out.write(b);
    bytes += b.length;
  };
  try {
    for (const s of sources) {
      if ('data' in s) {
        await write(tarHeader(s.name, s.data.length, KIT_MTIME_SEC));
        await write(s.data);
        await write(tarPadding(s.data.length));
      } else {
        await write(tarHeader(s.name, s.size, KIT_MTIME_SEC));
        await copyInto(write, s.file, s.size);
        await write(tarPadding(s.size));
      }
    }
    await write(tarEnd());
    await out.sync();
    return bytes;
  } finally {
    await out.close();
  }
}

async function copyInto(write: (b: Buffer) => Promise<void>, file: string, size: number): Promise<void> {
  let input: FileHandle | undefined;
  try {
    input = await open(file, 'r');
    const buf = Buffer.allocUnsafe(IO_CHUNK);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await input.read(buf, 0, Math.min(IO_CHUNK, size - done), done);
      if (bytesRead === 0) throw new Error(`${file} is shorter than ${size} bytes (changed while the kit was written)`);
      await write(buf.subarray(0, bytesRead)); // written before the next read reuses buf
      done += bytesRead;
    }
  } finally {
    await input?.close();
  }
}
