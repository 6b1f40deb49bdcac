/**
 * LevelStorage (real LevelDB in a temp directory) against the storage conformance suite. In
 * process a write cannot be cut off half way, so a "crash" here is a close after the last write
 * returned (everything is synced): the child-process test (level-kill9.test.ts) kills a writer
 * for real.
 */
import { LevelStorage } from '../../server/storage/level-storage.ts';
import { removeDir, tempDir } from '../helpers/server.ts';
import { storageConformance } from './conformance.ts';

storageConformance({
  name: 'LevelStorage',
  async create(options) {
    const dir = tempDir('coord-storage-');
    return {
      losesUnsynced: false,
      // A small reserve: the 8 MiB default would be written at every open.
      open: () => LevelStorage.open(dir, { ...options, reserveBytes: 4096, headroomBytes: 0 }),
      crash: (storage) => storage.close(),
      destroy: async () => removeDir(dir),
    };
  },
});
