// Runs the system tools networking is built with (ip, iptables, unshare,
// nsenter). They run in the daemon's own network namespace, whatever that is.
import { spawn } from 'node:child_process';
import { internal } from '@shoal/api';

export interface RunOptions {
  input?: string;
  signal?: AbortSignal;
}

/** Runs a command; resolves with its stdout. Throws Internal with the tool's stderr when it fails. */
export function run(cmd: string, args: readonly string[], o: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(o.signal ? { signal: o.signal } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => reject(internal(`${cmd} could not run: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString());
      else reject(internal(`${cmd} ${args.join(' ')} failed: ${Buffer.concat(err).toString().trim() || `exit ${code}`}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(o.input ?? '');
  });
}

/** `ip -batch -` with one command per line; with `netns`, inside that namespace file. Throws Internal. */
export function ipBatch(lines: readonly string[], netns?: string, signal?: AbortSignal): Promise<string> {
  const input = lines.join('\n') + '\n';
  const o = { input, ...(signal ? { signal } : {}) };
  return netns ? run('nsenter', [`--net=${netns}`, 'ip', '-batch', '-'], o) : run('ip', ['-batch', '-'], o);
}
