/**
 * The web console at /ui: static files only (the page, its script and style, and the SDK's
 * browser bundle as /ui/coord.js), read from dist/ui, which `npm run build` fills (build:ui).
 * The files carry no data, so they are served without the token; everything the page shows
 * comes over the WebSocket and /status, which ask for it as usual.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const types: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'coord.js': 'text/javascript; charset=utf-8',
};

/** dist/ui beside the compiled server (dist/server/api → dist/ui), or from the sources (server/api → dist/ui). */
function uiDir(): string | null {
  for (const rel of ['../../ui/', '../../dist/ui/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return null;
}

export function registerUi(app: FastifyInstance): void {
  const dir = uiDir();
  const cache = new Map<string, Buffer>();
  const send = (name: string) => async (_req: unknown, reply: import('fastify').FastifyReply) => {
    if (dir === null) return reply.code(404).type('text/plain').send('the console is not built: run `npm run build`');
    let body = cache.get(name);
    if (body === undefined) {
      body = readFileSync(`${dir}${name}`);
      cache.set(name, body);
    }
    return reply
      .type(types[name]!)
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
      .send(body);
  };
  app.get('/ui', async (_req, reply) => reply.redirect('/ui/'));
  app.get('/ui/', send('index.html'));
  for (const name of Object.keys(types)) if (name !== 'index.html') app.get(`/ui/${name}`, send(name));
}
