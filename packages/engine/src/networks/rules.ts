// The engine's iptables rules, built as a whole from the networks and the
// published ports. The result is fed to `iptables-restore --noflush`, which
// replaces the content of our own chains atomically and leaves every other
// chain alone: there is no rule-by-rule bookkeeping that could leak, and a
// restarted daemon gets exactly the rules its state implies.

/** What the rules need of one local bridge network. */
export interface RuleNetwork {
  bridge: string;
  subnet: string;
  /** The bridge's own address ("" when it has none). */
  gateway: string;
  internal: boolean;
}

/** What the rules need of one published port. */
export interface RulePort {
  bridge: string;
  containerIp: string;
  containerPort: number;
  protocol: string;
  /** "" or "0.0.0.0" for every address of the host. */
  hostIp: string;
  hostPort: number;
}

export const CHAINS = {
  filter: ['SHOAL-FORWARD', 'SHOAL', 'SHOAL-ISOLATION-STAGE-1', 'SHOAL-ISOLATION-STAGE-2'],
  nat: ['SHOAL', 'SHOAL-POSTROUTING'],
  raw: ['SHOAL-RAW'],
} as const;

/** The jumps from the built-in chains into ours: table, chain, rule arguments. */
export const JUMPS: readonly { table: 'filter' | 'nat' | 'raw'; chain: string; rule: string[] }[] = [
  { table: 'raw', chain: 'PREROUTING', rule: ['-j', 'SHOAL-RAW'] },
  { table: 'filter', chain: 'FORWARD', rule: ['-j', 'SHOAL-FORWARD'] },
  { table: 'nat', chain: 'PREROUTING', rule: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'SHOAL'] },
  // Loopback traffic is left to the userland proxy (DNAT of 127/8 would need route_localnet).
  { table: 'nat', chain: 'OUTPUT', rule: ['!', '-d', '127.0.0.0/8', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'SHOAL'] },
  { table: 'nat', chain: 'POSTROUTING', rule: ['-j', 'SHOAL-POSTROUTING'] },
];

/** The iptables-restore input (with --noflush) for the given state. */
export function buildRules(networks: readonly RuleNetwork[], ports: readonly RulePort[]): string {
  const filter: string[] = ['-A SHOAL-FORWARD -j SHOAL-ISOLATION-STAGE-1'];
  const stage1: string[] = [];
  const stage2: string[] = [];
  const accept: string[] = [];
  const nat: string[] = [];
  const post: string[] = [];
  const raw: string[] = [];
  for (const n of networks) {
    const br = n.bridge;
    // Container to container on one bridge is switched, yet br_netfilter (on
    // by default) puts every such frame through conntrack: ~15% of a bridge's
    // throughput. None of our rules needs state for it (DNAT never applies to
    // traffic from the bridge: see the RETURN below; published ports reach
    // containers from outside the subnet), so it skips conntrack. Traffic to
    // the bridge's own address (the embedded DNS) stays tracked.
    if (n.gateway) raw.push(`-A SHOAL-RAW -i ${br} -d ${n.gateway}/32 -j RETURN`);
    raw.push(`-A SHOAL-RAW -i ${br} -s ${n.subnet} -d ${n.subnet} -j NOTRACK`);
    if (n.internal) {
      filter.push(`-A SHOAL-FORWARD -i ${br} -o ${br} -j ACCEPT`);
      stage1.push(`-A SHOAL-ISOLATION-STAGE-1 ! -s ${n.subnet} -o ${br} -j DROP`, `-A SHOAL-ISOLATION-STAGE-1 ! -d ${n.subnet} -i ${br} -j DROP`);
    } else {
      filter.push(
        `-A SHOAL-FORWARD -o ${br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
        `-A SHOAL-FORWARD -o ${br} -j SHOAL`,
        `-A SHOAL-FORWARD -i ${br} ! -o ${br} -j ACCEPT`,
        `-A SHOAL-FORWARD -i ${br} -o ${br} -j ACCEPT`,
        // Only published ports come in from outside the bridge.
        `-A SHOAL-FORWARD -o ${br} -j DROP`,
      );
      stage1.push(`-A SHOAL-ISOLATION-STAGE-1 -i ${br} ! -o ${br} -j SHOAL-ISOLATION-STAGE-2`);
      stage2.push(`-A SHOAL-ISOLATION-STAGE-2 -o ${br} -j DROP`);
      post.push(`-A SHOAL-POSTROUTING -s ${n.subnet} ! -o ${br} -j MASQUERADE`);
    }
    nat.push(`-A SHOAL -i ${br} -j RETURN`);
  }
  for (const p of ports) {
    const proto = `-p ${p.protocol} -m ${p.protocol}`;
    const dst = p.hostIp && p.hostIp !== '0.0.0.0' ? `-d ${p.hostIp}/32 ` : '';
    accept.push(`-A SHOAL -d ${p.containerIp}/32 ! -i ${p.bridge} -o ${p.bridge} ${proto} --dport ${p.containerPort} -j ACCEPT`);
    nat.push(`-A SHOAL ${dst}! -i ${p.bridge} ${proto} --dport ${p.hostPort} -j DNAT --to-destination ${p.containerIp}:${p.containerPort}`);
    post.push(`-A SHOAL-POSTROUTING -s ${p.containerIp}/32 -d ${p.containerIp}/32 ${proto} --dport ${p.containerPort} -j MASQUERADE`);
  }
  return [
    '*filter',
    ...CHAINS.filter.map((c) => `:${c} - [0:0]`),
    ...filter,
    ...stage1,
    '-A SHOAL-ISOLATION-STAGE-1 -j RETURN',
    ...stage2,
    '-A SHOAL-ISOLATION-STAGE-2 -j RETURN',
    ...accept,
    'COMMIT',
    '*nat',
    ...CHAINS.nat.map((c) => `:${c} - [0:0]`),
    ...nat,
    ...post,
    'COMMIT',
    '*raw',
    ...CHAINS.raw.map((c) => `:${c} - [0:0]`),
    ...raw,
    'COMMIT',
    '',
  ].join('\n');
}
