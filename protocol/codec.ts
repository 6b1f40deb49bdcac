/**
 * msgpack encoding of protocol messages. Plain msgpack (no msgpackr records or extensions) so a
 * client in any language can speak the protocol; binary values travel as msgpack `bin`.
 */
import { limits } from './limits.ts';
import { msgpack as packr } from './msgpack.ts';

export function encode(message: unknown): Uint8Array {
  return packr.pack(message);
}

export class FrameError extends Error {
  constructor(message: string, readonly tooBig = false) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Decodes one frame. Throws FrameError for an oversized frame or bytes that are not msgpack. */
export function decode(frame: Uint8Array): unknown {
  if (frame.byteLength > limits.frameBytesMax) {
    throw new FrameError(`frame of ${frame.byteLength} bytes is over ${limits.frameBytesMax}`, true);
  }
  try {
    return packr.unpack(frame);
  } catch (err) {
    // msgpackr's message may quote what it decoded: keep only its first words.
    const why = String((err as Error).message).split(/[{[:]/)[0]!.trim().slice(0, 60);
    throw new FrameError(`frame is not valid msgpack${why ? ` (${why})` : ''}`);
  }
}

const WATCH_KEY = packr.pack('watch');
const EVENTS_KEY = packr.pack('events');

/**
 * The push `{ watch: id, events }` with `events` already encoded: the same message `encode`
 * would give (with a fixmap header), built without re-encoding the events for every watcher.
 */
export function encodeWatchPush(watchId: number, encodedEvents: Uint8Array): Uint8Array {
  const id = packr.pack(watchId);
  const out = new Uint8Array(1 + WATCH_KEY.length + id.length + EVENTS_KEY.length + encodedEvents.length);
  let at = 0;
  out[at++] = 0x82; // a map of two entries
  for (const part of [WATCH_KEY, id, EVENTS_KEY, encodedEvents]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
