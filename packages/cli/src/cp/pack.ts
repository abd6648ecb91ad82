// Packs a local file or directory into a tar stream for `cp` into a container.
import { createReadStream, promises as fs } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import tar from 'tar-stream';

export interface PackOptions {
  /** The name the top entry gets in the archive. */
  name: string;
  /** Follow a symlink given as the source itself (cp -L). */
  followTop?: boolean;
  /** Pack only the directory's contents (a source ending in "/."). */
  contentsOnly?: boolean;
}

/** Packs `src` and returns the tar stream; errors surface on the stream. */
export function packPath(src: string, options: PackOptions): tar.Pack {
  const pack = tar.pack();
  const add = async (path: string, name: string, follow: boolean): Promise<void> => {
    const st = follow ? await fs.stat(path) : await fs.lstat(path);
    const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      if (name !== '') pack.entry({ ...base, type: 'directory' });
      for (const child of (await fs.readdir(path)).sort()) {
        await add(join(path, child), name === '' ? child : `${name}/${child}`, false);
      }
    } else if (st.isSymbolicLink()) {
      pack.entry({ ...base, type: 'symlink', linkname: await fs.readlink(path) });
    } else if (st.isFile()) {
      const entry = pack.entry({ ...base, type: 'file', size: st.size });
      await pipeline(createReadStream(path), entry);
    }
    // Sockets, devices and fifos are skipped, like docker cp.
  };
  add(src, options.contentsOnly ? '' : options.name, options.followTop ?? false).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err as Error),
  );
  return pack;
}
