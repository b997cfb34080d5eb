import { z } from 'zod';

/** A Kubernetes label value: at most 63 characters, alphanumerics with - _ . inside. */
export const KUBERNETES_LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export const resourceNameSchema = z
  .string()
  .regex(KUBERNETES_LABEL_VALUE, 'must be a valid Kubernetes label value: 1-63 characters, alphanumeric at both ends, - _ . inside');

export const tagSchema = z.object({ name: z.string().min(1).max(256), value: z.string().max(1024) }).strict();
export type Tag = z.infer<typeof tagSchema>;

export const descriptionSchema = z.string().max(1024);

export type ProvisioningStatus = 'unknown' | 'provisioning' | 'provisioned' | 'deprovisioning' | 'error';
export type HealthStatus = 'unknown' | 'healthy' | 'degraded' | 'error';
