// What a `stella telemetry` command is, and the argument parsing they share (node's util.parseArgs in
// strict mode, with its errors reworded into one line that names the command and the flag).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { didYouMean } from '../config/suggest.js';

/** An entry of the command table: enough to list and dispatch; the module loads only when it runs. */
export interface CommandEntry {
  /** The words after `stella telemetry`, e.g. ['config', 'validate']. */
  path: readonly string[];
  /** One line for the command list. */
  summary: string;
  load(): Promise<Command>;
}

export interface Command {
  /** The full `--help` text. */
  help: string;
  /**
   * Runs with the arguments after the command words; resolves with the exit code
   * (0 ok, 1 failure, 2 usage error).
   */
  run(args: string[]): Promise<number>;
  /**
   * Exit with process.exit once run resolves, rather than when the event loop drains
   * (a server leaves worker threads and sockets behind on purpose until it is told to stop).
   */
  forceExit?: boolean;
}

/** A command line that does not parse: reported as one line plus a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** util.parseArgs (strict); its errors become UsageErrors such as `unknown option "--gprc" (did you mean "--grpc"?)`. */
export function parseCommandArgs<O extends Options>(args: string[], options: O, allowPositionals: boolean) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'(-[^']*)'/.exec(e.message)?.[1] ?? '?';
      const names = Object.keys(options).map((n) => `--${n}`);
      throw new UsageError(`unknown option "${flag}"${didYouMean(flag, names)}`);
    }
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /'([^']*)'/.exec(e.message)?.[1] ?? '?';
      throw new UsageError(`unexpected argument "${arg}"`);
    }
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      // "Option '--grpc <value>' argument missing" and similar; already one clear line.
      throw new UsageError(e.message.split('\n')[0]!.replace(/^Option/, 'option'));
    }
    throw err;
  }
}

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

export const stdio: CliOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};
