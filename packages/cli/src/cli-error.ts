// Errors the CLI reports itself, each carrying the process exit code docker
// would use. Daemon errors (ShoalError) are reported by main.ts.

/** A bad flag, flag value or argument count: docker prints it with a help hint and exits 125. */
export class UsageError extends Error {
  readonly exitCode = 125;
  /** The command path for the "See 'shoal run --help'." hint, e.g. "shoal run". */
  commandPath: string | undefined;

  constructor(message: string, commandPath?: string) {
    super(message);
    this.name = 'UsageError';
    this.commandPath = commandPath;
  }
}

/** Ends the command with an exit code; the message, if any, was already printed or is printed as is. */
export class ExitError extends Error {
  readonly exitCode: number;

  constructor(exitCode: number, message = '') {
    super(message);
    this.name = 'ExitError';
    this.exitCode = exitCode;
  }
}

/** docker's wording for a flag that did not parse. */
export function invalidFlag(value: string, flag: string, reason: string): UsageError {
  return new UsageError(`invalid argument "${value}" for "${flag}" flag: ${reason}`);
}
