// The forensic bundle: one tar holding, in this order, manifest.json, manifest.sigstore.json (a Sigstore
// bundle over the manifest bytes) and chunks/<tier>/<segment name> (each a segment file holding the
// selected records, in archive order), sorted by path. Fixed order, modes and times: see tar.ts.
//
// A bundle can be far larger than memory (a day of a busy tenant), and it is also built inside the
// gateway (POST /admin/v1/captures), so it is streamed to disk, never assembled in memory. The manifest
// comes first in the tar but lists every chunk's SHA-256, so chunks are first spooled (data only) to a
// scratch file next to the output, hashed on the way; `finish` then writes the tar to `<out>.tmp`
// (manifest, signature, the chunks copied from the spool in path order, hashing every byte written),
// fsyncs it and renames it to `<out>`. Memory stays at two IO_CHUNK buffers whatever the bundle's size.
import { createHash } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { tarEnd, tarHeader, tarPadding } from './tar.js';

export const MANIFEST_NAME = 'manifest.json';
export const SIGNATURE_NAME = 'manifest.sigstore.json';
export const CHUNKS_DIR = 'chunks/';

/** Bytes staged per write and read: the writer's whole memory footprint is two of these. */
export const IO_CHUNK = 1 << 20;

export interface WrittenBundle {
  /** The bundle file (renamed into place). */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** hex SHA-256 of the whole file, computed while writing it. */
  sha256: string;
}

async function writeAll(fh: FileHandle, buf: Uint8Array, position?: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position === undefined ? null : position + off);
    off += bytesWritten;
  }
}

/** Coalesces small writes (a chunk is written record by record) into IO_CHUNK-sized ones. */
class StagedWriter {
  private readonly buf = Buffer.allocUnsafe(IO_CHUNK);
  private used = 0;
  /** Bytes accepted so far (written or staged). */
  length = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly onWrite?: (bytes: Buffer) => void,
  ) {}

  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const n = Math.min(IO_CHUNK - this.used, data.length - off);
      this.buf.set(data.subarray(off, off + n), this.used);
      this.used += n;
      off += n;
      if (this.used === IO_CHUNK) await this.flush();
    }
    this.length += data.length;
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const out = this.buf.subarray(0, this.used);
    this.onWrite?.(out);
    await writeAll(this.fh, out);
    this.used = 0;
  }
}

interface SpooledChunk {
  path: string;
  offset: number;
  size: number;
}

/** Writes one bundle file; open with `openBundleWriter`, add every chunk, then `finish` (or `abort`). */
export class BundleWriter {
  private readonly chunks: SpooledChunk[] = [];
  private readonly spoolWriter: StagedWriter;
  private out: FileHandle | undefined;
  private done = false;

  /** @internal use openBundleWriter */
  constructor(
    private readonly path: string,
    private readonly mode: number,
    private readonly spool: FileHandle,
    private readonly spoolPath: string,
    private spoolLinked: boolean,
  ) {
    this.spoolWriter = new StagedWriter(spool);
  }

  private get tmpPath(): string {
    return `${this.path}.tmp`;
  }

  /** Spools one chunk (its bytes in `parts`, produced lazily); returns its size and SHA-256. */
  async addChunk(path: string, parts: Iterable<Uint8Array>): Promise<{ size: number; sha256: string }> {
    if (this.done) throw new Error('bundle writer: already finished');
    const hash = createHash('sha256');
    const offset = this.spoolWriter.length;
    for (const part of parts) {
      hash.update(part);
      await this.spoolWriter.write(part);
    }
    const size = this.spoolWriter.length - offset;
    this.chunks.push({ path, offset, size });
    return { size, sha256: hash.digest('hex') };
  }

  /** Writes the tar (manifest, signature, chunks sorted by path, end blocks), fsyncs it and renames it into place. */
  async finish(manifest: Uint8Array, signature: Uint8Array): Promise<WrittenBundle> {
    if (this.done) throw new Error('bundle writer: already finished');
    this.done = true;
    try {
      await this.spoolWriter.flush();
      const hash = createHash('sha256');
      this.out = await open(this.tmpPath, 'w', this.mode);
      // open's mode applies to a new file only: a temp file a crash left keeps its own.
      await this.out.chmod(this.mode);
      const tar = new StagedWriter(this.out, (b) => hash.update(b));
      for (const [name, data] of [[MANIFEST_NAME, manifest], [SIGNATURE_NAME, signature]] as const) {
        await tar.write(tarHeader(name, data.length));
        await tar.write(data);
        await tar.write(tarPadding(data.length));
      }
      const ordered = [...this.chunks].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      const readBuf = Buffer.allocUnsafe(IO_CHUNK);
      for (const c of ordered) {
        await tar.write(tarHeader(c.path, c.size));
        for (let at = 0; at < c.size; ) {
          const want = Math.min(IO_CHUNK, c.size - at);
          const { bytesRead } = await this.spool.read(readBuf, 0, want, c.offset + at);
          if (bytesRead === 0) throw new Error(`bundle writer: the spool ended inside ${c.path}`);
          await tar.write(readBuf.subarray(0, bytesRead));
          at += bytesRead;
        }
        await tar.write(tarPadding(c.size));
      }
      await tar.write(tarEnd());
      await tar.flush();
      await this.out.sync();
      await this.out.close();
      this.out = undefined;
      await rename(this.tmpPath, this.path);
      return { path: this.path, bytes: tar.length, sha256: hash.digest('hex') };
    } catch (err) {
      await this.cleanUp(true);
      throw err;
    } finally {
      await this.cleanUp(false);
    }
  }

  /** Drops the bundle: closes and removes the spool and any temp file. */
  async abort(): Promise<void> {
    this.done = true;
    await this.cleanUp(true);
  }

  private async cleanUp(removeTemp: boolean): Promise<void> {
    await this.spool.close().catch(() => undefined);
    if (this.spoolLinked) {
      this.spoolLinked = false;
      await unlink(this.spoolPath).catch(() => undefined);
    }
    if (this.out) {
      await this.out.close().catch(() => undefined);
      this.out = undefined;
    }
    if (removeTemp) await unlink(this.tmpPath).catch(() => undefined);
  }
}

/**
 * Starts a bundle at `path` (written as `<path>.tmp`, renamed on finish; `mode` default 0600: a bundle
 * holds a tenant's telemetry). The spool `<path>.chunks.tmp` is unlinked as soon as it is open where the
 * OS allows it, so a crash leaves at most `<path>.tmp` behind.
 */
export async function openBundleWriter(path: string, mode = 0o600): Promise<BundleWriter> {
  const spoolPath = `${path}.chunks.tmp`;
  const spool = await open(spoolPath, 'w+', 0o600);
  let linked = true;
  try {
    unlinkSync(spoolPath);
    linked = false;
  } catch {
    // (Windows: an open file cannot be unlinked; it is removed when the writer closes it.)
  }
  return new BundleWriter(path, mode, spool, spoolPath, linked);
}
