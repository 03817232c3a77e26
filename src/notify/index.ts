// Notifications: workload, rollout and sync happenings → webhooks, Slack and forge commit statuses.
export { notifyController, NOTIFY_CONTROLLER, REASON_FAILED, REASON_SENT } from './controller.js';
export type { NotifyControllerOptions } from './controller.js';
export { DEFAULT_DELIVERY_RETRY, JitteredBackoff, jittered, retrySchedule } from './backoff.js';
export type { DeliveryRetryOptions } from './backoff.js';
export { DELIVERED_PREFIX, NOTIFY_PREFIX, SEEN_PREFIX, appliedNotifications, deliveredKey } from './records.js';
export type { DeliveredRecord } from './records.js';
export { readSecretKey, scrub, sinkCredentials } from './secrets.js';
export { notificationWants, occurrenceFields, selectorMatches } from './select.js';
export type { AppliedNotification } from './select.js';
export { SIGNATURE_HEADER, signBody, verifySignature } from './signature.js';
export { sendToSink, sinkApplies, slackPayload, webhookPayload } from './sinks.js';
export type { DeliveryInput, FetchLike, SendFailure, SendResult, SinkDeps } from './sinks.js';
export { PLAN_COMMENT_MARKER, PLAN_COMMENT_MAX_CHARS, isPlanComment, planCommentBody, upsertPlanComment } from './plan-comment.js';
export type { CommentAction, CommentResult } from './plan-comment.js';
export { DEFAULT_PLAN_TITLE, deliverPlan, planSinkApplies } from './plan-delivery.js';
export type { PlanDeliveryInput, PlanDeliveryOptions, PullRequestRef } from './plan-delivery.js';
export { planOccurrence, planPullRequest, pullRequestPlanner } from './pull-request-plan.js';
export type { PullRequestPlan, PullRequestPlanner, PullRequestPlannerOptions } from './pull-request-plan.js';
export { DEFAULT_BODY, DEFAULT_TITLE, TEMPLATE_LIMITS, renderMessage, renderText } from './template.js';
export {
  WORKLOAD_KINDS,
  occurrenceFromEvent,
  occurrenceFromSync,
  occurrencesFromStatus,
  seenOf,
  statusContext,
  statusDescription,
  statusState,
  triggerOfEvent,
} from './triggers.js';
export type { Occurrence, SeenStatus, StatusState, SyncStateView } from './triggers.js';
