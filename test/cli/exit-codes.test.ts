// Method: `coord lock ... -- sh -c 'kill -SIG $$'` as real child processes against a real
// in-process server: a command killed by a signal makes coord exit with the shell's 128 + N,
// for every signal, not only the common ones. Also checks the stdio and environment a command
// gets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { constants } from 'node:os';
import { coord, killAllCli } from '../helpers/cli-run.ts';
import { RecipeEnv } from '../helpers/recipe-env.ts';

let env: RecipeEnv;

beforeAll(async () => {
  env = await RecipeEnv.start();
});

afterAll(async () => {
  await killAllCli();
  await env.stop();
});

describe('coord lock: exit codes and environment', () => {
  it('exits 128 + N when a signal kills CMD: SIGQUIT 131, SIGSEGV 139, SIGUSR1 128 + its number', async () => {
    const run = (sig: string) => coord(['lock', `/ec/${sig}`, '--', 'sh', '-c', `kill -${sig} $$`], { url: env.url });
    const [quit, segv, usr1] = await Promise.all([run('QUIT'), run('SEGV'), run('USR1')]);
    expect(quit.code).toBe(131);
    expect(segv.code).toBe(139);
    expect(usr1.code).toBe(128 + constants.signals.SIGUSR1);
  });

  it('passes stdin, stdout and stderr through to CMD (it runs under a supervisor)', async () => {
    const r = await coord(['lock', '/ec/stdio', '--', 'sh', '-c', 'tr a-z A-Z; echo to-stderr >&2; exit 3'], { url: env.url, input: 'piped in\n' });
    expect(r).toEqual({ code: 3, signal: null, stdout: 'PIPED IN\n', stderr: 'to-stderr\n' });
  });

  it('gives CMD COORD_LOCK_KEY, the file that holds the lock, at the rev COORD_LOCK_TOKEN', async () => {
    const admin = await env.client();
    const r = await coord(['lock', '/ec/key', '--', 'sh', '-c', 'echo "$COORD_LOCK_KEY $COORD_LOCK_TOKEN"'], { url: env.url });
    expect(r.code).toBe(0);
    const [key, token] = r.stdout.trim().split(' ');
    expect(key).toMatch(/^\/ec\/key\/.+/);
    const held = await admin.get(key!, { rev: Number(token) });
    expect(held.rev).toBe(Number(token));
  });
});
