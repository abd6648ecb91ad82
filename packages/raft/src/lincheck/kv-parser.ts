import { HistoryRecorder } from './history-recorder.js';
import { LincheckInputError } from './model.js';
import type { Operation } from './model.js';
import type { KvInput, KvOutput } from './kv-model.js';

const STRING = String.raw`"((?:[^"\\]|\\.)*)"`;
// {:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
const LINE = new RegExp(
  String.raw`^\{\s*:process\s+(\d+),\s*:type\s+:(invoke|ok|fail|info),\s*:f\s+:(get|put|append),\s*:key\s+${STRING},\s*:value\s+(?:nil|${STRING})\s*\}$`,
);

/**
 * Parses a key-value history of EDN maps, one per line (as in ../shared/testdata/kv). Time is the
 * event's position. A get's `:ok` value is what it read (nil = ""); `:info` and an invocation with
 * no completion are unknown outcomes; `:fail` did not happen and is dropped. Blank lines are ignored.
 * @throws LincheckInputError naming the line number for a line that is not such a map, or a
 *   completion without an invocation.
 */
export function parseKvLog(text: string): Operation<KvInput, KvOutput>[] {
  let time = 0;
  const recorder = new HistoryRecorder<KvInput, KvOutput>({ clock: () => time });
  const open = new Map<number, { id: number; f: string; key: string }>();
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '') continue;
    const where = `line ${n + 1}`;
    const m = LINE.exec(line);
    if (m === null) {
      throw new LincheckInputError(`${where} is not a key-value event ({:process 0, :type :invoke, :f :get, :key "k", :value nil}): ${clip(line)}`);
    }
    const proc = Number(m[1]);
    const type = m[2]!;
    const f = m[3] as KvInput['op'];
    const key = unescape(m[4]!);
    const value = m[5] === undefined ? undefined : unescape(m[5]);
    time++;
    if (type === 'invoke') {
      if (open.has(proc)) throw new LincheckInputError(`${where}: process ${proc} invokes again before its previous operation completed.`);
      const input: KvInput = f === 'get' ? { op: 'get', key } : { op: f, key, value: value ?? '' };
      open.set(proc, { id: recorder.invoke(proc, input), f, key });
      continue;
    }
    const pending = open.get(proc);
    if (pending === undefined) throw new LincheckInputError(`${where}: process ${proc} completes an operation it never invoked.`);
    if (pending.f !== f || pending.key !== key) {
      throw new LincheckInputError(`${where}: process ${proc} completes :${f} of key ${JSON.stringify(key)} but invoked :${pending.f} of ${JSON.stringify(pending.key)}.`);
    }
    open.delete(proc);
    if (type === 'info') recorder.info(pending.id);
    else if (type === 'fail') recorder.fail(pending.id);
    else recorder.ok(pending.id, f === 'get' ? { value: value ?? '' } : {});
  }
  return recorder.operations();
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
