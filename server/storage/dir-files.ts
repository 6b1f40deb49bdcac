/** Snapshot files in the data directory (kv.ts's SnapshotFiles), for either log engine. */
import { open as openFile, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotFiles } from './kv.ts';

/** Snapshot files in the data directory. */
export class DirFiles implements SnapshotFiles {
  constructor(private readonly dir: string) {}

  path(name: string): string {
    return join(this.dir, name);
  }

  /** A temp file, fsync, rename, fsync of the directory. */
  async write(name: string, data: Uint8Array): Promise<void> {
    const path = this.path(name);
    const tmp = `${path}.tmp`;
    const handle = await openFile(tmp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } catch (err) {
      await handle.close();
      // A full disk is survived: give back what the half-written file took.
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await handle.close();
    await rename(tmp, path);
    const dir = await openFile(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  read(name: string): Promise<Uint8Array> {
    return readFile(this.path(name));
  }

  list(): Promise<string[]> {
    return readdir(this.dir);
  }

  remove(name: string): Promise<void> {
    return unlink(this.path(name));
  }
}
