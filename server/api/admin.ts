/**
 * Cluster administration over HTTP, for `coord status`, `coord member` and `coord leader
 * transfer` (and curl): plain JSON beside the health endpoints, guarded by the cluster's token
 * when it has one (`Authorization: Bearer …`), or a root user's while access control is on.
 *
 *   GET  /status            this node's view: id, role, term, leader (and its url), commit,
 *                           applied, revision, membership with urls; a leader adds each member's
 *                           replication progress
 *   GET  /sessions          the sessions in this node's applied state: id, TTL, ephemeral files
 *                           (never secrets), at revision `rev`
 *   POST /members           {"op":"add","id","url"} adds a learner (promoted to voter once it has
 *                           caught up), {"op":"remove","id"}; leader only
 *   POST /leader/transfer   {"to"?} hands leadership to `to` (default: the most caught-up voter)
 *
 * A change sent to a follower is answered 421 with the leader's id and url: the CLI asks there.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import type { CoordNode } from '../node.ts';
import type { HttpGuard } from './credentials.ts';
import { NODE_ID as ID, PEER_URL as URL_RE } from '../peers/wire.ts';

export interface AdminOptions {
  node: CoordNode;
  /** Lets the operator in (credentials.ts: the server's token, or a root user's while access control is on). */
  authorized: HttpGuard;
  /** Where peers (and so the CLI) reach this node. */
  selfUrl(): string;
}


export function registerAdmin(app: FastifyInstance, options: AdminOptions): void {
  const { node, authorized } = options;
  const urlOf = (id: string | null): string | null => {
    if (id === null) return null;
    if (id === node.status().id) return options.selfUrl();
    return node.status().membership.urls?.[id] ?? null;
  };
  const notLeader = (reply: FastifyReply) => {
    const leader = node.leaderId;
    return reply.code(421).send({
      error: { code: ErrorCode.UNAVAILABLE, message: leader === null ? 'no leader now; try again shortly' : `${leader} leads: ask it` },
      leader, leaderUrl: urlOf(leader),
    });
  };
  const failed = (reply: FastifyReply, err: unknown) => {
    const code = err instanceof CoordError ? err.code : ErrorCode.INTERNAL;
    return reply.code(code === ErrorCode.UNAVAILABLE ? 503 : 400).send({ error: { code, message: (err as Error).message } });
  };

  app.get('/status', async (req, reply) => {
    if (!authorized(req, reply)) return reply;
    const st = node.status();
    return {
      id: st.id, url: options.selfUrl(), role: st.role, term: st.term, leader: st.leader, leaderUrl: urlOf(st.leader),
      commit: st.commit, applied: st.applied, lastIndex: st.lastIndex, rev: st.rev, ready: node.isReady, disk: st.disk,
      membership: { voters: st.membership.voters, learners: st.membership.learners, urls: { ...st.membership.urls, [st.id]: options.selfUrl() } },
      ...(st.progress !== null ? { progress: st.progress } : {}),
      ...(st.transferee !== null ? { transferee: st.transferee } : {}),
    };
  });

  app.get('/sessions', async (req, reply) => {
    if (!authorized(req, reply)) return reply;
    return node.sessions();
  });

  app.post('/members', async (req, reply) => {
    if (!authorized(req, reply)) return reply;
    const body = (req.body ?? {}) as { op?: unknown; id?: unknown; url?: unknown };
    if ((body.op !== 'add' && body.op !== 'remove') || typeof body.id !== 'string' || !ID.test(body.id)) {
      return reply.code(400).send({ error: { code: ErrorCode.BAD_REQUEST, message: 'expected {"op":"add","id","url"} or {"op":"remove","id"}; ids: letters, digits, _ . - (at most 64)' } });
    }
    if (body.op === 'add' && (typeof body.url !== 'string' || !URL_RE.test(body.url))) {
      return reply.code(400).send({ error: { code: ErrorCode.BAD_REQUEST, message: 'add needs the new member\'s url: ws://host:port' } });
    }
    if (!node.isLeader) return notLeader(reply);
    try {
      const outcome = await node.changeMembership(body.op === 'add'
        ? { op: 'add-learner', node: body.id, url: body.url as string }
        : { op: 'remove', node: body.id });
      if (!outcome.ok) return reply.code(409).send({ error: outcome.error });
      return { ok: true, membership: node.status().membership };
    } catch (err) {
      return failed(reply, err);
    }
  });

  app.post('/leader/transfer', async (req, reply) => {
    if (!authorized(req, reply)) return reply;
    const body = (req.body ?? {}) as { to?: unknown };
    if (body.to !== undefined && (typeof body.to !== 'string' || !ID.test(body.to))) {
      return reply.code(400).send({ error: { code: ErrorCode.BAD_REQUEST, message: '"to" must be a member id' } });
    }
    if (!node.isLeader) return notLeader(reply);
    try {
      const to = await node.handOver(5000, body.to as string | undefined);
      if (to === null) return reply.code(409).send({ error: { code: ErrorCode.UNAVAILABLE, message: 'leadership was not handed over (no other voter caught up in time)' } });
      return { ok: true, leader: to };
    } catch (err) {
      return failed(reply, err);
    }
  });
}
