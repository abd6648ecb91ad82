import test from 'ava';
import { restartDelayMs, shouldRestart, validateRestartPolicy } from './restart-policy.js';

const p = (name: string, max = 0) => ({ name, maximum_retry_count: max });

test('an unknown restart policy is refused with the choices', (t) => {
  const err = t.throws(() => validateRestartPolicy(p('sometimes'), false));
  t.regex(err.message, /unknown policy 'sometimes'.*'no', 'always', 'on-failure' or 'unless-stopped'/);
});

test('a retry count is only valid with on-failure; --rm conflicts with any policy', (t) => {
  t.throws(() => validateRestartPolicy(p('always', 3), false), { message: /only be used with 'on-failure'/ });
  t.throws(() => validateRestartPolicy(p('always'), true), { message: /--restart and --rm/ });
  t.deepEqual(validateRestartPolicy(null, true), p('no'));
});

test('on-failure restarts non-zero exits until the retry limit', (t) => {
  const pol = p('on-failure', 2);
  t.true(shouldRestart({ policy: pol, exitCode: 1, restartCount: 0, manuallyStopped: false }));
  t.true(shouldRestart({ policy: pol, exitCode: 1, restartCount: 1, manuallyStopped: false }));
  t.false(shouldRestart({ policy: pol, exitCode: 1, restartCount: 2, manuallyStopped: false }));
  t.false(shouldRestart({ policy: pol, exitCode: 0, restartCount: 0, manuallyStopped: false }));
});

test('a manually stopped container stays down, except always across a daemon restart', (t) => {
  t.false(shouldRestart({ policy: p('always'), exitCode: 0, restartCount: 0, manuallyStopped: true }));
  t.true(shouldRestart({ policy: p('always'), exitCode: 0, restartCount: 0, manuallyStopped: true, daemonStartup: true }));
  t.false(shouldRestart({ policy: p('unless-stopped'), exitCode: 0, restartCount: 0, manuallyStopped: true, daemonStartup: true }));
  t.false(shouldRestart({ policy: p('no'), exitCode: 1, restartCount: 0, manuallyStopped: false }));
});

test('restart backoff doubles from 100 ms, caps at a minute and resets after 10 s of running', (t) => {
  t.is(restartDelayMs(0, 0), 100);
  t.is(restartDelayMs(100, 50), 200);
  t.is(restartDelayMs(40_000, 50), 60_000);
  t.is(restartDelayMs(6400, 10_000), 100);
});
