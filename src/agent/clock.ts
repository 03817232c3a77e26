// The agent's only source of time is the shared Clock (src/common/clock.ts): probe periods,
// restart back-off and resync all go through it, so tests drive them with a virtual one.
import { systemClock as wallClock, VirtualClock, type Clock } from '../common/clock.js';

export { sleep } from '../common/clock.js';
export type { TimerHandle } from '../common/clock.js';

export type AgentClock = Clock;

/** The wall clock (timers unref'd). */
export function systemClock(): AgentClock {
  return wallClock;
}

/** A virtual clock starting at a fixed date, so agent tests have realistic timestamps. */
export class ManualClock extends VirtualClock {
  constructor(start = Date.UTC(2026, 0, 1)) {
    super(start);
  }
}
