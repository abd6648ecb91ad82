// Resolves `-u user[:group]` against the container's own /etc/passwd and
// /etc/group, as Docker does. The rootfs is untrusted, so both files are read
// through secureJoin (links evaluated inside the root).
import { invalidArgument } from '@shoal/api';
import { readFileInRoot } from './secure-join.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;
const isNumeric = (s: string): boolean => /^\d+$/.test(s);

function parsePasswd(text: string | undefined): PasswdEntry[] {
  if (!text) return [];
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const f = t.split(':');
    if (f.length < 4) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0] ?? '', uid, gid, home: f[5] ?? '' });
  }
  return out;
}

function parseGroup(text: string | undefined): GroupEntry[] {
  if (!text) return [];
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const f = t.split(':');
    if (f.length < 3) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    const members = (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean);
    out.push({ name: f[0] ?? '', gid, members });
  }
  return out;
}

function checkId(text: string, what: string): number {
  const n = Number(text);
  if (n > MAX_ID) throw invalidArgument(`${what} ${text} is out of range; use an id up to ${MAX_ID}.`);
  return n;
}

/**
 * Resolves a docker `--user` value ("", "name", "uid", "name:group", "uid:gid")
 * against the container root. Numeric ids absent from the files are allowed;
 * unknown names are not.
 * Throws InvalidArgument for an unknown user or group name or an out-of-range id.
 */
export async function resolveUser(rootfs: string, spec: string): Promise<ResolvedUser> {
  const [userPart = '', groupPart, ...rest] = spec.split(':');
  if (rest.length > 0) throw invalidArgument(`invalid user '${spec}'; use user[:group], e.g. 1000:1000 or nobody.`);
  const passwd = parsePasswd(await readFileInRoot(rootfs, '/etc/passwd'));
  const result: ResolvedUser = { uid: 0, gid: 0, additionalGids: [], home: '/' };
  let matched: PasswdEntry | undefined;
  const u = userPart.trim();
  if (u === '') {
    matched = passwd.find((e) => e.uid === 0);
  } else if (isNumeric(u)) {
    result.uid = checkId(u, 'user id');
    matched = passwd.find((e) => e.uid === result.uid);
  } else {
    matched = passwd.find((e) => e.name === u);
    if (!matched) throw invalidArgument(`unable to find user ${u}: no matching entries in passwd file.`);
  }
  if (matched) {
    result.uid = matched.uid;
    result.gid = matched.gid;
    if (matched.home) result.home = matched.home;
  }

  const g = groupPart?.trim();
  if (g !== undefined && g !== '') {
    if (isNumeric(g)) {
      result.gid = checkId(g, 'group id');
    } else {
      const groups = parseGroup(await readFileInRoot(rootfs, '/etc/group'));
      const grp = groups.find((e) => e.name === g);
      if (!grp) throw invalidArgument(`unable to find group ${g}: no matching entries in group file.`);
      result.gid = grp.gid;
    }
  } else if (matched) {
    // No explicit group: the user's supplementary groups come along, as with login.
    const groups = parseGroup(await readFileInRoot(rootfs, '/etc/group'));
    const name = matched.name;
    const gids = new Set(groups.filter((e) => e.members.includes(name)).map((e) => e.gid));
    result.additionalGids = [...gids].sort((a, b) => a - b);
  }
  return result;
}
