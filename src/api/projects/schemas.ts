import { z } from 'zod';
import { organizationScopedResourceReadMetadataSchema } from '../organizations/schemas.js';
import { organizationPathSchema, resourceWriteMetadataSchema } from '../organizations/schemas.js';

export const idSchema = z.string().min(1).max(128);

const projectSpecWriteSchema = z
  .object({ groupIDs: z.array(idSchema).max(256).default([]) })
  .strict()
  .meta({ id: 'projectSpec' });

export const projectWriteSchema = z
  .object({ metadata: resourceWriteMetadataSchema, spec: projectSpecWriteSchema })
  .strict()
  .meta({ id: 'projectWrite' });
export type ProjectWrite = z.infer<typeof projectWriteSchema>;

export const projectReadSchema = z
  .object({ metadata: organizationScopedResourceReadMetadataSchema, spec: z.object({ groupIDs: z.array(z.string()) }) })
  .meta({ id: 'projectRead' });

export const projectsSchema = z.array(projectReadSchema).meta({ id: 'projects' });

export const projectPathSchema = organizationPathSchema.extend({ projectID: idSchema });
