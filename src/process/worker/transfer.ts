// Moving bytes between threads without copying them: a Uint8Array can be transferred only with its
// whole ArrayBuffer, so a view over part of a buffer (Node's pooled small Buffers, a subarray, a
// protobufjs Writer result) is copied first, into a buffer it owns alone.

/** Whether transferring view.buffer moves exactly the view's bytes and nothing else. */
export function ownsWholeBuffer(view: Uint8Array): boolean {
  return view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}

/** The view itself when it owns its buffer, otherwise a copy that does; transfer `.buffer` of the result. */
export function transferableView(view: Uint8Array): Uint8Array<ArrayBuffer> {
  if (ownsWholeBuffer(view)) return view as Uint8Array<ArrayBuffer>;
  const copy = new Uint8Array(view.byteLength);
  copy.set(view);
  return copy;
}
