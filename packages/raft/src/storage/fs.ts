// The thin file-system seam the WAL and snapshot store write through. Tests wrap
// it to count fdatasync calls or to "crash" (throw) at a chosen step.
import { open, readdir, readFile, rename, mkdir, unlink, rm, type FileHandle } from 'node:fs/promises';

export type { FileHandle };

export interface StorageFs {
  /** Opens for reading and writing; `create` fails if the file exists. */
  open(path: string, mode: 'create' | 'existing'): Promise<FileHandle>;
  /** Writes all of `data` at `position`. */
  write(fh: FileHandle, data: Uint8Array, position: number): Promise<void>;
  /** fdatasync(2): the data and the metadata needed to read it back. */
  datasync(fh: FileHandle): Promise<void>;
  /** fsync(2). */
  fsync(fh: FileHandle): Promise<void>;
  truncate(fh: FileHandle, length: number): Promise<void>;
  close(fh: FileHandle): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  /** Names in `dir`; [] when it does not exist. */
  readdir(dir: string): Promise<string[]>;
  mkdir(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Removes a directory tree; nothing when it does not exist. */
  rmdir(dir: string): Promise<void>;
  /** fsyncs a directory, making creates, renames and unlinks in it durable. */
  syncDir(dir: string): Promise<void>;
}

/** The real file system (node:fs/promises). */
export const nodeStorageFs: StorageFs = {
  open: (path, mode) => open(path, mode === 'create' ? 'wx+' : 'r+', 0o600),
  async write(fh, data, position) {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  },
  datasync: (fh) => fh.datasync(),
  fsync: (fh) => fh.sync(),
  truncate: (fh, length) => fh.truncate(length),
  close: (fh) => fh.close(),
  readFile: (path) => readFile(path),
  async readdir(dir) {
    try {
      return await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  },
  async mkdir(dir) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  },
  rename: (from, to) => rename(from, to),
  unlink: (path) => unlink(path),
  rmdir: (dir) => rm(dir, { recursive: true, force: true }),
  async syncDir(dir) {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};
