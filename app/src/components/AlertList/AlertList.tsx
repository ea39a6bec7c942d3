import { Alert, Badge, Card, Group, Skeleton, Stack, Text, Title } from '@mantine/core';
import type { JSX } from 'react';
import { activeAlerts, describeAlertsLoadFailure } from '../../lib/alerts.ts';
import type { AlertView } from '../../lib/alerts.ts';
import type { Language } from '../../lib/language.ts';
import { formatDate, formatDateTime } from '../../lib/time.ts';
import { HumanErrorAlert } from '../HumanErrorAlert/HumanErrorAlert.tsx';
import { useActiveAlerts } from './useActiveAlerts.ts';

export interface AlertListProps {
  readonly patientId: string;
  readonly language: Language;
  /** Changes when a recompute may have raised or ended alerts. */
  readonly refreshKey: string;
}

const TEXT = {
  en: {
    title: 'Alerts',
    none: 'No alerts',
    noneDetail: 'None of your alert rules currently finds your measurements outside what you set.',
    since: 'since',
    warning: 'Worth a look',
    info: 'For your information',
  },
  de: {
    title: 'Hinweise',
    none: 'Keine Hinweise',
    noneDetail: 'Keine Ihrer Hinweisregeln findet Ihre Messwerte derzeit außerhalb dessen, was Sie festgelegt haben.',
    since: 'seit',
    warning: 'Einen Blick wert',
    info: 'Zur Information',
  },
} as const;

/**
 * The owner's active alerts on Home, in their language, each with the day it was raised. The texts are the bot's
 * own (descriptive by construction: alerts.ts never names a cause or a condition); this list adds no wording of
 * its own beyond "since" and the severity.
 * @param props - the owner and their language
 * @returns the section
 */
export function AlertList(props: AlertListProps): JSX.Element {
  const state = useActiveAlerts(props.patientId, props.refreshKey);
  const t = TEXT[props.language];
  const alerts = state.status === 'ready' ? activeAlerts(state.flags, state.communications, props.language) : [];

  return (
    <Card withBorder padding="lg" data-testid="alert-list" lang={props.language}>
      <Stack gap="sm">
        <Title order={3}>{t.title}</Title>
        {state.status === 'loading' && <Skeleton height={48} aria-label="Loading your alerts" />}
        {state.status === 'error' && <HumanErrorAlert error={describeAlertsLoadFailure(state.error)} />}
        {state.status === 'ready' && alerts.length === 0 && (
          <div data-testid="alerts-none">
            <Text fw={500}>{t.none}</Text>
            <Text size="sm" c="dimmed">
              {t.noneDetail}
            </Text>
          </div>
        )}
        {alerts.map((a) => (
          <AlertItem key={a.flagId} alert={a} language={props.language} />
        ))}
      </Stack>
    </Card>
  );
}

function AlertItem(props: { readonly alert: AlertView; readonly language: Language }): JSX.Element {
  const { alert, language } = props;
  const t = TEXT[language];
  const since = new Date(alert.since);
  return (
    <Alert
      color={alert.severity === 'warning' ? 'orange' : 'blue'}
      variant="light"
      data-testid="alert-item"
      data-rule={alert.ruleId}
    >
      <Stack gap={4}>
        <Group gap="xs">
          <Badge size="sm" variant="light" color={alert.severity === 'warning' ? 'orange' : 'blue'}>
            {alert.severity === 'warning' ? t.warning : t.info}
          </Badge>
          <Text size="xs" c="dimmed" data-testid="alert-since">
            {t.since}{' '}
            <time dateTime={alert.since} title={formatDateTime(since, language)}>
              {formatDate(since, language)}
            </time>
          </Text>
        </Group>
        <Text size="sm" lang={alert.language} data-testid="alert-text">
          {alert.text}
        </Text>
      </Stack>
    </Alert>
  );
}
