import type { Event } from '@shoal/api';

/** An engine event as `docker events` shows it. */
export interface EngineEvent {
  type: 'container' | 'image' | 'daemon';
  action: string;
  id: string;
  attributes: Record<string, string>;
  /** Unix nanoseconds. */
  timeNano: bigint;
}

export interface EventFilter {
  key: string;
  value: string;
}

export interface EventBusOptions {
  /** How many past events `events --since` can replay. */
  retain?: number;
}

type Listener = (e: EngineEvent) => void;

/**
 * The engine's event stream: a bounded in-memory history for `--since`, and
 * live subscribers. Publishing never blocks or throws.
 */
export class EventBus {
  private readonly history: EngineEvent[] = [];
  private readonly listeners = new Set<Listener>();
  private readonly retain: number;
  private lastNano = 0n;

  constructor(options: EventBusOptions = {}) {
    this.retain = options.retain ?? 4096;
  }

  publish(type: EngineEvent['type'], action: string, id: string, attributes: Record<string, string> = {}): void {
    // Strictly increasing timestamps keep --since/--until replays ordered.
    let now = BigInt(Date.now()) * 1_000_000n + BigInt(Math.floor((performance.now() % 1) * 1e6));
    if (now <= this.lastNano) now = this.lastNano + 1n;
    this.lastNano = now;
    const event: EngineEvent = { type, action, id, attributes, timeNano: now };
    this.history.push(event);
    if (this.history.length > this.retain) this.history.splice(0, this.history.length - this.retain);
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A broken subscriber must not affect publishers or other subscribers.
      }
    }
  }

  /**
   * Yields past events in [since, until] and then, when `until` is unset, live
   * events until the signal aborts. Events are filtered like `docker events --filter`.
   */
  async *subscribe(
    options: { since?: bigint; until?: bigint; filters?: EventFilter[] },
    signal: AbortSignal,
  ): AsyncGenerator<EngineEvent> {
    const match = compileFilters(options.filters ?? []);
    const queue: EngineEvent[] = [];
    let wake: (() => void) | undefined;
    const listener: Listener = (e) => {
      queue.push(e);
      wake?.();
    };
    const now = BigInt(Date.now()) * 1_000_000n;
    const live = options.until === undefined || options.until > now;
    if (live) this.listeners.add(listener);
    const onAbort = (): void => wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      if (options.since !== undefined) {
        for (const e of this.history) {
          if (e.timeNano < options.since) continue;
          if (options.until !== undefined && e.timeNano > options.until) break;
          if (match(e)) yield e;
        }
      }
      const startedLiveAt = this.lastNano;
      while (live && !signal.aborted) {
        if (queue.length === 0) {
          const untilMs = options.until === undefined ? undefined : Number((options.until - BigInt(Date.now()) * 1_000_000n) / 1_000_000n);
          if (untilMs !== undefined && untilMs <= 0) return;
          await new Promise<void>((resolve) => {
            wake = resolve;
            if (untilMs !== undefined) setTimeout(resolve, untilMs).unref();
          });
          wake = undefined;
          continue;
        }
        const e = queue.shift()!;
        if (options.since !== undefined && e.timeNano <= startedLiveAt) continue;
        if (options.until !== undefined && e.timeNano > options.until) return;
        if (match(e)) yield e;
      }
    } finally {
      this.listeners.delete(listener);
      signal.removeEventListener('abort', onAbort);
    }
  }
}

/** Converts to the wire form. */
export function toWireEvent(e: EngineEvent): Event {
  return { type: e.type, action: e.action, id: e.id, attributes: e.attributes, time_nano: e.timeNano.toString() };
}

/**
 * docker's filter semantics: different keys AND, repeated keys OR.
 * Keys: type, event, container, image, label (k or k=v).
 */
export function compileFilters(filters: EventFilter[]): (e: EngineEvent) => boolean {
  const byKey = new Map<string, string[]>();
  for (const f of filters) byKey.set(f.key, [...(byKey.get(f.key) ?? []), f.value]);
  return (e) => {
    for (const [key, values] of byKey) {
      const ok = values.some((v) => {
        switch (key) {
          case 'type':
            return e.type === v;
          case 'event':
          case 'action':
            return e.action === v || e.action.startsWith(`${v}:`);
          case 'container':
            return e.type === 'container' && (e.id.startsWith(v) || e.attributes.name === v);
          case 'image':
            return e.attributes.image === v || (e.type === 'image' && (e.id === v || e.id.startsWith(v) || e.attributes.name === v));
          case 'label': {
            const [k, val] = splitOnce(v, '=');
            return val === undefined ? k in e.attributes : e.attributes[k] === val;
          }
          default:
            return false;
        }
      });
      if (!ok) return false;
    }
    return true;
  };
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}
