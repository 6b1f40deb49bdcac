/**
 * A writer to be killed: opens a LevelStorage in a directory and runs the operations of a
 * deterministic script (log-model.ts) from a given step on, printing the step number after
 * each one returns (so every number printed is a write that was synced). level-kill9.test.ts
 * SIGKILLs it at random moments.
 *
 * Usage: node --import tsx test/storage/append-child.ts <dir> <seed> <count> <from>
 */
import { LevelStorage } from '../../server/storage/level-storage.ts';
import { runOp, script } from './log-model.ts';
import { KILL9_SCRIPT } from './kill9-script.ts';

const [dir, seed, count, from] = process.argv.slice(2);
const { ops } = script(Number(seed), Number(count), KILL9_SCRIPT);
const storage = await LevelStorage.open(dir!, { reserveBytes: 4096, headroomBytes: 0 });
await storage.load();
process.stdout.write('ready\n');
for (let i = Number(from); i < ops.length; i++) {
  await runOp(storage, ops[i]!);
  process.stdout.write(`${i + 1}\n`);
}
await storage.close();
process.stdout.write('done\n');
