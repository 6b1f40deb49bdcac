/**
 * A small real disk for full-disk tests: a tmpfs of a given size mounted on a temp directory
 * (tests run as root, here and in CI), and a filler file to take its space on cue. A tmpfs
 * holds every byte written to it (no compression, no sparse blocks for written data), so what
 * statfs reports free is what the next write can use.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TmpfsDisk {
  /** The mount point. */
  dir: string;
  freeBytes(): number;
  /**
   * Writes a filler file (`name` in the mount) until at most `leaveBytes` are free: 0 fills
   * the disk to the last block. Returns the filler's size.
   */
  fill(name: string, leaveBytes: number): number;
  /** Deletes a filler file. */
  free(name: string): void;
  unmount(): void;
}

/** Mounts a tmpfs of `sizeMiB`; returns why not (not root, no mount) instead of throwing. */
export function mountTmpfs(sizeMiB: number): TmpfsDisk | { error: string } {
  const dir = mkdtempSync(join(tmpdir(), 'coord-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmdirSync(dir);
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return { error: stderr || (err as Error).message };
  }
  const freeBytes = () => {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    freeBytes,
    fill(name, leaveBytes) {
      const fd = openSync(join(dir, name), 'a');
      const chunk = Buffer.alloc(64 * 1024, 0x46);
      let written = 0;
      try {
        for (;;) {
          const room = freeBytes() - leaveBytes;
          if (room <= 0) break;
          try {
            written += writeSync(fd, chunk, 0, Math.min(chunk.byteLength, room));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw err;
          }
        }
      } finally {
        closeSync(fd);
      }
      return written;
    },
    free(name) {
      rmSync(join(dir, name), { force: true });
    },
    unmount() {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } catch {
        // Something still holds a file open (a server that did not stop): detach it anyway.
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      }
      rmdirSync(dir);
    },
  };
}
