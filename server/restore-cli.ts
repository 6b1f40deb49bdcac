/**
 * `coord snapshot restore FILE --data DIR [--id ID] [--peers ...]`: bin/coord.mjs runs this
 * (not the client CLI) for `coord snapshot restore`, since it writes a server's data directory
 * with the server's own storage code (restore.ts), as etcdutl is apart from etcdctl.
 * Exit codes: 0 done; 1 refused (a damaged file, a non-empty DIR); 2 usage.
 */
import { Command } from 'commander';
import { SnapshotFileError } from '../protocol/snapshot-file.ts';
import { idArg, peersArg } from './cli-args.ts';
import { RestoreError, restoreDataDir } from './restore.ts';

const program = new Command('coord snapshot restore')
  .description('build the data directory of a NEW server or cluster from a snapshot file (coord snapshot save); then run coord server --data DIR --id ID')
  .argument('<file>', 'the snapshot file')
  .requiredOption('--data <dir>', 'the data directory to create (must be missing or empty)')
  .option('--id <id>', "this node's id in the new cluster", idArg, 'n1')
  .option('--peers <list>', 'the new cluster: id=ws://host:port,... (restore each member from the same file with the same --peers)', peersArg)
  .configureOutput({ outputError: (str, write) => write(`coord: ${str}`) })
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  })
  .addHelpText('after', `
Examples:
  coord snapshot restore backup.snap --data ./restored && coord server --data ./restored
  coord snapshot restore backup.snap --data d1 --id n1 --peers n1=ws://10.0.0.1:7070,n2=ws://10.0.0.2:7070,n3=ws://10.0.0.3:7070
`)
  .action(async (file: string, o: { data: string; id: string; peers?: Record<string, string> }) => {
    try {
      const r = await restoreDataDir({ file, data: o.data, id: o.id, ...(o.peers !== undefined ? { peers: o.peers } : {}) });
      process.stdout.write(
        `restored revision ${r.summary.rev} (${r.summary.files} files, ${r.summary.sessions} sessions) into ${r.dir} ` +
          `for ${r.membership.voters.join(', ')}; start it with: coord server --data ${o.data} --id ${o.id}\n`,
      );
    } catch (err) {
      if (err instanceof RestoreError || err instanceof SnapshotFileError) {
        process.stderr.write(`coord snapshot restore: ${err.message}\n`);
        process.exit(1);
      }
      throw err;
    }
  });

await program.parseAsync(process.argv.slice(4), { from: 'user' });
