import type { Model } from './model.js';

/** null is "no value" (Jepsen's nil): the register's initial state. */
export type RegisterValue = number | string | null;

export type RegisterInput =
  | { readonly op: 'read' }
  | { readonly op: 'write'; readonly value: RegisterValue }
  | { readonly op: 'cas'; readonly from: RegisterValue; readonly to: RegisterValue };

/**
 * What the client saw: `value` for a read (absent = null), `ok` for a cas (false = the compare
 * failed, so it had no effect); nothing for a write. An unknown outcome is no output at all.
 */
export interface RegisterOutput {
  readonly value?: RegisterValue;
  readonly ok?: boolean;
}

function describeValue(v: RegisterValue | undefined): string {
  return v === null || v === undefined ? 'nil' : JSON.stringify(v);
}

function hashValue(v: RegisterValue): number {
  if (v === null) return 0x5bd1e995;
  if (typeof v === 'number') return Number.isInteger(v) ? v | 0 : Math.floor(v * 65536) | 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < v.length; i++) h = Math.imul(h ^ v.charCodeAt(i), 0x01000193);
  return h;
}

/** Builds a register model whose state starts as `initial`. */
export function makeRegisterModel(initial: RegisterValue = null): Model<RegisterValue, RegisterInput, RegisterOutput> {
  return {
    name: 'register',
    init: () => initial,
    step(state, input, output) {
      switch (input.op) {
        case 'read':
          // An unknown read observed nothing, so any state allows it.
          return { ok: output === undefined || (output.value ?? null) === state, state };
        case 'write':
          return { ok: true, state: input.value };
        case 'cas': {
          const matches = input.from === state;
          // Unknown outcome: if it took effect here the compare decided; "never happened" is
          // covered by linearizing it last, where its effect is unobservable.
          if (output === undefined) return { ok: true, state: matches ? input.to : state };
          return output.ok === true ? { ok: matches, state: input.to } : { ok: !matches, state };
        }
      }
    },
    equal: (a, b) => a === b,
    hash: hashValue,
    describeOperation(input, output) {
      const result = output === undefined ? 'unknown' : undefined;
      switch (input.op) {
        case 'read':
          return `read() -> ${result ?? describeValue(output?.value)}`;
        case 'write':
          return `write(${describeValue(input.value)})${result ? ' -> unknown' : ''}`;
        case 'cas':
          return `cas(${describeValue(input.from)}, ${describeValue(input.to)}) -> ${result ?? (output?.ok ? 'ok' : 'fail')}`;
      }
    },
  };
}

/** A register initially nil, with read, write and cas (the Jepsen etcd workload). */
export const registerModel = makeRegisterModel(null);
