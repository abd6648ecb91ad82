// One chaos run: start a cluster, load it, inject a fault, heal, converge, and
// judge the run by the issue's pass criteria.
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Operation } from '../lincheck/model.js';
import { checkOperations, type CheckResult } from '../lincheck/checker.js';
import { kvModel, type KvInput, type KvOutput } from '../lincheck/kv-model.js';
import { registerModel } from '../lincheck/register-model.js';
import { Prng } from '../sim/prng.js';
import { ChaosCluster } from './chaos-cluster.js';
import { lostWrites } from './checks.js';
import { parseRegister, REGISTER_KEY, Workload } from './workload.js';

const dec = new TextDecoder();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => performance.now();

export interface FaultContext {
  cluster: ChaosCluster;
  rng: Prng;
  /** A client for admin calls (membership, status). */
  admin: ReturnType<ChaosCluster['client']>;
  log: (msg: string) => void;
}

/** What a fault reports: when the cluster was whole again (the recovery clock starts there). */
export interface FaultResult {
  healedAt: number;
  /** Extra figures for the report line. */
  notes?: Record<string, string | number>;
}

export interface ScenarioOptions {
  size: number;
  seed: number;
  fault: (ctx: FaultContext) => Promise<FaultResult>;
  /** Load before the fault, ms. Default 2,000. */
  beforeMs?: number;
  /** Load after the fault heals, ms. Default 2,500. */
  afterMs?: number;
  kvClients?: number;
  registerClients?: number;
  keys?: number;
  /** Each client's pause between operations. Default 10 ms. */
  thinkMs?: number;
  snapshotEvery?: number;
  snapshotCatchUp?: number;
  /** Called with the cluster as soon as it runs, e.g. to register its close() with t.teardown (runs even when a test times out). */
  onCluster?: (cluster: ChaosCluster) => void;
  /** Delay every Raft link by this much each way for the whole run. Default 0. */
  linkDelayMs?: number;
  log?: (msg: string) => void;
}

export interface ScenarioReport {
  seed: number;
  opsBeforeFault: number;
  okOpsPerSecBeforeFault: number;
  recoveryMs: number | undefined;
  kvCheck: CheckResult<KvInput, KvOutput>;
  registerCheck: CheckResult<unknown, unknown>;
  operations: number;
  unknownOutcomes: number;
  lost: string[];
  hashes: string[];
  notes: Record<string, string | number>;
  /** Every criterion that failed, one sentence each. */
  failures: string[];
}

/** The minimum rate the issue asks for before the fault. */
export const MIN_OPS_PER_SEC = 100;
/** A write must succeed within this long after the fault heals. */
export const MAX_RECOVERY_MS = 5_000;

/**
 * Runs one scenario and returns its report; never throws for a failed
 * criterion (see `failures`), only for a harness error (a member that does
 * not start). Cleans up everything before returning.
 */
export async function runScenario(opts: ScenarioOptions): Promise<ScenarioReport> {
  const log = opts.log ?? (() => undefined);
  const rng = new Prng(opts.seed);
  const cluster = await ChaosCluster.start({
    size: opts.size,
    log,
    ...(opts.snapshotEvery === undefined ? {} : { snapshotEvery: opts.snapshotEvery }),
    ...(opts.snapshotCatchUp === undefined ? {} : { snapshotCatchUp: opts.snapshotCatchUp }),
  });
  opts.onCluster?.(cluster);
  const admin = cluster.client({ timeoutMs: 10_000 });
  const failures: string[] = [];
  if (opts.linkDelayMs) cluster.setDelay(opts.linkDelayMs);
  try {
    const workload = new Workload({
      newClient: (first) => cluster.client({ first, attemptTimeoutMs: 1_000, timeoutMs: 2_000 }),
      kvClients: opts.kvClients ?? 12,
      registerClients: opts.registerClients ?? 2,
      keys: opts.keys ?? 8,
      thinkMs: opts.thinkMs ?? 10,
      rng: rng.fork(),
    });
    workload.start();
    await sleep(opts.beforeMs ?? 2_000);
    const faultAt = now();
    // The first 700 ms warm the clients' connections (and the JIT) up.
    const from = workload.started + 700;
    const opsBefore = workload.okBetween(from, faultAt);
    const rate = (opsBefore * 1000) / (faultAt - from);
    let result: FaultResult;
    try {
      result = await opts.fault({ cluster, rng: rng.fork(), admin, log });
    } catch (err) {
      await workload.stop();
      throw err;
    }
    await sleep(opts.afterMs ?? 2_500);
    await workload.stop();
    const recoveryMs = workload.firstOkWriteAfter(result.healedAt);
    const sinceFault = workload.firstOkWriteInvokedAfter(faultAt);

    // Every replica ends with the same state.
    let hashes: string[] = [];
    try {
      const sts = await cluster.converged(15_000);
      hashes = sts.map((s) => `${s.id}:${s.state_hash.slice(0, 12)}@${s.applied}`);
    } catch (err) {
      failures.push((err as Error).message);
    }

    // Final linearizable reads, recorded as the last operations of the histories.
    const finals = new Map<string, string>();
    const reader = cluster.client({ timeoutMs: 10_000 });
    try {
      for (const key of workload.keys) {
        const op = workload.kv.invoke(-1, { op: 'get', key });
        const r = await reader.get(key);
        const v = r.value ? dec.decode(r.value) : '';
        workload.kv.ok(op, { value: v });
        finals.set(key, v);
      }
      if ((opts.registerClients ?? 2) > 0) {
        const op = workload.register.invoke(-1, { op: 'read' });
        const r = await reader.get(REGISTER_KEY);
        workload.register.ok(op, { value: parseRegister(r.value) });
      }
    } catch (err) {
      failures.push(`The final reads failed: ${(err as Error).message}`);
    } finally {
      reader.close();
    }

    const kvOps = workload.kv.operations();
    const regOps = workload.register.operations();
    const kvCheck = await checkOperations(kvModel, kvOps, { timeoutMs: 30_000 });
    const registerCheck = (await checkOperations(registerModel, regOps, { timeoutMs: 30_000 })) as CheckResult<unknown, unknown>;
    const unknown = [...kvOps, ...regOps].filter((o) => o.output === undefined).length;
    const lost = finals.size === workload.keys.length ? lostWrites(workload.writes, finals) : [];

    if (kvCheck.result !== 'ok') {
      failures.push(`The KV history is ${kvCheck.result === 'illegal' ? 'not linearizable' : `unchecked (${kvCheck.reason})`}.${kvCheck.counterexample ? `\n${kvCheck.counterexample.describe()}` : ''}`);
    }
    if (registerCheck.result !== 'ok') {
      failures.push(`The register history is ${registerCheck.result === 'illegal' ? 'not linearizable' : `unchecked (${registerCheck.reason})`}.${registerCheck.counterexample ? `\n${registerCheck.counterexample.describe()}` : ''}`);
    }
    failures.push(...lost);
    if (rate < MIN_OPS_PER_SEC) failures.push(`Only ${rate.toFixed(0)} ok operations/s before the fault (at least ${MIN_OPS_PER_SEC} needed).`);
    if (recoveryMs === undefined || recoveryMs > MAX_RECOVERY_MS) {
      failures.push(`No write succeeded within ${MAX_RECOVERY_MS} ms after the fault healed (${recoveryMs === undefined ? 'none at all' : `first after ${recoveryMs.toFixed(0)} ms`}).`);
    }
    const report: ScenarioReport = {
      seed: opts.seed,
      opsBeforeFault: opsBefore,
      okOpsPerSecBeforeFault: rate,
      recoveryMs,
      kvCheck,
      registerCheck,
      operations: kvOps.length + regOps.length,
      unknownOutcomes: unknown,
      lost,
      hashes,
      notes: { ...result.notes, 'first-write-after-fault': sinceFault === undefined ? 'none' : `${sinceFault.toFixed(0)}ms`, 'replaced-clients': workload.replacedClients },
      failures,
    };
    if (failures.length > 0) {
      log(`member logs:\n${cluster.logs()}`);
      const base = join(tmpdir(), `shoal-chaos-seed-${opts.seed}-${opts.size}`);
      await writeFile(`${base}-kv.edn`, kvHistoryEdn(kvOps));
      await writeFile(`${base}-register.json`, JSON.stringify(regOps.map((o) => ({ ...o, return: Number.isFinite(o.return) ? o.return : null }))));
      log(`histories saved: ${base}-kv.edn (replay: npm run lincheck -- --model kv ${base}-kv.edn), ${base}-register.json`);
    }
    return report;
  } finally {
    admin.close();
    await cluster.close();
  }
}

/** One line for the test log. */
export function describeReport(r: ScenarioReport): string {
  const notes = Object.entries(r.notes).map(([k, v]) => ` ${k}=${v}`).join('');
  return (
    `seed=${r.seed} ok-ops/s-before-fault=${r.okOpsPerSecBeforeFault.toFixed(0)} ` +
    `recovery=${r.recoveryMs === undefined ? 'none' : `${r.recoveryMs.toFixed(0)}ms`} ops=${r.operations} unknown=${r.unknownOutcomes} ` +
    `kv=${r.kvCheck.result}(${r.kvCheck.elapsedMs.toFixed(0)}ms) register=${r.registerCheck.result}(${r.registerCheck.elapsedMs.toFixed(0)}ms) ` +
    `lost=${r.lost.length} replicas=[${r.hashes.join(' ')}]${notes}`
  );
}

/**
 * A KV history as EDN lines for the lincheck command line (`--model kv`): events in time
 * order, each operation under its own process number so unknown outcomes never block one.
 */
export function kvHistoryEdn(ops: readonly Operation<KvInput, KvOutput>[]): string {
  const events: { t: number; line: string }[] = [];
  const str = (s: string) => JSON.stringify(s);
  ops.forEach((o, p) => {
    const value = o.input.op === 'get' ? 'nil' : str(o.input.value);
    events.push({ t: o.call, line: `{:process ${p}, :type :invoke, :f :${o.input.op}, :key ${str(o.input.key)}, :value ${value}}` });
    if (o.output === undefined) return;
    const out = o.input.op === 'get' ? str(o.output.value ?? '') : value;
    events.push({ t: o.return, line: `{:process ${p}, :type :ok, :f :${o.input.op}, :key ${str(o.input.key)}, :value ${out}}` });
  });
  events.sort((a, b) => a.t - b.t);
  return `${events.map((e) => e.line).join('\n')}\n`;
}
