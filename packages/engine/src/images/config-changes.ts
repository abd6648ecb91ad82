import { invalidArgument } from '@shoal/api';
import type { ContainerConfig } from './oci-types.js';

/** The instructions `import --change` and `commit --change` accept, as docker does. */
export const CHANGE_INSTRUCTIONS = [
  'CMD',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'LABEL',
  'ONBUILD',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
] as const;

/** `["a","b"]` as a JSON string array, or undefined when it is not one. */
function jsonArray(rest: string): string[] | undefined {
  if (!rest.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(rest);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // Not JSON: docker then treats the text as shell form.
  }
  return undefined;
}

/** Splits `k=v k2="v 2"` pairs (or the legacy `k v` form) as the Dockerfile does. */
function keyValues(instr: string, rest: string): [string, string][] {
  const words: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let any = false;
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < rest.length) cur += rest[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      any = true;
    } else if (c === '\\' && i + 1 < rest.length) {
      cur += rest[++i];
      any = true;
    } else if (/\s/.test(c)) {
      if (cur !== '' || any) words.push(cur);
      cur = '';
      any = false;
    } else {
      cur += c;
      any = true;
    }
  }
  if (quote) throw invalidArgument(`${instr} has an unterminated quote: ${rest}`);
  if (cur !== '' || any) words.push(cur);
  if (words.length === 0) throw invalidArgument(`${instr} needs at least one argument.`);
  if (!(words[0] as string).includes('=')) {
    // Legacy form: `ENV KEY some value`.
    const [key, ...value] = rest.trim().split(/\s+/);
    if (value.length === 0) throw invalidArgument(`${instr} ${rest} must have two arguments, like ${instr} key=value.`);
    return [[key as string, rest.trim().slice((key as string).length).trim()]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw invalidArgument(`${instr} ${w} is not of the form key=value.`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/**
 * Applies Dockerfile-style `changes` ("CMD [\"sh\"]", "ENV A=1", ...) to a
 * copy of `base`.
 *
 * @throws InvalidArgument for an unknown instruction or a malformed argument,
 *   naming it ("unknown instruction: RUN; --change accepts CMD, ENTRYPOINT, ...").
 */
export function applyConfigChanges(base: ContainerConfig, changes: readonly string[]): ContainerConfig {
  const cfg: ContainerConfig = structuredClone(base);
  for (const raw of changes) {
    const line = raw.trim();
    if (line === '') continue;
    const m = /^(\S+)\s*([\s\S]*)$/.exec(line);
    const instr = (m?.[1] ?? '').toUpperCase();
    const rest = (m?.[2] ?? '').trim();
    const shellOrJson = (): string[] => jsonArray(rest) ?? [...(cfg.Shell ?? ['/bin/sh', '-c']), rest];
    switch (instr) {
      case 'CMD':
        cfg.Cmd = shellOrJson();
        break;
      case 'ENTRYPOINT':
        cfg.Entrypoint = rest === '' ? null : shellOrJson();
        break;
      case 'ENV': {
        const env = [...(cfg.Env ?? [])];
        for (const [k, v] of keyValues(instr, rest)) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        cfg.Env = env;
        break;
      }
      case 'LABEL':
        cfg.Labels = { ...cfg.Labels, ...Object.fromEntries(keyValues(instr, rest)) };
        break;
      case 'EXPOSE': {
        const ports = { ...cfg.ExposedPorts };
        for (const p of rest.split(/\s+/).filter(Boolean)) {
          const pm = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
          if (!pm) throw invalidArgument(`EXPOSE ${p} is not a port: use 80, 80/tcp or 8000-8010/udp.`);
          const lo = Number(pm[1]);
          const hi = pm[2] === undefined ? lo : Number(pm[2]);
          if (lo < 1 || hi > 65535 || hi < lo) throw invalidArgument(`EXPOSE ${p} is not a valid port range.`);
          for (let port = lo; port <= hi; port++) ports[`${port}/${(pm[3] ?? 'tcp').toLowerCase()}`] = {};
        }
        cfg.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...cfg.Volumes };
        for (const v of jsonArray(rest) ?? rest.split(/\s+/).filter(Boolean)) vols[v] = {};
        if (Object.keys(vols).length === 0) throw invalidArgument('VOLUME needs at least one path.');
        cfg.Volumes = vols;
        break;
      }
      case 'WORKDIR': {
        if (rest === '') throw invalidArgument('WORKDIR needs a path.');
        const base = cfg.WorkingDir ?? '/';
        cfg.WorkingDir = rest.startsWith('/') ? rest : `${base.replace(/\/$/, '')}/${rest}`;
        break;
      }
      case 'USER':
        if (rest === '') throw invalidArgument('USER needs a user name or uid.');
        cfg.User = rest;
        break;
      case 'STOPSIGNAL':
        if (!/^(SIG)?[A-Z0-9+-]+$/i.test(rest) || rest === '') {
          throw invalidArgument(`STOPSIGNAL ${rest} is not a signal: use a name like SIGTERM or a number.`);
        }
        cfg.StopSignal = rest;
        break;
      case 'ONBUILD':
        if (rest === '') throw invalidArgument('ONBUILD needs an instruction.');
        cfg.OnBuild = [...(cfg.OnBuild ?? []), rest];
        break;
      default:
        throw invalidArgument(
          `unknown instruction: ${instr || line}; changes accept ${CHANGE_INSTRUCTIONS.join(', ')}.`,
        );
    }
  }
  return cfg;
}
