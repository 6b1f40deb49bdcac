/** The script the killed writer runs: batches of up to 20 entries of up to 3 KB (a batch often
 * spans LevelDB's 32 KiB log blocks, so a kill can cut it between fragments). */
import type { GenOptions } from './log-model.ts';

export const KILL9_SCRIPT: GenOptions = { maxData: 3000, maxEntries: 20 };
