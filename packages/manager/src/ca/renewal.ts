// Automatic node certificate renewal. Like swarmkit, a node renews at a random
// point between 50% and 80% of its certificate's validity, so nodes that
// joined together do not all hit the CA at once.
import { errorMessage, isAbortError, nopLogger } from '@shoal/api';
import type { Logger } from '@shoal/api';
import { parseNodeCertificate } from './node-cert.js';
import type { NodeCertificate } from './node-cert.js';

export const RENEW_LOWER_FRACTION = 0.5;
export const RENEW_UPPER_FRACTION = 0.8;

/**
 * When to renew a certificate valid from `notBefore` to `notAfter`: a point
 * between 50% and 80% of the validity, chosen by `rand` (in [0, 1)).
 */
export function renewalTime(notBefore: Date, notAfter: Date, rand: () => number = Math.random): Date {
  const start = notBefore.getTime();
  const span = Math.max(0, notAfter.getTime() - start);
  const r = Math.min(Math.max(rand(), 0), 1);
  const fraction = RENEW_LOWER_FRACTION + (RENEW_UPPER_FRACTION - RENEW_LOWER_FRACTION) * r;
  return new Date(start + Math.floor(span * fraction));
}

/** Time for the renewer; tests inject a fake one. */
export interface RenewalClock {
  now(): number;
  /** Resolves after `ms`, rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

// setTimeout fires at once for delays above 2^31-1 ms (~24.8 days), and a
// 90-day certificate renews ~45 days out: long waits are taken in pieces.
export const MAX_SLEEP_MS = 2 ** 31 - 1;

export const realClock: RenewalClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    }),
};

export interface CertificateRenewerOptions {
  /** The certificate in use now. */
  current(): NodeCertificate;
  /** Asks the CA for a new certificate (a new key + CSR over mutual TLS); throws on failure. */
  renew(signal: AbortSignal): Promise<NodeCertificate>;
  /** Installs the new certificate (save to disk, swap the TLS credentials). */
  onRenewed(cert: NodeCertificate): void | Promise<void>;
  clock?: RenewalClock;
  rand?: () => number;
  logger?: Logger;
  /** First delay after a failed renewal, doubled on each failure; default 5 s. */
  retryMinMs?: number;
  /** Cap of the retry delay; default 5 min. */
  retryMaxMs?: number;
}

/**
 * Keeps a node's certificate fresh: sleeps until renewalTime, renews, installs
 * the result and repeats; retries failures with a capped backoff. `renewNow()`
 * forces a renewal (a role change the node learns of). `run` returns when its
 * signal aborts; an abort is a clean stop.
 */
export class CertificateRenewer {
  private readonly clock: RenewalClock;
  private readonly rand: () => number;
  private readonly log: Logger;
  private wake: AbortController | undefined;
  private forced = false;

  constructor(private readonly options: CertificateRenewerOptions) {
    this.clock = options.clock ?? realClock;
    this.rand = options.rand ?? Math.random;
    this.log = options.logger ?? nopLogger;
  }

  /** Renews as soon as possible, whatever the current certificate's age. */
  renewNow(): void {
    this.forced = true;
    this.wake?.abort();
  }

  async run(signal: AbortSignal): Promise<void> {
    const retryMin = this.options.retryMinMs ?? 5_000;
    const retryMax = this.options.retryMaxMs ?? 5 * 60_000;
    let retry = retryMin;
    let failed = false;
    while (!signal.aborted) {
      let due: number;
      if (failed) {
        due = this.clock.now() + retry;
      } else {
        const id = parseNodeCertificate(this.options.current().certPem);
        due = renewalTime(id.notBefore, id.notAfter, this.rand).getTime();
        this.log.debug('next certificate renewal scheduled', { 'node.id': id.nodeId, at: new Date(due).toISOString() });
      }
      if (!(await this.waitUntil(due, signal))) return;
      try {
        const cert = await this.options.renew(signal);
        await this.options.onRenewed(cert);
        const id = parseNodeCertificate(cert.certPem);
        this.log.info('node certificate renewed', { 'node.id': id.nodeId, 'node.role': id.role, until: id.notAfter.toISOString() });
        failed = false;
        retry = retryMin;
      } catch (err) {
        if (signal.aborted && isAbortError(err)) return;
        if (signal.aborted) return;
        this.log.warn('certificate renewal failed; will retry', { error: errorMessage(err), 'retry.ms': retry });
        if (failed) retry = Math.min(retry * 2, retryMax);
        failed = true;
      }
    }
  }

  /** Sleeps until `due` or a forced renewal; false when `signal` aborted. */
  private async waitUntil(due: number, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal.aborted) return false;
      if (this.forced) {
        this.forced = false;
        return true;
      }
      const left = due - this.clock.now();
      if (left <= 0) return true;
      const wake = new AbortController();
      this.wake = wake;
      const both = AbortSignal.any([signal, wake.signal]);
      try {
        await this.clock.sleep(Math.min(left, MAX_SLEEP_MS), both);
      } catch (err) {
        if (signal.aborted) return false;
        if (!wake.signal.aborted) throw err;
      } finally {
        this.wake = undefined;
      }
    }
  }
}
