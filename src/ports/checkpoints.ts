import type { GlobalPosition } from './event-store.js';

/**
 * Durable checkpoints for process managers, which must resume after a crash
 * exactly where they stopped (read models rebuilt in memory need none).
 */
export interface CheckpointStore {
  load(name: string): Promise<GlobalPosition | undefined>;
  save(name: string, position: GlobalPosition): Promise<void>;
  close(): Promise<void>;
}
