import type { SignupCommands } from '../commands/signup/handlers.js';
import type { SignupEvent } from '../domain/signup/events.js';
import type { RecordedEvent } from '../ports/event-store.js';
import { causedBy, type ProcessDefinition } from './process-manager.js';

type Started = RecordedEvent<'signup.started', Extract<SignupEvent, { type: 'signup.started' }>['data']>;
type Completed = RecordedEvent<'signup.completed', Extract<SignupEvent, { type: 'signup.completed' }>['data']>;

/**
 * Sign-up: mails the link when a sign-up starts (retried with backoff while
 * the SMTP server refuses; an event seen again after a restart mails nothing
 * twice), and activates the user once a link was opened (the request does it
 * first; this is the crash-safe second pass).
 */
export const signupProcess = (signups: SignupCommands): ProcessDefinition => ({
  name: 'signup',
  handlers: {
    'signup.started': async (event: Started) => {
      await signups.sendLink(event.data.userId, causedBy(event));
    },
    'signup.completed': async (event: Completed) => {
      await signups.activate(event.data.userId, causedBy(event));
    },
  },
});
