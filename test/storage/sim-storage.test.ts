/**
 * SimStorage (test/sim/sim-storage.ts: the production log code over the simulated disk) against
 * the storage conformance suite, with crashes that lose what was not synced and tear the first
 * write lost.
 */
import { SimDisk, SimStorage } from '../sim/sim-storage.ts';
import { storageConformance } from './conformance.ts';
import { mulberry32 } from './log-model.ts';

let seed = 1;

storageConformance({
  name: 'SimStorage',
  async create(options) {
    const disk = new SimDisk({ random: mulberry32(seed++) });
    return {
      losesUnsynced: true,
      open: () => SimStorage.open(disk, options),
      crash: async (_storage, how) => disk.crash({ unsynced: how?.lose ? 'lose' : 'prefix', torn: how?.torn }),
      destroy: async () => {},
    };
  },
});
