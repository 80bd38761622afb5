// Per (signal, tenant) accumulation of export items into batches. Every item body is an encoded
// Export*ServiceRequest holding only repeated field 1, and protobuf merges repeated fields of
// concatenated messages, so a batch is the plain concatenation of its items' bodies (DESIGN.md,
// decision 1): no decoding, no re-encoding. Tenants and signals are never mixed (decision 4).
// https://protobuf.dev/programming-guides/encoding/#last-one-wins ("merging" of concatenated messages)
import type { BatchConfig } from '../config/types.js';
import type { Signal } from '../signals.js';
import type { ExportItem } from './types.js';
import type { ExportBatch } from './transport.js';

export interface Batcher {
  /** Add an item; batches that become complete are handed to `onBatch` synchronously. */
  add(item: ExportItem): void;
  /** Hand every pending batch to `onBatch` now (shutdown). */
  flushAll(): void;
  /** Bytes accumulated and not yet handed over. */
  readonly pendingBytes: number;
  /** Pending (signal, tenant) batches. */
  readonly pendingBatches: number;
  /** Stop the interval timers (pending data stays; call flushAll first to keep it). */
  close(): void;
}

export interface BatcherTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: BatcherTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // The interval timer must not keep a process alive on its own; listeners and senders do that.
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Pending {
  signal: Signal;
  tenant: string;
  parts: Uint8Array[];
  bytes: number;
  items: number;
  timer: unknown;
  seqs: number[] | undefined;
}

export function createBatcher(
  config: BatchConfig,
  onBatch: (batch: ExportBatch) => void,
  timers: BatcherTimers = realTimers,
): Batcher {
  // Keyed by signal then tenant: a tenant name can hold any character, so no string key joining.
  const pending = new Map<Signal, Map<string, Pending>>();
  let pendingBytes = 0;
  let pendingBatches = 0;

  function emit(p: Pending): void {
    if (p.timer !== undefined) timers.clearTimeout(p.timer);
    pending.get(p.signal)?.delete(p.tenant);
    pendingBytes -= p.bytes;
    pendingBatches--;
    const body = p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts, p.bytes);
    onBatch(p.seqs ? { signal: p.signal, tenant: p.tenant, body, items: p.items, seqs: p.seqs } : { signal: p.signal, tenant: p.tenant, body, items: p.items });
  }

  function add(item: ExportItem): void {
    const bytes = item.body.length;
    let bySignal = pending.get(item.signal);
    if (!bySignal) pending.set(item.signal, (bySignal = new Map()));
    let p = bySignal.get(item.tenant);
    if (bytes >= config.passThroughBytes || bytes >= config.maxBytes || item.items >= config.maxItems) {
      // Big enough to be an efficient export request on its own (or too big to merge): forwarded as it
      // is, which spares a copy of its bytes. Items are never split, since that would need decoding.
      // Whatever was pending for the tenant goes first, keeping arrival order.
      if (p) emit(p);
      const batch = { signal: item.signal, tenant: item.tenant, body: item.body, items: item.items };
      onBatch(item.seq === undefined ? batch : { ...batch, seqs: [item.seq] });
      return;
    }
    // Flush first when this item would push the batch over a limit, keeping arrival order.
    if (p && (p.bytes + bytes > config.maxBytes || p.items + item.items > config.maxItems)) {
      emit(p);
      p = undefined;
    }
    if (!p) {
      const fresh: Pending = { signal: item.signal, tenant: item.tenant, parts: [], bytes: 0, items: 0, timer: undefined, seqs: undefined };
      fresh.timer = timers.setTimeout(() => {
        fresh.timer = undefined;
        if (bySignal!.get(fresh.tenant) === fresh) emit(fresh);
      }, config.flushIntervalMs);
      bySignal.set(item.tenant, fresh);
      pendingBatches++;
      p = fresh;
    }
    p.parts.push(item.body);
    p.bytes += bytes;
    p.items += item.items;
    if (item.seq !== undefined) (p.seqs ??= []).push(item.seq);
    pendingBytes += bytes;
    if (p.bytes >= config.maxBytes || p.items >= config.maxItems) emit(p);
  }

  function flushAll(): void {
    for (const bySignal of pending.values()) for (const p of [...bySignal.values()]) emit(p);
  }

  function close(): void {
    for (const bySignal of pending.values()) {
      for (const p of bySignal.values()) {
        if (p.timer !== undefined) timers.clearTimeout(p.timer);
        p.timer = undefined;
      }
    }
  }

  return {
    add,
    flushAll,
    close,
    get pendingBytes() {
      return pendingBytes;
    },
    get pendingBatches() {
      return pendingBatches;
    },
  };
}
