// Docker's plugin protocol transport: JSON POSTs over HTTP on a unix socket.
import { request } from 'node:http';
import { ShoalError, errorMessage, failedPrecondition, unavailable, type ErrorCode } from '@shoal/api';

const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

export interface PluginClientOptions {
  /** The plugin's name, used in every error a user sees. */
  name: string;
  socketPath: string;
  /** Per call (docker gives plugins 30 s; activation less). Default 30 000. */
  timeoutMs?: number;
}

/** A plugin's answer carried an `Err`: what the plugin itself said went wrong. */
export class PluginError extends ShoalError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly pluginErr: string,
  ) {
    super(code, message);
  }
}

export class PluginClient {
  constructor(readonly o: PluginClientOptions) {}

  get name(): string {
    return this.o.name;
  }

  /**
   * POSTs `body` to `/<method>` and returns the decoded answer. Throws
   * Unavailable when the plugin cannot be reached or answers garbage, and a
   * PluginError (FailedPrecondition) carrying the plugin's `Err`.
   */
  call<T extends object>(method: string, body: object, signal?: AbortSignal): Promise<T> {
    const payload = Buffer.from(JSON.stringify(body));
    const timeout = AbortSignal.timeout(this.o.timeoutMs ?? 30_000);
    const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.o.socketPath,
          path: `/${method}`,
          method: 'POST',
          headers: { 'Content-Type': CONTENT_TYPE, Accept: CONTENT_TYPE, 'Content-Length': payload.length, Host: 'plugin' },
          signal: sig,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(this.unreachable(method, err)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text.trim() === '' ? {} : JSON.parse(text);
            } catch {
              reject(unavailable(`volume plugin "${this.name}" answered ${method} with something that is not JSON (HTTP ${res.statusCode ?? 0}): ${text.slice(0, 200)}`));
              return;
            }
            const err = (parsed as { Err?: unknown }).Err;
            if (typeof err === 'string' && err !== '') {
              reject(new PluginError('FailedPrecondition', `volume plugin "${this.name}": ${method}: ${err}`, err));
              return;
            }
            if ((res.statusCode ?? 500) >= 300) {
              reject(failedPrecondition(`volume plugin "${this.name}": ${method} failed with HTTP ${res.statusCode ?? 0}: ${text.slice(0, 200)}`));
              return;
            }
            resolve(parsed as T);
          });
        },
      );
      req.on('error', (err) => reject(sig.aborted && signal?.aborted ? (signal.reason as Error) : this.unreachable(method, err)));
      req.end(payload);
    });
  }

  private unreachable(method: string, err: unknown): ShoalError {
    return unavailable(`volume plugin "${this.name}" did not answer ${method} on ${this.o.socketPath}: ${errorMessage(err)}; is the plugin running?`, { cause: err });
  }
}
