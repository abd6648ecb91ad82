#!/usr/bin/env node
// The KV server process:
//   node packages/raft/dist/kv/server.js --id n1 --listen 127.0.0.1:7001 \
//     --client 127.0.0.1:8001 --data DIR \
//     --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003 \
//     [--peer-clients n1=127.0.0.1:8001,...] [--join] [--tick-ms 100] \
//     [--election-tick 10] [--heartbeat-tick 1] [--snapshot-every 100000] \
//     [--snapshot-catch-up 5000] [--pipeline-depth 1] [--log-level info|warn|error|silent]
// Prints one JSON line {"event":"ready",...} on stdout once both listeners are
// up; logs JSON lines on stderr. SIGTERM/SIGINT stop it cleanly (exit 0); a
// fatal Raft error (disk) exits 1; bad flags exit 2.
import { parseArgs } from 'node:util';
import type { Peer } from '../transport/transport.js';
import { KvServer } from './kv-server.js';
import { stderrLogger } from './stderr-logger.js';

const USAGE =
  'usage: server.js --id ID --listen HOST:PORT --client HOST:PORT --data DIR --peers ID=HOST:PORT,... ' +
  '[--peer-clients ID=HOST:PORT,...] [--join] [--tick-ms N] [--election-tick N] [--heartbeat-tick N] ' +
  '[--snapshot-every N] [--snapshot-catch-up N] [--pipeline-depth N] [--log-level info|warn|error|silent]';

function fail(msg: string): never {
  process.stderr.write(`${msg}\n${USAGE}\n`);
  process.exit(2);
}

/** "a=x,b=y" → Map; fails the process on a malformed list. */
function pairs(flag: string, s: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!s) return out;
  for (const part of s.split(',').filter((p) => p !== '')) {
    const i = part.indexOf('=');
    if (i <= 0 || i === part.length - 1) fail(`--${flag} expects ID=HOST:PORT pairs separated by commas, not "${part}".`);
    out.set(part.slice(0, i), part.slice(i + 1));
  }
  return out;
}

function int(flag: string, s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) fail(`--${flag} expects a positive integer, not "${s}".`);
  return n;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        id: { type: 'string' },
        listen: { type: 'string' },
        client: { type: 'string' },
        data: { type: 'string' },
        peers: { type: 'string' },
        'peer-clients': { type: 'string' },
        join: { type: 'boolean', default: false },
        'tick-ms': { type: 'string' },
        'election-tick': { type: 'string' },
        'heartbeat-tick': { type: 'string' },
        'snapshot-every': { type: 'string' },
        'snapshot-catch-up': { type: 'string' },
        'pipeline-depth': { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
      },
      strict: true,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  const { id, listen, client, data } = values;
  if (!id || !listen || !client || !data) fail('--id, --listen, --client and --data are required.');
  const raft = pairs('peers', values.peers);
  const clients = pairs('peer-clients', values['peer-clients']);
  if (!values.join && !raft.has(id)) fail(`--peers must list this member (${id}) when founding a cluster.`);
  const peers: Peer[] = [...raft].map(([pid, addr]) => {
    const meta = pid === id ? client : clients.get(pid);
    return meta === undefined ? { id: pid, addr } : { id: pid, addr, meta };
  });
  const logger = stderrLogger(values['log-level'] ?? 'info', { 'node.id': id });
  const server = await KvServer.start({
    id,
    raftListen: listen,
    clientListen: client,
    dataDir: data,
    peers,
    join: values.join ?? false,
    ...optional('tickMs', int('tick-ms', values['tick-ms'])),
    ...optional('electionTick', int('election-tick', values['election-tick'])),
    ...optional('heartbeatTick', int('heartbeat-tick', values['heartbeat-tick'])),
    ...optional('snapshotEvery', int('snapshot-every', values['snapshot-every'])),
    ...optional('snapshotCatchUpEntries', int('snapshot-catch-up', values['snapshot-catch-up'])),
    ...optional('pipelineDepth', int('pipeline-depth', values['pipeline-depth'])),
    logger,
  });
  process.stdout.write(`${JSON.stringify({ event: 'ready', id, raft: listen, client, pid: process.pid })}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: (err as Error).message }, 'kv server stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const err = await server.done;
  if (err && !stopping) {
    logger.error({ err: err.message }, 'kv server exiting after a fatal Raft error');
    process.exit(1);
  }
}

function optional<K extends string>(k: K, v: number | undefined): Partial<Record<K, number>> {
  return v === undefined ? {} : ({ [k]: v } as Record<K, number>);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
