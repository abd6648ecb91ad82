import type { Model, Operation } from './model.js';

export type KvInput =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'append'; readonly key: string; readonly value: string };

/** `value` is what a get returned (a missing key reads as ""); put and append return nothing. */
export interface KvOutput {
  readonly value?: string;
}

/**
 * A string-valued key-value store. Keys are independent, so the model partitions the history per
 * key and the state is one key's value.
 */
export const kvModel: Model<string, KvInput, KvOutput> = {
  name: 'kv',
  init: () => '',
  step(state, input, output) {
    switch (input.op) {
      case 'get':
        return { ok: output === undefined || (output.value ?? '') === state, state };
      case 'put':
        return { ok: true, state: input.value };
      case 'append':
        return { ok: true, state: state + input.value };
    }
  },
  equal: (a, b) => a === b,
  partition(history) {
    const byKey = new Map<string, Operation<KvInput, KvOutput>[]>();
    for (const op of history) {
      let part = byKey.get(op.input.key);
      if (part === undefined) byKey.set(op.input.key, (part = []));
      part.push(op);
    }
    return [...byKey.values()];
  },
  describePartition: (part, index) => (part[0] ? `key ${JSON.stringify(part[0].input.key)}` : `part ${index}`),
  describeOperation(input, output) {
    switch (input.op) {
      case 'get':
        return `get(${JSON.stringify(input.key)}) -> ${output === undefined ? 'unknown' : JSON.stringify(output.value ?? '')}`;
      case 'put':
      case 'append':
        return `${input.op}(${JSON.stringify(input.key)}, ${JSON.stringify(input.value)})${output === undefined ? ' -> unknown' : ''}`;
    }
  },
};
