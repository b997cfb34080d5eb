import { z } from 'zod';
import { quotaQuantitySchema } from '../../domain/resource-ledger/events.js';

export const quotaReadSchema = z
  .object({
    kind: z.string(),
    quantity: z.number().int(),
    used: z.number().int(),
    free: z.number().int(),
    committed: z.number().int(),
    reserved: z.number().int(),
    displayName: z.string(),
    description: z.string(),
    default: z.number().int(),
  })
  .meta({ id: 'quotaRead' });

export const quotasReadSchema = z.object({ quotas: z.array(quotaReadSchema) }).meta({ id: 'quotasRead' });

const quotaWriteSchema = quotaQuantitySchema.meta({ id: 'quotaWrite' });

export const quotasWriteSchema = z
  .object({ quotas: z.array(quotaWriteSchema).max(64) })
  .strict()
  .meta({ id: 'quotasWrite' });
