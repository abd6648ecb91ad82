// Where the bench finds the checkout's binaries and images (compiled to bench/dist/lib/).
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const SHOAL_BIN = join(REPO, 'bin/shoal');
export const BUSYBOX_TAR = join(REPO, 'build/images/busybox.tar');
