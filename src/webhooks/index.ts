export {
  constantTimeEqual,
  deliveryId,
  detectProvider,
  eventName,
  verifyGiteaSignature,
  verifyGithubSignature,
  verifyGitlabToken,
  verifyWebhook,
} from './verify.js';
export type { WebhookHeaders, WebhookProvider } from './verify.js';
export { DeliveryCache } from './dedup.js';
export type { DeliveryCacheOptions } from './dedup.js';
export { matchPush, matchWatched, normalizeRepoUrl, parsePush } from './payload.js';
export type { PushEvent, PushMatch, WatchTarget, WatchedRepository } from './payload.js';
export { isPullRequestEvent, matchPullRequest, parsePullRequest } from './pull-request.js';
export type { PullRequestEvent } from './pull-request.js';
export { createWebhookHandler, DEFAULT_WEBHOOK_BODY_LIMIT, loadWebhookSecret, WEBHOOK_PATH } from './handler.js';
export type { WebhookHandler, WebhookHandlerOptions, WebhookSecretOptions } from './handler.js';
export { SyncCoalescer } from './coalesce.js';
export type { SyncCoalescerOptions, SyncTrigger } from './coalesce.js';
