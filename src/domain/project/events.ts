import { z } from 'zod';
import { descriptionSchema, resourceNameSchema, tagSchema } from '../shared/resource.js';

/** A project's full state rides on its created/updated events, so a projection needs nothing else. */
const projectDetails = {
  projectId: z.string(),
  organizationId: z.string(),
  name: resourceNameSchema,
  description: descriptionSchema.optional(),
  tags: z.array(tagSchema),
  groupIDs: z.array(z.string()),
};

export const projectEventSchemas = {
  'project.created': z.object(projectDetails),
  'project.updated': z.object(projectDetails),
  /** There is nothing outside the log to set up: the provisioning process records that it has seen the project. */
  'project.provisioned': z.object({ projectId: z.string(), organizationId: z.string() }),
  'project.provisioning_failed': z.object({ projectId: z.string(), organizationId: z.string(), reason: z.string() }),
  /** A group it listed was deleted: it grants nothing here any more. */
  'project.group_removed': z.object({ projectId: z.string(), organizationId: z.string(), groupId: z.string() }),
  'project.deletion_requested': z.object({ projectId: z.string(), organizationId: z.string() }),
  /** The deletion stopped for good (the reason says why); a new deletion request starts it again. */
  'project.deletion_failed': z.object({ projectId: z.string(), organizationId: z.string(), reason: z.string() }),
  'project.deleted': z.object({ projectId: z.string(), organizationId: z.string(), name: resourceNameSchema }),
} as const;

type Schemas = typeof projectEventSchemas;
export type ProjectEvent = {
  [Type in keyof Schemas]: { type: Type; data: z.infer<Schemas[Type]> };
}[keyof Schemas];

export const projectStream = (projectId: string): string => `project-${projectId}`;
