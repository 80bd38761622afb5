// The piscina worker entry: runs one ProcessTask and hands the output bytes back by transfer, not by
// copy. This side imports only its own folder and the shared protocol types (DESIGN.md conventions):
// no logger, no metrics registry; counts travel in the result.
import { move, transferableSymbol, valueSymbol } from 'piscina';
import type { ProcessResult, ProcessTask } from '../protocol.js';
import { processRequest } from './process-request.js';
import { transferableView } from './transfer.js';

export default function processTask(task: ProcessTask): ProcessResult {
  const result = processRequest(task);
  if (result.status !== 'ok') return result;
  // The input arrived transferred (the pool makes sure it owns its buffer), so an unchanged body moves
  // straight back; a new body (JSON conversion, stripped fields) may be a view into a shared pool.
  result.body = transferableView(result.body);
  // piscina transfers what a Transferable's transferableSymbol names and posts its valueSymbol.
  const movable = { [transferableSymbol]: [result.body.buffer], [valueSymbol]: result };
  return move(movable) as unknown as ProcessResult;
}
