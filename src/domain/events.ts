import type { z } from 'zod';
import { bootstrapEventSchemas } from './bootstrap/events.js';
import { organizationEventSchemas } from './organization/events.js';
import { reservationEventSchemas } from './reservation/decider.js';
import { identityProviderEventSchemas } from './identity-provider/events.js';
import { serviceAccountEventSchemas } from './service-account/events.js';
import { groupEventSchemas } from './group/events.js';
import { userEventSchemas } from './user/events.js';
import { projectEventSchemas } from './project/events.js';
import { resourceLedgerEventSchemas } from './resource-ledger/events.js';
import { authorizationCodeEventSchemas } from './authorization-code/events.js';
import { credentialEventSchemas } from './credentials/events.js';
import { sessionEventSchemas } from './session/events.js';
import { applicationEventSchemas } from './application/events.js';
import { loginFlowEventSchemas } from './login-flow/events.js';
import { signupEventSchemas } from './signup/events.js';
import { ledgerEventSchemas } from './ledger/events.js';
import { personalDataEventSchemas } from './personal-data/events.js';
import { auditEventSchemas } from './audit/events.js';
import { auditDenialEventSchemas } from './audit/denials.js';
import { tenantNumberEventSchemas } from './tenancy/decider.js';
import { accountNumberEventSchemas } from './account-number/decider.js';
import { apiKeyEventSchemas } from './api-key/events.js';
// [imports]

/** Every event type the service writes, with the schema its data must satisfy. */
export const eventSchemas: Readonly<Record<string, z.ZodType>> = {
  ...organizationEventSchemas,
  ...reservationEventSchemas,
  ...bootstrapEventSchemas,
  ...serviceAccountEventSchemas,
  ...identityProviderEventSchemas,
  ...groupEventSchemas,
  ...userEventSchemas,
  ...projectEventSchemas,
  ...resourceLedgerEventSchemas,
  ...sessionEventSchemas,
  ...authorizationCodeEventSchemas,
  ...credentialEventSchemas,
  ...applicationEventSchemas,
  ...loginFlowEventSchemas,
  ...signupEventSchemas,
  ...ledgerEventSchemas,
  ...personalDataEventSchemas,
  ...auditEventSchemas,
  ...auditDenialEventSchemas,
  ...tenantNumberEventSchemas,
  ...accountNumberEventSchemas,
  ...apiKeyEventSchemas,
  // [schemas]
};

export const isKnownEventType = (type: string): boolean => Object.hasOwn(eventSchemas, type);
