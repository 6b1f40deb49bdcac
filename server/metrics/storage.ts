/**
 * Timing of storage appends for /metrics, without the driver or storage knowing: the append
 * method of the storage instance the node is given is wrapped, once, before the node starts.
 * Everything else on the storage (and the object itself) stays as it was.
 */
import type { RaftStorage } from '../storage/raft-storage.ts';

export interface StorageObserver {
  /** One append finished: how many entries it held, whether it was synced, how long it took. */
  appended(entries: number, sync: boolean, seconds: number): void;
}

export function observeAppends(storage: RaftStorage, observer: StorageObserver): void {
  const append = storage.append.bind(storage);
  storage.append = async (entries, hardState, sync) => {
    const started = performance.now();
    await append(entries, hardState, sync);
    observer.appended(entries.length, sync, (performance.now() - started) / 1000);
  };
}
