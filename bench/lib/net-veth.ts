// The baseline of the network bench: two namespaces joined by nothing but a
// veth pair, the shortest path a container network can be compared with.
// Everything lives in namespaces of its own (never the host's), removed with
// them at teardown.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Teardown } from '../../test/e2e/harness.js';
import { loadHarness } from './e2e-harness.js';

const execFileP = promisify(execFile);

export interface VethPair {
  /** The namespace the server runs in, and its address on the pair. */
  serverNs: string;
  serverAddr: string;
  /** The namespace the client runs in. */
  clientNs: string;
}

/** The pair's addresses: the two namespaces hold nothing else, so they clash with nothing. */
const SERVER_ADDR = '10.254.0.1';
const CLIENT_ADDR = '10.254.0.2';

async function ip(args: string[]): Promise<void> {
  try {
    await execFileP('ip', args);
  } catch (e) {
    throw new Error(`ip ${args.join(' ')} failed: ${(e as { stderr?: string }).stderr?.trim() ?? String(e)}`, { cause: e });
  }
}

/** Creates the two namespaces and the pair (MTU 1500, like a container's veth); deleted at teardown. Throws when ip fails. */
export async function createVethPair(t: Teardown): Promise<VethPair> {
  const { createNetns } = await loadHarness();
  const serverNs = await createNetns(t, 'vs');
  const clientNs = await createNetns(t, 'vc');
  await ip(['-n', serverNs, 'link', 'add', 'veth0', 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'veth0', 'mtu', '1500', 'netns', clientNs]);
  await ip(['-n', serverNs, 'addr', 'add', `${SERVER_ADDR}/24`, 'dev', 'veth0']);
  await ip(['-n', clientNs, 'addr', 'add', `${CLIENT_ADDR}/24`, 'dev', 'veth0']);
  await ip(['-n', serverNs, 'link', 'set', 'veth0', 'up']);
  await ip(['-n', clientNs, 'link', 'set', 'veth0', 'up']);
  return { serverNs, serverAddr: SERVER_ADDR, clientNs };
}

/**
 * Gives namespace `ns` a non-loopback address (what a real host's eth0 would
 * have), on one end of a veth pair whose both ends stay in `ns`: this kernel
 * has no dummy interfaces. Throws when ip fails.
 */
export async function addHostAddress(ns: string, cidr: string): Promise<string> {
  await ip(['-n', ns, 'link', 'add', 'bench0', 'type', 'veth', 'peer', 'name', 'bench1']);
  await ip(['-n', ns, 'addr', 'add', cidr, 'dev', 'bench0']);
  await ip(['-n', ns, 'link', 'set', 'bench1', 'up']);
  await ip(['-n', ns, 'link', 'set', 'bench0', 'up']);
  return cidr.split('/')[0] ?? cidr;
}
