import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { UsageError } from '../cli-error.js';
import { buildCreateRequest, parseRestartPolicy, type RunFlags } from './spec.js';

const build = (flags: RunFlags, cmd: string[] = [], env: Record<string, string> = {}) =>
  buildCreateRequest('busybox', cmd, flags, env);

test('many flags map onto the ContainerSpec', (t) => {
  const req = build(
    {
      name: 'web',
      env: ['A=1', 'B=two=2'],
      workdir: '/srv',
      user: '1000:1000',
      hostname: 'h1',
      label: ['x=y', 'flag'],
      restart: 'on-failure:3',
      init: true,
      stopSignal: 'SIGUSR1',
      stopTimeout: '7',
      memory: '512m',
      memorySwap: '-1',
      memoryReservation: '256m',
      cpus: '1.5',
      cpuShares: '512',
      cpusetCpus: '0-1',
      pidsLimit: '64',
      ulimit: ['nofile=1024:2048'],
      privileged: false,
      capAdd: ['NET_ADMIN'],
      capDrop: ['ALL'],
      securityOpt: ['no-new-privileges'],
      readOnly: true,
      tmpfs: ['/run:rw,size=64m', '/tmp'],
      network: 'none',
      logDriver: 'json-file',
      logOpt: ['max-size=1m', 'max-file=3'],
      interactive: true,
      tty: true,
    },
    ['sh', '-c', 'echo hi'],
  );
  t.is(req.name, 'web');
  const s = req.spec!;
  t.is(s.image, 'busybox');
  t.deepEqual(s.cmd, ['sh', '-c', 'echo hi']);
  t.deepEqual(s.env, ['A=1', 'B=two=2']);
  t.is(s.working_dir, '/srv');
  t.is(s.user, '1000:1000');
  t.is(s.hostname, 'h1');
  t.deepEqual(s.labels, { x: 'y', flag: '' });
  t.deepEqual(s.restart_policy, { name: 'on-failure', maximum_retry_count: 3 });
  t.true(s.init);
  t.is(s.stop_signal, 'SIGUSR1');
  t.is(s.stop_timeout, 7);
  t.is(s.resources!.memory, 512 * 1024 * 1024);
  t.is(s.resources!.memory_swap, -1);
  t.is(s.resources!.memory_reservation, 256 * 1024 * 1024);
  t.is(s.resources!.nano_cpus, 1_500_000_000);
  t.is(s.resources!.cpu_shares, 512);
  t.is(s.resources!.cpuset_cpus, '0-1');
  t.is(s.resources!.pids_limit, 64);
  t.deepEqual(s.resources!.ulimits, [{ name: 'nofile', soft: 1024, hard: 2048 }]);
  t.deepEqual(s.cap_add, ['NET_ADMIN']);
  t.deepEqual(s.cap_drop, ['ALL']);
  t.deepEqual(s.security_opt, ['no-new-privileges']);
  t.true(s.readonly_rootfs);
  t.deepEqual(s.tmpfs, { '/run': 'rw,size=64m', '/tmp': '' });
  t.is(s.network_mode, 'none');
  t.deepEqual(s.log_config, { type: 'json-file', config: { 'max-size': '1m', 'max-file': '3' } });
  t.true(s.tty);
  t.true(s.open_stdin);
  t.true(s.stdin_once);
  t.false(s.entrypoint_set ?? false);
});

test('--entrypoint "" clears the entrypoint and says so', (t) => {
  const s = build({ entrypoint: '' }).spec!;
  t.true(s.entrypoint_set);
  t.deepEqual(s.entrypoint, []);
  const s2 = build({ entrypoint: '/bin/sh' }).spec!;
  t.deepEqual(s2.entrypoint, ['/bin/sh']);
});

test('-e NAME takes the value from the client environment, or is dropped', (t) => {
  const s = build({ env: ['HOME', 'UNSET', 'X=1'] }, [], { HOME: '/root' }).spec!;
  t.deepEqual(s.env, ['HOME=/root', 'X=1']);
});

test('env files: comments and blanks skipped, values verbatim, -e wins by coming last', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-cli-'));
  const file = join(dir, 'env');
  writeFileSync(file, '# comment\n\nA=1\n  B="quoted value"\nFROMHOST\nMISSING\n');
  const s = build({ envFile: [file], env: ['A=2'] }, [], { FROMHOST: 'yes' }).spec!;
  t.deepEqual(s.env, ['A=1', 'B="quoted value"', 'FROMHOST=yes', 'A=2']);
  writeFileSync(file, 'BAD NAME=1\n');
  t.throws(() => build({ envFile: [file] }), { instanceOf: UsageError, message: /variable 'BAD NAME' contains whitespaces/ });
  t.throws(() => build({ envFile: [join(dir, 'nope')] }), { instanceOf: UsageError, message: /no such file or directory/ });
});

test('-d with -i does not set stdin_once', (t) => {
  t.false(build({ interactive: true, detach: true }).spec!.stdin_once);
});

test('bad values give docker-style flag errors (exit 125)', (t) => {
  const cases: [RunFlags, RegExp][] = [
    [{ memory: '12q' }, /^invalid argument "12q" for "-m, --memory" flag: invalid size/],
    [{ cpus: '-1' }, /^invalid argument "-1" for "--cpus" flag/],
    [{ cpus: 'abc' }, /^invalid argument "abc" for "--cpus" flag/],
    [{ memorySwap: 'lots' }, /^invalid argument "lots" for "--memory-swap" flag/],
    [{ ulimit: ['nofile=x'] }, /^invalid argument "nofile=x" for "--ulimit" flag/],
    [{ ulimit: ['bogus=1'] }, /invalid ulimit type: bogus/],
    [{ restart: 'sometimes' }, /^invalid argument "sometimes" for "--restart" flag: invalid restart policy 'sometimes'/],
    [{ restart: 'on-failure:x' }, /maximum retry count must be an integer/],
    [{ stopSignal: 'SIGNOPE' }, /^invalid argument "SIGNOPE" for "--stop-signal" flag/],
    [{ stopTimeout: '1.5' }, /^invalid argument "1.5" for "--stop-timeout" flag/],
    [{ pidsLimit: 'many' }, /^invalid argument "many" for "--pids-limit" flag/],
    [{ cpuShares: '-5' }, /for "-c, --cpu-shares" flag/],
    [{ cpusetCpus: '0-a' }, /for "--cpuset-cpus" flag/],
    [{ workdir: 'relative' }, /for "-w, --workdir" flag: the working directory must be an absolute path/],
    [{ tmpfs: ['run'] }, /for "--tmpfs" flag/],
    [{ rm: true, restart: 'always' }, /^Conflicting options: --restart and --rm$/],
  ];
  for (const [flags, re] of cases) {
    const err = t.throws(() => build(flags), { instanceOf: UsageError }, JSON.stringify(flags));
    t.regex(err.message, re);
    t.is(err.exitCode, 125);
  }
});

test('--rm with --restart no is fine; restart policies parse like docker', (t) => {
  t.is(build({ rm: true, restart: 'no' }).spec!.restart_policy!.name, 'no');
  t.deepEqual(parseRestartPolicy('always'), { name: 'always', maximum_retry_count: 0 });
  t.deepEqual(parseRestartPolicy('unless-stopped'), { name: 'unless-stopped', maximum_retry_count: 0 });
  t.deepEqual(parseRestartPolicy('on-failure'), { name: 'on-failure', maximum_retry_count: 0 });
  t.throws(() => parseRestartPolicy('always:3'), { instanceOf: UsageError });
});
