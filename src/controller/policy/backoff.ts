import { formatDuration } from "../../config/duration.js";
import {
  type ActionOrigin,
  ALLOW,
  type BackoffState,
  blocked,
  type GateResult,
  type RemediationConfig,
} from "./types.js";

export type BackoffConfig = RemediationConfig["backoff"];

/**
 * Wait after the n-th automatic action on a key: initial × factor^(n−1), never above max.
 * Computed in closed form and clamped, so a large n saturates at max instead of overflowing to
 * Infinity/NaN or wrapping to zero (Argo CD #20976: a self-heal backoff whose cap did not hold).
 */
export function backoffDelay(attempts: number, config: BackoffConfig): number {
  if (attempts <= 0 || config.initial <= 0) return 0;
  if (config.initial >= config.max) return config.max;
  const delay = config.initial * config.factor ** (attempts - 1);
  if (!Number.isFinite(delay) || delay >= config.max) return config.max;
  return Math.round(delay);
}

/** An automatic action on the key ran (or was queued) at `at`: the next one waits longer. */
export function recordAttempt(
  state: BackoffState | undefined,
  config: BackoffConfig,
  at: number,
): BackoffState {
  const attempts = (state?.attempts ?? 0) + 1;
  return { attempts, nextAt: at + backoffDelay(attempts, config) };
}

/**
 * The action finished at `finishedAt`: the wait counts from then, so a long apply does not eat
 * its own backoff. Never shortens an earlier deadline.
 */
export function recordFinish(state: BackoffState, config: BackoffConfig, finishedAt: number): BackoffState {
  return { ...state, nextAt: Math.max(state.nextAt, finishedAt + backoffDelay(state.attempts, config)) };
}

/**
 * The key's hosts have been healthy for `healthyForMs`. Only sustained health resets the
 * backoff; a brief recovery between failures must not (Argo CD #21599: a flapping application
 * whose backoff restarted from the initial delay each time). Returns undefined when reset.
 */
export function resetAfterHealth(
  state: BackoffState | undefined,
  healthyForMs: number,
  config: BackoffConfig,
): BackoffState | undefined {
  if (!state) return undefined;
  return healthyForMs >= config.resetAfter ? undefined : state;
}

export interface BackoffInput {
  key: string;
  state: BackoffState | undefined;
  origin: ActionOrigin;
}

export function backoffGate(input: BackoffInput, now: number): GateResult {
  if (input.origin.manual || !input.state || input.state.nextAt <= now) return ALLOW;
  const wait = formatDuration(input.state.nextAt - now);
  return blocked(
    "backoff",
    `${input.key}: backing off after ${input.state.attempts} attempt(s), ${wait} left`,
    input.state.nextAt,
  );
}
