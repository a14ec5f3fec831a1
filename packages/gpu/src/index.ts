export { alignTo } from './uniforms.js';
