import { z } from 'zod';
import { allocationSpecSchema, resourceAllocationSchema } from '../../domain/resource-ledger/events.js';
import { organizationScopedResourceReadMetadataSchema } from '../organizations/schemas.js';
import { resourceWriteMetadataSchema } from '../organizations/schemas.js';
import { idSchema, projectPathSchema } from '../projects/schemas.js';

export const projectScopedResourceReadMetadataSchema = organizationScopedResourceReadMetadataSchema
  .extend({ projectId: z.string() })
  .meta({ id: 'projectScopedResourceReadMetadata' });

const resourceAllocationWriteSchema = resourceAllocationSchema.meta({ id: 'resourceAllocation' });

const allocationSpecWriteSchema = allocationSpecSchema
  .extend({ allocations: z.array(resourceAllocationWriteSchema).max(64) })
  .meta({ id: 'allocationSpec' });

export const allocationWriteSchema = z
  .object({ metadata: resourceWriteMetadataSchema, spec: allocationSpecWriteSchema })
  .strict()
  .meta({ id: 'allocationWrite' });
export type AllocationWrite = z.infer<typeof allocationWriteSchema>;

export const allocationReadSchema = z
  .object({
    metadata: projectScopedResourceReadMetadataSchema,
    spec: z.object({
      kind: z.string(),
      id: z.string(),
      allocations: z.array(z.object({ kind: z.string(), committed: z.number().int(), reserved: z.number().int() })),
    }),
  })
  .meta({ id: 'allocationRead' });

export const allocationsSchema = z.array(allocationReadSchema).meta({ id: 'allocations' });

export const allocationPathSchema = projectPathSchema.extend({ allocationID: idSchema });
