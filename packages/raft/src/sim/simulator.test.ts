// The simulator's CI run and the proofs that it catches planted bugs.
// A failure prints `seed=N`; replay it with `SIM_SEED=N npm run sim`.

import test from 'ava';
import { SIM_PROFILES, firstFailure, simulate, simulateSeeds } from './simulator.js';

const CI_SEEDS = 2000;

test(`${CI_SEEDS} seeded runs with drops, delays, reordering, duplicates, partitions, crashes and membership changes keep every invariant`, (t) => {
  const t0 = performance.now();
  const { failures, results } = simulateSeeds(1, CI_SEEDS);
  const acked = results.reduce((a, r) => a + r.acked, 0);
  const leaders = results.reduce((a, r) => a + r.leadersElected, 0);
  t.log(`${CI_SEEDS} seeds in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${acked} writes acknowledged, ${leaders} leaders elected`);
  t.deepEqual(
    failures.map((f) => `seed=${f.seed} ${f.violation ?? ''}`),
    [],
    'replay a failing seed with SIM_SEED=N npm run sim',
  );
  // Guard against a simulator that checks nothing: the runs must make progress.
  t.true(acked > CI_SEEDS * 5);
  t.true(leaders > CI_SEEDS);
});

test('the figure-8 profile keeps every invariant without planted bugs', (t) => {
  const { failures } = simulateSeeds(1, 300, SIM_PROFILES['figure8']);
  t.deepEqual(failures.map((f) => `seed=${f.seed} ${f.violation ?? ''}`), []);
});

test('a seed replays exactly', (t) => {
  const a = simulate({ seed: 4242 });
  const b = simulate({ seed: 4242 });
  t.deepEqual(a, b);
  t.true(a.acked > 0);
});

test('a planted bug (granting votes without the log up-to-date check) is caught within 500 seeds', (t) => {
  const f = firstFailure(1, 500, { testingBugs: { voteWithoutLogCheck: true } });
  t.truthy(f, 'no seed exposed the bug');
  t.log(`caught at seed=${f?.seed}: ${f?.violation}`);
  t.regex(f?.violation ?? '', /leader completeness|state machine safety|log matching|acknowledged/);
});

test('a planted bug (committing a previous-term entry by counting, Figure 8) is caught within 500 seeds', (t) => {
  const f = firstFailure(1, 500, { ...SIM_PROFILES['figure8'], testingBugs: { commitPreviousTermByCounting: true } });
  t.truthy(f, 'no seed exposed the bug');
  t.log(`caught at seed=${f?.seed}: ${f?.violation}`);
  t.regex(f?.violation ?? '', /leader completeness|state machine safety|acknowledged/);
});

test('a planted host bug (sending append responses before the fsync) is caught within 500 seeds', (t) => {
  const f = firstFailure(1, 500, { hostBugs: { sendAllBeforeFsync: true } });
  t.truthy(f, 'no seed exposed the bug');
  t.log(`caught at seed=${f?.seed}: ${f?.violation}`);
});

test('a planted host bug (a pipelined Ready answering appends before the Readies ahead of it are durable) is caught within 500 seeds', (t) => {
  const f = firstFailure(1, 500, { hostBugs: { respondWhilePipelined: true } });
  t.truthy(f, 'no seed exposed the bug');
  t.log(`caught at seed=${f?.seed}: ${f?.violation}`);
  t.regex(f?.violation ?? '', /durable quorum before ack|acknowledged/);
});

test('without pipelining (depth 1) the seeded runs keep every invariant too', (t) => {
  const { failures, results } = simulateSeeds(1, 500, { pipelineDepth: 1 });
  t.deepEqual(failures.map((f) => `seed=${f.seed} ${f.violation ?? ''}`), []);
  t.true(results.reduce((a, r) => a + r.acked, 0) > 500 * 5);
});
