// The bench runs its shoald and its throw-away dockerd exactly as the e2e tests
// do: with the test project's harness (test/e2e/harness.ts) and Docker runner
// (test/e2e/docker/dockerd.ts, a thin wrapper of scripts/dockerd-netns.sh).
//
// They are loaded from test/dist at run time because a static relative import
// cannot point at both places: the sources sit one level above their output
// (bench/lib → bench/dist/lib, test/e2e → test/dist/e2e). The types still come
// from the sources, and bench/tsconfig.json references the test project so that
// `tsc -b` builds it first.
import type * as HarnessModule from '../../test/e2e/harness.js';
import type * as DockerdModule from '../../test/e2e/docker/dockerd.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from './paths.js';

export type { Daemon } from '../../test/e2e/harness.js';
export type { Dockerd } from '../../test/e2e/docker/dockerd.js';

const TEST_DIST = join(REPO, 'test/dist/e2e');

let harness: Promise<typeof HarnessModule> | undefined;
let dockerd: Promise<typeof DockerdModule> | undefined;

/** test/e2e/harness.ts as compiled. Throws when the test project is not built. */
export function loadHarness(): Promise<typeof HarnessModule> {
  harness ??= load<typeof HarnessModule>('harness.js');
  return harness;
}

/** test/e2e/docker/dockerd.ts as compiled. Throws when the test project is not built. */
export function loadDockerd(): Promise<typeof DockerdModule> {
  dockerd ??= load<typeof DockerdModule>('docker/dockerd.js');
  return dockerd;
}

async function load<T>(file: string): Promise<T> {
  const path = join(TEST_DIST, file);
  if (!existsSync(path)) throw new Error(`${path} is missing: build the test project first with \`npx tsc -b\`.`);
  return (await import(pathToFileURL(path).href)) as T;
}
