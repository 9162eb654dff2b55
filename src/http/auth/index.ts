/** Access control for the server (see types.ts): the hook's types, the built-in modes, the principal. */
export { authorizeAgain } from './check.js';
export { principalOf } from './principal.js';
export { signUploadToken, type UploadTokenClaims, verifyUploadToken } from './signed-token.js';
export {
  type AuthAction,
  type Authorize,
  type AuthRequest,
  allow,
  type Decision,
  forbidden,
  unauthorized,
} from './types.js';
