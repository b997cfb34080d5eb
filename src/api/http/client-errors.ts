import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';

/** The status Node's HTTP parser would have answered with, for the errors it raises before any route runs. */
const statusOf = (code: string | undefined): { status: number; reason: string; description: string } => {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'Request Header Fields Too Large', description: 'the request line and headers exceed 16 KiB' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, reason: 'Request Timeout', description: 'the request was not received in time' };
    default:
      return { status: 400, reason: 'Bad Request', description: 'the request is not valid HTTP' };
  }
};

/**
 * Errors Node's HTTP parser raises before express sees the request (a URL over
 * the header limit, malformed HTTP) get the same JSON error body as every other
 * error, and nosniff, instead of Node's empty answer.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const { status, reason, description } = statusOf(error.code);
    const body = JSON.stringify({ error: 'invalid_request', error_description: description });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Cache-Control: no-store\r\n' +
        'X-Content-Type-Options: nosniff\r\n' +
        'Connection: close\r\n\r\n' +
        body,
    );
  });
}
