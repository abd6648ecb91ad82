// The swarm bench runs its shoalds exactly as the swarm e2e tests do: with
// test/e2e/swarm-harness.ts (one host per node on a lab LAN), loaded from
// test/dist at run time for the reason given in e2e-harness.ts (a static
// relative import cannot point at both the sources and their output). The types
// come from the sources; bench/tsconfig.json references the test project, so
// `tsc -b` builds it first.
import type * as SwarmHarnessModule from '../../test/e2e/swarm-harness.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from './paths.js';

export type { Swarm, SwarmNode, SwarmOptions } from '../../test/e2e/swarm-harness.js';

let swarmHarness: Promise<typeof SwarmHarnessModule> | undefined;

/** test/e2e/swarm-harness.ts as compiled. Throws when the test project is not built. */
export function loadSwarmHarness(): Promise<typeof SwarmHarnessModule> {
  swarmHarness ??= (async () => {
    const path = join(REPO, 'test/dist/e2e/swarm-harness.js');
    if (!existsSync(path)) throw new Error(`${path} is missing: build the test project first with \`npx tsc -b\`.`);
    return (await import(pathToFileURL(path).href)) as typeof SwarmHarnessModule;
  })();
  return swarmHarness;
}
