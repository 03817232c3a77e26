// Runs a set of controllers, on every instance or, with leader election, only on the
// elected leader: started on winning, stopped on losing, so at most one instance acts.
import type { Logger } from 'pino';
import { silentLogger } from '../../common/index.js';
import type { Controller } from './controller.js';
import { LeaderElector, type LeaderElectorOptions } from './leader.js';

export interface ControllerManagerOptions {
  controllers: Controller[];
  /** Absent: controllers run here unconditionally (a single instance). */
  leaderElection?: Omit<LeaderElectorOptions, 'onStartedLeading' | 'onStoppedLeading'>;
  logger?: Logger;
}

export class ControllerManager {
  readonly controllers: readonly Controller[];
  readonly elector: LeaderElector | undefined;
  private readonly logger: Logger;
  private running = false;

  constructor(options: ControllerManagerOptions) {
    this.controllers = options.controllers;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'controller-manager' });
    this.elector = options.leaderElection
      ? new LeaderElector({
          ...options.leaderElection,
          logger: options.leaderElection.logger ?? options.logger,
          onStartedLeading: () => this.startAll(),
          onStoppedLeading: () => this.stopAll(),
        })
      : undefined;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.elector) this.elector.start();
    else this.startAll();
  }

  /** Stops the controllers and, with election, gives up leadership (revoking the lease). */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.elector) await this.elector.stop(options);
    await this.stopAll();
  }

  private startAll(): void {
    this.logger.info({ controllers: this.controllers.map((c) => c.name) }, 'starting controllers');
    for (const c of this.controllers) c.start();
  }

  private async stopAll(): Promise<void> {
    await Promise.all(this.controllers.map((c) => c.stop()));
  }
}
