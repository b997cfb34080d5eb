/** Mail the service sends (sign-up links). One adapter: SMTP through nodemailer (src/infra/mail/smtp-mailer.ts). */
export interface MailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html?: string;
}

export interface Mailer {
  /** Resolves once the SMTP server accepted the message; rejects when it did not (the caller retries). */
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}
