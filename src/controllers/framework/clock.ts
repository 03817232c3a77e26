// The framework's time is the shared Clock (src/common/clock.ts).
export { systemClock, VirtualClock } from '../../common/clock.js';
export type { Clock, TimerHandle } from '../../common/clock.js';
