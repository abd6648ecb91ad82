// A JSON-lines logger on stderr for the KV server process (packages/raft may
// not depend on pino). Fits RaftNodeLogger and GrpcTransportLogger.
import type { RaftNodeLogger } from '../node/raft-node.js';

const LEVELS = { info: 30, warn: 40, error: 50, silent: 100 } as const;

export function stderrLogger(level: string, base: Record<string, unknown> = {}): RaftNodeLogger {
  const min = LEVELS[level as keyof typeof LEVELS] ?? LEVELS.info;
  const emit = (lvl: keyof typeof LEVELS, fields: Record<string, unknown>, msg: string) => {
    if (LEVELS[lvl] < min) return;
    process.stderr.write(`${JSON.stringify({ level: lvl, time: Date.now(), ...base, ...fields, msg })}\n`);
  };
  return {
    info: (f, m) => emit('info', f, m),
    warn: (f, m) => emit('warn', f, m),
    error: (f, m) => emit('error', f, m),
  };
}
