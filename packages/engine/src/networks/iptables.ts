// Applies the engine's rules (rules.ts) in the daemon's network namespace.
// Each sync replaces our chains' content in one iptables-restore call; calls
// are serialised and coalesced, so a burst of changes costs one or two runs.
import { writeFile } from 'node:fs/promises';
import type { Logger } from '@shoal/api';
import { buildRules, CHAINS, JUMPS, type RuleNetwork, type RulePort } from './rules.js';
import { run } from './run.js';

export interface RuleState {
  networks: RuleNetwork[];
  ports: RulePort[];
}

export class Iptables {
  private running: Promise<void> = Promise.resolve();
  private pending: Promise<void> | undefined;

  constructor(
    private readonly state: () => RuleState,
    private readonly logger: Logger,
  ) {}

  /**
   * Brings our chains in line with the current state. Resolves once a run that
   * started after this call has finished. Throws Internal when iptables fails.
   */
  sync(): Promise<void> {
    if (this.pending) return this.pending;
    const next = this.running
      .catch(() => undefined)
      .then(async () => {
        this.pending = undefined;
        await this.apply();
      });
    this.pending = next;
    this.running = next;
    return next;
  }

  private async apply(): Promise<void> {
    const s = this.state();
    await run('iptables-restore', ['--noflush', '--wait'], { input: buildRules(s.networks, s.ports) });
    for (const j of JUMPS) {
      const exists = await run('iptables', ['--wait', '-t', j.table, '-C', j.chain, ...j.rule]).then(
        () => true,
        () => false,
      );
      if (!exists) await run('iptables', ['--wait', '-t', j.table, '-I', j.chain, '1', ...j.rule]);
    }
  }

  /** Routing between bridges and the outside (per network namespace). Never throws; logs instead. */
  async enableForwarding(): Promise<void> {
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n').catch((err: unknown) =>
      this.logger.warn('could not enable IPv4 forwarding; containers will have no outbound access', { error: String(err) }),
    );
  }

  /** Removes our jumps and chains (used by tests to leave a namespace clean). Never throws. */
  async removeAll(): Promise<void> {
    for (const j of JUMPS) await run('iptables', ['--wait', '-t', j.table, '-D', j.chain, ...j.rule]).catch(() => undefined);
    for (const [table, chains] of Object.entries(CHAINS)) {
      for (const c of chains) await run('iptables', ['--wait', '-t', table, '-F', c]).catch(() => undefined);
      for (const c of chains) await run('iptables', ['--wait', '-t', table, '-X', c]).catch(() => undefined);
    }
  }
}
