/**
 * Import rules checked by `npm run lint` (after turbo's lint): no module of packages/*\/src or
 * apps/*\/src may reach itself through its imports. Type-only imports count (`import type` ties two
 * files together as much as a value import does when someone edits them), so `tsPreCompilationDeps`
 * is on. Run alone: `npx depcruise --config .dependency-cruiser.cjs packages/*\/src apps/*\/src`.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'This module reaches itself through its imports. Move what both sides need into a third module ' +
        '(types into a types file, shared helpers into their own file) so the arrows point one way.',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules'] },
    exclude: { path: ['(^|/)node_modules/', '(^|/)dist/'] },
    // count `import type` and type-only re-exports: a cycle through types is still a cycle
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    // @adakv/* imports resolve to the packages' built dist/ (excluded above); a cycle between
    // packages cannot form: their package.json dependencies are a graph turbo refuses to run cyclic
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'default'],
      mainFields: ['module', 'main'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
