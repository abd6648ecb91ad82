// Time for heartbeat expiry. Injected so tests drive it by hand; the shape is
// the orchestrators' Clock, so the composition root can pass one clock to all.
import { sleep } from '@shoal/api';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Resolves after `ms` of this clock's time.
   * @throws the signal's reason when it aborts first.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The wall clock and real timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, signal),
};
