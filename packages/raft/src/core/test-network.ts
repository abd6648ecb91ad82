// Test support (used by the *.test.ts files only): a synchronous in-memory
// network of RaftCores in the style of etcd's raft_test.go `network`. A send
// delivers messages until quiet; links can be cut, nodes isolated, and
// message types dropped. Each node's Ready is handled by a correct host:
// persist, then send, then apply, then advance.

import { MemoryStorage } from './memory-storage.js';
import { RaftCore, newMessage } from './raft-core.js';
import type { RaftCoreOptions } from './raft-core.js';
import type { Entry, Message, MessageType, NodeId, ReadState } from './types.js';
import { EntryType } from './types.js';
import { decodeConfChange } from './conf-change.js';

/** A small deterministic PRNG (mulberry32) for tests. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TestNode {
  core: RaftCore;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  applyConfChanges: boolean;
}

export type NodeOptions = Partial<Omit<RaftCoreOptions, 'id' | 'storage'>>;

export function newTestNode(id: NodeId, voters: NodeId[], opts: NodeOptions = {}, storage?: MemoryStorage): TestNode {
  const st = storage ?? MemoryStorage.fromConfState({ voters, learners: [] });
  const core = new RaftCore({ id, storage: st, random: seeded(id.charCodeAt(id.length - 1)), ...opts });
  return { core, storage: st, applied: [], readStates: [], applyConfChanges: true };
}

/** Handle every pending Ready of a node as a correct host would; return the messages to send. */
export function drain(n: TestNode): Message[] {
  const out: Message[] = [];
  while (n.core.hasReady()) {
    const rd = n.core.ready();
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    out.push(...rd.messages);
    for (const e of rd.committedEntries) {
      n.applied.push(e);
      if (e.type === EntryType.ConfChange && n.applyConfChanges) n.core.applyConfChange(decodeConfChange(e.data));
    }
    n.readStates.push(...rd.readStates);
    n.core.advance(rd);
  }
  return out;
}

export class TestNetwork {
  readonly nodes = new Map<NodeId, TestNode>();
  private readonly cut = new Set<string>();
  private readonly dropTypes = new Set<MessageType>();
  /** Every message delivered, for assertions. */
  readonly delivered: Message[] = [];

  /** With `bootstrap`, storages start as MemoryStorage.bootstrap (index 1, as a real cluster does). */
  constructor(ids: NodeId[], opts: NodeOptions = {}, bootstrap = false) {
    for (const id of ids) {
      this.nodes.set(id, newTestNode(id, ids, opts, bootstrap ? MemoryStorage.bootstrap({ voters: ids, learners: [] }) : undefined));
    }
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  core(id: NodeId): RaftCore {
    return this.node(id).core;
  }

  /** Deliver msgs and everything they cause, until the network is quiet. */
  send(msgs: Message[]): void {
    const queue = [...msgs];
    let steps = 0;
    while (queue.length > 0) {
      if (++steps > 100000) throw new Error('network did not quiesce');
      const m = queue.shift()!;
      if (this.cut.has(`${m.from}>${m.to}`) || this.dropTypes.has(m.type)) continue;
      const n = this.nodes.get(m.to);
      if (!n) continue;
      this.delivered.push(m);
      n.core.step(m);
      queue.push(...drain(n));
    }
  }

  /** Run a local action on a node, then deliver what it produced. */
  act(id: NodeId, f: (c: RaftCore) => void): void {
    const n = this.node(id);
    f(n.core);
    this.send(drain(n));
  }

  campaign(id: NodeId): void {
    this.act(id, (c) => c.campaign());
  }

  propose(id: NodeId, data: string): void {
    this.act(id, (c) => c.propose(new TextEncoder().encode(data)));
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) for (const id of this.nodes.keys()) this.act(id, (c) => c.tick());
  }

  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  drop(type: MessageType): void {
    this.dropTypes.add(type);
  }

  recover(): void {
    this.cut.clear();
    this.dropTypes.clear();
  }

  add(id: NodeId, opts: NodeOptions = {}, storage?: MemoryStorage): TestNode {
    const n = newTestNode(id, [], opts, storage ?? new MemoryStorage());
    this.nodes.set(id, n);
    return n;
  }
}

export const text = (e: Entry): string => new TextDecoder().decode(e.data);
export const dataOf = (n: TestNode): string[] => n.applied.filter((e) => e.type === EntryType.Normal && e.data.length > 0).map(text);
export { newMessage };
