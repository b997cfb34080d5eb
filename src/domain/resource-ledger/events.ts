import { z } from 'zod';
import { descriptionSchema, resourceNameSchema, tagSchema } from '../shared/resource.js';

/** A resource kind named by the quota catalogue: clusters, servers, gpus. */
export const resourceKindSchema = z.string().min(1).max(63);
const amountSchema = z.number().int().min(0).max(1_000_000_000);

/** The seed's resourceAllocation: how much of one kind an allocation holds. */
export const resourceAllocationSchema = z.object({ kind: resourceKindSchema, committed: amountSchema, reserved: amountSchema }).strict();
export type ResourceAllocation = z.infer<typeof resourceAllocationSchema>;

/** The seed's allocationSpec: the resource that owns the allocation, and its amounts per kind. */
export const allocationSpecSchema = z
  .object({
    kind: z.string().min(1).max(256),
    id: z.string().min(1).max(256),
    allocations: z.array(resourceAllocationSchema).max(64),
  })
  .strict();
export type AllocationSpec = z.infer<typeof allocationSpecSchema>;

export const quotaQuantitySchema = z.object({ kind: resourceKindSchema, quantity: amountSchema }).strict();
export type QuotaQuantity = z.infer<typeof quotaQuantitySchema>;

const allocationRef = { organizationId: z.string(), projectId: z.string(), allocationId: z.string() };
const allocationDetails = {
  ...allocationRef,
  name: resourceNameSchema,
  description: descriptionSchema.optional(),
  tags: z.array(tagSchema),
  spec: allocationSpecSchema,
};

/**
 * Every change to an organization's quotas and allocations goes to one stream
 * per organization, so that the quota check and the change it guards are one
 * append with an expected revision: concurrent writers cannot over-commit.
 */
export const resourceLedgerEventSchemas = {
  'quotas.updated': z.object({ organizationId: z.string(), quotas: z.array(quotaQuantitySchema) }),
  'allocation.created': z.object(allocationDetails),
  'allocation.updated': z.object(allocationDetails),
  'allocation.deleted': z.object(allocationRef),
  /** A project being deleted: its allocations are gone and it takes no new ones. */
  'resource_ledger.project_closed': z.object({ organizationId: z.string(), projectId: z.string() }),
  /** The organization is being deleted: its quotas are gone and the ledger takes no more changes. */
  'resource_ledger.closed': z.object({ organizationId: z.string() }),
} as const;

type Schemas = typeof resourceLedgerEventSchemas;
export type ResourceLedgerEvent = {
  [Type in keyof Schemas]: { type: Type; data: z.infer<Schemas[Type]> };
}[keyof Schemas];

export const resourceLedgerStream = (organizationId: string): string => `resource-ledger-${organizationId}`;
