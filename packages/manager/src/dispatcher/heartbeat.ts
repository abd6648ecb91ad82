// One node's heartbeat deadline: every beat pushes it back; when it passes,
// `onExpire` runs once. Timers come from the injected clock.
import type { Clock } from '../clock/clock.js';

export class HeartbeatTimer {
  readonly #clock: Clock;
  readonly #onExpire: () => void;
  #ctl: AbortController | undefined;
  #stopped = false;
  #deadline = 0;

  /** Starts the first deadline, `ttlMs` from now. */
  constructor(clock: Clock, ttlMs: number, onExpire: () => void) {
    this.#clock = clock;
    this.#onExpire = onExpire;
    this.beat(ttlMs);
  }

  /** When the deadline passes (clock ms). */
  get deadline(): number {
    return this.#deadline;
  }

  /** Moves the deadline to `ttlMs` from now. A no-op once stopped or expired. */
  beat(ttlMs: number): void {
    if (this.#stopped) return;
    this.#ctl?.abort();
    const ctl = new AbortController();
    this.#ctl = ctl;
    this.#deadline = this.#clock.now() + ttlMs;
    this.#clock.sleep(ttlMs, ctl.signal).then(
      () => {
        if (this.#ctl !== ctl || this.#stopped) return;
        this.#stopped = true;
        this.#onExpire();
      },
      () => undefined, // beaten or stopped
    );
  }

  /** Cancels the deadline for good. */
  stop(): void {
    this.#stopped = true;
    this.#ctl?.abort();
    this.#ctl = undefined;
  }
}
