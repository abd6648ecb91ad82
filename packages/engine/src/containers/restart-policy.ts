import { invalidArgument, type RestartPolicy__Output } from '@shoal/api';

export type RestartPolicyName = 'no' | 'always' | 'on-failure' | 'unless-stopped';

/** Normalises and validates a restart policy. Throws InvalidArgument with docker's wording. */
export function validateRestartPolicy(p: RestartPolicy__Output | null | undefined, autoRemove: boolean): RestartPolicy__Output {
  const name = p?.name === '' || p?.name === undefined ? 'no' : p.name;
  const max = p?.maximum_retry_count ?? 0;
  if (!['no', 'always', 'on-failure', 'unless-stopped'].includes(name)) {
    throw invalidArgument(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure' or 'unless-stopped'`);
  }
  if (max < 0) throw invalidArgument('invalid restart policy: maximum retry count cannot be negative');
  if (max > 0 && name !== 'on-failure') {
    throw invalidArgument(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
  if (autoRemove && name !== 'no') {
    throw invalidArgument('conflicting options: cannot combine --restart and --rm; remove one of them');
  }
  return { name, maximum_retry_count: max };
}

export interface RestartDecisionInput {
  policy: RestartPolicy__Output;
  exitCode: number;
  restartCount: number;
  manuallyStopped: boolean;
  /** The daemon is starting up (always restarts even manually stopped containers, like docker). */
  daemonStartup?: boolean;
}

/** Whether the container should be started again after this exit (docker's restartmanager rules). */
export function shouldRestart(input: RestartDecisionInput): boolean {
  const { policy, exitCode, restartCount, manuallyStopped, daemonStartup } = input;
  switch (policy.name) {
    case 'always':
      return !manuallyStopped || daemonStartup === true;
    case 'unless-stopped':
      return !manuallyStopped;
    case 'on-failure':
      if (manuallyStopped || exitCode === 0) return false;
      return policy.maximum_retry_count === 0 || restartCount < policy.maximum_retry_count;
    default:
      return false;
  }
}

/**
 * docker's backoff: 100 ms doubling per consecutive restart, capped at one
 * minute, and reset when the container had run for at least 10 s.
 */
export function restartDelayMs(previousDelayMs: number, ranForMs: number): number {
  if (ranForMs >= 10_000 || previousDelayMs === 0) return 100;
  return Math.min(previousDelayMs * 2, 60_000);
}
