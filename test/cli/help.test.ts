// Method: runs the real binary's `--help` for the program and for every command (child processes,
// in parallel; no server needed) and checks each prints its usage and at least one example that
// invokes that very command, exits 0, and writes nothing to stderr. The list of commands is read
// from the program's own help, so a new command without examples fails here.
import { describe, expect, it } from 'vitest';
import { coord } from '../helpers/cli-run.ts';

describe('coord --help', () => {
  it('lists every command, the exit codes and examples; each command\'s --help has examples of itself', async () => {
    const top = await coord(['--help']);
    expect(top).toMatchObject({ code: 0, stderr: '' });
    expect(top.stdout).toMatch(/^Usage: coord /);
    expect(top.stdout).toMatch(/Exit codes: 0 ok; 1 refused .*\n2 usage; 3 .*; 4 /);
    expect(top.stdout).toMatch(/Examples:\n {2}coord /);
    const commandList = top.stdout.split('Commands:')[1]!.split('\n\n')[0]!;
    const commands = [...commandList.matchAll(/^ {2}([a-z]+)\b/gm)]
      .map((m) => m[1]!)
      .filter((c) => c !== 'help');
    expect(commands).toEqual(['server', 'get', 'set', 'del', 'rev', 'stat', 'ls', 'walk', 'wait', 'watch', 'lock', 'claim', 'elect', 'leader', 'status', 'member', 'acl', 'snapshot', 'register', 'members']);

    const helps = await Promise.all(commands.map((c) => coord([c, '--help'])));
    commands.forEach((c, i) => {
      const h = helps[i]!;
      expect(h, c).toMatchObject({ code: 0, stderr: '' });
      expect(h.stdout, c).toMatch(new RegExp(`^Usage: coord ${c} `));
      const examples = h.stdout.split('Examples:')[1];
      expect(examples, `${c} --help has examples`).toBeDefined();
      expect(examples!, c).toMatch(new RegExp(`^ {2}(.*\\| )?coord ${c}\\b`, 'm'));
    });
  });
});
