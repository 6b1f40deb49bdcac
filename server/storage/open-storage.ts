/**
 * Opens a data directory with the engine that holds it: LevelDB for a directory LevelDB wrote
 * (it has LevelDB's CURRENT file; coord before the log's own files), the log's own files
 * (file-kv.ts) for everything else, new directories included. Both keep the same records with
 * the same checks (log-storage.ts), so everything above this line is the same for either.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DiskReserveOptions } from './disk-reserve.ts';
import { FileStorage } from './file-storage.ts';
import { LevelStorage } from './level-storage.ts';
import type { LogStorageOptions } from './log-storage.ts';

export function openDataDir(dir: string, options: DiskReserveOptions & LogStorageOptions = {}): Promise<FileStorage | LevelStorage> {
  return existsSync(join(dir, 'CURRENT')) ? LevelStorage.open(dir, options) : FileStorage.open(dir, options);
}
