/** What one instance tells the others about password attempts (docs/cluster.md). */
export type ThrottleNews = {
  readonly kind: 'failed' | 'succeeded';
  readonly account: string;
  readonly source: string;
  /** A failure's free attempts (the organization's maximum_password_attempts), when its policy sets them. */
  readonly freeFailures?: number;
};

/**
 * Carries password failures and successes between instances on one database,
 * so that the progressive delays of the login throttle hold across them: an
 * attacker spreading guesses over every instance behind the load balancer
 * meets the same delays as against one. Best effort and fast (milliseconds);
 * never the instance's own news back to it.
 */
export interface ThrottleRelay {
  publish(news: ThrottleNews): void;
  subscribe(listener: (news: ThrottleNews) => void): void;
  close(): Promise<void>;
}
