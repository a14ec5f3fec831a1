import { OptionError } from '../errors.js';
import type { Scorer } from '../scorers/types.js';
import { defaultValues, type OptionValues } from './option-spec.js';
import type { Allocation, DecodeScores, LayerSchedule, Method, MethodOptionSpecs } from './types.js';

/** Options the planner itself reads for a layer schedule or an allocation, beyond the scorer's. */
const READ_BY_SCHEDULE: Readonly<Record<LayerSchedule, readonly string[]>> = { uniform: [], pyramid: ['beta'] };
const READ_BY_ALLOCATION: Readonly<Record<Allocation, readonly string[]>> = { uniform: [], adaptive: ['alpha'], joint: ['blockSize', 'maxEvictPerStep'] };

/**
 * Throws unless `method` declares every option its layer schedule and allocation read (`window`
 * always, `beta` for the pyramid, `alpha` for the adaptive split).
 */
export function checkMethodDeclaration(method: Pick<Method, 'name' | 'schedule' | 'allocation' | 'options'>): void {
  if (typeof method.options !== 'object' || method.options === null) {
    throw new OptionError(`Method "${method.name}" declares no options; build it with defineMethod() (or spread an existing method).`);
  }
  const needed = ['window', ...(READ_BY_SCHEDULE[method.schedule] ?? []), ...(READ_BY_ALLOCATION[method.allocation] ?? [])];
  for (const name of needed) {
    if (!Object.hasOwn(method.options, name)) {
      throw new OptionError(
        `Method "${method.name}" (schedule ${method.schedule}, allocation ${method.allocation}) must declare the "${name}" option it reads.`,
      );
    }
  }
}

/** What {@link defineMethod} takes: everything a {@link Method} is but its defaults, which come from `options`. */
export interface MethodDefinition<Name extends string, Specs extends MethodOptionSpecs, S> {
  /** The method's name, as `compress` and the CLI take it. */
  readonly name: Name;
  /** One line for help texts. */
  readonly summary: string;
  /** The paper that introduced it (title and arXiv link). */
  readonly paper: string;
  /** Scores a head's selectable entries; `null` = evict nothing. It may read only options declared below. */
  readonly scorer: S;
  /** How the budget is split across layers (`pyramid` reads `beta`). */
  readonly schedule: LayerSchedule;
  /**
   * How the budget is split across KV heads: per layer (`uniform`; `adaptive` reads `alpha`) or across
   * the whole sequence (`joint` reads `blockSize` and `maxEvictPerStep`).
   */
  readonly allocation: Allocation;
  /** What decode-time eviction selects with: `recent` (default) or `cumulative` (running sums per entry). */
  readonly decodeScores?: DecodeScores;
  /**
   * Every option the method reads, each with its default, its check and a line of documentation:
   * `window` always, the scorer's, `beta` for the pyramid schedule, `alpha` for the adaptive split,
   * `blockSize` and `maxEvictPerStep` for the joint one.
   * Shared ones come from `option-specs.ts`; a new hyperparameter is declared with `option()`.
   */
  readonly options: Specs;
}

/**
 * Defines a compression method in one file: name, summary, paper, scorer, layer schedule, head
 * allocation and the options it reads. The scorer must accept the declared options (a scorer that
 * reads an undeclared option does not compile), and the declaration is checked now: every default
 * passes its own check, and the options the schedule and allocation read are declared.
 */
export function defineMethod<
  const Name extends string,
  const Specs extends MethodOptionSpecs,
  S extends Scorer<OptionValues<Specs>> | null,
>(definition: MethodDefinition<Name, Specs, S>): Method<Name, Specs> & {
  /** The scorer given, with its own type. */
  readonly scorer: S;
} {
  checkMethodDeclaration(definition);
  const method = {
    name: definition.name,
    summary: definition.summary,
    paper: definition.paper,
    scorer: definition.scorer,
    schedule: definition.schedule,
    allocation: definition.allocation,
    ...(definition.decodeScores === undefined ? {} : { decodeScores: definition.decodeScores }),
    options: Object.freeze({ ...definition.options }),
    defaults: defaultValues(definition.options),
  };
  return Object.freeze(method) as Method<Name, Specs> & { readonly scorer: S };
}
