/**
 * The config watcher in ten lines: the current value first, then the newest value after every
 * change (a burst of changes arrives as one), across reconnects and server restarts.
 *
 *   COORD_URL=ws://127.0.0.1:7070 node --import tsx client/examples/config-watch.ts
 *   coord set /examples/config/app --value '{"workers": 8}'     # in another shell
 *
 * For the demo it stops after three versions or five seconds; a service would loop forever.
 */
import { connect } from 'coordkit-client';

const client = await connect({ urls: process.env.COORD_URL ?? 'ws://127.0.0.1:7070' });
let versions = 0;
for await (const config of client.watchConfig('/examples/config/app', { signal: AbortSignal.timeout(5000) })) {
  console.log(`config at rev ${config.rev}: ${config.text() ?? '(not set)'}`);
  if (++versions === 3) break;
}
await client.close();
