/**
 * The production PeerTransport (consensus/env.ts): WebSockets between the servers of a cluster.
 * Each node dials every other member (an outbound link per peer, used to send) and accepts their
 * links on PEER_PATH (route.ts, used to receive), as etcd's peers keep a stream each way. Best
 * effort, as the contract says: a message for a peer whose link is down, or whose send buffer is
 * full (a slow or frozen peer), is dropped — Raft resends what matters (appends after a probe,
 * heartbeats, snapshot chunks after their acks) — so a dead peer never grows memory here.
 *
 * Links follow the membership: setPeers() is given the members and their addresses
 * (Membership.urls, and --peers at the first start) and dials new ones, redials changed ones and
 * drops removed ones. A dialling node says where it listens (PEER_URL_HEADER), so a member whose
 * address the log does not hold (a single node that grew into a cluster was never told its own)
 * is still reached, and a blank node waiting to join dials back whoever contacted it.
 * A link that fails is redialled with backoff (50 ms doubling to 1 s).
 */
import WebSocket from 'ws';
import type { NodeId } from '../consensus/core/index.ts';
import type { PeerMessage, PeerTransport } from '../consensus/env.ts';
import type { Logger } from '../log.ts';
import { corkForThisTurn } from '../../protocol/cork.ts';
import { Reassembler, toFrames } from './frames.ts';
import { decodePeerMessage, encodePeerMessage, PEER_ID_HEADER, PEER_PATH, PEER_URL_HEADER } from './wire.ts';

/** Bytes queued on a link past which messages to that peer are dropped. */
const SEND_BUFFER_MAX = 32 * 1024 * 1024;
const REDIAL_MIN_MS = 50;
const REDIAL_MAX_MS = 1000;

export interface PeerLinksOptions {
  self: NodeId;
  /** Where this node listens, told to the peers it dials (see advertise()). */
  selfUrl: string;
  /** The cluster's shared secret, presented when dialling (null: none). */
  token: string | null;
  log: Logger;
  /**
   * Dial peers over TLS (wss:// urls): trust `ca` instead of the system's CAs, and present
   * `cert`/`key` so a peer that asks for a client certificate (mutual TLS) gets one.
   */
  tls?: { ca?: string; cert?: string; key?: string };
}

export class WebSocketPeers implements PeerTransport {
  onMessage: (from: NodeId, message: PeerMessage) => void = () => {};
  private readonly links = new Map<NodeId, OutLink>();
  private readonly inbound = new Set<WebSocket>();
  /** Addresses peers gave when they dialled us. */
  private readonly learned = new Map<NodeId, string>();
  private members: readonly NodeId[] = [];
  private urls: Readonly<Record<NodeId, string>> = {};
  private closed = false;
  /** Bytes handed to each peer's socket, kept across redials and link replacements (for /metrics). */
  private readonly sent = new Map<NodeId, { bytes: number }>();

  private readonly options: PeerLinksOptions;

  constructor(options: PeerLinksOptions) {
    this.options = { ...options };
  }

  /**
   * The members and the addresses the log (or --peers) gives them: dials new peers, redials moved
   * ones, drops those no longer members. While this node is not a member itself (a blank node
   * waiting to be added), it links to every peer that dialled it.
   */
  setPeers(members: readonly NodeId[], urls: Readonly<Record<NodeId, string>>): void {
    this.members = members;
    this.urls = urls;
    this.refresh();
  }

  private wanted(): Map<NodeId, string> {
    const want = new Map<NodeId, string>();
    const joining = !this.members.includes(this.options.self);
    for (const [id, url] of this.learned) if (joining || this.members.includes(id)) want.set(id, url);
    for (const id of this.members) if (this.urls[id] !== undefined) want.set(id, this.urls[id]!);
    if (joining) for (const [id, url] of Object.entries(this.urls)) want.set(id, url);
    want.delete(this.options.self);
    return want;
  }

  private refresh(): void {
    if (this.closed) return;
    const want = this.wanted();
    for (const [id, link] of this.links) {
      if (want.get(id) !== link.url) {
        link.close();
        this.links.delete(id);
      }
    }
    for (const [id, url] of want) {
      if (this.links.has(id)) continue;
      let sent = this.sent.get(id);
      if (sent === undefined) this.sent.set(id, (sent = { bytes: 0 }));
      const link = new OutLink(id, url, this.options, sent);
      this.links.set(id, link);
      link.dial();
    }
  }

  get selfUrl(): string {
    return this.options.selfUrl;
  }

  /** Where this node listens, once known (a server on port 0 learns its port when it listens). */
  advertise(url: string): void {
    this.options.selfUrl = url;
  }

  /** Bytes sent to each peer so far (message frames as handed to the socket). */
  bytesSent(): ReadonlyMap<NodeId, { readonly bytes: number }> {
    return this.sent;
  }

  /** Peers with a link up now (for status). */
  connected(): NodeId[] {
    return [...this.links.values()].filter((l) => l.up).map((l) => l.peer);
  }

  send(to: NodeId, message: PeerMessage): void {
    this.links.get(to)?.send(message);
  }

  /**
   * A peer's link arrived (route.ts checked its token and id): what it sends goes to onMessage;
   * the address it gave is where to reach it if the log does not say.
   */
  accept(socket: WebSocket, from: NodeId, url: string | null): void {
    if (this.closed) {
      socket.close(1001, 'server is shutting down');
      return;
    }
    if (url !== null && this.learned.get(from) !== url) {
      this.learned.set(from, url);
      this.refresh();
    }
    this.inbound.add(socket);
    const frames = new Reassembler();
    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      try {
        if (!isBinary) throw new TypeError('a text frame on a peer link');
        const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
        const whole = frames.push(bytes);
        if (whole !== null) this.onMessage(from, decodePeerMessage(whole));
      } catch (err) {
        this.options.log.warn({ peer: from, reason: (err as Error).message }, 'peer protocol violation; closing its link');
        socket.close(1002, (err as Error).message.slice(0, 120));
      }
    });
    socket.on('close', () => this.inbound.delete(socket));
  }

  close(): void {
    this.closed = true;
    for (const l of this.links.values()) l.close();
    this.links.clear();
    for (const s of this.inbound) s.close(1001, 'server is shutting down');
    this.inbound.clear();
  }
}

/**
 * WebSocket clients mask every frame (RFC 6455 §5.3) so that script in a browser cannot make a
 * proxy's cache hold bytes it chose. Between two coord servers there is no such script; with an
 * all-zero mask ws skips the XOR on both sides (and the random bytes for each frame), which is
 * CPU on every append, answer and forwarded write.
 */
const noMask = (mask: Uint8Array): void => {
  mask.fill(0);
};

/** One outbound link to a peer, redialled while the peer is a member. */
class OutLink {
  private ws: WebSocket | null = null;
  private redialMs = REDIAL_MIN_MS;
  private timer: NodeJS.Timeout | null = null;
  private messageNo = 0;
  private closed = false;
  /** Whether a failure is worth a log line (the first after the link was up, or ever). */
  private quiet = false;
  up = false;

  constructor(
    readonly peer: NodeId,
    readonly url: string,
    private readonly options: PeerLinksOptions,
    /** The peer's byte count, shared with WebSocketPeers: one add per frame. */
    private readonly sent: { bytes: number },
  ) {}

  dial(): void {
    if (this.closed) return;
    const headers: Record<string, string> = { [PEER_ID_HEADER]: this.options.self, [PEER_URL_HEADER]: this.options.selfUrl };
    if (this.options.token !== null) headers['authorization'] = `Bearer ${this.options.token}`;
    const ws = new WebSocket(`${this.url}${PEER_PATH}`, {
      headers, perMessageDeflate: false, handshakeTimeout: 5000, generateMask: noMask, ...this.options.tls,
    });
    this.ws = ws;
    ws.on('open', () => {
      this.up = true;
      this.quiet = false;
      this.redialMs = REDIAL_MIN_MS;
      this.options.log.info({ peer: this.peer, url: this.url }, 'peer link up');
    });
    ws.on('unexpected-response', (_req, res) => {
      const why = res.statusCode === 401 ? 'it refused our token (every node needs the same COORD_TOKEN)'
        : res.statusCode === 403 ? 'it refused our certificate (every node needs one signed by the same --tls-ca)' : `HTTP ${res.statusCode}`;
      if (!this.quiet) this.options.log.warn({ peer: this.peer, url: this.url }, `peer refused our link: ${why}`);
      this.quiet = true;
      ws.terminate();
    });
    ws.on('error', (err) => {
      // A certificate the peer's CA did not sign is a setup error, not a node that is down: say so.
      const tlsError = /certificate|SSL|TLS|self.signed/i.test(`${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`);
      if (!this.quiet) this.options.log[tlsError ? 'warn' : 'debug']({ peer: this.peer, url: this.url, reason: err.message }, 'peer link failed');
    });
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.up) this.options.log.info({ peer: this.peer, url: this.url }, 'peer link down');
      this.up = false;
      this.quiet = true;
      if (this.closed) return;
      this.timer = setTimeout(() => this.dial(), this.redialMs);
      this.redialMs = Math.min(REDIAL_MAX_MS, this.redialMs * 2);
    });
  }

  send(m: PeerMessage): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > SEND_BUFFER_MAX) return;
    // A leader sends each follower several messages a turn (appends, heartbeats, forwarded
    // answers): one write to the socket for all of them, not a syscall each.
    corkForThisTurn(ws);
    for (const f of toFrames(encodePeerMessage(m), this.messageNo++)) {
      this.sent.bytes += f.byteLength;
      ws.send(f);
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    this.up = false;
    if (ws !== null) {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1001, 'no longer a peer');
    }
  }
}
