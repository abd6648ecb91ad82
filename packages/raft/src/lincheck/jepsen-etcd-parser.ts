import { HistoryRecorder } from './history-recorder.js';
import { LincheckInputError } from './model.js';
import type { Operation } from './model.js';
import type { RegisterInput, RegisterOutput, RegisterValue } from './register-model.js';

// INFO  jepsen.util - 2	:invoke	:cas	[3 0]
const LINE = /^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*?)\s*$/;

/**
 * Parses a Jepsen log of the single-register etcd workload (one event per line, as in
 * ../shared/testdata/jepsen-etcd). Time is the event's position in the log. `:info` (and an
 * invocation with no completion) is an unknown outcome; a `:fail` cas is a cas whose compare
 * failed; a `:fail` read or write did not happen and is dropped. Blank lines are ignored.
 * @throws LincheckInputError naming the line number for a line that is not such an event, a value
 *   that is not nil/an integer/a [from to] pair, or a completion without an invocation.
 */
export function parseJepsenEtcdLog(text: string): Operation<RegisterInput, RegisterOutput>[] {
  let time = 0;
  const recorder = new HistoryRecorder<RegisterInput, RegisterOutput>({ clock: () => time });
  const open = new Map<number, { id: number; f: string }>();
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '') continue;
    const where = `line ${n + 1}`;
    const m = LINE.exec(line);
    if (m === null) throw new LincheckInputError(`${where} is not a Jepsen register event ("INFO jepsen.util - <process> :invoke :read nil"): ${clip(line)}`);
    const [, procText, type, f, arg] = m as unknown as [string, string, string, string, string];
    const proc = Number(procText);
    time++;
    if (type === 'invoke') {
      if (open.has(proc)) throw new LincheckInputError(`${where}: process ${proc} invokes again before its previous operation completed.`);
      open.set(proc, { id: recorder.invoke(proc, parseInput(f, arg, where)), f });
      continue;
    }
    const pending = open.get(proc);
    if (pending === undefined) throw new LincheckInputError(`${where}: process ${proc} completes an operation it never invoked.`);
    if (pending.f !== f) throw new LincheckInputError(`${where}: process ${proc} completes :${f} but invoked :${pending.f}.`);
    open.delete(proc);
    if (type === 'info') recorder.info(pending.id);
    else if (type === 'ok') recorder.ok(pending.id, f === 'read' ? { value: parseValue(arg, where) } : f === 'cas' ? { ok: true } : {});
    else if (f === 'cas') recorder.ok(pending.id, { ok: false });
    else recorder.fail(pending.id);
  }
  return recorder.operations();
}

function parseInput(f: string, arg: string, where: string): RegisterInput {
  if (f === 'read') return { op: 'read' };
  if (f === 'write') return { op: 'write', value: parseValue(arg, where) };
  const pair = /^\[\s*(\S+)\s+(\S+)\s*\]$/.exec(arg);
  if (pair === null) throw new LincheckInputError(`${where}: a cas argument must be [from to], got ${clip(arg)}.`);
  return { op: 'cas', from: parseValue(pair[1]!, where), to: parseValue(pair[2]!, where) };
}

function parseValue(text: string, where: string): RegisterValue {
  if (text === 'nil') return null;
  if (/^-?\d+$/.test(text)) return Number(text);
  throw new LincheckInputError(`${where}: expected nil or an integer, got ${clip(text)}.`);
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
