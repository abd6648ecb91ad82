import type { Clients } from './client/connect.js';
import type { CliIO } from './io.js';

/** What every command handler gets: the process I/O, the daemon address and a lazy client. */
export interface Context {
  io: CliIO;
  /** The daemon address (-H, SHOAL_HOST or the default). */
  host: string;
  /** Aborts when the CLI is interrupted. */
  signal: AbortSignal;
  /** Connects on first use (loads grpc-js then). */
  clients(): Promise<Clients>;
  out(text: string): void;
  err(text: string): void;
}

/** Positional arguments (flattened, variadics included) and the command's options. */
export type Handler = (ctx: Context, args: string[], opts: Record<string, unknown>) => Promise<number | void>;
