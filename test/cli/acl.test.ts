// Method: the README's access-control walk-through, as real `coord` child processes against a
// real `coord server` child (so its log lines can be read): exit codes and output of each
// `coord acl` command, a user's token from COORD_TOKEN allowed under its prefix and refused
// elsewhere, and the server logging each refusal and each change with who made it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coord } from '../helpers/cli-run.ts';
import { removeDir, spawnServer, tempDir, type ChildServer } from '../helpers/server.ts';

let server: ChildServer;
const dataDir = tempDir('coord-cli-acl-');
/** The server's own token: access control needs one (or mutual TLS) to guard the peer port. */
const SERVER_TOKEN = 'cli-server-token-0123456789';

beforeAll(async () => {
  server = await spawnServer(dataDir, [], 0, { COORD_TOKEN: SERVER_TOKEN });
});

afterAll(async () => {
  server?.proc.kill('SIGKILL');
  await server?.exited;
  removeDir(dataDir);
});

/** `coord ARGS` with COORD_TOKEN: the server's by default, a user's, or '' for none. */
const run = (args: string[], token = SERVER_TOKEN) => coord(args, { url: server.url, env: { COORD_TOKEN: token } });
const logLines = () => server.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('coord acl', () => {
  it('sets up users and roles, turns checking on, and the tokens work as granted', async () => {
    expect(await run(['acl', 'enable'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/^BAD_REQUEST: add a user with the role root first/) });
    const root = await run(['acl', 'user', 'add', 'admin', '--role', 'root']);
    expect(root).toMatchObject({ code: 0, stdout: expect.stringMatching(/^[A-Za-z0-9_-]{32}\n$/) });
    const ROOT = root.stdout.trim();
    expect(await run(['acl', 'role', 'add', 'app'])).toMatchObject({ code: 0, stderr: 'added role app\n' });
    expect(await run(['acl', 'role', 'grant', 'app', '/app', 'readwrite'])).toMatchObject({ code: 0 });
    expect(await run(['acl', 'role', 'grant', 'app', '/app', 'write'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/expected read or readwrite/) });
    const APP = (await run(['acl', 'user', 'add', 'svc', '--role', 'app', '--token', 'svc-token-0123456789'])).stdout.trim();
    expect(APP).toBe('svc-token-0123456789');
    expect(await run(['acl', 'user', 'add', 'bad name'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/^BAD_REQUEST: user must be 1–64 characters/) });
    expect(await run(['acl', 'user', 'add', 'short', '--token', 'abc'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/token must be 16–256/) });
    expect(await run(['acl', 'enable'])).toMatchObject({ code: 0, stderr: 'access control is on\n' });

    expect(await run(['rev'], '')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^UNAUTHORIZED: access control is on/) });
    expect(await run(['set', '/app/mode', '--value', 'fast'], APP)).toMatchObject({ code: 0 });
    expect(await run(['get', '/app/mode'], APP)).toMatchObject({ code: 0, stdout: 'fast' });
    expect(await run(['get', '/other'], APP)).toMatchObject({ code: 1, stderr: 'PERMISSION_DENIED: user svc may not read /other\n' });
    expect(await run(['walk', '/**'], APP)).toMatchObject({ code: 1, stderr: expect.stringMatching(/^PERMISSION_DENIED: .*needs read on \//) });
    expect(await run(['acl', 'list'], APP)).toMatchObject({ code: 1, stderr: expect.stringMatching(/^PERMISSION_DENIED/) });
    expect(JSON.parse((await run(['acl', 'whoami'], APP)).stdout)).toEqual({ enabled: true, user: 'svc', root: false, grants: [{ prefix: '/app', access: 'readwrite' }] });

    const listed = await run(['acl', 'list'], ROOT);
    expect(listed).toMatchObject({ code: 0 });
    expect(listed.stdout).toBe([
      'access control: on', 'users:', '  admin  roles: root', '  svc  roles: app',
      'roles:', '  root  readwrite /', '  app  readwrite /app', '',
    ].join('\n'));
    expect(JSON.parse((await run(['acl', 'list', '--json'], ROOT)).stdout)).toMatchObject({ enabled: true });

    const rotated = await run(['acl', 'user', 'token', 'svc'], ROOT);
    expect(rotated.code).toBe(0);
    expect(await run(['rev'], APP)).toMatchObject({ code: 1, stderr: expect.stringMatching(/^UNAUTHORIZED/) });
    expect(await run(['get', '/app/mode'], rotated.stdout.trim())).toMatchObject({ code: 0, stdout: 'fast' });
    expect(await run(['acl', 'disable'], ROOT)).toMatchObject({ code: 0, stderr: 'access control is off\n' });
    expect(await run(['get', '/app/mode'], '')).toMatchObject({ code: 1, stderr: 'UNAUTHORIZED: this server requires a token in the hello\n' });
    expect(await run(['get', '/app/mode'])).toMatchObject({ code: 0, stdout: 'fast' });
  });

  it('the server logged each refusal and each change, with who', () => {
    const denied = logLines().filter((l) => l.msg === 'permission denied');
    expect(denied.map((l) => [l.op, l.user])).toEqual([['get', 'svc'], ['walk', 'svc'], ['acl', 'svc']]);
    expect(denied[0]).toMatchObject({ level: 40, reason: 'user svc may not read /other', remote: '127.0.0.1' });
    const changes = logLines().filter((l) => l.msg === 'access control changed');
    expect(changes.map((l) => l.action)).toEqual(['user-add', 'role-add', 'role-grant', 'user-add', 'enable', 'user-token', 'disable']);
    expect(changes.at(-1)).toMatchObject({ by: 'admin' });
    expect(JSON.stringify(changes)).not.toContain('svc-token-0123456789');
  });
});
