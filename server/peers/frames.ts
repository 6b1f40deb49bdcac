/**
 * Peer messages cut into frames that fit the listener's frame limit (limits.frameBytesMax, the
 * clients' limit: the WebSocket server is shared, and raising it for peers would raise it for
 * every client). Most messages fit in one frame; a large append or a big command is sent in
 * fragments and put together on the other side.
 *
 *   whole message:  [0] msgpack bytes
 *   fragment:       [1] u32 message number, u32 fragment index, u32 fragment count, bytes
 *
 * A connection carries one sender's messages in order (TCP), so fragments of one message arrive
 * together and in order; anything else is a broken peer and the connection is closed.
 */
export const FRAGMENT_BYTES = 1024 * 1024;
/** Largest message put together from fragments. */
export const MESSAGE_BYTES_MAX = 64 * 1024 * 1024;

const WHOLE = 0;
const FRAGMENT = 1;
const HEADER = 13;

/** Frames for one encoded message. */
export function toFrames(message: Uint8Array, messageNo: number): Uint8Array[] {
  if (message.byteLength + 1 <= FRAGMENT_BYTES) {
    const f = new Uint8Array(message.byteLength + 1);
    f[0] = WHOLE;
    f.set(message, 1);
    return [f];
  }
  const count = Math.ceil(message.byteLength / FRAGMENT_BYTES);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const part = message.subarray(i * FRAGMENT_BYTES, Math.min((i + 1) * FRAGMENT_BYTES, message.byteLength));
    const f = new Uint8Array(HEADER + part.byteLength);
    const v = new DataView(f.buffer);
    f[0] = FRAGMENT;
    v.setUint32(1, messageNo >>> 0);
    v.setUint32(5, i);
    v.setUint32(9, count);
    f.set(part, HEADER);
    frames.push(f);
  }
  return frames;
}

/** Puts messages back together from one connection's frames. */
export class Reassembler {
  private parts: Uint8Array[] = [];
  private messageNo = -1;
  private count = 0;
  private bytes = 0;

  /** The whole message if `frame` completes one, else null; throws a TypeError on a bad frame. */
  push(frame: Uint8Array): Uint8Array | null {
    if (frame.byteLength < 1) throw new TypeError('empty peer frame');
    if (frame[0] === WHOLE) {
      if (this.parts.length > 0) throw new TypeError('a whole message in the middle of a fragmented one');
      return frame.subarray(1);
    }
    if (frame[0] !== FRAGMENT || frame.byteLength < HEADER) throw new TypeError(`unknown peer frame type ${frame[0]}`);
    const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const no = v.getUint32(1);
    const index = v.getUint32(5);
    const count = v.getUint32(9);
    if (index === 0) {
      if (this.parts.length > 0) throw new TypeError('a new fragmented message before the last one ended');
      if (count < 2 || count * FRAGMENT_BYTES > MESSAGE_BYTES_MAX + FRAGMENT_BYTES) throw new TypeError(`a message of ${count} fragments`);
      this.messageNo = no;
      this.count = count;
      this.bytes = 0;
    } else if (no !== this.messageNo || index !== this.parts.length || count !== this.count) {
      throw new TypeError(`fragment ${index}/${count} of message ${no} out of order`);
    }
    const part = frame.subarray(HEADER);
    this.bytes += part.byteLength;
    if (this.bytes > MESSAGE_BYTES_MAX) throw new TypeError(`a fragmented message over ${MESSAGE_BYTES_MAX} bytes`);
    this.parts.push(part);
    if (this.parts.length < this.count) return null;
    const whole = new Uint8Array(this.bytes);
    let at = 0;
    for (const p of this.parts) {
      whole.set(p, at);
      at += p.byteLength;
    }
    this.parts = [];
    return whole;
  }
}
