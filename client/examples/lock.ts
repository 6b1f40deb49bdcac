/**
 * A lock around a critical section.
 *
 *   COORD_URL=ws://127.0.0.1:7070 node --import tsx client/examples/lock.ts
 *
 * withLock waits its turn (fairly: first come, first served), runs the function, and releases
 * the lock however the function ends. The token rises with every grant of the lock: pass it to
 * whatever the lock protects, and have that refuse a token lower than one it has seen, so a
 * holder that stalled past its session cannot overwrite newer work.
 */
import { connect, text } from 'coordkit-client';

const client = await connect({ urls: process.env.COORD_URL ?? 'ws://127.0.0.1:7070' });
try {
  await client.withLock('/examples/locks/report', async (lock) => {
    console.log(`holding ${lock.path} with fencing token ${lock.token}`);
    const { value } = await client.get('/examples/report/count');
    const count = Number(text(value) ?? '0') + 1;
    await client.set('/examples/report/count', String(count));
    console.log(`report count is now ${count}`);
  });
  console.log('released');
} finally {
  await client.close();
}
