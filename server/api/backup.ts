/**
 * GET /snapshot: a backup of the store, streamed, for `coord snapshot save` (and curl). Guarded
 * by the cluster's token like the admin endpoints (admin.ts).
 *
 * The revision is linearizable-fresh on any member: the node takes a read barrier first
 * (node.captureForBackup), so the snapshot holds every write acknowledged before the request,
 * even when a follower answers. The store is captured at once (no copy of the values: the
 * capture reads the versioned tree as it stood at that revision while writes go on) and packed a
 * chunk of files per piece as the client reads, in the Raft snapshot format
 * (consensus/snapshots.ts: packSnapshotStream), inside the backup file's frame
 * (protocol/snapshot-file.ts). Nothing holds the whole file; a slow reader holds back only the
 * history compaction the capture needs, until it is done or goes away.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import {
  newSnapshotHash, SNAPSHOT_FILE_MAGIC, SNAPSHOT_HTTP_PATH, SNAPSHOT_REV_HEADER, snapshotFileTrailer,
} from '../../protocol/snapshot-file.ts';
import { packSnapshotStream, type PackedFilesTally } from '../consensus/snapshots.ts';
import type { CoordNode } from '../node.ts';
import type { HttpGuard } from './credentials.ts';

export interface BackupOptions {
  node: CoordNode;
  /** The operator's guard (credentials.ts), as for the admin endpoints. */
  authorized: HttpGuard;
}

export function registerBackup(app: FastifyInstance, options: BackupOptions): void {
  const { node } = options;
  app.get(SNAPSHOT_HTTP_PATH, async (req, reply) => {
    if (!options.authorized(req, reply)) return reply;
    let capture;
    try {
      capture = await node.captureForBackup();
    } catch (err) {
      const code = err instanceof CoordError ? err.code : ErrorCode.INTERNAL;
      return reply.code(code === ErrorCode.INTERNAL ? 500 : 503).send({ error: { code, message: (err as Error).message } });
    }
    const id = node.status().id;
    const captured = capture;
    async function* body(): AsyncGenerator<Uint8Array> {
      const hash = newSnapshotHash();
      const tally: PackedFilesTally = { files: 0, valueBytes: 0 };
      let payloadBytes = 0;
      try {
        hash.update(SNAPSHOT_FILE_MAGIC);
        yield SNAPSHOT_FILE_MAGIC;
        for (const piece of packSnapshotStream(captured, tally)) {
          hash.update(piece);
          payloadBytes += piece.byteLength;
          yield piece;
          // A turn of the loop between pieces (a chunk of files each): the stream would otherwise
          // pack up to its buffer's worth in one go, and writes wait meanwhile.
          await new Promise((r) => setImmediate(r));
        }
      } finally {
        // Done, or the client went away (the stream is destroyed and this generator returns).
        captured.finish();
      }
      yield snapshotFileTrailer({
        rev: captured.rev, oldest: captured.oldest, files: tally.files, valueBytes: tally.valueBytes,
        sessions: captured.sessions.length, payloadBytes, node: id, createdAtMs: Date.now(),
      }, hash);
    }
    req.log.info({ rev: capture.rev, remote: req.socket.remoteAddress }, 'snapshot requested');
    return reply
      .header('content-type', 'application/octet-stream')
      .header(SNAPSHOT_REV_HEADER, String(capture.rev))
      .send(Readable.from(body(), { objectMode: false, highWaterMark: 1 << 20 }));
  });
}
