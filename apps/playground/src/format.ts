/** The playground's byte figures use the SDK's formatting, so the CLI and the page read the same. */
export { formatBytes } from '@adakv/core';
