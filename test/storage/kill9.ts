/**
 * A storage killed for real (the engine given: LevelDB or the log's own files): a child process (append-child.ts) runs a script of appends
 * (many overwriting a suffix), snapshots and compactions over one data directory and is
 * SIGKILLed at random moments, many times. After each kill the directory must load to exactly
 * the state after the last step the child reported done, or after the one it was running: never
 * a batch half there, never an acknowledged step lost. The next child goes on from there.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, repoRoot, tempDir } from '../helpers/server.ts';
import { openKill9Storage, type Kill9Engine } from './kill9-engines.ts';
import { KILL9_SCRIPT } from './kill9-script.ts';
import { actualLoad, expectedLoad, lastIndex, matchingState, mulberry32, script, shows } from './log-model.ts';

const KILLS = process.env.COORD_SOAK ? 40 : 8;
const SEED = 4242;
// Enough steps that no child runs out before it is killed (about 75 steps a round).
const COUNT = 400 + KILLS * 150;

interface Run {
  lines: string[];
  exited: Promise<void>;
  kill(): void;
}

function runChild(engine: Kill9Engine, dir: string, from: number): Run {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/storage/append-child.ts'), engine, dir, String(SEED), String(COUNT), String(from)], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((resolve) => proc.on('close', (code, signal) => {
    if (signal !== 'SIGKILL' && code !== 0) lines.push(`error: exit ${code}: ${err}`);
    resolve();
  }));
  return { lines, exited, kill: () => proc.kill('SIGKILL') };
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export function storageKill9(name: string, engine: Kill9Engine): void {
  describe(`${name} under SIGKILL`, () => {
    const dir = tempDir('coord-storage-kill9-');
    afterAll(() => removeDir(dir));

    it(`loads a state the script reached, and no less than it acknowledged, across ${KILLS} kills`, async () => {
      const { states } = script(SEED, COUNT, KILL9_SCRIPT);
      const random = mulberry32(SEED);
      let from = 0;
      let inFlightHits = 0;
      for (let round = 0; round < KILLS; round++) {
        const child = runChild(engine, dir, from);
        await until(() => child.lines.some((l) => l !== 'ready') || child.lines.some((l) => l.startsWith('error')), 'the first step');
        await new Promise((r) => setTimeout(r, Math.floor(random() * 150)));
        child.kill();
        await child.exited;
        expect(child.lines.filter((l) => l.startsWith('error'))).toEqual([]);
        const done = child.lines.filter((l) => /^\d+$/.test(l)).map(Number);
        const acked = done.length > 0 ? done[done.length - 1]! : from;
        expect(acked).toBeLessThan(COUNT);

        const storage = await openKill9Storage(engine, dir);
        try {
          const loaded = await storage.load();
          const candidates = states.slice(acked, acked + 2);
          const k = matchingState(loaded, storage.firstIndex(), candidates);
          if (k < 0) expect(actualLoad(loaded), `round ${round}: acknowledged ${acked}`).toEqual(expectedLoad(states[acked]!));
          const state = candidates[k]!;
          expect(storage.lastIndex()).toBe(lastIndex(state));
          expect(shows(await storage.entries(storage.firstIndex(), storage.lastIndex() + 1))).toEqual(shows(state.entries));
          if (k === 1) inFlightHits++;
          from = acked + k;
        } finally {
          await storage.close();
        }
      }
      expect(from).toBeGreaterThan(KILLS);
      if (process.env.COORD_DEBUG) console.log(`${KILLS} kills, ${inFlightHits} with the step in flight landed, reached step ${from}`);
    }, 120_000);
  });
}
