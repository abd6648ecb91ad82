import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OverlaySnapshotter } from './overlay-snapshotter.js';
import { snapshotterSuite } from './testsuite.js';

snapshotterSuite('overlay', async () => {
  const root = await mkdtemp(join(tmpdir(), 'shoal-snap-'));
  const open = async (): Promise<OverlaySnapshotter> => {
    const s = new OverlaySnapshotter(root);
    await s.init();
    return s;
  };
  return {
    snapshotter: await open(),
    reopen: open,
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
