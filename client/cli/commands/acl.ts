/**
 * `coord acl …`: access control from the shell (etcdctl's `user` / `role` / `auth` in one place).
 * Each is one `acl` request (protocol/README.md); the rules are replicated state, so any member
 * takes them. `user add` and `user token` print the user's token on stdout, alone on its line,
 * for `T=$(coord acl user add …)`: generated unless --token gives one.
 */
import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import type { CoordClient } from '../../client.ts';
import type { Access, AclAction } from '../../../protocol/messages.ts';

type ClientAction = <A extends unknown[]>(fn: (client: CoordClient, ...args: A) => Promise<number>) => (...args: A) => Promise<void>;

/** A new token: 24 random bytes, base64url (32 characters). */
function newToken(): string {
  return randomBytes(24).toString('base64url');
}

function accessArg(v: string): Access {
  if (v !== 'read' && v !== 'readwrite') throw new InvalidArgumentError(`expected read or readwrite, got "${v}"`);
  return v;
}

async function change(client: CoordClient, action: AclAction, done: string): Promise<number> {
  await client.acl(action);
  process.stderr.write(`${done}\n`);
  return 0;
}

export async function list(client: CoordClient, opts: { json?: boolean }): Promise<number> {
  const r = await client.acl({ action: 'list' });
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  }
  const lines = [`access control: ${r.enabled ? 'on' : 'off'}`, 'users:'];
  for (const u of r.users) lines.push(`  ${u.user}  roles: ${u.roles.join(', ') || '(none)'}`);
  if (r.users.length === 0) lines.push('  (none)');
  lines.push('roles:');
  for (const role of r.roles) {
    lines.push(`  ${role.role}  ${role.grants.map((g) => `${g.access} ${g.prefix}`).join(', ') || '(no grants)'}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export async function whoami(client: CoordClient): Promise<number> {
  process.stdout.write(`${JSON.stringify(await client.acl({ action: 'whoami' }))}\n`);
  return 0;
}

export function addAclCommands(program: Command, clientAction: ClientAction): void {
  const acl = program.command('acl').description('access control: users with tokens, roles granting read or readwrite on path prefixes')
    .addHelpText('after', `
Access control is off until \`coord acl enable\`, which needs a user with the role root first.
While it is on, every request needs a user's token (COORD_TOKEN) or the server's own --token,
and each user may read or write only under the prefixes its roles grant (a grant on /app covers
/app and everything below it). The role root may do everything, including change these rules.

Examples:
  ROOT=$(coord acl user add admin --role root)     # prints admin's new token
  coord acl role add app && coord acl role grant app /app readwrite
  APP=$(coord acl user add svc --role app)
  coord acl enable
  COORD_TOKEN=$APP coord set /app/mode --value fast   # allowed
  COORD_TOKEN=$APP coord get /other                   # PERMISSION_DENIED (exit 1)
  COORD_TOKEN=$ROOT coord acl list
`);
  acl.command('enable').description('start checking every request (needs a user with the role root)')
    .action(clientAction((c) => change(c, { action: 'enable' }, 'access control is on')));
  acl.command('disable').description('stop checking (the server\'s token, if any, is again the only one needed)')
    .action(clientAction((c) => change(c, { action: 'disable' }, 'access control is off')));
  acl.command('list').description('print whether checking is on, every user with its roles, every role with its grants')
    .option('--json', 'one JSON object')
    .action(clientAction((c, o: { json?: boolean }) => list(c, o)));
  acl.command('whoami').description('print who this token makes you: {"enabled","user","root","grants"}')
    .action(clientAction((c) => whoami(c)));

  const user = acl.command('user').description('add, delete, re-token, grant roles to and revoke roles from users');
  user.command('add').argument('<name>', '1–64 of A-Z a-z 0-9 . _ -')
    .description('add a user; print its token (generated unless --token)')
    .option('--role <role...>', 'roles to grant (repeat --role, or list them after it)')
    .option('--token <token>', 'use this token (16–256 printable characters) instead of a generated one')
    .action(clientAction(async (c, name: string, o: { role?: string[]; token?: string }) => {
      const token = o.token ?? newToken();
      await c.acl({ action: 'user-add', user: name, token, ...(o.role !== undefined ? { roles: o.role } : {}) });
      process.stdout.write(`${token}\n`);
      return 0;
    }));
  user.command('delete').argument('<name>').description('delete a user (its token stops working at once)')
    .action(clientAction((c, name: string) => change(c, { action: 'user-delete', user: name }, `deleted user ${name}`)));
  user.command('token').argument('<name>').description('give a user a new token (the old one stops working); print it')
    .option('--token <token>', 'use this token instead of a generated one')
    .action(clientAction(async (c, name: string, o: { token?: string }) => {
      const token = o.token ?? newToken();
      await c.acl({ action: 'user-token', user: name, token });
      process.stdout.write(`${token}\n`);
      return 0;
    }));
  user.command('grant').argument('<name>').argument('<role>').description('grant a role to a user')
    .action(clientAction((c, name: string, role: string) => change(c, { action: 'user-grant', user: name, role }, `granted ${role} to ${name}`)));
  user.command('revoke').argument('<name>').argument('<role>').description('take a role from a user')
    .action(clientAction((c, name: string, role: string) => change(c, { action: 'user-revoke', user: name, role }, `revoked ${role} from ${name}`)));

  const role = acl.command('role').description('add and delete roles, grant and revoke their prefixes');
  role.command('add').argument('<name>').description('add a role (with no grants)')
    .action(clientAction((c, name: string) => change(c, { action: 'role-add', role: name }, `added role ${name}`)));
  role.command('delete').argument('<name>').description('delete a role (and take it from every user)')
    .action(clientAction((c, name: string) => change(c, { action: 'role-delete', role: name }, `deleted role ${name}`)));
  role.command('grant').argument('<name>').argument('<prefix>', 'a path: the grant covers it and everything below it')
    .argument('<access>', 'read or readwrite', accessArg)
    .description('let a role read (or read and write) everything under a prefix')
    .action(clientAction((c, name: string, prefix: string, access: Access) =>
      change(c, { action: 'role-grant', role: name, prefix, access }, `granted ${access} on ${prefix} to ${name}`)));
  role.command('revoke').argument('<name>').argument('<prefix>').description('remove a role\'s grant on a prefix')
    .action(clientAction((c, name: string, prefix: string) => change(c, { action: 'role-revoke', role: name, prefix }, `revoked ${name}'s grant on ${prefix}`)));
}
