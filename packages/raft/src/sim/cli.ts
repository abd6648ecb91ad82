// `npm run sim -- --seeds 100000 [--from 1] [--profile default|figure8] [--steps N] [--bug voteWithoutLogCheck|commitPreviousTermByCounting|leaderCountsUnpersistedEntries|sendAllBeforeFsync|respondWhilePipelined] [--depth N]`
// runs many seeded simulations and prints every failing seed as `seed=N`.
// `SIM_SEED=N npm run sim` replays one seed with a trace of its events.

import { SIM_PROFILES, simulate } from './simulator.js';
import type { SimOptions, SimResult } from './simulator.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function main(): number {
  const profileName = arg('profile') ?? 'default';
  const profile = SIM_PROFILES[profileName];
  if (!profile) {
    console.error(`Unknown profile ${profileName}; use one of ${Object.keys(SIM_PROFILES).join(', ')}.`);
    return 2;
  }
  const base: Omit<SimOptions, 'seed'> = { ...profile };
  const steps = arg('steps');
  if (steps !== undefined) base.steps = Number(steps);
  const depth = arg('depth');
  if (depth !== undefined) base.pipelineDepth = Number(depth);
  const bug = arg('bug');
  if (bug === 'voteWithoutLogCheck' || bug === 'commitPreviousTermByCounting' || bug === 'leaderCountsUnpersistedEntries') base.testingBugs = { [bug]: true };
  else if (bug === 'sendAllBeforeFsync' || bug === 'respondWhilePipelined') base.hostBugs = { [bug]: true };
  else if (bug !== undefined) {
    console.error(`Unknown bug ${bug}; use voteWithoutLogCheck, commitPreviousTermByCounting, leaderCountsUnpersistedEntries, sendAllBeforeFsync or respondWhilePipelined.`);
    return 2;
  }

  const one = process.env['SIM_SEED'];
  if (one !== undefined && one !== '') {
    const r = simulate({ ...base, seed: Number(one), trace: (l) => console.log(l) });
    console.log(JSON.stringify(r, null, 2));
    return r.ok ? 0 : 1;
  }

  const seeds = Number(arg('seeds') ?? '1000');
  const from = Number(arg('from') ?? '1');
  const t0 = performance.now();
  const failures: SimResult[] = [];
  let acked = 0;
  for (let seed = from; seed < from + seeds; seed++) {
    const r = simulate({ ...base, seed });
    acked += r.acked;
    if (!r.ok) {
      failures.push(r);
      console.log(`seed=${r.seed} ${r.violation ?? ''}`);
    }
    if ((seed - from + 1) % 1000 === 0) {
      console.error(`${seed - from + 1}/${seeds} seeds, ${failures.length} failed, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`${seeds} seeds (${from}..${from + seeds - 1}, profile ${profileName}) in ${secs} s: ${failures.length} failed, ${acked} writes acknowledged.`);
  if (failures.length > 0) console.log(`Replay one with: SIM_SEED=${failures[0]!.seed} npm run sim${profileName === 'default' ? '' : ` -- --profile ${profileName}`}`);
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = main();
