import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Mailer, MailMessage } from '../../ports/mailer.js';

/**
 * Mail through an SMTP server, configured by one URL (`SMTP_URL`:
 * `smtp://user:pass@host:587` upgrades with STARTTLS when offered,
 * `smtps://host:465` is TLS from the start). Timeouts are explicit, so a
 * server that hangs fails the attempt (the sign-up process retries) rather
 * than holding it forever. The URL's password never reaches a log.
 */
export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;

  constructor(
    url: string,
    private readonly from: string,
  ) {
    const options: SMTPTransport.Options & { url: string } = { url, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000, logger: false };
    this.transport = nodemailer.createTransport(options);
  }

  async send(message: MailMessage): Promise<void> {
    await this.transport.sendMail({ from: this.from, to: message.to, subject: message.subject, text: message.text, ...(message.html !== undefined && { html: message.html }) });
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
