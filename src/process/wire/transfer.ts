// Moving bytes between threads without copying them: a Uint8Array can be transferred only with its
// whole ArrayBuffer, so a view over part of a buffer (Node's pooled small Buffers, a subarray, a
// protobufjs Writer result) is copied first, into a buffer it owns alone.
//
// One exception saves a copy of every gRPC request: grpc-js hands a message over as a view that skips
// the 5-byte gRPC frame header of a buffer holding nothing else. A view whose buffer has at most
// DEAD_BYTES besides it, and that is too large to come from Node's shared Buffer pool (Node pools only
// allocations under half of Buffer.poolSize: 4 KiB before Node 24, 32 KiB since), is transferred with
// its buffer; the few other bytes are dead framing.
const DEAD_BYTES = 16;

/** Whether transferring view.buffer moves exactly the view's bytes and nothing else. */
export function ownsWholeBuffer(view: ArrayBufferView): boolean {
  return view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}

function ownsBufferButFraming(view: Uint8Array): boolean {
  return (
    view.buffer instanceof ArrayBuffer &&
    view.byteLength >= Buffer.poolSize >>> 1 &&
    view.buffer.byteLength - view.byteLength <= DEAD_BYTES
  );
}

/** Whether `view`'s buffer holds nothing but the view (and at most dead framing): it may move, or be freed, with the view. */
export function ownsItsBuffer(view: Uint8Array): boolean {
  return ownsWholeBuffer(view) || ownsBufferButFraming(view);
}

/** The view itself when its buffer can be transferred, otherwise a copy that owns its buffer; transfer `.buffer` of the result. */
export function transferableView(view: Uint8Array): Uint8Array<ArrayBuffer> {
  if (ownsItsBuffer(view)) return view as Uint8Array<ArrayBuffer>;
  const copy = new Uint8Array(view.byteLength);
  copy.set(view);
  return copy;
}
