#!/usr/bin/env node
// lincheck: check a recorded history for linearizability.
//   lincheck --model jepsen-register|kv FILE [--timeout 10s] [--verbose]
// Prints "linearizable" (exit 0) or "not linearizable" (exit 1); a bad argument, an unreadable or
// malformed file, or no verdict within the time-out prints one line to stderr and exits 2.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { checkOperations } from './checker.js';
import type { CheckResult } from './checker.js';
import { kvModel } from './kv-model.js';
import { parseKvLog } from './kv-parser.js';
import { parseJepsenEtcdLog } from './jepsen-etcd-parser.js';
import { LincheckInputError } from './model.js';
import { registerModel } from './register-model.js';

const USAGE = 'usage: lincheck --model jepsen-register|kv FILE [--timeout 10s] [--verbose]';
const DEFAULT_TIMEOUT_MS = 10_000;

class UsageError extends Error {}

/**
 * Parses "10s", "500ms", "2m" or a bare number of seconds.
 * @throws UsageError for anything else.
 */
function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (m === null) throw new UsageError(`--timeout must be a duration such as 10s, 500ms or 2m, got "${text}".`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      timeout: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`expected exactly one history file; ${USAGE}`);
  const file = positionals[0]!;
  const timeoutMs = values.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(values.timeout);
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}.`);
  });

  let result: CheckResult<unknown, unknown>;
  switch (values.model) {
    case 'jepsen-register':
      result = (await checkOperations(registerModel, parseJepsenEtcdLog(text), { timeoutMs }));
      break;
    case 'kv':
      result = (await checkOperations(kvModel, parseKvLog(text), { timeoutMs }));
      break;
    case undefined:
      throw new UsageError(`--model is required; ${USAGE}`);
    default:
      throw new UsageError(`unknown model "${values.model}"; use jepsen-register or kv.`);
  }

  if (values.verbose) {
    process.stderr.write(`${result.operations} operations in ${result.parts} part(s), ${result.elapsedMs.toFixed(1)} ms\n`);
    if (result.counterexample) process.stderr.write(`${result.counterexample.describe()}\n`);
  }
  if (result.result === 'ok') {
    process.stdout.write('linearizable\n');
    return 0;
  }
  if (result.result === 'illegal') {
    process.stdout.write('not linearizable\n');
    return 1;
  }
  const why = result.reason === 'aborted' ? 'the check was aborted' : `no verdict within ${timeoutMs} ms`;
  process.stderr.write(`lincheck: ${why} (${result.operations} operations in ${file}); raise --timeout or check a shorter history.\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const known = err instanceof UsageError || err instanceof LincheckInputError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`lincheck: ${known ? message : `internal error: ${message}`}\n`);
    process.exitCode = 2;
  },
);
