// What a node remembers about its swarm across restarts: its identity and
// role, its addresses, the managers it knows, and its certificate (key,
// certificate, root CA) in <data-root>/swarm/certificates like swarmkit's.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@shoal/engine/util/fs';
import type { NodeCertificate } from '@shoal/manager/ca/index';

export interface SwarmState {
  nodeId: string;
  clusterId: string;
  role: 'MANAGER' | 'WORKER';
  /** host:port the cluster port listens on (managers). */
  listenAddr: string;
  /** host:port others reach this node at. */
  advertiseAddr: string;
  /** Managers this node knows (id and cluster address), for reconnecting. */
  managers: { id: string; addr: string }[];
}

export class SwarmStateStore {
  readonly dir: string;
  private readonly certDir: string;

  constructor(dataRoot: string) {
    this.dir = join(dataRoot, 'swarm');
    this.certDir = join(this.dir, 'certificates');
  }

  get raftDir(): string {
    return join(this.dir, 'raft');
  }

  get agentDir(): string {
    return join(this.dir, 'worker');
  }

  exists(): boolean {
    return existsSync(join(this.dir, 'state.json'));
  }

  /** Throws when the state is unreadable (a damaged file names itself). */
  async load(): Promise<{ state: SwarmState; cert: NodeCertificate }> {
    const state = JSON.parse(await readFile(join(this.dir, 'state.json'), 'utf8')) as SwarmState;
    const cert: NodeCertificate = {
      keyPem: await readFile(join(this.certDir, 'swarm-node.key'), 'utf8'),
      certPem: await readFile(join(this.certDir, 'swarm-node.crt'), 'utf8'),
      rootCaPem: await readFile(join(this.certDir, 'swarm-root-ca.crt'), 'utf8'),
    };
    return { state, cert };
  }

  async saveState(state: SwarmState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(state, null, 2));
  }

  async saveCert(cert: NodeCertificate): Promise<void> {
    await mkdir(this.certDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(this.certDir, 'swarm-node.key'), cert.keyPem, 0o600);
    await writeFileAtomic(join(this.certDir, 'swarm-node.crt'), cert.certPem);
    await writeFileAtomic(join(this.certDir, 'swarm-root-ca.crt'), cert.rootCaPem);
  }

  /** Forgets the swarm (leave). */
  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
