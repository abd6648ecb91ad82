import { fileURLToPath } from 'node:url';

/**
 * Where the shared linearizability histories live: $SHOAL_TESTDATA, else ../shared/testdata beside
 * the repository (from dist/lincheck/ that is five levels up, then shared/testdata).
 */
export function testdataDir(): string {
  return process.env['SHOAL_TESTDATA'] ?? fileURLToPath(new URL('../../../../../shared/testdata/', import.meta.url));
}
