/**
 * GET /metrics: the Prometheus text format. Guarded as the admin endpoints are (admin.ts): when
 * the server has a token, `Authorization: Bearer <token>` is required (401 without it); while
 * access control is on, that or a root user's token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerMetrics } from './metrics.ts';

export interface MetricsRouteOptions {
  metrics: ServerMetrics;
  authorized(req: FastifyRequest, reply: FastifyReply): boolean;
}

export function registerMetricsRoute(app: FastifyInstance, options: MetricsRouteOptions): void {
  app.get('/metrics', async (req, reply) => {
    if (!options.authorized(req, reply)) return reply;
    const text = await options.metrics.render();
    return reply.type(options.metrics.contentType).send(text);
  });
}
