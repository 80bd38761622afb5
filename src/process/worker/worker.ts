// The piscina worker entry: runs one ProcessTask and hands the output bytes back by transfer, not by
// copy. This side imports only its own folder and the shared protocol types (DESIGN.md conventions;
// policy-rules.ts explains its imports of the pure detector functions): no logger, no metrics
// registry; counts travel in the result.
//
// Policies arrive by version: a task names task.policyVersion, and the worker uses its cached compiled
// rules of that version. When it has none it answers need-policy with the body handed back, and the
// pool resends the task with task.policy attached (once per version per worker, not per task).
import { move, transferableSymbol, valueSymbol } from 'piscina';
import type { ProcessTask, WorkerResult } from '../protocol.js';
import { createPolicyCache, type VersionRules } from './policy-rules.js';
import { processRequest } from './process-request.js';
import { ownsItsBuffer, transferableView } from '../wire/transfer.js';

const policies = createPolicyCache(3);

function transferBack(result: WorkerResult, body: Uint8Array): WorkerResult {
  // piscina transfers what a Transferable's transferableSymbol names and posts its valueSymbol.
  const movable = { [transferableSymbol]: [body.buffer], [valueSymbol]: result };
  return move(movable) as unknown as WorkerResult;
}

/**
 * Gives the input's memory back now rather than at this isolate's next garbage collection. The pool
 * releases the request's in-flight budget when the task ends, but a worker's heap is small and seldom
 * collected, so without this the bodies it is done with (up to the message limit each) stayed
 * resident after their budget had been spent again on new ones (issue 18: RSS over budget + 150 MiB
 * with 150 concurrent 15 MiB bodies). ArrayBuffer.prototype.transfer (Node 22+) detaches the buffer
 * and frees its store at once; on older Node this does nothing. Only for a buffer the result does not
 * use, and only after the task: the worker's input register (rewrite/input.ts) still points at it
 * until the next task sets its own.
 */
function release(body: Uint8Array, result: WorkerResult): void {
  const buffer = body.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer; detached?: boolean };
  if (buffer.transfer === undefined || buffer.detached === true) return;
  // Only a buffer that holds this body alone: the pool transfers such a buffer, but a direct caller may
  // pass a view into a shared one (Node's Buffer pool, detachable on Node 22: freeing it breaks every
  // later small Buffer of the thread).
  if (!ownsItsBuffer(body)) return;
  if ('body' in result && result.body instanceof Uint8Array && result.body.buffer === buffer) return;
  try {
    buffer.transfer(0);
  } catch {
    // Not detachable: collected as usual.
  }
}

export default function processTask(task: ProcessTask): WorkerResult {
  let rules: VersionRules | undefined;
  if (task.policyVersion !== undefined) {
    rules = task.policy && task.policy.version === task.policyVersion ? policies.put(task.policy) : policies.get(task.policyVersion);
    if (!rules) {
      const body = transferableView(task.body);
      return transferBack({ status: 'need-policy', policyVersion: task.policyVersion, body }, body);
    }
  }
  // Two clock reads per request (not per span): the cost is in docs/performance-log.md (2026-12-07).
  const started = performance.now();
  const result = processRequest(task, rules, performance.now.bind(performance));
  if (result.status !== 'ok') {
    release(task.body, result);
    return result;
  }
  result.processSeconds = (performance.now() - started) / 1000;
  // The input arrived transferred (the pool makes sure it owns its buffer), so an unchanged body moves
  // straight back; a new body (JSON conversion, stripped fields, rewrites) may be a view into a shared pool.
  result.body = transferableView(result.body);
  release(task.body, result);
  return transferBack(result, result.body);
}
