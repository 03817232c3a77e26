// A small deterministic cluster for stepping rollouts: a ReplicaSet-like controller that
// creates and deletes pods to match each revision's replicas (deleting not-ready pods first,
// then ready-but-not-available, then the most recently ready, as Kubernetes does), pods that
// turn ready after a seeded delay, and terminating pods that linger for a while.

import { nextRolloutAction, summarizePods } from '../../src/rollout/index.js';
import type { RevisionState, RolloutDecision, RolloutInput, RolloutStatus, StrategySpec } from '../../src/rollout/index.js';

interface SimPod {
  readyAt: number; // ms; Infinity = never
  terminatingUntil: number | null;
}

interface SimRevision {
  name: string;
  revisionNumber: number;
  replicas: number;
  pods: SimPod[];
}

export interface SimOptions {
  strategy: StrategySpec;
  replicas: number;
  minReadySeconds?: number;
  progressDeadlineSeconds?: number;
  /** Pods of the old revision at the start, all available. */
  oldReplicas?: number;
  /** Old pods that never become ready. */
  unhealthyOld?: number;
  /** Seconds until a new pod is ready: [min, max], or Infinity for never. */
  readyDelay?: [number, number] | number;
  terminationSeconds?: number;
  seed?: number;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class RolloutSim {
  now = 1_000_000;
  lastProgressAt = this.now;
  previousStatus: RolloutStatus | undefined;
  paused = false;
  readonly old: SimRevision;
  readonly next: SimRevision;
  private readonly random: () => number;

  constructor(readonly opts: SimOptions) {
    this.random = rng(opts.seed ?? 1);
    const oldN = opts.oldReplicas ?? opts.replicas;
    const unhealthy = opts.unhealthyOld ?? 0;
    this.old = {
      name: 'web-old',
      revisionNumber: 1,
      replicas: oldN,
      pods: Array.from({ length: oldN }, (_, i) => ({
        readyAt: i < unhealthy ? Infinity : this.now - 3_600_000,
        terminatingUntil: null,
      })),
    };
    this.next = { name: 'web-new', revisionNumber: 2, replicas: 0, pods: [] };
  }

  private counts(r: SimRevision) {
    const pods = r.pods.map((p) => ({
      ready: p.terminatingUntil === null && p.readyAt <= this.now,
      readySince: p.readyAt,
      terminating: p.terminatingUntil !== null,
    }));
    return summarizePods(pods, this.opts.minReadySeconds ?? 0, this.now).counts;
  }

  state(r: SimRevision): RevisionState {
    return { name: r.name, revisionNumber: r.revisionNumber, replicas: r.replicas, pods: this.counts(r) };
  }

  input(): RolloutInput {
    return {
      strategy: this.opts.strategy,
      replicas: this.opts.replicas,
      minReadySeconds: this.opts.minReadySeconds ?? 0,
      progressDeadlineSeconds: this.opts.progressDeadlineSeconds ?? 600,
      paused: this.paused,
      now: this.now,
      lastProgressAt: this.lastProgressAt,
      newRevision: this.state(this.next),
      oldRevisions: [this.state(this.old)],
      previousStatus: this.previousStatus,
    };
  }

  /** One controller pass, then the ReplicaSet controller, then one second passes. */
  step(): RolloutDecision {
    const d = nextRolloutAction(this.input());
    this.lastProgressAt = d.lastProgressAt;
    this.previousStatus = d.status;
    for (const s of d.scale) {
      const r = s.revision === this.next.name ? this.next : this.old;
      r.replicas = s.replicas;
    }
    this.reconcilePods(this.old);
    this.reconcilePods(this.next);
    return d;
  }

  /** Lets one second pass: pods turn ready, terminating pods go away. */
  tick(): void {
    this.now += 1000;
    for (const r of [this.old, this.next]) {
      r.pods = r.pods.filter((p) => p.terminatingUntil === null || p.terminatingUntil > this.now);
    }
  }

  private reconcilePods(r: SimRevision): void {
    const live = r.pods.filter((p) => p.terminatingUntil === null);
    if (live.length < r.replicas) {
      for (let i = live.length; i < r.replicas; i++) r.pods.push({ readyAt: this.now + this.delay(), terminatingUntil: null });
    } else if (live.length > r.replicas) {
      const minReady = (this.opts.minReadySeconds ?? 0) * 1000;
      const rank = (p: SimPod): number => {
        if (p.readyAt > this.now) return 0; // not ready
        if (minReady > 0 && p.readyAt + minReady >= this.now) return 1; // ready, not yet available
        return 2;
      };
      // Kubernetes deletes not-ready pods first, then those ready for the shortest time.
      const order = [...live].sort((a, b) => rank(a) - rank(b) || b.readyAt - a.readyAt);
      const until = this.now + (this.opts.terminationSeconds ?? 2) * 1000;
      for (const p of order.slice(0, live.length - r.replicas)) p.terminatingUntil = until;
    }
  }

  private delay(): number {
    const d = this.opts.readyDelay ?? [1, 4];
    if (typeof d === 'number') return d === Infinity ? Infinity : d * 1000;
    return (d[0] + Math.floor(this.random() * (d[1] - d[0] + 1))) * 1000;
  }
}
