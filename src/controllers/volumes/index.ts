export { bindClaim, boundNode, claimId, claimsInUse, isClaimRecord, podClaimNames, volumeNameOf, volumePlacement, PVC_PROTECTION, SELECTED_NODE_ANNOTATION } from './claims.js';
export type { ClaimRecord, ClaimStatus, VolumePlacement } from './claims.js';
export { claimsController, claimsReconciler, claimKey, observeClaims, CLAIMS_KEY } from './controller.js';
export type { ClaimsControllerOptions, ClaimsReconcilerOptions } from './controller.js';
export { planClaims } from './plan.js';
export type { ClaimsPlan, ObservedClaims } from './plan.js';
