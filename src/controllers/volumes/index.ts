export { bindClaim, boundNode, claimId, claimsInUse, isClaimRecord, podClaimNames, volumeNameOf, volumePlacement, PVC_PROTECTION, SELECTED_NODE_ANNOTATION } from './claims.js';
export type { ClaimRecord, ClaimStatus, VolumePlacement } from './claims.js';
