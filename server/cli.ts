/**
 * `coord server [flags]`: the server's command line. bin/coord.mjs runs this instead of the
 * client CLI when the first word is `server`, so a server process never loads the client and a
 * client command never loads the server.
 */
import { Command, InvalidArgumentError } from 'commander';
import { runServer, serverDefaults } from './main.ts';

function intArg(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected an integer ≥ ${min}, got "${v}"`);
    }
    return n;
  };
}

const program = new Command('coord server')
  .description('run a coord server (one node)')
  .option('--host <host>', 'address to listen on (0.0.0.0 for all)', serverDefaults.host)
  .option('--port <port>', 'port to listen on (0: any free port)', intArg(0), serverDefaults.port)
  .option('--data <dir>', 'data directory (created if missing)', serverDefaults.data)
  .option('--history <revisions>', 'revisions of history to keep', intArg(1), serverDefaults.history)
  .option('--history-bytes <bytes>', 'bytes of history (paths and values) to keep at most; the oldest go first', intArg(1), serverDefaults.historyBytes)
  .option('--snapshot-every <entries>', 'snapshot the store every N log entries', intArg(1), serverDefaults.snapshotEvery)
  .option('--log-level <level>', 'fatal|error|warn|info|debug|silent', serverDefaults.logLevel)
  .configureOutput({ outputError: (str, write) => write(`coord: ${str}`) })
  .showSuggestionAfterError()
  .exitOverride((err) => {
    if (err.exitCode !== 0) process.stderr.write("Run 'coord server --help' for usage.\n");
    process.exit(err.exitCode === 0 ? 0 : 2);
  })
  .addHelpText('after', `
Environment: COORD_TOKEN (a shared secret every client must present).

Examples:
  coord server
  coord server --host 0.0.0.0 --port 7070 --data /var/lib/coord
`)
  .action(async (o) => {
    await runServer({
      host: o.host, port: o.port, data: o.data, history: o.history, historyBytes: o.historyBytes,
      snapshotEvery: o.snapshotEvery, logLevel: o.logLevel,
    });
  });

await program.parseAsync(process.argv.slice(3), { from: 'user' });
