import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface TestSmtpServer {
  /** smtp://127.0.0.1:<port>, for SMTP_URL. */
  readonly url: string;
  readonly messages: ParsedMail[];
  /** The next message to this address (waits for it, up to `timeoutMs`). */
  nextMessage(to: string, timeoutMs?: number): Promise<ParsedMail>;
  /** Refuse (or accept again) every message: the SMTP server answers 451. */
  refuse(refusing: boolean): void;
  close(): Promise<void>;
}

/** A real SMTP server on an ephemeral port that keeps every message it accepts, parsed. */
export async function startSmtpServer(): Promise<TestSmtpServer> {
  const messages: ParsedMail[] = [];
  /** Messages a nextMessage already answered with. */
  const taken = new Set<ParsedMail>();
  const waiting: Array<{ to: string; resolve: (mail: ParsedMail) => void }> = [];
  let refusing = false;
  const recipients = (mail: ParsedMail): string[] =>
    (Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : []).flatMap((to) => to.value.map((address) => (address.address ?? '').toLowerCase()));
  const server = new SMTPServer({
    authOptional: true,
    // Plain SMTP on loopback: nodemailer would otherwise upgrade with STARTTLS to a certificate it cannot check.
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      if (refusing) {
        stream.resume();
        stream.on('end', () => callback(Object.assign(new Error('try again later'), { responseCode: 451 })));
        return;
      }
      simpleParser(stream)
        .then((mail) => {
          messages.push(mail);
          for (const waiter of [...waiting]) {
            if (!taken.has(mail) && recipients(mail).includes(waiter.to)) {
              taken.add(mail);
              waiting.splice(waiting.indexOf(waiter), 1);
              waiter.resolve(mail);
            }
          }
          callback();
        })
        .catch(callback);
    },
  });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    nextMessage(to, timeoutMs = 15_000) {
      const address = to.toLowerCase();
      const arrived = messages.find((mail) => !taken.has(mail) && recipients(mail).includes(address));
      if (arrived) {
        taken.add(arrived);
        return Promise.resolve(arrived);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no mail to ${to} within ${timeoutMs} ms`)), timeoutMs);
        waiting.push({ to: address, resolve: (mail) => (clearTimeout(timer), resolve(mail)) });
      });
    },
    refuse(value) {
      refusing = value;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The sign-up link in a mail's plain text part. */
export function linkIn(mail: ParsedMail): URL {
  const match = /https?:\/\/\S+\/api\/v1\/signup\?\S+/.exec(mail.text ?? '');
  if (!match) throw new Error(`no sign-up link in: ${mail.text}`);
  return new URL(match[0]);
}
