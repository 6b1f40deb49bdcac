/**
 * GET /metrics: the Prometheus text format. Guarded as the admin endpoints are (admin.ts): when
 * the server has a token, `Authorization: Bearer <token>` is required, else 401.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCode } from '../../protocol/errors.ts';
import { secretsEqual } from '../node.ts';
import type { ServerMetrics } from './metrics.ts';

export interface MetricsRouteOptions {
  metrics: ServerMetrics;
  token: string | null;
}

export function registerMetricsRoute(app: FastifyInstance, options: MetricsRouteOptions): void {
  app.get('/metrics', async (req, reply) => {
    if (options.token !== null) {
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ') || !secretsEqual(auth.slice(7), options.token)) {
        return reply.code(401).send({ error: { code: ErrorCode.UNAUTHORIZED, message: 'this server needs its token (Authorization: Bearer …)' } });
      }
    }
    const text = await options.metrics.render();
    return reply.type(options.metrics.contentType).send(text);
  });
}
