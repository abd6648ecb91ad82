import { readFileSync } from 'node:fs';
import { UsageError } from '../cli-error.js';

/**
 * Reads a docker env file (or label file): one VAR=value per line, `#` comments
 * and blank lines skipped, values taken verbatim (no quote processing). A bare
 * VAR takes its value from `env` and is dropped when unset there.
 * Throws UsageError when the file cannot be read or a name contains whitespace.
 */
export function readKeyValueFile(path: string, env: Record<string, string | undefined>): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT' ? `open ${path}: no such file or directory` : `cannot read ${path}: ${(err as Error).message}`,
    );
  }
  return parseKeyValueLines(text, env, path);
}

/** Parses the text of an env file; see readKeyValueFile. Throws UsageError for a bad line. */
export function parseKeyValueLines(text: string, env: Record<string, string | undefined>, name = 'env file'): string[] {
  const out: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq >= 0 ? line.slice(0, eq) : line.replace(/\s+$/, '');
    if (key === '') throw new UsageError(`${name}: line ${i + 1}: no variable name before '='`);
    if (/\s/.test(key)) throw new UsageError(`${name}: variable '${key}' contains whitespaces`);
    if (eq >= 0) out.push(line);
    else if (env[key] !== undefined) out.push(`${key}=${env[key]}`);
  });
  return out;
}

/** Resolves `-e NAME` (no "=") from the client's environment like docker; unset names are dropped. */
export function resolveEnvFlag(value: string, env: Record<string, string | undefined>): string | undefined {
  if (value.includes('=')) return value;
  const v = env[value];
  return v === undefined ? undefined : `${value}=${v}`;
}
