/**
 * The `coord` command line: a shell client for every operation and recipe (`coord server` is
 * server/cli.ts, chosen by bin/coord.mjs).
 * Exit codes: 0 success; 1 the server refused (stderr starts with the error code, e.g.
 * `REV_MISMATCH: ...`); 2 usage error; 3 no server reachable or timeout; 4 a lock, slot,
 * leadership or registration was lost while the command ran; 128+N stopped by signal N before
 * it was done (a `coord lock` interrupted while waiting does not report success).
 * lock/claim/elect/register otherwise exit with CMD's code (128+N if signal N killed CMD).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { limits } from '../../protocol/limits.ts';
import type { CoordClient } from '../client.ts';
import { addAclCommands } from './commands/acl.ts';
import * as kv from './commands/kv.ts';
import { leaderTransfer, memberAdd, memberRemove, status, useAdminTls } from './commands/cluster.ts';
import { leader } from './commands/leader.ts';
import { members, registerRun } from './commands/membership.ts';
import { packageVersion } from './commands/package-info.ts';
import { claimRun, electRun, lockRun } from './commands/run.ts';
import { snapshotInspect, snapshotSave } from './commands/snapshot.ts';
import * as watching from './commands/watch.ts';
import { defaultUrl, open, serverUrls, tlsOptions, type GlobalOptions } from './connection.ts';
import { ExitCode, reportError } from './output.ts';

function intArg(min: number, what = 'an integer') {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected ${what} ≥ ${min}, got "${v}"`);
    }
    return n;
  };
}
const revArg = intArg(-1, 'a revision');
/** An integer in [min, max]. */
function rangeArg(min: number, max: number, what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected ${what} from ${min} to ${max}, got "${v}"`);
    }
    return n;
  };
}
const collect = (v: string, prev: string[] = []) => [...prev, v];

const interrupted = new AbortController();
/** Exit code for a command stopped by a signal before it finished: the shell's 128 + signal. */
let interruptedCode: number = ExitCode.OK;
for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15]] as const) {
  process.on(sig, () => {
    interruptedCode = 128 + n;
    interrupted.abort(new Error(`interrupted by ${sig}`));
  });
}

const program = new Command('coord')
  .description('coord: a small, durable coordination service. Run a server, or talk to one.')
  .addOption(new Option('--url <url>', `server url; repeat or comma-separate for several (env COORD_URL; default ${defaultUrl})`).argParser(collect))
  .addOption(new Option('--timeout <ms>', 'time limit to connect and for each request').argParser(intArg(1)).default(5000))
  .addOption(new Option('--cacert <file>', 'for wss:// urls: the CA (PEM) to trust instead of the system\'s (env COORD_CACERT)'))
  .addOption(new Option('--cert <file>', 'for wss:// urls: a client certificate (PEM), with --key (env COORD_CERT)'))
  .addOption(new Option('--key <file>', "the client certificate's private key (PEM) (env COORD_KEY)"))
  .addOption(new Option('--ttl <ms>', 'session TTL for lock/claim/elect/register and ephemeral files').argParser(intArg(1000)))
  .version(packageVersion(), '-V, --version', 'print the version of coord')
  .configureOutput({ outputError: (str, write) => write(`coord: ${str}`) })
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE);
  })
  .addHelpText('after', `
Environment: COORD_URL (server urls, comma-separated), COORD_TOKEN (shared secret, for the
server and for clients), COORD_CACERT / COORD_CERT / COORD_KEY (as --cacert / --cert / --key).
Exit codes: 0 ok; 1 refused by the server (stderr starts with the code, e.g. REV_MISMATCH);
2 usage; 3 no server reachable or timeout; 4 lock/slot/leadership/registration lost while
CMD ran; 130/143 interrupted (SIGINT/SIGTERM) before done. lock/claim/elect/register:
otherwise CMD's exit code (128+N if signal N killed it, 126 cannot execute, 127 not found).
lock/claim/elect/register run CMD under a supervisor: if coord dies (even by SIGKILL), CMD and what it
started get SIGTERM, then SIGKILL up to 1 s later. CMD gets COORD_LOCK_TOKEN (fencing token)
and COORD_LOCK_KEY (the file holding the claim) to fence its writes.

Examples:
  coord server                                   # start a server on 127.0.0.1:7070, data in ./coord-data
  printf world | coord set /hello 0              # create /hello; prints the new revision
  coord get /hello                               # prints: world
  coord wait '/config/**'                        # waits for the next change under /config
  coord lock /deploy -- ./deploy.sh              # runs deploy.sh holding the lock /deploy
  coord claim /jobs/partitions 10 -- ./worker.sh # runs worker.sh as one of 10 slot holders
  coord register /services/www host-1 --info 10.0.0.7:8080 -- ./serve.sh
  coord members /services/www                    # the live members, one JSON line each
  coord --url wss://db-1:7070 --cacert ca.crt get /hello   # over TLS, trusting a private CA
`);

/** Runs a cluster-admin command (HTTP to the servers, no session): act, exit with its code. */
function adminAction<A extends unknown[]>(fn: (urls: string[], ...args: A) => Promise<number>) {
  return async (...args: A) => {
    let code: number;
    try {
      const opts = program.opts<GlobalOptions>();
      useAdminTls(tlsOptions(opts));
      code = await fn(serverUrls(opts), ...args);
    } catch (err) {
      const exitCode = (err as { exitCode?: number }).exitCode;
      if (exitCode !== undefined) {
        process.stderr.write(`${(err as Error).message}\n`);
        code = exitCode;
      } else {
        code = reportError(err);
      }
    }
    process.exit(code);
  };
}

/** Runs a client command: connect, act, close, exit with its code. */
function clientAction<A extends unknown[]>(fn: (client: CoordClient, ...args: A) => Promise<number>) {
  return async (...args: A) => {
    const opts = program.opts<GlobalOptions>();
    let client: CoordClient | undefined;
    let code: number;
    try {
      client = await open(opts);
      code = await fn(client, ...args);
    } catch (err) {
      // Interrupted before it was done (waiting for a lock, say): not a success.
      code = interrupted.signal.aborted ? interruptedCode : reportError(err);
    }
    await client?.close().catch(() => {});
    process.exit(code);
  };
}

// `coord server` is dispatched by bin/coord.mjs to server/cli.ts before this file loads (the
// client never imports the server); it is listed here so that `coord --help` shows it.
program
  .command('server')
  .description('run a server (`coord server --help` lists its flags)')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(() => {
    process.stderr.write("coord: give 'server' as the first word: coord server [flags]\n");
    process.exit(ExitCode.USAGE);
  });

program
  .command('get <path>')
  .description('print the value of a file (raw bytes; nothing added); missing: exit 1 with NOENT')
  .option('--rev <rev>', 'read the file as it was at this revision', intArg(0))
  .option('--serializable', 'answer from the connected server\'s replica, without asking the leader (faster; may miss the latest writes)')
  .option('--json', 'print {"path","rev","value"} instead')
  .addHelpText('after', '\nExamples:\n  coord get /hello\n  coord get /hello --json\n  coord get /hello --rev 3\n')
  .action(clientAction((c, path: string, o: { rev?: number; json?: boolean; serializable?: boolean }) => kv.get(c, path, o)));

program
  .command('set')
  .argument('<path>', 'the file to set')
  .argument('[rev]', '-1 or omitted = unconditional, 0 = create only, N = only if unchanged since N', revArg)
  .description('set a file from stdin (or --value); print the new revision')
  .option('--value <value>', 'the value (instead of reading stdin)')
  .option('--ephemeral', 'bind the file to this command\'s session (gone when it exits)')
  .addHelpText('after', '\nExamples:\n  printf world | coord set /hello 0\n  coord set /config/mode --value fast\n  coord set /hello 71 --value again    # compare-and-set against rev 71\n')
  .action(clientAction((c, path: string, rev: number | undefined, o: { value?: string; ephemeral?: boolean }) =>
    kv.set(c, path, rev, o)));

program
  .command('del')
  .argument('<path>', 'the file to delete')
  .argument('[rev]', '-1 or omitted = unconditional, N = only if unchanged since N', revArg)
  .description('delete a file (REV as for set); print the revision of the delete. A missing file: exit 1 with NOENT, nothing deleted')
  .option('-f, --force', 'a missing file is not an error (exit 0; prints the store revision)')
  .addHelpText('after', '\nExamples:\n  coord del /hello\n  coord del /hello 71     # only if unchanged since revision 71\n  coord del --force /tmp/marker\n')
  .action(clientAction((c, path: string, rev: number | undefined, o: { force?: boolean }) => kv.del(c, path, rev, o)));

program
  .command('rev')
  .description('print the current store revision')
  .option('--serializable', 'answer from the connected server\'s replica, without asking the leader (faster; may miss the latest writes)')
  .addHelpText('after', '\nExamples:\n  coord rev\n  coord wait /hello $(( $(coord rev) + 1 ))\n')
  .action(clientAction((c, o: { serializable?: boolean }) => kv.rev(c, o)));

program
  .command('stat <path>')
  .description('print {"path","kind","rev",...} (kind: file, dir or missing; missing exits 1)')
  .option('--rev <rev>', 'as it was at this revision', intArg(0))
  .option('--serializable', 'answer from the connected server\'s replica, without asking the leader (faster; may miss the latest writes)')
  .addHelpText('after', '\nExamples:\n  coord stat /hello\n  coord stat /services --rev 40\n')
  .action(clientAction((c, path: string, o: { rev?: number; serializable?: boolean }) => kv.stat(c, path, o)));

program
  .command('ls <path>')
  .description('list a directory, one child name a line, sorted')
  .option('--rev <rev>', 'as it was at this revision', intArg(0))
  .option('--serializable', 'answer from the connected server\'s replica, without asking the leader (faster; may miss the latest writes)')
  .addHelpText('after', '\nExamples:\n  coord ls /\n  coord ls /services/www\n')
  .action(clientAction((c, path: string, o: { rev?: number; serializable?: boolean }) => kv.ls(c, path, o)));

program
  .command('walk <glob>')
  .description('print every file matching GLOB as a JSON line {"path","rev","value"}')
  .option('--rev <rev>', 'as it was at this revision', intArg(0))
  .option('--serializable', 'answer from the connected server\'s replica, without asking the leader (faster; may miss the latest writes)')
  .addHelpText('after', "\nGlobs: ? one character, * within a path component, ** across components.\nExamples:\n  coord walk '/**'\n  coord walk '/services/*/host-?'\n")
  .action(clientAction((c, glob: string, o: { rev?: number; serializable?: boolean }) => kv.walk(c, glob, o)));

program
  .command('wait')
  .argument('<glob>', 'the paths to wait for')
  .argument('[rev]', 'the first revision to consider', intArg(0))
  .description('wait for the first change at revision ≥ REV (default: the next one) matching GLOB; print it as a JSON line')
  .addHelpText('after', "\nExamples:\n  coord wait /hello\n  coord wait '/config/**' 120\n")
  .action(clientAction((c, glob: string, rev: number | undefined) => watching.wait(c, glob, rev, interrupted.signal)));

program
  .command('watch <glob>')
  .description('print every change matching GLOB as JSON lines, until interrupted')
  .option('--from <rev>', 'start at this revision (default: the next one)', intArg(0))
  .option('--progress <ms>', `while idle, print {"progress":REV} every MS ms (${limits.watchProgressMsMin}…${limits.watchProgressMsMax}): every change up to REV was printed`, rangeArg(limits.watchProgressMsMin, limits.watchProgressMsMax, 'milliseconds'))
  .addHelpText('after', "\nExamples:\n  coord watch '/config/**'\n  coord watch '/**' --from 1\n  coord watch '/config/**' --progress 5000\n")
  .action(clientAction((c, glob: string, o: { from?: number; progress?: number }) => watching.watch(c, glob, o.from, interrupted.signal, o.progress)));

program
  .command('lock <path> <cmd...>')
  .description('run CMD while holding the lock PATH (COORD_LOCK_TOKEN in its environment); exit with its code. If the lock is lost, CMD gets SIGTERM (SIGKILL 5 s later) and coord exits 4')
  .option('--wait <ms>', 'give up (exit 3) if the lock is not taken within this long', intArg(1))
  .addHelpText('after', '\nExamples:\n  coord lock /deploy -- ./deploy.sh\n  coord lock /cron/backup --wait 1000 -- ./backup.sh --full\n')
  .action(clientAction((c, path: string, cmd: string[], o: { wait?: number }) => lockRun(c, path, cmd, interrupted.signal, o)));

program
  .command('claim')
  .argument('<prefix>', 'the slots are PREFIX/0 … PREFIX/(N-1)')
  .argument('<n>', 'how many slots', intArg(1, 'a slot count'))
  .argument('<cmd...>', 'the command to run (after --) and its arguments')
  .description('claim one of N slots PREFIX/0..N-1 and run CMD holding it (COORD_SLOT, COORD_SLOTS, COORD_LOCK_TOKEN); waits while all are held')
  .option('--wait <ms>', 'give up (exit 3) if no slot is free within this long', intArg(1))
  .addHelpText('after', '\nExamples:\n  coord claim /jobs/partitions 10 -- ./worker.sh\n  coord claim /jobs/partitions 10 --wait 60000 -- ./worker.sh\n')
  .action(clientAction((c, prefix: string, n: number, cmd: string[], o: { wait?: number }) => claimRun(c, prefix, n, cmd, interrupted.signal, o)));

program
  .command('elect <path> <cmd...>')
  .description('campaign at PATH and run CMD while leader (COORD_LOCK_TOKEN, COORD_LEADER_ID); see `coord leader`')
  .option('--id <id>', 'this candidate\'s id', `${process.env.HOSTNAME ?? 'host'}-${process.pid}`)
  .option('--info <text>', 'published with the id while this candidate leads, e.g. its address')
  .option('--wait <ms>', 'give up (exit 3) if not leader within this long', intArg(1))
  .addHelpText('after', '\nExamples:\n  coord elect /services/scheduler/leader --id sched-1 --info 10.0.0.5:9000 -- ./scheduler\n  coord elect /cron/leader --wait 5000 -- ./run-cron-once.sh\n')
  .action(clientAction((c, path: string, cmd: string[], o: { id: string; info?: string; wait?: number }) => electRun(c, path, cmd, interrupted.signal, o)));

program
  .command('leader <path> [id]')
  .description('print the leader of the election at PATH as {"id","token","info"}; nobody leads: exit 1 with NOENT. ' +
    '`coord leader transfer [ID]` hands the cluster\'s own leadership to ID (default: the most caught-up voter)')
  .option('--watch', 'print the leader now and after every change (null while nobody leads), until interrupted')
  .addHelpText('after', '\nExamples:\n  coord leader /services/scheduler/leader\n  coord leader /services/scheduler/leader --watch\n  coord leader transfer n2\n')
  .action((path: string, id: string | undefined, o: { watch?: boolean }) => {
    // Election paths start with '/': the word `transfer` is the cluster's own leadership.
    if (path === 'transfer') return adminAction((urls, to: string | undefined) => leaderTransfer(urls, to))(id);
    if (id !== undefined) {
      process.stderr.write(`coord: leader takes one path (got "${id}" too)\n`);
      process.exit(ExitCode.USAGE);
    }
    return clientAction((c, p: string, opts: { watch?: boolean }) => leader(c, p, interrupted.signal, opts))(path, o);
  });

program
  .command('status')
  .description("print every cluster member: id, url, role, term, commit, applied, revision and lag behind the leader; a member that cannot be reached: exit 3")
  .option('--json', 'one JSON object: {"leader","members":[...]}')
  .addHelpText('after', '\nExamples:\n  coord status\n  coord status --json --url ws://10.0.0.1:7070\n')
  .action(adminAction((urls, o: { json?: boolean }) => status(urls, o)));

const member = program.command('member').description('change the cluster\'s membership (on its leader)')
  .addHelpText('after', '\nExamples:\n  coord member add n4 ws://10.0.0.4:7070\n  coord member remove n4\n');
member
  .command('add <id> <url>')
  .description('add a server as a learner; it becomes a voter once it has caught up. Start it first: coord server --id ID --peers <the cluster>')
  .addHelpText('after', '\nExamples:\n  coord member add n4 ws://10.0.0.4:7070\n')
  .action(adminAction((urls, id: string, url: string) => memberAdd(urls, id, url)));
member
  .command('remove <id>')
  .description('remove a member (the leader too: it steps down once the change is committed)')
  .action(adminAction((urls, id: string) => memberRemove(urls, id)));

addAclCommands(program, clientAction);

const snapshot = program.command('snapshot').description('back up the store to a file, inspect one, restore one into a new server or cluster')
  .addHelpText('after', `
Examples:
  coord snapshot save backup.snap
  coord snapshot inspect backup.snap
  coord snapshot restore backup.snap --data ./restored && coord server --data ./restored
`);
snapshot
  .command('save <file>')
  .description('save a snapshot of the store at one revision (every write acknowledged before it, whichever server answers) to FILE, checksummed; written to FILE.tmp, fsynced, then renamed')
  .option('--json', 'print {"file","url","rev","files","bytes","sha256"}')
  .addHelpText('after', '\nExamples:\n  coord snapshot save backup.snap\n  coord --url ws://10.0.0.2:7070 snapshot save /backups/coord-$(date +%F).snap\n')
  .action(adminAction((urls, file: string, o: { json?: boolean }) =>
    snapshotSave(urls, file, { timeoutMs: program.opts<GlobalOptions>().timeout ?? 5000, ...o })));
snapshot
  .command('inspect <file>')
  .description("check FILE's checksum and print its revision, file count and bytes (a damaged or truncated file: exit 1)")
  .option('--json', 'print {"rev","files","bytes","valueBytes","sessions","oldestRev","node","createdAt","sha256"}')
  .action(adminAction(async (_urls, file: string, o: { json?: boolean }) => snapshotInspect(file, o)));
snapshot
  .command('restore <file>')
  .description('build the data directory of a NEW server or cluster from FILE: --data DIR (missing or empty), [--id ID] [--peers id=ws://host:port,...]; see `coord snapshot restore --help`')
  .allowUnknownOption()
  .action(() => {
    // bin/coord.mjs runs server/restore-cli.ts for this; reaching here means it was bypassed.
    process.stderr.write('coord: snapshot restore runs through bin/coord.mjs (the coord command)\n');
    process.exit(ExitCode.USAGE);
  });

program
  .command('register')
  .argument('<dir>', 'the directory of members, e.g. /services/www')
  .argument('<id>', 'this member\'s name in it')
  .argument('<cmd...>', 'the command to run (after --) and its arguments')
  .description('register DIR/ID (ephemeral, holding --info) while CMD runs (COORD_MEMBER_PATH); exit with its code. If the registration is lost, CMD gets SIGTERM and coord exits 4')
  .option('--info <info>', 'what the registration holds (text, or JSON), e.g. how to reach this member')
  .addHelpText('after', '\nExamples:\n  coord register /services/www host-1 --info \'{"addr":"10.0.0.7:8080"}\' -- ./serve.sh\n')
  .action(clientAction((c, dir: string, id: string, cmd: string[], o: { info?: string }) => registerRun(c, dir, id, cmd, interrupted.signal, o)));

program
  .command('members <dir>')
  .description('print the members registered under DIR, one {"id","info"} JSON line each, sorted by id')
  .option('--watch', 'print {"kind":"join"|"leave"|"update","id","info","rev"} lines, the present members first (as joins), until interrupted')
  .addHelpText('after', '\nExamples:\n  coord members /services/www\n  coord members /services/www --watch\n')
  .action(clientAction((c, dir: string, o: { watch?: boolean }) => members(c, dir, interrupted.signal, o)));

// A usage error prints the one thing that is wrong and where to read more, not a whole page.
program.showHelpAfterError("Run 'coord --help' for usage.");
for (const command of program.commands) command.showHelpAfterError(`Run 'coord ${command.name()} --help' for usage.`);

if (process.argv.length <= 2) {
  program.outputHelp();
  process.exit(ExitCode.USAGE);
}
await program.parseAsync(process.argv);
