// Starts the repository's test volume plugin (test/fixtures/volume-plugin)
// for unit tests. Not a test file itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to packages/engine/dist/volumes: the repository is four levels up.
export const TEST_PLUGIN = fileURLToPath(new URL('../../../../test/fixtures/volume-plugin/plugin.mjs', import.meta.url));

export interface TestPlugin {
  /** The plugins directory holding `<name>.sock`. */
  pluginsDir: string;
  /** Where the plugin keeps its volumes (`<dataDir>/volumes/<name>`) and calls.log. */
  dataDir: string;
  calls(): Promise<{ method: string; body: Record<string, unknown> }[]>;
  stop(): Promise<void>;
}

/** Starts the plugin as `name` and waits for its socket. Throws when it does not come up in 10 s. */
export async function startTestPlugin(name: string): Promise<TestPlugin> {
  const base = await mkdtemp(join(tmpdir(), 'shoal-plugin-'));
  const pluginsDir = join(base, 'plugins');
  const dataDir = join(base, 'data');
  const socket = join(pluginsDir, `${name}.sock`);
  const child: ChildProcess = spawn(process.execPath, [TEST_PLUGIN, '--socket', socket, '--dir', dataDir], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!(await stat(socket).catch(() => undefined))?.isSocket()) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the test plugin did not start (exit ${child.exitCode})`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    pluginsDir,
    dataDir,
    async calls() {
      const text = await readFile(join(dataDir, 'calls.log'), 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { method: string; body: Record<string, unknown> });
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(base, { recursive: true, force: true });
    },
  };
}
