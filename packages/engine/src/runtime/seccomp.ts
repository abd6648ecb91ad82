// Seccomp: Docker's default profile (expressed here as data in Docker's
// profile shape) and the compiler from that shape to the OCI `linux.seccomp`
// object runc reads. A user-given `--security-opt seccomp=profile.json` goes
// through the same compiler, so both follow the same include/exclude rules.
import { release } from 'node:os';
import { invalidArgument } from '@shoal/api';
import type { OciSeccomp, OciSeccompAction, OciSeccompArg, OciSyscall } from './oci.js';

/** An include/exclude filter of Docker's profile format. */
export interface DockerSeccompFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface DockerSeccompSyscall {
  name?: string;
  names?: string[];
  action: OciSeccompAction;
  errnoRet?: number;
  args?: OciSeccompArg[] | null;
  comment?: string;
  includes?: DockerSeccompFilter;
  excludes?: DockerSeccompFilter;
}

/** A seccomp profile in Docker's JSON format (what `seccomp=/path.json` reads). */
export interface DockerSeccompProfile {
  defaultAction: OciSeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  syscalls?: DockerSeccompSyscall[];
  flags?: string[];
}

const EPERM = 1;
const ENOSYS = 38;
const AF_VSOCK = 40;
// CLONE_NEWNS | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWCGROUP: a
// clone that creates any namespace needs CAP_SYS_ADMIN.
const CLONE_NS_FLAGS = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000;

// The syscalls any container may make. Taken from Docker's default profile;
// io_uring_* are left out as Docker 25+ does (they bypass seccomp filtering).
const ALLOWED = `accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr
flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid
getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid
getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl
io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc
kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap
mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal
pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2
prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink
readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename
renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send
sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid
setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area
set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd
signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx symlink
symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask
uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write
writev`
  .split(/\s+/)
  .filter(Boolean);

const words = (s: string): string[] => s.split(' ');
const allow = (names: string, includes?: DockerSeccompFilter, excludes?: DockerSeccompFilter): DockerSeccompSyscall => ({
  names: words(names),
  action: 'SCMP_ACT_ALLOW',
  ...(includes ? { includes } : {}),
  ...(excludes ? { excludes } : {}),
});
const withCap = (cap: string, names: string): DockerSeccompSyscall => allow(names, { caps: [cap] });

/** Docker's default seccomp profile, in Docker's profile format. */
export const DEFAULT_SECCOMP_PROFILE: DockerSeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: EPERM,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    { architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] },
    { architecture: 'SCMP_ARCH_RISCV64', subArchitectures: [] },
  ],
  syscalls: [
    { names: ALLOWED, action: 'SCMP_ACT_ALLOW' },
    allow('process_vm_readv process_vm_writev ptrace', { minKernel: '4.8' }),
    // Sockets of every family but vsock, which reaches the host.
    { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] },
    // personality() only with the harmless personas (PER_LINUX, UNAME26, PER_LINUX32, query).
    ...[0x0, 0x0008, 0x20000, 0x20008, 0xffffffff].map(
      (value): DockerSeccompSyscall => ({
        names: ['personality'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }],
      }),
    ),
    allow('sync_file_range2 swapcontext', { arches: ['ppc64le'] }),
    allow('arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls', { arches: ['arm', 'arm64'] }),
    allow('arch_prctl', { arches: ['amd64', 'x32'] }),
    allow('modify_ldt', { arches: ['amd64', 'x32', 'x86'] }),
    allow('s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr', { arches: ['s390', 's390x'] }),
    allow('riscv_flush_icache', { arches: ['riscv64'] }),
    withCap('CAP_DAC_READ_SEARCH', 'open_by_handle_at'),
    withCap(
      'CAP_SYS_ADMIN',
      'bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare',
    ),
    {
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: CLONE_NS_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] },
    },
    {
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      comment: 's390 orders the clone arguments differently',
      args: [{ index: 1, value: CLONE_NS_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      includes: { arches: ['s390', 's390x'] },
      excludes: { caps: ['CAP_SYS_ADMIN'] },
    },
    // clone3 cannot be filtered by flags (they sit in memory): ENOSYS makes
    // libc fall back to clone, which can.
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    withCap('CAP_SYS_BOOT', 'reboot'),
    withCap('CAP_SYS_CHROOT', 'chroot'),
    withCap('CAP_SYS_MODULE', 'delete_module init_module finit_module'),
    withCap('CAP_SYS_PACCT', 'acct'),
    withCap('CAP_SYS_PTRACE', 'kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace'),
    withCap('CAP_SYS_RAWIO', 'iopl ioperm'),
    withCap('CAP_SYS_TIME', 'settimeofday stime clock_settime clock_settime64'),
    withCap('CAP_SYS_TTY_CONFIG', 'vhangup'),
    withCap('CAP_SYS_NICE', 'get_mempolicy mbind set_mempolicy set_mempolicy_home_node'),
    withCap('CAP_SYSLOG', 'syslog'),
    withCap('CAP_BPF', 'bpf'),
    withCap('CAP_PERFMON', 'perf_event_open'),
  ],
};

/** Go's name for this machine's architecture, which profile filters use. */
function goArch(): string {
  switch (process.arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return 'x86';
    default:
      return process.arch; // arm64, arm, s390x, riscv64, ppc64 ...
  }
}

const NATIVE_SCMP_ARCH: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64',
  x86: 'SCMP_ARCH_X86',
  arm64: 'SCMP_ARCH_AARCH64',
  arm: 'SCMP_ARCH_ARM',
  s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
  ppc64: 'SCMP_ARCH_PPC64LE',
};

function kernelAtLeast(min: string): boolean {
  const parse = (v: string): number[] => v.split(/[.-]/).slice(0, 2).map((p) => Number.parseInt(p, 10) || 0);
  const [kMaj = 0, kMin = 0] = parse(release());
  const [mMaj = 0, mMin = 0] = parse(min);
  return kMaj > mMaj || (kMaj === mMaj && kMin >= mMin);
}

export interface SeccompCompileOptions {
  /** The container's bounding capabilities: syscalls gated on a capability follow it. */
  capabilities: readonly string[];
  /** Go architecture name; defaults to this machine's. */
  arch?: string;
}

/**
 * Compiles a Docker-format profile into the OCI object for this machine's
 * architecture and the container's capabilities.
 * Throws InvalidArgument when an entry sets both `name` and `names` or neither.
 */
export function compileSeccomp(profile: DockerSeccompProfile, options: SeccompCompileOptions): OciSeccomp {
  const arch = options.arch ?? goArch();
  const caps = new Set(options.capabilities);
  const out: OciSeccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  if (profile.architectures && profile.architectures.length > 0) {
    out.architectures = [...profile.architectures];
  } else if (profile.archMap) {
    const native = NATIVE_SCMP_ARCH[arch];
    const entry = profile.archMap.find((a) => a.architecture === native);
    if (entry) out.architectures = [entry.architecture, ...(entry.subArchitectures ?? [])];
  }
  if (profile.flags && profile.flags.length > 0) out.flags = [...profile.flags];

  const syscalls: OciSyscall[] = [];
  for (const call of profile.syscalls ?? []) {
    if (call.name !== undefined && call.names !== undefined && call.names.length > 0) {
      throw invalidArgument(`invalid seccomp profile: an entry sets both "name" (${call.name}) and "names"; use one.`);
    }
    const names = call.names && call.names.length > 0 ? call.names : call.name ? [call.name] : [];
    if (names.length === 0) throw invalidArgument('invalid seccomp profile: an entry names no syscall; set "names".');
    const ex = call.excludes;
    if (ex?.arches?.includes(arch)) continue;
    if (ex?.caps?.some((c) => caps.has(c))) continue;
    if (ex?.minKernel && kernelAtLeast(ex.minKernel)) continue;
    const inc = call.includes;
    if (inc?.arches && inc.arches.length > 0 && !inc.arches.includes(arch)) continue;
    if (inc?.caps && inc.caps.length > 0 && !inc.caps.every((c) => caps.has(c))) continue;
    if (inc?.minKernel && !kernelAtLeast(inc.minKernel)) continue;
    const sc: OciSyscall = { names: [...names], action: call.action };
    if (call.errnoRet !== undefined) sc.errnoRet = call.errnoRet;
    if (call.args && call.args.length > 0) sc.args = call.args.map((a) => ({ ...a }));
    syscalls.push(sc);
  }
  out.syscalls = syscalls;
  return out;
}

/** Docker's default profile compiled for this machine and the given capabilities. */
export function defaultSeccomp(capabilities: readonly string[]): OciSeccomp {
  return compileSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities });
}

/**
 * Parses the text of a Docker-format profile file and compiles it.
 * Throws InvalidArgument when the text is not JSON or not a profile.
 */
export function seccompFromDockerJson(text: string, capabilities: readonly string[]): OciSeccomp {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`invalid seccomp profile: it is not valid JSON (${(err as Error).message}).`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { defaultAction?: unknown }).defaultAction !== 'string') {
    throw invalidArgument('invalid seccomp profile: it has no "defaultAction"; pass a Docker-format seccomp profile.');
  }
  return compileSeccomp(parsed as DockerSeccompProfile, { capabilities });
}
