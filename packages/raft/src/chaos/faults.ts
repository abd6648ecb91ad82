// The faults of the chaos suite. Each injects one fault into a loaded
// cluster, heals it, and says when the cluster was whole again (for kills:
// the kill itself, since the survivors must fail over on their own).
import type { TornTail } from './chaos-cluster.js';
import type { FaultContext, FaultResult } from './scenario.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => performance.now();

/** kill -9 the leader; restart it after `downMs`. Recovery counts from the kill (fail-over). */
export function killLeader(downMs = 1_500) {
  return async ({ cluster, admin }: FaultContext): Promise<FaultResult> => {
    const victim = await cluster.leader(5_000, admin);
    await cluster.kill(victim);
    const at = now();
    await sleep(downMs);
    await cluster.restart(victim);
    return { healedAt: at, notes: { victim } };
  };
}

/** kill -9 a follower chosen by the seed; restart it after `downMs`. */
export function killFollower(downMs = 1_500) {
  return async ({ cluster, admin, rng }: FaultContext): Promise<FaultResult> => {
    const leader = await cluster.leader(5_000, admin);
    const victim = rng.pick(cluster.live.filter((id) => id !== leader))!;
    await cluster.kill(victim);
    const at = now();
    await sleep(downMs);
    await cluster.restart(victim);
    return { healedAt: at, notes: { victim } };
  };
}

/** SIGSTOP the leader for longer than an election timeout, then SIGCONT it. Recovery counts from SIGCONT. */
export function pauseLeader(pausedMs = 2_000) {
  return async ({ cluster, admin }: FaultContext): Promise<FaultResult> => {
    const victim = await cluster.leader(5_000, admin);
    cluster.pause(victim);
    await sleep(pausedMs);
    cluster.resume(victim);
    return { healedAt: now(), notes: { victim } };
  };
}

/**
 * Cuts the leader (with `companions` followers chosen by the seed, still a
 * minority) off from the majority, then heals. Recovery counts from the heal.
 */
export function partitionLeader(companions = 0, cutMs = 2_000) {
  return async ({ cluster, admin, rng }: FaultContext): Promise<FaultResult> => {
    const leader = await cluster.leader(5_000, admin);
    const group = [leader];
    const others = cluster.live.filter((id) => id !== leader);
    for (let i = 0; i < companions; i++) group.push(others.splice(rng.int(others.length), 1)[0]!);
    cluster.isolate(group);
    await sleep(cutMs);
    const during = await cluster.leader(3_000, admin).catch(() => 'none');
    cluster.heal();
    return { healedAt: now(), notes: { minority: group.join('+'), 'leader-during': during } };
  };
}

const TORN: readonly TornTail[] = ['partial-record', 'garbled-record', 'zeroes'];

/**
 * kill -9 a member chosen by the seed (leader or follower), tear the unsynced
 * tail of its last WAL segment, restart it: it must start, say it cut the
 * torn record, and catch up. Recovery counts from the restart.
 * Throws when the member did not report the repair (the fault missed).
 */
export function tornWalTail() {
  return async ({ cluster, admin, rng }: FaultContext): Promise<FaultResult> => {
    const leader = await cluster.leader(5_000, admin);
    const victim = rng.pick(cluster.live)!;
    const how = rng.pick(TORN)!;
    await cluster.kill(victim);
    await cluster.tearWalTail(victim, how, rng);
    await sleep(500);
    const m = cluster.members.get(victim)!;
    const repairs = m.tornRepairs;
    await cluster.restart(victim);
    const at = now();
    for (let i = 0; i < 20 && m.tornRepairs === repairs; i++) await sleep(50);
    if (m.tornRepairs === repairs) throw new Error(`Member ${victim} restarted without cutting the torn WAL tail; its log: ${m.stderr}`);
    return { healedAt: at, notes: { victim: victim === leader ? `${victim}(leader)` : victim, torn: how } };
  };
}

/**
 * Adds a member under load, then removes one: the old leader when
 * `removeLeader`, else an old follower chosen by the seed. Recovery counts
 * from the removal.
 */
export function addThenRemove(removeLeader: boolean, newId = 'n4') {
  return async ({ cluster, admin, rng }: FaultContext): Promise<FaultResult> => {
    const t0 = now();
    await cluster.addMember(newId, admin);
    const addMs = now() - t0;
    const leader = await cluster.leader(5_000, admin);
    const victim = removeLeader ? leader : rng.pick(cluster.live.filter((id) => id !== leader && id !== newId))!;
    await cluster.removeMember(victim, admin);
    return { healedAt: now(), notes: { added: newId, 'add-ms': Math.round(addMs), removed: victim === leader ? `${victim}(leader)` : victim } };
  };
}
