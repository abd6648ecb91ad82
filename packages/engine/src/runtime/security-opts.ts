import { readFile } from 'node:fs/promises';
import { invalidArgument } from '@shoal/api';

/** What `--security-opt` values mean for the spec. */
export interface SecurityOptions {
  noNewPrivileges: boolean;
  /** 'default', 'unconfined', or the text of a Docker-format profile. */
  seccomp: 'default' | 'unconfined' | { profileJson: string };
  /** `systempaths=unconfined`: no masked or read-only /proc and /sys paths. */
  unmaskSystemPaths: boolean;
  /** Options accepted but without effect here (apparmor, label), one sentence each. */
  warnings: string[];
}

export interface SecurityOptsOptions {
  /** Reads a seccomp profile given by path; defaults to the local file system. */
  readProfile?: (path: string) => Promise<string>;
}

const bool = (opt: string, v: string): boolean => {
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw invalidArgument(`invalid --security-opt '${opt}': expected true or false.`);
};

/**
 * Interprets docker `--security-opt` values: `no-new-privileges[:true|false]`,
 * `seccomp=unconfined|builtin|<path>|<json>`, `systempaths=unconfined`,
 * `apparmor=…` and `label=…` (accepted and ignored with a warning).
 * Both `key=value` and the legacy `key:value` forms are accepted.
 * Throws InvalidArgument for an unknown option or a profile that cannot be read.
 */
export async function parseSecurityOpts(opts: readonly string[], options: SecurityOptsOptions = {}): Promise<SecurityOptions> {
  const out: SecurityOptions = { noNewPrivileges: false, seccomp: 'default', unmaskSystemPaths: false, warnings: [] };
  for (const opt of opts) {
    const sep = /[=:]/.exec(opt);
    const key = (sep ? opt.slice(0, sep.index) : opt).trim();
    const value = sep ? opt.slice(sep.index + 1).trim() : '';
    switch (key) {
      case 'no-new-privileges':
        out.noNewPrivileges = bool(opt, value);
        break;
      case 'seccomp':
        if (value === 'unconfined') out.seccomp = 'unconfined';
        else if (value === 'builtin' || value === 'default' || value === '') out.seccomp = 'default';
        else if (value.startsWith('{')) out.seccomp = { profileJson: value };
        else {
          const read = options.readProfile ?? ((p: string) => readFile(p, 'utf8'));
          try {
            out.seccomp = { profileJson: await read(value) };
          } catch (err) {
            throw invalidArgument(`cannot read seccomp profile ${value}: ${(err as Error).message}; check the path.`, { cause: err });
          }
        }
        break;
      case 'systempaths':
        if (value !== 'unconfined') throw invalidArgument(`invalid --security-opt '${opt}': the only systempaths value is unconfined.`);
        out.unmaskSystemPaths = true;
        break;
      case 'apparmor':
        out.warnings.push(`--security-opt ${opt} is ignored: Shoal does not manage AppArmor profiles.`);
        break;
      case 'label':
        out.warnings.push(`--security-opt ${opt} is ignored: Shoal does not manage SELinux labels.`);
        break;
      default:
        throw invalidArgument(
          `invalid --security-opt '${opt}'; use no-new-privileges, seccomp=unconfined|<profile.json>, systempaths=unconfined, apparmor=… or label=….`,
        );
    }
  }
  return out;
}
