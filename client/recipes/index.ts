export { lock, tryLock, withLock, type Lock, type LockOptions } from './lock.ts';
export { claimSlot, type SlotClaim, type ClaimOptions } from './slot.ts';
export { elect, Election, type CampaignOptions, type Leader, type Leadership } from './election.ts';
export { register, members, type Registration, type RegistrationState, type MemberChange, type MembersUpdate } from './membership.ts';
export { watchConfig, type ConfigSnapshot } from './config.ts';
export { liveView, type ViewUpdate } from './live-view.ts';
