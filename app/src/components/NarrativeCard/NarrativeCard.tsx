import {
  Alert,
  Anchor,
  Button,
  Card,
  Code,
  Collapse,
  Group,
  List,
  ScrollArea,
  SegmentedControl,
  Skeleton,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core';
import { normalizeErrorString } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import type { JSX } from 'react';
import { priorPeriod } from '../../../../bots/analytics/periods.ts';
import type { PeriodKind } from '../../../../bots/analytics/periods.ts';
import { LANGUAGE_NAMES, LANGUAGES } from '../../lib/language.ts';
import type { Language } from '../../lib/language.ts';
import {
  beatLabel,
  describeNarrativeLoadFailure,
  formatBeatValue,
  formatPeriodSpan,
  derivedFromSearch,
  localDay,
  narrativePeriod,
  periodLength,
  pickNarrative,
  renderGate,
  resolveDerivedFrom,
  sourceName,
} from '../../lib/narratives.ts';
import type { DerivedRef, DerivedRow, NarrativeView } from '../../lib/narratives.ts';
import { HumanErrorAlert } from '../HumanErrorAlert/HumanErrorAlert.tsx';
import { useNarratives } from './useNarratives.ts';

export interface NarrativeCardProps {
  readonly patientId: string;
  readonly language: Language;
  readonly onLanguageChange: (language: Language) => void;
  /** Changes when a recompute may have written new narratives. */
  readonly refreshKey: string;
  /** A history import is still running: no narrative yet is then expected, not a lack of data. */
  readonly importing?: boolean;
  /** Owner-local today; default the browser's. A prop so a test can pin it. */
  readonly today?: string;
}

/** The card speaks the language of the story it shows, so a German reader is not sent through English controls. */
const TEXT = {
  en: {
    title: { week: 'Your week', month: 'Your month' },
    week: 'Week',
    month: 'Month',
    periodKind: 'Summary period',
    language: 'Language',
    howComputed: 'How this was computed',
    hide: 'Hide how this was computed',
    notYet: 'Not enough data yet',
    importing: 'Your history is still being imported; the summary is written once it is in.',
    method: 'Method',
    period: 'Period',
    days: (n: number, kind: PeriodKind, prior: string) =>
      `${n} days, compared with the ${kind === 'week' ? 'week' : 'month'} before (${prior})`,
    sources: 'Sources',
    basedOn: 'Based on these personal-baseline Observations in your record',
    beats: 'The numbers behind the text',
    beat: 'What',
    metric: 'Measurement',
    value: 'Value',
    source: 'Source',
    descriptive:
      'Written from your own numbers by fixed rules, not by a person or an AI. It describes what changed; it does not say why.',
  },
  de: {
    title: { week: 'Ihre Woche', month: 'Ihr Monat' },
    week: 'Woche',
    month: 'Monat',
    periodKind: 'Zeitraum der Zusammenfassung',
    language: 'Sprache',
    howComputed: 'So wurde das berechnet',
    hide: 'Berechnung ausblenden',
    notYet: 'Noch nicht genug Daten',
    importing: 'Ihr Verlauf wird noch importiert; die Zusammenfassung entsteht, sobald er vollständig ist.',
    method: 'Methode',
    period: 'Zeitraum',
    days: (n: number, kind: PeriodKind, prior: string) =>
      `${n} Tage, verglichen mit ${kind === 'week' ? 'der Woche' : 'dem Monat'} davor (${prior})`,
    sources: 'Quellen',
    basedOn: 'Grundlage sind diese Observations (persönlicher Ausgangswert) in Ihrer Akte',
    beats: 'Die Zahlen hinter dem Text',
    beat: 'Was',
    metric: 'Messwert',
    value: 'Wert',
    source: 'Quelle',
    descriptive:
      'Aus Ihren eigenen Zahlen nach festen Regeln geschrieben, nicht von einer Person oder einer KI. Es beschreibt, was sich verändert hat, nicht warum.',
  },
} as const;

/**
 * Home's period narrative: the last complete week or month described against the one before, in English or German,
 * with how it was computed one click away. When the bot found too little data for that period it wrote no
 * narrative, and the card says so in the bot's own words instead of showing an older story.
 * @param props - the owner, their language and its setter
 * @returns the card
 */
export function NarrativeCard(props: NarrativeCardProps): JSX.Element {
  const { language } = props;
  const [kind, setKind] = useState<PeriodKind>('week');
  const state = useNarratives(props.patientId, props.refreshKey);
  const t = TEXT[language];
  const today = props.today ?? localDay(new Date());

  return (
    <Card withBorder padding="lg" data-testid="narrative-card" lang={language}>
      <Stack gap="sm">
        <Group justify="space-between" gap="xs">
          <Title order={3}>{t.title[kind]}</Title>
          <Group gap="xs">
            <SegmentedControl
              size="xs"
              aria-label={t.periodKind}
              value={kind}
              onChange={(v) => setKind(v === 'month' ? 'month' : 'week')}
              data={[
                { value: 'week', label: t.week },
                { value: 'month', label: t.month },
              ]}
              data-testid="narrative-kind"
            />
            <SegmentedControl
              size="xs"
              aria-label={t.language}
              value={language}
              onChange={(v) => props.onLanguageChange(v === 'de' ? 'de' : 'en')}
              data={LANGUAGES.map((l) => ({ value: l, label: LANGUAGE_NAMES[l] }))}
              data-testid="narrative-language"
            />
          </Group>
        </Group>
        {state.status === 'loading' && <Skeleton height={72} aria-label="Loading your summary" />}
        {state.status === 'error' && <HumanErrorAlert error={describeNarrativeLoadFailure(state.error)} />}
        {state.status === 'ready' && (
          <NarrativeBody
            choice={pickNarrative(state.narratives, kind, language, today)}
            language={language}
            importing={props.importing ?? false}
          />
        )}
      </Stack>
    </Card>
  );
}

function NarrativeBody(props: {
  readonly choice: ReturnType<typeof pickNarrative>;
  readonly language: Language;
  readonly importing: boolean;
}): JSX.Element {
  const { choice, language } = props;
  const t = TEXT[language];
  if (choice.status === 'none') {
    return (
      <Alert color="gray" variant="light" title={t.notYet} data-testid="narrative-none">
        {props.importing ? t.importing : renderGate('too-little-history', choice.period, language)}
      </Alert>
    );
  }
  const n = choice.narrative;
  return (
    <Stack gap="xs">
      <Text size="sm" c="dimmed" data-testid="narrative-period">
        {formatPeriodSpan(n.start, n.end, language)}
      </Text>
      <Text data-testid="narrative-text">{n.text}</Text>
      <Provenance narrative={n} language={language} />
    </Stack>
  );
}

function Provenance(props: { readonly narrative: NarrativeView; readonly language: Language }): JSX.Element {
  const { narrative: n, language } = props;
  const [open, setOpen] = useState(false);
  const t = TEXT[language];
  const prior = priorPeriod(narrativePeriod(n));

  return (
    <div>
      <Anchor
        component="button"
        type="button"
        size="sm"
        onClick={() => setOpen((o) => !o)}
        aria-expanded={open}
        aria-controls={`narrative-provenance-${n.id}`}
        data-testid="narrative-provenance-toggle"
      >
        {open ? t.hide : t.howComputed}
      </Anchor>
      <Collapse in={open}>
        <Stack gap="xs" mt="xs" id={`narrative-provenance-${n.id}`} data-testid="narrative-provenance">
          <Text size="sm" c="dimmed">
            {t.descriptive}
          </Text>
          <Text size="sm">
            <b>{t.method}:</b> <span data-testid="narrative-method">{n.method ?? '—'}</span>
          </Text>
          <Text size="sm">
            <b>{t.period}:</b> {formatPeriodSpan(n.start, n.end, language)} ·{' '}
            <span data-testid="narrative-days">
              {t.days(periodLength(n.start, n.end), n.kind, formatPeriodSpan(prior.start, prior.end, language))}
            </span>
          </Text>
          <Text size="sm" data-testid="narrative-sources">
            <b>{t.sources}:</b> {n.sources.length > 0 ? n.sources.map(sourceName).join(', ') : '—'}
          </Text>
          <div>
            <Text size="sm" fw={700}>
              {t.basedOn} ({n.derivedFrom.length}):
            </Text>
            {open && <DerivedFromList refs={n.derivedFrom} />}
          </div>
          {n.beats.length > 0 && (
            <div>
              <Text size="sm" fw={700}>
                {t.beats}
              </Text>
              {/* Every beat is stored, often over a hundred: a bounded box keeps Home readable. */}
              <ScrollArea.Autosize mah={360} type="auto" offsetScrollbars>
                <Table.ScrollContainer minWidth={480}>
                  <Table striped withTableBorder fz="xs" data-testid="narrative-beats">
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>{t.metric}</Table.Th>
                        <Table.Th>{t.beat}</Table.Th>
                        <Table.Th>{t.value}</Table.Th>
                        <Table.Th>{t.source}</Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {n.beats.map((b, i) => (
                        // Components have no id; their order is the bot's and stable for one version.
                        <Table.Tr key={`${b.beat}-${i}`}>
                          <Table.Td>{b.subject}</Table.Td>
                          <Table.Td>{beatLabel(b.beat, language)}</Table.Td>
                          <Table.Td>{formatBeatValue(b.value, language)}</Table.Td>
                          <Table.Td>{b.sources.map(sourceName).join(', ')}</Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </Table.ScrollContainer>
              </ScrollArea.Autosize>
            </div>
          )}
          <Button variant="subtle" size="compact-xs" onClick={() => setOpen(false)} w="fit-content">
            {t.hide}
          </Button>
        </Stack>
      </Collapse>
    </div>
  );
}

/**
 * The Observations a narrative rests on, as the FHIR API names them. The bot names bands by identifier, so they are
 * looked up (one search, ids only) when the owner opens the provenance, not on every visit to Home.
 */
function DerivedFromList(props: { readonly refs: readonly DerivedRef[] }): JSX.Element {
  const medplum = useMedplum();
  const [rows, setRows] = useState<DerivedRow[]>();
  const [error, setError] = useState<string>();
  const { refs } = props;

  useEffect(() => {
    let active = true;
    const query = derivedFromSearch(refs);
    (query ? medplum.searchResources('Observation', query) : Promise.resolve([]))
      .then((found) => {
        if (active) {
          setRows(resolveDerivedFrom(refs, found));
        }
      })
      .catch((err: unknown) => {
        if (active) {
          // The identifiers alone still say which bands these are.
          setError(normalizeErrorString(err));
          setRows(resolveDerivedFrom(refs, []));
        }
      });
    return () => {
      active = false;
    };
  }, [medplum, refs]);

  if (!rows) {
    return <Skeleton height={40} />;
  }
  return (
    <>
      <ScrollArea.Autosize mah={160} type="auto">
        <List size="xs" data-testid="narrative-derived-from" spacing={2}>
          {rows.map((row, i) => (
            <List.Item key={row.reference ?? row.identifier ?? i}>
              <Code data-testid="derived-reference">{row.reference ?? '—'}</Code>
              {row.identifier && (
                <Text span size="xs" c="dimmed">
                  {' '}
                  ({row.identifier})
                </Text>
              )}
            </List.Item>
          ))}
        </List>
      </ScrollArea.Autosize>
      {error && (
        <Text size="xs" c="dimmed">
          {error}
        </Text>
      )}
    </>
  );
}
