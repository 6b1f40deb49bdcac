/**
 * The `coord` command line. Exit codes: 0 success; 1 the server refused (stderr starts with the
 * error code); 2 usage error; 3 no server reachable or timeout.
 */
import { Command, InvalidArgumentError } from 'commander';
import { runServer, serverDefaults } from '../../server/main.ts';

function intArg(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}`);
    return n;
  };
}

const program = new Command('coord')
  .description('coord: a small, durable coordination service (server, shell client)')
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program
  .command('server')
  .description('run a single-node server (data in ./coord-data by default)')
  .option('--host <host>', 'address to listen on', serverDefaults.host)
  .option('--port <port>', 'port to listen on', intArg(0), serverDefaults.port)
  .option('--data <dir>', 'data directory', serverDefaults.data)
  .option('--history <revisions>', 'revisions of history to keep', intArg(1), serverDefaults.history)
  .option('--snapshot-every <entries>', 'snapshot the store every N log entries', intArg(1), serverDefaults.snapshotEvery)
  .option('--log-level <level>', 'pino log level (fatal|error|warn|info|debug|silent)', serverDefaults.logLevel)
  .addHelpText('after', '\nExamples:\n  coord server\n  coord server --port 7071 --data /var/lib/coord\n')
  .action(async (opts) => {
    await runServer({
      host: opts.host, port: opts.port, data: opts.data, history: opts.history,
      snapshotEvery: opts.snapshotEvery, logLevel: opts.logLevel,
    });
  });

await program.parseAsync(process.argv);
