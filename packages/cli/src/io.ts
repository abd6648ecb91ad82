import type { Readable, Writable } from 'node:stream';

/** A terminal-capable input (process.stdin or a test stream). */
export type CliInput = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown; fd?: number };
/** A terminal-capable output (process.stdout or a test stream). */
export type CliOutput = Writable & { isTTY?: boolean; columns?: number; rows?: number };

/** Everything the CLI touches of its process; tests pass their own. */
export interface CliIO {
  stdin: CliInput;
  stdout: CliOutput;
  stderr: CliOutput;
  env: Record<string, string | undefined>;
}
