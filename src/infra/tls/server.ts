import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

export interface ServerTlsSettings {
  /** The server's certificate (PEM, the chain after it) and key: both set, the service speaks HTTPS. */
  readonly TLS_CERT_FILE?: string;
  readonly TLS_KEY_FILE?: string;
  /** The CAs client certificates (tls_client_auth) must chain to: PEM, one or more certificates. */
  readonly TLS_CLIENT_CA_FILE?: string;
}

/** The classes a server makes its requests and responses from (the `IncomingMessage` and `ServerResponse` options of http.createServer). */
export interface ServerClasses {
  readonly IncomingMessage: typeof IncomingMessage;
  readonly ServerResponse: typeof ServerResponse;
}

const declaredClasses = new WeakMap<RequestListener, ServerClasses>();

/**
 * A listener declares the classes its requests and responses should be made
 * from: the app's lean path (src/api/http/lean-path.ts) has them born with the
 * prototypes it serves them with, instead of changing each one's prototype.
 */
export function declareServerClasses(listener: RequestListener, classes: ServerClasses): void {
  declaredClasses.set(listener, classes);
}

/**
 * The service's listener: HTTPS when a certificate and key are configured,
 * plain HTTP otherwise (a TLS-terminating proxy in front, or development).
 * Over HTTPS client certificates are requested, never required: whether one
 * was needed, and whether its chain verified, is client authentication's
 * business (RFC 8705), not the handshake's, so a self-signed certificate gets
 * through for self_signed_tls_client_auth to match. Requests and responses
 * are made from the classes the listener declared, if it did.
 */
export function createServer(settings: ServerTlsSettings, app: RequestListener): Server {
  const classes = declaredClasses.get(app);
  if (!settings.TLS_CERT_FILE || !settings.TLS_KEY_FILE) return createHttpServer({ ...classes }, app);
  return createHttpsServer(
    {
      ...classes,
      cert: readFileSync(settings.TLS_CERT_FILE),
      key: readFileSync(settings.TLS_KEY_FILE),
      ...(settings.TLS_CLIENT_CA_FILE && { ca: readFileSync(settings.TLS_CLIENT_CA_FILE) }),
      requestCert: true,
      rejectUnauthorized: false,
    },
    app,
  );
}
