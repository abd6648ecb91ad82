/** What storage logs through; pino's and @shoal/api's loggers fit it. */
export interface StorageLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
}

export const silentLogger: StorageLogger = { warn() {} };
