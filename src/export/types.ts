// What the rest of the gateway sees of the export stage.
import type { Outcome } from '../errors.js';
import type { Signal } from '../signals.js';
import type { ExporterHealthSnapshot } from './health.js';

/** One processed request for one tenant: encoded resource_* fields, ready to concatenate into a batch. */
export interface ExportItem {
  signal: Signal;
  tenant: string;
  /** Encoded Export*ServiceRequest whose top level holds only repeated resource_* fields (field 1). */
  body: Uint8Array;
  /** Spans, data points or log records in body. */
  items: number;
  /** The persistent queue's sequence number of this item (set by the exporter that keeps one). */
  seq?: number;
}

/**
 * An offer's outcome. With a persistent queue, 'ok' carries `durable`: it resolves once the item is on
 * disk (ok), or to the retryable refusal to answer when it could not be made durable. The client is
 * acknowledged only after it (DESIGN.md, decision 7); without a persistent queue there is no promise.
 */
export type OfferOutcome = Outcome & { durable?: Promise<Outcome> };

export interface Exporter {
  readonly name: string;
  readonly signals: readonly Signal[];
  /** ok / degraded / down, with its backlog (health.ts); absent on test doubles. */
  health?(): ExporterHealthSnapshot;
  /** Bytes this exporter could take now without exceeding its queue bound (memory, or disk when persistent). */
  hasRoomFor(bytes: number, tenant?: string): boolean;
  /**
   * Enqueue (batch) the item. 'ok' means it is in the exporter's memory queue and will be sent or
   * counted as dropped; 'retryable' (OVERLOADED) means the queue is full and nothing was taken.
   */
  offer(item: ExportItem): OfferOutcome;
  start(): Promise<void>;
  /** Flush batches and send what is queued until the deadline; then drop (counted) what is left. */
  shutdown(deadlineMs: number): Promise<void>;
}

/** Fans items out to every exporter that takes the signal; all or none. */
export interface ExportRouter {
  offer(item: ExportItem): OfferOutcome;
  start(): Promise<void>;
  shutdown(deadlineMs: number): Promise<void>;
  readonly exporters: readonly Exporter[];
}
