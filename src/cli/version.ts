export { VERSION } from '../common/version.js';
