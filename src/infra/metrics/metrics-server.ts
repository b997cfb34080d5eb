import { createServer, type Server } from 'node:http';
import { metricsRegistry } from './metrics.js';

/**
 * The METRICS_PORT listener: GET /metrics without authentication, nothing
 * else. For a port that only the monitoring network reaches; the public port
 * serves /metrics only with METRICS_TOKEN.
 */
export function createMetricsServer(): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
      res.end(JSON.stringify({ error: 'not_found', error_description: 'only GET /metrics is served on this port' }));
      return;
    }
    metricsRegistry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': metricsRegistry.contentType, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      () => {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: 'server_error', error_description: 'the metrics could not be collected' }));
      },
    );
  });
}
