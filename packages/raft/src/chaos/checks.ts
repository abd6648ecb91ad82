// The pass criteria of a chaos run, over what the workload recorded and the
// final state: no acknowledged write lost, no failed write applied, no write
// applied twice.
import type { WriteRecord } from './workload.js';

/**
 * Problems with the final values of the KV keys (one sentence each; empty when
 * none). `finals` holds each key's value from a linearizable read after the
 * run. Append keys: every acknowledged token appears exactly once, and no
 * token of a write that certainly failed appears. Put keys: the final value
 * was written by a put that did not certainly fail, and no acknowledged put
 * began after that put was acknowledged (it would have replaced it).
 */
export function lostWrites(writes: readonly WriteRecord[], finals: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  const byKey = new Map<string, WriteRecord[]>();
  for (const w of writes) {
    if (w.op !== 'put' && w.op !== 'append') continue;
    let list = byKey.get(w.key);
    if (!list) byKey.set(w.key, (list = []));
    list.push(w);
  }
  for (const [key, final] of finals) {
    const ws = byKey.get(key) ?? [];
    const byValue = new Map(ws.map((w) => [w.value, w]));
    if (ws.some((w) => w.op === 'append')) {
      const seen = new Map<string, number>();
      for (const tok of final.split(';').filter((s) => s !== '')) seen.set(`${tok};`, (seen.get(`${tok};`) ?? 0) + 1);
      for (const w of ws) {
        const n = seen.get(w.value) ?? 0;
        if (w.outcome === 'ok' && n === 0) problems.push(`Key ${key}: the acknowledged append ${w.value} is missing from the final value.`);
        if (n > 1) problems.push(`Key ${key}: the append ${w.value} was applied ${n} times.`);
        if (w.outcome === 'fail' && n > 0) problems.push(`Key ${key}: the append ${w.value} took effect although the client was told it failed.`);
      }
      for (const tok of seen.keys()) if (!byValue.has(tok)) problems.push(`Key ${key}: the final value holds ${tok}, which no client wrote.`);
      continue;
    }
    const acked = ws.filter((w) => w.outcome === 'ok');
    if (final === '') {
      if (acked.length > 0) problems.push(`Key ${key}: ${acked.length} acknowledged puts but the key reads empty at the end.`);
      continue;
    }
    const p = byValue.get(final);
    if (!p) {
      problems.push(`Key ${key}: the final value ${final} was written by no client.`);
      continue;
    }
    if (p.outcome === 'fail') problems.push(`Key ${key}: the final value ${final} comes from a put the client was told failed.`);
    const later = acked.find((q) => q.call > p.ret);
    if (later) problems.push(`Key ${key}: the acknowledged put ${later.value} (started after ${final} was acknowledged) was lost.`);
  }
  return problems;
}
