import { invalidArgument } from '@shoal/api';

export interface LinkEnvOptions {
  /** The alias the linking container uses (`--link web:db` → "db"). */
  alias: string;
  /** The link target's name, e.g. "/web". */
  name: string;
  /** The linking container's own name, e.g. "/app" or "app". */
  containerName: string;
  /** The target's address on the default bridge. */
  ip: string;
  /** The target's exposed ports: "80/tcp", "53/udp", "80" (tcp) or a range "8000-8002/tcp". */
  exposed: string[];
  /** The target's environment ("NAME=value"). */
  env: string[];
}

interface Port {
  num: number;
  proto: string;
}

/** Variables of the target's environment that say nothing about it (build and runtime leftovers). */
const SKIPPED_ENV = new Set(['HOME', 'PATH', 'HOSTNAME']);

/**
 * The legacy link environment variables Docker injects for `--link name:alias`
 * ("Legacy container links" in the Docker docs), in Docker's order:
 * ALIAS_PORT (lowest port, TCP first), then per port ALIAS_PORT_<n>_<PROTO>, _ADDR, _PORT, _PROTO,
 * with _START/_PORT_START/_END/_PORT_END for runs of consecutive ports; ALIAS_NAME=/container/alias;
 * and ALIAS_ENV_<VAR> for the target's environment except HOME, PATH and HOSTNAME.
 * ALIAS is the alias upper-cased with every character other than A–Z, 0–9 and _ turned into _.
 * Throws InvalidArgument for an exposed port that is not port[/proto].
 */
export function linkEnv(o: LinkEnvOptions): string[] {
  const alias = envAlias(o.alias);
  const unique = new Map(o.exposed.flatMap(parseExposed).map((p) => [`${p.num}/${p.proto}`, p]));
  const ports = [...unique.values()].sort(byTcpFirst);
  const env: string[] = [];
  let start: Port | undefined;
  let end: Port | undefined;
  ports.forEach((p, i) => {
    if (i === 0) env.push(`${alias}_PORT=${p.proto}://${o.ip}:${p.num}`);
    const prefix = `${alias}_PORT_${p.num}_${p.proto.toUpperCase()}`;
    env.push(`${prefix}=${p.proto}://${o.ip}:${p.num}`, `${prefix}_ADDR=${o.ip}`, `${prefix}_PORT=${p.num}`, `${prefix}_PROTO=${p.proto}`);
    if (start === undefined || end === undefined) {
      start = end = p;
    } else if (p.proto === end.proto && p.num === end.num + 1) {
      end = p;
    } else {
      pushRange(env, alias, o.ip, start, end);
      start = end = p;
    }
  });
  if (start !== undefined && end !== undefined) pushRange(env, alias, o.ip, start, end);

  const container = o.containerName.replace(/^\//, '');
  env.push(`${alias}_NAME=/${container}/${o.alias}`);
  for (const kv of o.env) {
    const eq = kv.indexOf('=');
    if (eq <= 0) continue;
    const name = kv.slice(0, eq);
    if (SKIPPED_ENV.has(name)) continue;
    env.push(`${alias}_ENV_${name}=${kv.slice(eq + 1)}`);
  }
  return env;
}

/** "db-1.local" → "DB_1_LOCAL". */
export function envAlias(alias: string): string {
  return alias.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

function pushRange(env: string[], alias: string, ip: string, start: Port, end: Port): void {
  if (start === end) return;
  const prefix = `${alias}_PORT_${start.num}_${start.proto.toUpperCase()}`;
  env.push(
    `${prefix}_START=${start.proto}://${ip}:${start.num}`,
    `${prefix}_PORT_START=${start.num}`,
    `${prefix}_END=${end.proto}://${ip}:${end.num}`,
    `${prefix}_PORT_END=${end.num}`,
  );
}

function parseExposed(value: string): Port[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/([a-z]+))?$/i.exec(value.trim());
  const first = Number(m?.[1]);
  const last = m?.[2] === undefined ? first : Number(m[2]);
  if (m === null || first < 1 || last > 65535 || last < first) {
    throw invalidArgument(`Invalid exposed port "${value}": use port[/tcp|udp|sctp], like 80/tcp.`);
  }
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const out: Port[] = [];
  for (let n = first; n <= last; n++) out.push({ num: n, proto });
  return out;
}

/** Docker's order: TCP before other protocols, then by port number. */
function byTcpFirst(a: Port, b: Port): number {
  if (a.proto === b.proto) return a.num - b.num;
  if (a.proto === 'tcp') return -1;
  if (b.proto === 'tcp') return 1;
  return a.proto < b.proto ? -1 : 1;
}
