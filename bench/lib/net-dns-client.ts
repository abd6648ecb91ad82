// The DNS load client of the network bench, run as its own process so that it
// can be started inside a container's network namespace (`nsenter --net=<the
// container's SandboxKey> node net-dns-client.js '<json options>'`): Node has no
// setns, and the embedded DNS server answers only on the network it serves.
//
// It sends A queries for one name at a fixed rate from one UDP socket (sends
// are paced against the clock, so a late timer sends the queries that are due
// at once rather than drifting the rate down), matches answers by id, and
// prints one JSON object (DnsLoadReport) on stdout.
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import dnsPacket from 'dns-packet';
import type { DnsLoadReport, DnsLoadSpec } from './net-dns.js';

/** Queries are 16-bit ids; a query older than this many sends has long timed out, so reusing its id is safe. */
const ID_SPACE = 0x10000;

function main(spec: DnsLoadSpec): Promise<DnsLoadReport> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const interval = 1000 / spec.qps;
    const warmup = Math.round((spec.warmupMs * spec.qps) / 1000);
    const total = warmup + Math.round(spec.seconds * spec.qps);
    /** id → send time of the query in flight with that id, and whether it is recorded. */
    const pending = new Map<number, { at: number; recorded: boolean }>();
    const report: DnsLoadReport = { sent: 0, answered: 0, timeouts: 0, errors: 0, latenciesMs: [], windowMs: 0 };
    let sent = 0;
    let t0 = 0;
    let firstRecordedAt = 0;
    let lastSentAt = 0;
    let timer: NodeJS.Timeout | undefined;

    const expire = (now: number): void => {
      for (const [id, q] of pending) {
        if (now - q.at < spec.timeoutMs) break; // in send order: the rest are younger
        pending.delete(id);
        if (q.recorded) report.timeouts += 1;
      }
    };

    sock.on('message', (msg) => {
      const now = performance.now();
      let res: dnsPacket.DecodedPacket;
      try {
        res = dnsPacket.decode(msg);
      } catch {
        return;
      }
      const q = res.id === undefined ? undefined : pending.get(res.id);
      if (!q || res.id === undefined) return;
      pending.delete(res.id);
      if (!q.recorded) return;
      const answer = res.answers?.find((a): a is dnsPacket.StringAnswer => a.type === 'A');
      const rcode = (res.flags ?? 0) & 0xf;
      if (rcode !== 0 || !answer) {
        report.errors += 1;
        report.firstError ??= `rcode ${rcode}, ${res.answers?.length ?? 0} answers`;
        return;
      }
      if (now - q.at > spec.timeoutMs) {
        report.timeouts += 1;
        return;
      }
      report.answered += 1;
      report.answer ??= answer.data;
      report.latenciesMs.push(now - q.at);
    });
    sock.on('error', (e) => {
      if (timer) clearTimeout(timer);
      sock.close();
      reject(e);
    });

    const send = (i: number): void => {
      const id = i % ID_SPACE;
      const buf = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: spec.name }] });
      const at = performance.now();
      pending.delete(id);
      pending.set(id, { at, recorded: i >= warmup });
      if (i === warmup) firstRecordedAt = at;
      lastSentAt = at;
      sock.send(buf, 53, spec.server);
    };

    const finish = (): void => {
      expire(performance.now());
      report.timeouts += [...pending.values()].filter((q) => q.recorded).length;
      report.sent = total - warmup;
      report.windowMs = lastSentAt - firstRecordedAt;
      sock.close();
      resolve(report);
    };

    const tick = (): void => {
      const now = performance.now();
      while (sent < total && t0 + sent * interval <= now) send(sent++);
      expire(now);
      if (sent < total) {
        timer = setTimeout(tick, Math.max(0, t0 + sent * interval - performance.now()));
      } else if (pending.size > 0 && now - lastSentAt < spec.timeoutMs) {
        timer = setTimeout(tick, 5);
      } else {
        finish();
      }
    };

    sock.bind(0, () => {
      t0 = performance.now();
      tick();
    });
  });
}

const arg = process.argv[2];
if (arg === undefined) {
  process.stderr.write("usage: net-dns-client.js '{\"server\":\"…\",\"name\":\"…\",\"qps\":1000,\"seconds\":5,\"warmupMs\":500,\"timeoutMs\":1000}'\n");
  process.exit(2);
}
main(JSON.parse(arg) as DnsLoadSpec).then(
  (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
  (e: unknown) => {
    process.stderr.write(`dns client: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
