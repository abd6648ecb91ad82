// The `local` driver's options, as docker's: `-o type=tmpfs -o device=tmpfs
// -o o=size=64m,uid=1000`, `-o type=none -o o=bind -o device=/path`, or any
// filesystem mount(8) understands (`type=nfs,o=addr=…,device=:/export`).
import { isAbsolute } from 'node:path';
import { invalidArgument } from '@shoal/api';

/** How a local volume with options is mounted on its `_data` directory at first use. */
export interface LocalMountPlan {
  /** mount(8)'s -t. */
  type: string;
  /** mount(8)'s source. */
  device: string;
  /** mount(8)'s -o, comma-separated ("" for none). */
  options: string;
  /** A bind of a host directory (type=none with o=bind). */
  bind: boolean;
}

const KEYS = new Set(['type', 'device', 'o']);
const TMPFS_SIZE = /^\d+[kKmMgG%]?$/;

/**
 * Checks the options of a local volume and returns how it is mounted, or
 * undefined for a plain directory (no options). Throws InvalidArgument naming
 * the bad option and what to give instead.
 */
export function parseLocalOptions(opts: Record<string, string>): LocalMountPlan | undefined {
  for (const key of Object.keys(opts)) {
    if (key === 'size') {
      throw invalidArgument('invalid option "size": this host has no quota support for local volumes; for a size-limited volume use -o type=tmpfs -o device=tmpfs -o o=size=64m');
    }
    if (!KEYS.has(key)) throw invalidArgument(`invalid option "${key}" for the local volume driver; use type, device and o (e.g. -o type=tmpfs -o device=tmpfs -o o=size=64m)`);
  }
  const type = opts.type ?? '';
  const device = opts.device ?? '';
  const o = opts.o ?? '';
  if (type === '' && device === '' && o === '') {
    if (Object.keys(opts).length > 0) throw invalidArgument('the local volume options are empty; give type, device and o, or no options at all');
    return undefined;
  }
  if (type === '') throw invalidArgument('missing required option "type" for the local volume driver (e.g. -o type=tmpfs or -o type=none with -o o=bind)');
  if (device === '') throw invalidArgument(`missing required option "device" for a local volume of type ${type} (e.g. -o device=${type === 'tmpfs' ? 'tmpfs' : '/path'})`);
  const items = o === '' ? [] : o.split(',');
  if (items.some((i) => i.trim() === '')) throw invalidArgument(`invalid option o=${o}: it has an empty item; separate mount options with single commas`);
  const bind = items.includes('bind') || items.includes('rbind');
  if (type === 'none' && !bind) throw invalidArgument('a local volume of type none must be a bind: add -o o=bind and -o device=/host/path');
  if (bind && !isAbsolute(device)) throw invalidArgument(`invalid device "${device}" for a bind volume; give an absolute host path`);
  if (type === 'tmpfs') {
    for (const item of items) {
      const [k = '', v = ''] = item.split('=', 2);
      if (k === 'size' && !TMPFS_SIZE.test(v)) throw invalidArgument(`invalid tmpfs size "${v}"; use bytes with an optional k, m, g or % suffix, e.g. size=64m`);
      if ((k === 'uid' || k === 'gid') && !/^\d+$/.test(v)) throw invalidArgument(`invalid tmpfs ${k} "${v}"; use a numeric id, e.g. ${k}=1000`);
      if (k === 'mode' && !/^[0-7]{1,4}$/.test(v)) throw invalidArgument(`invalid tmpfs mode "${v}"; use an octal mode, e.g. mode=1777`);
    }
  }
  return { type, device, options: o, bind };
}
