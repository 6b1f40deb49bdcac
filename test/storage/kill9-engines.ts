/** The storages the SIGKILL test runs (kill9.ts), opened the same way by the test and its child. */
import { FileStorage } from '../../server/storage/file-storage.ts';
import { LevelStorage } from '../../server/storage/level-storage.ts';
import type { RaftStorage } from '../../server/storage/raft-storage.ts';

export type Kill9Engine = 'level' | 'file';

export function openKill9Storage(engine: Kill9Engine, dir: string): Promise<RaftStorage & { close(): Promise<void> }> {
  const reserve = { reserveBytes: 4096, headroomBytes: 0 };
  // Small files, so that the kills land during file turnovers and deletions too.
  return engine === 'level' ? LevelStorage.open(dir, reserve) : FileStorage.open(dir, { ...reserve, fileBytes: 16 * 1024, extendBytes: 4096 });
}
