/**
 * The narrative's own tunable numbers (issue 8 §4). The statistics it reuses (band window, BH q, minimum paired days)
 * stay in params.ts; these decide what a period narrative says. A narrative Observation records `version`, so
 * changing a value here must bump it.
 */
import type { PeriodKind } from './periods.ts';

export interface NarrativeParams {
  readonly version: number;
  /** Days with a value a metric needs in the period AND in the prior period before its change is described. */
  readonly minDays: Readonly<Record<PeriodKind, number>>;
  /**
   * Calendar days of the window drivers are screened over: the period itself when it is at least this long (a
   * month), else this many days ending on the period's last day (a week).
   */
  readonly driverWindowDays: number;
  /** Metrics outside their band on one day before that day is a coincident-deviation day. */
  readonly coincidentMinMetrics: number;
  /** Metric changes named in the text (largest first); every change is still stored as components. */
  readonly maxDeltasInText: number;
  /** Associations named in the text (smallest q first); every surviving one is still stored. */
  readonly maxDriversInText: number;
  /** Metrics whose days outside their band are named in the text (most days first). */
  readonly maxBandsInText: number;
  /** A metric's transitions are listed in the text only up to this many; beyond, its day counts say enough. */
  readonly maxTransitionsInText: number;
  /** Coincident-deviation days named in the text (most metrics first); the rest are counted. */
  readonly maxCoincidentInText: number;
}

export const NARRATIVE_PARAMS: NarrativeParams = Object.freeze({
  version: 1,
  minDays: Object.freeze({
    // A majority of the week on both sides: one or two readings are an anecdote, not a week's level.
    week: 4,
    // Half of the shortest month, the same share band.minValidDays asks of a band's window.
    month: 14,
  }),
  // A week has 7 days, below drivers.minPairedDays (14) where Spearman's t-approximation is unreliable, so a weekly
  // narrative reads associations over the 28 days ending with the week: the band's window length, four of each weekday.
  driverWindowDays: 28,
  // The definition: two or more metrics outside their bands on the same day.
  coincidentMinMetrics: 2,
  // A paragraph a person reads in one go; the components keep everything.
  maxDeltasInText: 5,
  maxDriversInText: 3,
  maxBandsInText: 3,
  // Two spells outside (out, back, out, back); a month of a restless metric would otherwise fill the paragraph.
  maxTransitionsInText: 4,
  maxCoincidentInText: 3,
});
