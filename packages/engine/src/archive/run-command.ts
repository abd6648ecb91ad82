import { execFile } from 'node:child_process';
import { internal } from '@shoal/api';

export interface RunCommandOptions {
  signal?: AbortSignal;
  cwd?: string;
}

/**
 * Runs a helper program (mount, mknod, setfattr...) that Node has no binding
 * for, and returns its stdout.
 *
 * @throws Internal with the program's stderr when it fails; the signal's reason on abort.
 */
export function runCommand(cmd: string, args: string[], options: RunCommandOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { signal: options.signal, cwd: options.cwd, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          if (options.signal?.aborted) {
            reject(options.signal.reason as Error);
            return;
          }
          const why = stderr.trim() || err.message;
          reject(internal(`${cmd} ${args.join(' ')} failed: ${why}`, { cause: err }));
          return;
        }
        resolve(stdout);
      },
    );
  });
}
