/**
 * `coord server [flags]`: the server's command line. bin/coord.mjs runs this instead of the
 * client CLI when the first word is `server`, so a server process never loads the client and a
 * client command never loads the server.
 */
import { Command, Option } from 'commander';
import { runServer, serverDefaults } from './main.ts';
import { idArg, intArg, peersArg, urlArg } from './cli-args.ts';

const program = new Command('coord server')
  .description('run a coord server (one node)')
  .option('--host <host>', 'address to listen on (0.0.0.0 for all)', serverDefaults.host)
  .option('--port <port>', 'port to listen on (0: any free port)', intArg(0), serverDefaults.port)
  .option('--data <dir>', 'data directory (created if missing)', serverDefaults.data)
  .option('--history <revisions>', 'revisions of history to keep', intArg(1), serverDefaults.history)
  .option('--history-bytes <bytes>', 'bytes of history (paths and values) to keep at most; the oldest go first', intArg(1), serverDefaults.historyBytes)
  .option('--snapshot-every <entries>', 'snapshot the store every N log entries', intArg(1), serverDefaults.snapshotEvery)
  .option('--log-level <level>', 'fatal|error|warn|info|debug|silent', serverDefaults.logLevel)
  .option('--id <id>', "this node's id in its cluster", idArg, serverDefaults.id)
  .option('--peers <list>', 'the cluster on its first start: id=ws://host:port,... (wss:// with --tls-cert; this node among them founds it; a node not among them waits to be added)', peersArg)
  .option('--advertise <url>', 'where peers reach this node (default: its entry in --peers, else ws://host:port, wss:// with TLS)', urlArg)
  .option('--election-ms <ms>', 'silence from the leader before a follower stands for election', intArg(100), serverDefaults.electionMs)
  .option('--heartbeat-ms <ms>', "the leader's heartbeat interval", intArg(10), serverDefaults.heartbeatMs)
  .option('--tls-cert <file>', "serve wss:// and https:// with this certificate (PEM; with --tls-key)")
  .option('--tls-key <file>', "the certificate's private key (PEM)")
  .option('--tls-ca <file>', 'CA (PEM) that peer and client certificates chain to; peers dial wss:// trusting it and present --tls-cert (mutual TLS)')
  .addOption(new Option('--tls-client-certs <mode>', 'client certificates: require (handshake refuses clients without one), request (optional; one presented must chain to --tls-ca; peers must present one), off (not asked for). Default: request with --tls-ca, else off').choices(['require', 'request', 'off']))
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

  # three nodes on one machine (each in its own terminal); restarts need no --peers
  coord server --id n1 --port 7071 --data d1 --peers n1=ws://127.0.0.1:7071,n2=ws://127.0.0.1:7072,n3=ws://127.0.0.1:7073
  coord server --id n2 --port 7072 --data d2 --peers n1=ws://127.0.0.1:7071,n2=ws://127.0.0.1:7072,n3=ws://127.0.0.1:7073
  coord server --id n3 --port 7073 --data d3 --peers n1=ws://127.0.0.1:7071,n2=ws://127.0.0.1:7072,n3=ws://127.0.0.1:7073

  # TLS (wss:// and https:// on the same port; see the README's TLS section for making certificates)
  coord server --tls-cert node.crt --tls-key node.key --tls-ca ca.crt
`)
  .action(async (o) => {
    await runServer({
      host: o.host, port: o.port, data: o.data, history: o.history, historyBytes: o.historyBytes,
      snapshotEvery: o.snapshotEvery, logLevel: o.logLevel, id: o.id, electionMs: o.electionMs, heartbeatMs: o.heartbeatMs,
      ...(o.peers !== undefined ? { peers: o.peers } : {}),
      ...(o.advertise !== undefined ? { advertise: o.advertise } : {}),
      ...(o.tlsCert !== undefined ? { tlsCert: o.tlsCert } : {}),
      ...(o.tlsKey !== undefined ? { tlsKey: o.tlsKey } : {}),
      ...(o.tlsCa !== undefined ? { tlsCa: o.tlsCa } : {}),
      ...(o.tlsClientCerts !== undefined ? { tlsClientCerts: o.tlsClientCerts } : {}),
    });
  });

await program.parseAsync(process.argv.slice(3), { from: 'user' });
