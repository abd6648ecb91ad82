import test from 'ava';
import type { Cluster__Output } from '@shoal/api';
import { MemoryStore } from '../store/index.js';
import { renewNodeCertificate } from './issuer.js';
import { createNodeCsr, parseNodeCertificate } from './node-cert.js';
import type { NodeCertificate } from './node-cert.js';
import { CertificateRenewer, MAX_SLEEP_MS, renewalTime } from './renewal.js';
import type { RenewalClock } from './renewal.js';
import { createRootCa, rootCaToProto } from './root-ca.js';

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

test('renewalTime falls between 50% and 80% of the validity', (t) => {
  const from = new Date('2030-01-01T00:00:00Z');
  const to = new Date(from.getTime() + 100 * HOUR);
  t.is(renewalTime(from, to, () => 0).getTime(), from.getTime() + 50 * HOUR);
  t.is(renewalTime(from, to, () => 0.5).getTime(), from.getTime() + 65 * HOUR);
  t.is(renewalTime(from, to, () => 0.999999).getTime(), from.getTime() + Math.floor(100 * HOUR * 0.7999997));
  t.is(renewalTime(from, to, () => 7).getTime(), from.getTime() + 80 * HOUR, 'a bad random source is clamped');
  for (let i = 0; i < 200; i++) {
    const at = renewalTime(from, to).getTime();
    t.true(at >= from.getTime() + 50 * HOUR && at <= from.getTime() + 80 * HOUR);
  }
  t.is(renewalTime(to, from, () => 0.5).getTime(), to.getTime(), 'an inverted range renews at once');
});

/** A manual clock: sleeps resolve when the test advances time past them. */
class FakeClock implements RenewalClock {
  t: number;
  sleeps: number[] = [];
  private waiting: Array<{ until: number; resolve: () => void }> = [];
  constructor(start: number) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve, reject) => {
      const entry = { until: this.t + ms, resolve };
      this.waiting.push(entry);
      signal.addEventListener('abort', () => {
        this.waiting = this.waiting.filter((w) => w !== entry);
        reject(signal.reason as Error);
      }, { once: true });
    });
  }
  get pending(): number {
    return this.waiting.length;
  }
  /** Jumps to the next pending wake-up and fires it. */
  async next(): Promise<void> {
    await until(() => this.waiting.length > 0);
    const w = this.waiting.sort((a, b) => a.until - b.until).shift();
    if (!w) throw new Error('nothing sleeping');
    this.t = Math.max(this.t, w.until);
    w.resolve();
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000; // real time: crypto work runs between the fake clock's steps
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  if (!cond()) throw new Error('condition never held');
}

async function testCluster(): Promise<Cluster__Output> {
  const store = new MemoryStore();
  const ca = await createRootCa();
  await store.update((tx) => {
    tx.clusters.create({ id: 'c1', spec: { annotations: { name: 'default' } }, root_ca: rootCaToProto(ca) });
  });
  const c = store.view((tx) => tx.clusters.get('c1'));
  if (!c) throw new Error('no cluster');
  return c;
}

async function issueAt(cluster: Cluster__Output, now: number): Promise<NodeCertificate> {
  const { csrPem, keyPem } = await createNodeCsr();
  const issued = await renewNodeCertificate(csrPem, 'n1', 'WORKER', cluster, { now: new Date(now) });
  return { certPem: issued.certPem, keyPem, rootCaPem: issued.rootCaPem };
}

test('the renewer sleeps to the renewal point, renews, installs, and schedules from the new certificate', async (t) => {
  const cluster = await testCluster();
  const start = Math.floor(Date.now() / 1000) * 1000;
  const clock = new FakeClock(start);
  let current = await issueAt(cluster, start);
  const installed: NodeCertificate[] = [];
  const renewer = new CertificateRenewer({
    current: () => current,
    renew: () => issueAt(cluster, clock.now()),
    onRenewed: (cert) => {
      installed.push(cert);
      current = cert;
    },
    clock,
    rand: () => 0.5,
  });
  const ctl = new AbortController();
  const running = renewer.run(ctl.signal);

  // 90 days, backdated 1 h: renew at notBefore + 65% of (90 d + 1 h); waits above ~24.8 days come in pieces.
  const first = parseNodeCertificate(current.certPem);
  const due = renewalTime(first.notBefore, first.notAfter, () => 0.5).getTime();
  for (;;) {
    await until(() => installed.length > 0 || clock.pending > 0);
    if (installed.length > 0) break;
    await clock.next();
  }
  t.true(clock.sleeps.every((ms) => ms <= MAX_SLEEP_MS), 'no sleep overflows setTimeout');
  t.true(clock.sleeps.length >= 3, 'a ~58-day wait is taken in pieces');
  t.is(clock.now(), due);
  t.is(installed.length, 1);
  const second = parseNodeCertificate(current.certPem);
  t.true(second.notAfter.getTime() > first.notAfter.getTime());

  ctl.abort();
  await t.notThrowsAsync(running);
  t.is(installed.length, 1);
});

test('a failed renewal is retried with a capped, doubling delay', async (t) => {
  const cluster = await testCluster();
  const start = Math.floor(Date.now() / 1000) * 1000;
  const clock = new FakeClock(start);
  let current = await issueAt(cluster, start - 89 * DAY); // renewal is overdue
  let attempts = 0;
  const renewer = new CertificateRenewer({
    current: () => current,
    renew: async () => {
      attempts++;
      if (attempts < 5) throw new Error('no manager reachable');
      return issueAt(cluster, clock.now());
    },
    onRenewed: (cert) => {
      current = cert;
    },
    clock,
    rand: () => 0,
    retryMinMs: 1000,
    retryMaxMs: 4000,
  });
  const ctl = new AbortController();
  const running = renewer.run(ctl.signal);
  await until(() => attempts === 1);
  t.is(clock.now(), start, 'an overdue renewal happens at once');
  while (attempts < 5) {
    await until(() => clock.pending > 0);
    await clock.next();
  }
  t.deepEqual(clock.sleeps, [1000, 2000, 4000, 4000]);
  await until(() => clock.sleeps.length === 5);
  t.is(parseNodeCertificate(current.certPem).notBefore.getTime(), clock.now() - HOUR);
  ctl.abort();
  await running;
});

test('renewNow forces a renewal; aborting stops the renewer cleanly', async (t) => {
  const cluster = await testCluster();
  const start = Math.floor(Date.now() / 1000) * 1000;
  const clock = new FakeClock(start);
  let current = await issueAt(cluster, start);
  let renewed = 0;
  const renewer = new CertificateRenewer({
    current: () => current,
    renew: async () => {
      renewed++;
      return issueAt(cluster, clock.now());
    },
    onRenewed: (cert) => {
      current = cert;
    },
    clock,
  });
  const ctl = new AbortController();
  const running = renewer.run(ctl.signal);
  await until(() => clock.sleeps.length === 1);
  renewer.renewNow();
  await until(() => renewed === 1);
  t.is(clock.now(), start, 'no time passed');
  await until(() => clock.sleeps.length === 2);
  ctl.abort();
  await t.notThrowsAsync(running);
  t.is(renewed, 1);
});
