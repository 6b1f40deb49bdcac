/**
 * FileStorage (the log's own files in a temp directory) against the storage conformance suite,
 * twice: with the default file size, and with files of 4 KiB allocated 1 KiB at a time, so that
 * the suite's appends, truncations and compactions turn over many files (meta records carried
 * into each new one, old files deleted oldest first). In process a write cannot be cut off half
 * way: file-kill9.test.ts kills a writer for real, file-kv.test.ts damages files by hand.
 */
import { FileStorage } from '../../server/storage/file-storage.ts';
import { removeDir, tempDir } from '../helpers/server.ts';
import { storageConformance } from './conformance.ts';

for (const [name, files] of [['FileStorage', {}], ['FileStorage (4 KiB files)', { fileBytes: 4096, extendBytes: 1024 }]] as const) {
  storageConformance({
    name,
    async create(options) {
      const dir = tempDir('coord-storage-');
      return {
        losesUnsynced: false,
        open: () => FileStorage.open(dir, { ...options, ...files, reserveBytes: 4096, headroomBytes: 0 }),
        crash: (storage) => storage.close(),
        destroy: async () => removeDir(dir),
      };
    },
  });
}
