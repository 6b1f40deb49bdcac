/**
 * The writer of watch-fanout, in a process of its own so that its SET acknowledgements are not
 * queued behind the 1,000 deliveries the watchers' process is busy decoding. It connects to the
 * url in argv[2], says {ready}, then for each {u, path, value} from its parent SETs the value and
 * answers {u, rev, sentAt, ackAt}: process.hrtime.bigint() readings (CLOCK_MONOTONIC, the same
 * clock in every process on the machine) as decimal strings. It exits when its parent goes.
 */
import { connect } from '../../../client/index.ts';

const client = await connect({ urls: process.argv[2]!.split(',') });
const send = (m: unknown): void => {
  process.send!(m);
};

process.on('disconnect', () => {
  void client.close().finally(() => process.exit(0));
});
process.on('message', (m: { u: number; path: string; value: number[] }) => {
  const sentAt = process.hrtime.bigint();
  client.set(m.path, Uint8Array.from(m.value)).then(
    (rev) => {
      const ackAt = process.hrtime.bigint();
      send({ u: m.u, rev, sentAt: String(sentAt), ackAt: String(ackAt) });
    },
    (err: Error) => send({ u: m.u, error: err.message }),
  );
});
send({ ready: true });
