// runc in foreground mode with `terminal: true` needs its own stdio to be a
// terminal (it copies between that and the container's pty). Node cannot make
// a pty, and cannot receive a pty master over runc's --console-socket
// (SCM_RIGHTS), so we run runc under util-linux `script`, which allocates a
// pty, proxies our pipes through it and exits with runc's status (-e).

/** Quotes one argument for /bin/sh. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The command line that runs `argv` with a pty as its stdio: spawn(file, args). */
export function ptyCommand(argv: readonly string[]): { file: string; args: string[] } {
  return { file: 'script', args: ['-q', '-e', '-c', argv.map(shellQuote).join(' '), '/dev/null'] };
}
