import { pino, type Logger as Pino } from 'pino';
import type { Logger } from '@shoal/api';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** A JSON logger on stderr (or a file descriptor), with stable dotted field names. */
export function createLogger(level: LogLevel, dest = 2): Logger {
  return wrap(
    pino(
      { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
      pino.destination({ dest, sync: true }),
    ),
  );
}

function wrap(p: Pino): Logger {
  return {
    debug: (msg, fields) => p.debug(fields ?? {}, msg),
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
    child: (fields) => wrap(p.child(fields)),
  };
}
