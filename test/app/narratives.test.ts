import type { Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { buildBeats, narrativeObservation, renderNarrative } from '../../bots/analytics/narrative.ts';
import type { Beats, NarrativeInput, SeriesPoint } from '../../bots/analytics/narrative.ts';
import { lastCompletePeriod, monthContaining, priorPeriod, weekContaining } from '../../bots/analytics/periods.ts';
import { dayFromIndex, dayIndex } from '../../bots/analytics/stats.ts';
import type { BandDay, BandStatus } from '../../bots/analytics/stats.ts';
import { CODE_SYSTEM } from '../../bots/shared/systems.ts';
import {
  beatLabel,
  derivedFromSearch,
  formatBeatValue,
  formatPeriodSpan,
  localDay,
  narrativeSearch,
  parseNarrative,
  recomputeCountSearch,
  periodLength,
  pickNarrative,
  resolveDerivedFrom,
} from '../../app/src/lib/narratives.ts';
import type { NarrativeView } from '../../app/src/lib/narratives.ts';

const WEEK = weekContaining('2026-11-04'); // Mon 2 Nov – Sun 8 Nov 2026
const SUBJECT = { reference: 'Patient/p1' };

function days(start: string, values: readonly number[]): SeriesPoint[] {
  const first = dayIndex(start);
  return values.map((value, i) => ({ day: dayFromIndex(first + i), value, source: 'whoop' }));
}

function bandsOf(points: readonly SeriesPoint[], statuses: Readonly<Record<string, BandStatus>>): BandDay[] {
  return points.map((p) => {
    const band = { median: 0, mad: 1, lower: -1, upper: 1, validDays: 28, windowStart: p.day, windowEnd: p.day };
    return { day: p.day, value: p.value, outcome: { ok: true, band }, status: statuses[p.day] ?? 'within' };
  });
}

/** The hand-checkable week of bots/analytics/narrative.test.ts: HRV 60 → 50 ms, resting heart rate 51 → 54. */
function weekBeats(period = WEEK): Beats {
  const prior = priorPeriod(period);
  const rhr = [...days(prior.start, [50, 51, 52, 50, 51, 52, 51]), ...days(period.start, [53, 54, 55, 53, 54, 55, 54])];
  const hrv = [...days(prior.start, [60, 62, 58, 60, 62, 58, 60]), ...days(period.start, [50, 52, 48, 50, 52, 48, 50])];
  const third = dayFromIndex(dayIndex(period.start) + 1);
  const input: NarrativeInput = {
    series: { 'resting-heart-rate': rhr, 'hrv-rmssd': hrv },
    bands: { 'resting-heart-rate': bandsOf(rhr, { [third]: 'above' }) },
    period,
    prior,
    annotations: [{ start: third, end: third, kind: 'ill', note: 'flu' }],
  };
  const outcome = buildBeats(input);
  if (!outcome.ok) {
    throw new Error(`gated: ${outcome.gated}`);
  }
  return outcome.beats;
}

function stored(beats: Beats, locale: 'en' | 'de', id: string): Observation {
  return {
    ...narrativeObservation({
      subject: SUBJECT,
      beats,
      locale,
      derivedFrom: [{ reference: 'Observation/band-rhr' }, { reference: 'Observation/band-hrv' }],
    }),
    id,
  };
}

function parsed(o: Observation): NarrativeView {
  const view = parseNarrative(o);
  if (!view) {
    throw new Error('not parsed');
  }
  return view;
}

describe('narrativeSearch', () => {
  test('both kinds, standing ones only, newest period first, bounded', () => {
    expect(narrativeSearch('p1')).toEqual({
      subject: 'Patient/p1',
      code: `${CODE_SYSTEM}|narrative-weekly,${CODE_SYSTEM}|narrative-monthly`,
      status: 'final,amended,corrected',
      _sort: '-date',
      _count: '24',
    });
  });
});

test('recomputeCountSearch counts the owner’s pending or completed analytics Tasks', () => {
  const base = {
    code: 'https://baseline.health/fhir/CodeSystem/task-type|analytics',
    subject: 'Patient/p1',
    _summary: 'count',
  };
  expect(recomputeCountSearch('p1', 'pending')).toEqual({ ...base, status: 'requested,in-progress' });
  expect(recomputeCountSearch('p1', 'completed')).toEqual({ ...base, status: 'completed' });
});

describe('parseNarrative', () => {
  const beats = weekBeats();
  const en = parsed(stored(beats, 'en', 'n-en'));

  test('the text, the period, the language and the provenance of a stored narrative', () => {
    expect(en).toMatchObject({
      id: 'n-en',
      kind: 'week',
      language: 'en',
      start: '2026-11-02',
      end: '2026-11-08',
      text: renderNarrative(beats, 'en'),
      derivedFrom: [{ reference: 'Observation/band-hrv' }, { reference: 'Observation/band-rhr' }],
      sources: ['whoop'],
    });
    expect(en.method).toMatch(/^narrative template v\d+, analytics parameters v\d+$/);
  });

  test('every component is a beat row with its label, value and sources', () => {
    const row = (beat: string, subject: string) => en.beats.find((b) => b.beat === beat && b.subject === subject);
    expect(row('delta.current-mean', 'HRV (RMSSD)')).toEqual({
      beat: 'delta.current-mean',
      subject: 'HRV (RMSSD)',
      value: { type: 'quantity', value: 50, unit: 'ms' },
      sources: ['whoop'],
    });
    expect(row('delta.current-days', 'HRV (RMSSD)')?.value).toEqual({ type: 'integer', value: 7 });
    expect(row('band.within-to-above', 'Resting heart rate')?.value).toEqual({ type: 'day', day: '2026-11-03' });
    expect(en.beats.find((b) => b.beat === 'annotation.ill')?.value).toEqual({
      type: 'span',
      start: '2026-11-03',
      end: '2026-11-03',
    });
    expect(en.beats.length).toBe(
      narrativeObservation({ subject: SUBJECT, beats, locale: 'en', derivedFrom: [{ reference: 'Observation/x' }] })
        .component?.length
    );
  });

  test('the German narrative is read as German', () => {
    const de = parsed(stored(beats, 'de', 'n-de'));
    expect(de.language).toBe('de');
    expect(de.text).toBe(renderNarrative(beats, 'de'));
    expect(de.text).not.toBe(en.text);
  });

  test('what is not a Baseline narrative in a shown language is skipped', () => {
    const good = stored(beats, 'en', 'x');
    expect(parseNarrative({ ...good, language: 'fr' })).toBeUndefined();
    expect(
      parseNarrative({ ...good, code: { coding: [{ system: CODE_SYSTEM, code: 'personal-baseline' }] } })
    ).toBeUndefined();
    expect(parseNarrative({ ...good, identifier: [], meta: {} })).toBeUndefined();
    expect(parseNarrative({ ...good, valueString: undefined })).toBeUndefined();
    expect(parseNarrative({ ...good, effectivePeriod: { start: '2026-11-02' } })).toBeUndefined();
    expect(parseNarrative({ ...good, id: undefined })).toBeUndefined();
  });
});

describe('derivedFrom by identifier', () => {
  const SYSTEM = 'https://baseline.health/fhir/identifier/derived';
  const logical = parsed({
    ...narrativeObservation({
      subject: SUBJECT,
      beats: weekBeats(),
      locale: 'en',
      derivedFrom: [
        { type: 'Observation', identifier: { system: SYSTEM, value: 'p1/hrv-rmssd/personal-baseline/2026-11-08' } },
        { reference: 'Observation/literal' },
        {
          type: 'Observation',
          identifier: { system: SYSTEM, value: 'p1/resting-heart-rate/personal-baseline/2026-11-08' },
        },
      ],
    }),
    id: 'n',
  });

  test('logical references are kept with their identifier', () => {
    expect(logical.derivedFrom).toContainEqual({
      identifier: { system: SYSTEM, value: 'p1/hrv-rmssd/personal-baseline/2026-11-08' },
    });
    expect(logical.derivedFrom).toContainEqual({ reference: 'Observation/literal' });
    expect(logical.derivedFrom).toHaveLength(3);
  });

  test('one search finds the ones named by identifier; literal ones need none', () => {
    expect(derivedFromSearch(logical.derivedFrom)).toEqual({
      identifier: [
        `${SYSTEM}|p1/hrv-rmssd/personal-baseline/2026-11-08`,
        `${SYSTEM}|p1/resting-heart-rate/personal-baseline/2026-11-08`,
      ].join(','),
      _elements: 'id,identifier',
      _count: '2',
    });
    expect(derivedFromSearch([{ reference: 'Observation/x' }])).toBeUndefined();
  });

  test('resolved to ids in the narrative’s order; one not found stays named by its identifier', () => {
    const found: Observation[] = [
      {
        resourceType: 'Observation',
        id: 'band-1',
        status: 'final',
        code: {},
        identifier: [{ system: SYSTEM, value: 'p1/hrv-rmssd/personal-baseline/2026-11-08' }],
      },
    ];
    const rows = resolveDerivedFrom(logical.derivedFrom, found);
    expect(rows).toContainEqual({
      reference: 'Observation/band-1',
      identifier: 'p1/hrv-rmssd/personal-baseline/2026-11-08',
    });
    expect(rows).toContainEqual({ reference: 'Observation/literal', identifier: undefined });
    expect(rows).toContainEqual({
      reference: undefined,
      identifier: 'p1/resting-heart-rate/personal-baseline/2026-11-08',
    });
    expect(rows.map((r) => r.identifier ?? r.reference)).toEqual(
      logical.derivedFrom.map((r) => ('reference' in r ? r.reference : r.identifier.value))
    );
  });
});

describe('pickNarrative', () => {
  const thisWeek = weekBeats(WEEK);
  const weekBefore = weekBeats(priorPeriod(WEEK));
  const all = [
    parsed(stored(weekBefore, 'en', 'old-en')),
    parsed(stored(thisWeek, 'de', 'new-de')),
    parsed(stored(thisWeek, 'en', 'new-en')),
    parsed(stored(weekBefore, 'de', 'old-de')),
  ];

  test('the last complete week in the owner language', () => {
    // Any day of the following week makes Mon 2 – Sun 8 Nov the last complete week.
    for (const today of ['2026-11-09', '2026-11-12', '2026-11-15']) {
      expect(pickNarrative(all, 'week', 'en', today)).toMatchObject({ status: 'ready', narrative: { id: 'new-en' } });
      expect(pickNarrative(all, 'week', 'de', today)).toMatchObject({ status: 'ready', narrative: { id: 'new-de' } });
    }
  });

  test('an older week is not shown as the current one: the period that has none is named', () => {
    const choice = pickNarrative(all, 'week', 'en', '2026-11-16');
    expect(choice).toEqual({ status: 'none', period: lastCompletePeriod('week', '2026-11-16') });
  });

  test('a narrative of a later period (the bot already in the owner’s tomorrow) is shown', () => {
    expect(pickNarrative(all, 'week', 'en', '2026-11-08')).toMatchObject({
      status: 'ready',
      narrative: { id: 'new-en' },
    });
  });

  test('no narrative of the kind or the language: none', () => {
    expect(pickNarrative(all, 'month', 'en', '2026-11-09')).toEqual({
      status: 'none',
      period: monthContaining('2026-10-01'),
    });
    expect(
      pickNarrative(
        all.filter((n) => n.language === 'de'),
        'week',
        'en',
        '2026-11-09'
      ).status
    ).toBe('none');
    expect(pickNarrative([], 'week', 'de', '2026-11-09').status).toBe('none');
  });
});

describe('formatting', () => {
  test('period spans in both languages, the year once unless the span crosses New Year', () => {
    expect(formatPeriodSpan('2026-11-02', '2026-11-08', 'en')).toBe('Mon 2 Nov – Sun 8 Nov 2026');
    expect(formatPeriodSpan('2026-11-02', '2026-11-08', 'de')).toBe('Mo., 2. Nov. – So., 8. Nov. 2026');
    expect(formatPeriodSpan('2026-12-28', '2027-01-03', 'en')).toBe('Mon 28 Dec 2026 – Sun 3 Jan 2027');
  });

  test('period length counts both ends', () => {
    expect(periodLength('2026-11-02', '2026-11-08')).toBe(7);
    expect(periodLength('2026-02-01', '2026-02-28')).toBe(28);
    // Across the DST change in Europe (25 Oct 2026): still whole days.
    expect(periodLength('2026-10-01', '2026-10-31')).toBe(31);
  });

  test('beat labels, including transitions and notes, and unknown codes as written', () => {
    expect(beatLabel('delta.current-mean', 'en')).toBe('Average, this period');
    expect(beatLabel('delta.current-mean', 'de')).toBe('Mittelwert, dieser Zeitraum');
    expect(beatLabel('band.within-to-above', 'en')).toBe('Moved: within range → above range');
    expect(beatLabel('band.no-band-to-below', 'de')).toBe('Wechsel: noch kein Bereich → unter dem Bereich');
    expect(beatLabel('annotation.travelling', 'en')).toBe('Your note');
    expect(beatLabel('something.new', 'de')).toBe('something.new');
  });

  test('beat values with the language’s separators and units', () => {
    expect(formatBeatValue({ type: 'quantity', value: 1234.5, unit: 'ms' }, 'en')).toBe('1,235 ms');
    expect(formatBeatValue({ type: 'quantity', value: 33.75, unit: '°C' }, 'de')).toBe('33,8 °C');
    expect(formatBeatValue({ type: 'quantity', value: -16.6667, unit: '%' }, 'en')).toBe('\u221216.7%');
    expect(formatBeatValue({ type: 'quantity', value: -16.6667, unit: '%' }, 'de')).toBe('\u221216,7 %');
    expect(formatBeatValue({ type: 'quantity', value: 0.6123, unit: '' }, 'en')).toBe('0.612');
    expect(formatBeatValue({ type: 'integer', value: 7 }, 'de')).toBe('7');
    expect(formatBeatValue({ type: 'day', day: '2026-11-03' }, 'en')).toBe('Tue 3 Nov 2026');
    expect(formatBeatValue({ type: 'span', start: '2026-11-03', end: '2026-11-04' }, 'en')).toBe(
      'Tue 3 Nov – Wed 4 Nov 2026'
    );
  });

  test('localDay is the browser-local calendar day', () => {
    expect(localDay(new Date(2026, 10, 9, 0, 30))).toBe('2026-11-09');
    expect(localDay(new Date(2026, 0, 1, 23, 59))).toBe('2026-01-01');
  });
});
