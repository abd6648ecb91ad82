// `-v` and `--mount`: docker's volume and mount syntax, with its errors.
import type { Mount } from '@shoal/api';
import { parseBytes } from '@shoal/api/units';
import { invalidFlag } from '../cli-error.js';

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const BIND_MODES = new Set(['ro', 'rw', 'z', 'Z', 'nocopy', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'consistent', 'cached', 'delegated']);

/**
 * Checks one `-v` value: `/dst`, `name:/dst[:mode]` or `/src:/dst[:mode]`.
 * Returns it unchanged (the daemon resolves it). Throws UsageError.
 */
export function validateBind(value: string): string {
  const flag = '-v, --volume';
  const parts = value.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw invalidFlag(value, flag, `invalid volume specification: '${value}'; use [name|/host/path:]/container/path[:ro|rw]`);
  const [a, b, c] = parts as [string, string | undefined, string | undefined];
  if (parts.length === 1) {
    if (!a.startsWith('/')) throw invalidFlag(value, flag, `invalid volume specification: '${value}': the container path must be absolute`);
    return value;
  }
  // 2 parts: src:dst or dst:mode
  if (parts.length === 2 && b !== undefined && !b.startsWith('/') && a.startsWith('/') && isModes(b)) return value;
  const dst = b!;
  if (!dst.startsWith('/')) throw invalidFlag(value, flag, `invalid volume specification: '${value}': the container path '${dst}' must be absolute`);
  if (!a.startsWith('/') && !VOLUME_NAME.test(a)) {
    throw invalidFlag(
      value,
      flag,
      `"${a}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
  if (c !== undefined && !isModes(c)) throw invalidFlag(value, flag, `invalid mode: ${c}; use ro or rw (with z, Z, nocopy or a propagation mode)`);
  return value;
}

function isModes(s: string): boolean {
  return s.split(',').every((m) => BIND_MODES.has(m));
}

function bool(v: string | undefined, value: string, key: string): boolean {
  if (v === undefined || v === '' || v === '1' || v.toLowerCase() === 'true') return true;
  if (v === '0' || v.toLowerCase() === 'false') return false;
  throw invalidFlag(value, '--mount', `invalid value for ${key}: ${v}; use true or false`);
}

/** Parses one `--mount` value (comma-separated key=value). Throws UsageError naming the bad key. */
export function parseMount(value: string): Mount {
  const m: Mount & { type: string; source: string; target: string } = { type: 'volume', source: '', target: '', readonly: false, volume_labels: {}, volume_options: {} };
  let typeSet = false;
  const volumeOnly: string[] = [];
  const bindOnly: string[] = [];
  const tmpfsOnly: string[] = [];
  for (const field of value.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const v = eq < 0 ? undefined : field.slice(eq + 1);
    const need = (): string => {
      if (v === undefined) throw invalidFlag(value, '--mount', `invalid field '${field}' must be a key=value pair`);
      return v;
    };
    switch (key) {
      case 'type':
        m.type = need();
        typeSet = true;
        if (!['volume', 'bind', 'tmpfs'].includes(m.type)) throw invalidFlag(value, '--mount', `invalid mount type "${m.type}"; use volume, bind or tmpfs`);
        break;
      case 'source':
      case 'src':
        m.source = need();
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = need();
        break;
      case 'readonly':
      case 'ro':
        m.readonly = bool(v, value, key);
        break;
      case 'consistency':
        m.consistency = need();
        break;
      case 'bind-propagation':
        m.bind_propagation = need();
        bindOnly.push(key);
        break;
      case 'bind-create-host-path':
        m.bind_create_host_path = bool(v, value, key);
        bindOnly.push(key);
        break;
      case 'volume-nocopy':
        m.volume_nocopy = bool(v, value, key);
        volumeOnly.push(key);
        break;
      case 'volume-driver':
        m.volume_driver = need();
        volumeOnly.push(key);
        break;
      case 'volume-label': {
        const kv = need();
        const i = kv.indexOf('=');
        m.volume_labels![i < 0 ? kv : kv.slice(0, i)] = i < 0 ? '' : kv.slice(i + 1);
        volumeOnly.push(key);
        break;
      }
      case 'volume-opt': {
        const kv = need();
        const i = kv.indexOf('=');
        if (i <= 0) throw invalidFlag(value, '--mount', `invalid volume-opt '${kv}'; use volume-opt=key=value`);
        m.volume_options![kv.slice(0, i)] = kv.slice(i + 1);
        volumeOnly.push(key);
        break;
      }
      case 'tmpfs-size':
        try {
          m.tmpfs_size = parseBytes(need());
        } catch {
          throw invalidFlag(value, '--mount', `invalid value for tmpfs-size: ${v}`);
        }
        tmpfsOnly.push(key);
        break;
      case 'tmpfs-mode': {
        const mode = Number.parseInt(need(), 8);
        if (!/^[0-7]{1,4}$/.test(v!) || Number.isNaN(mode)) throw invalidFlag(value, '--mount', `invalid value for tmpfs-mode: ${v}; use an octal mode like 1777`);
        m.tmpfs_mode = mode;
        tmpfsOnly.push(key);
        break;
      }
      default:
        throw invalidFlag(value, '--mount', `unexpected key '${key}' in '${field}'`);
    }
  }
  if (!typeSet) m.type = 'volume';
  if (m.target === '') throw invalidFlag(value, '--mount', 'target is required');
  if (!m.target.startsWith('/')) throw invalidFlag(value, '--mount', `invalid mount target '${m.target}': the path must be absolute`);
  const wrong = (keys: string[], type: string): void => {
    if (keys.length > 0 && m.type !== type) throw invalidFlag(value, '--mount', `cannot mix '${keys[0]}' options with type '${m.type}'`);
  };
  wrong(volumeOnly, 'volume');
  wrong(bindOnly, 'bind');
  wrong(tmpfsOnly, 'tmpfs');
  if (m.type === 'bind' && m.source === '') throw invalidFlag(value, '--mount', 'source is required when specifying a bind mount');
  if (m.type === 'bind' && !m.source.startsWith('/')) throw invalidFlag(value, '--mount', `invalid bind source '${m.source}': the host path must be absolute`);
  if (m.type === 'tmpfs' && m.source !== '') throw invalidFlag(value, '--mount', 'source must not be specified for a tmpfs mount');
  return m;
}

/** `--volumes-from container[:ro|rw]`. Throws UsageError. */
export function validateVolumesFrom(value: string): string {
  const [name = '', mode, ...rest] = value.split(':');
  if (name === '' || rest.length > 0 || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw invalidFlag(value, '--volumes-from', 'use container[:ro|rw]');
  }
  return value;
}
