/**
 * A writer to be killed: opens a storage (the engine named: level or file) in a directory and
 * runs the operations of a deterministic script (log-model.ts) from a given step on, printing
 * the step number after each one returns (so every number printed is a write that was synced).
 * kill9.ts SIGKILLs it at random moments.
 *
 * Usage: node --import tsx test/storage/append-child.ts <level|file> <dir> <seed> <count> <from>
 */
import { openKill9Storage, type Kill9Engine } from './kill9-engines.ts';
import { runOp, script } from './log-model.ts';
import { KILL9_SCRIPT } from './kill9-script.ts';

const [engine, dir, seed, count, from] = process.argv.slice(2);
const { ops } = script(Number(seed), Number(count), KILL9_SCRIPT);
const storage = await openKill9Storage(engine as Kill9Engine, dir!);
await storage.load();
process.stdout.write('ready\n');
for (let i = Number(from); i < ops.length; i++) {
  await runOp(storage, ops[i]!);
  process.stdout.write(`${i + 1}\n`);
}
await storage.close();
process.stdout.write('done\n');
