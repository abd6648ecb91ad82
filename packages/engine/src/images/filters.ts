import { invalidArgument } from '@shoal/api';

/** One `--filter key=value`, in the order given. */
export interface FilterArg {
  key: string;
  value: string;
}

/**
 * Groups filters by key and checks the keys.
 *
 * @throws InvalidArgument for a key outside `allowed` ("invalid filter 'foo'").
 */
export function groupFilters(filters: readonly FilterArg[], allowed: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { key, value } of filters) {
    if (!allowed.includes(key)) {
      throw invalidArgument(`invalid filter '${key}'; valid filters are ${allowed.join(', ')}.`);
    }
    out.set(key, [...(out.get(key) ?? []), value]);
  }
  return out;
}

/** Go's path.Match, as docker uses for `reference=` filters: `*` and `?` stop at `/`. */
export function globMatch(pattern: string, s: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) return false;
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) {
      re += `\\${pattern[++i]}`;
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  try {
    return new RegExp(`${re}$`).test(s);
  } catch {
    return false;
  }
}

/**
 * Parses a boolean filter value as docker does ("true", "1", "false", "0").
 *
 * @throws InvalidArgument for anything else.
 */
export function filterBool(key: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw invalidArgument(`Invalid filter value '${key}=${value}': use true or false.`);
}
