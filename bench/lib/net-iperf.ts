// iperf3 for the network bench: the client's arguments (the same for every
// path measured, so their ratios compare like with like) and reading its JSON.
import { spawn, type ChildProcess } from 'node:child_process';

export const IPERF_PORT = 5201;

/** One TCP transfer as iperf3 reports it. */
export interface IperfResult {
  /** Receiver-side throughput over the measured seconds. */
  bitsPerSecond: number;
  /** Sender-side TCP retransmissions. */
  retransmits: number;
}

/**
 * The client arguments after `iperf3`: one TCP stream for `seconds`, the first
 * second (slow start) left out, JSON output.
 */
export function iperfClientArgs(host: string, seconds: number, port = IPERF_PORT): string[] {
  return ['-c', host, '-p', String(port), '-t', String(seconds), '-O', '1', '-J'];
}

/** Reads `iperf3 -J` output. Throws with iperf3's own error when the run failed or the output is not its JSON. */
export function parseIperfJson(stdout: string): IperfResult {
  let doc: { error?: string; end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } } };
  try {
    // Anything printed before the JSON (a runtime's warning) is not iperf3's.
    doc = JSON.parse(stdout.slice(Math.max(0, stdout.indexOf('{')))) as typeof doc;
  } catch {
    throw new Error(`iperf3 printed no JSON: ${stdout.trim().slice(0, 200) || '(nothing)'}`);
  }
  if (doc.error) throw new Error(`iperf3: ${doc.error}`);
  const bps = doc.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number') throw new Error('iperf3 reported no received throughput');
  return { bitsPerSecond: bps, retransmits: doc.end?.sum_sent?.retransmits ?? 0 };
}

/**
 * Starts `iperf3 -s` inside the named network namespace and resolves once it
 * listens. The caller kills the returned process. Throws when it exits first.
 */
export async function startIperfServer(netnsPath: string, signal?: AbortSignal): Promise<ChildProcess> {
  const child = spawn('nsenter', [`--net=${netnsPath}`, 'iperf3', '-s', '-p', String(IPERF_PORT), '--forceflush'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(signal ? { signal } : {}),
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('Server listening')) {
        child.stdout.off('data', onData);
        // Keep draining so a full pipe never blocks the server.
        child.stdout.resume();
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`iperf3 -s in ${netnsPath} exited ${code}: ${out.trim()}`)));
  });
  return child;
}
