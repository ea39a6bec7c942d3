import {
  ActionIcon,
  Badge,
  Button,
  Card,
  Group,
  NumberInput,
  SegmentedControl,
  Skeleton,
  Stack,
  Switch,
  Table,
  Text,
  Title,
} from '@mantine/core';
import { useState } from 'react';
import type { JSX } from 'react';
import { ruleDescription } from '../../../../bots/analytics/alerts.ts';
import type { AlertRule } from '../../../../bots/analytics/alerts.ts';
import type { PreferencesInput, PreferencesResult } from '../../../../bots/analytics/owner-api.ts';
import { HumanErrorAlert } from '../../components/HumanErrorAlert/HumanErrorAlert.tsx';
import { sourceName } from '../../lib/narratives.ts';
import { describePreferencesFailure, formToRule, moveSource, ruleToForm } from '../../lib/preferences.ts';
import type { NumberField, RatioForm, RuleField, RuleForm, StreakForm } from '../../lib/preferences.ts';
import { usePreferences } from './usePreferences.ts';
import { YourDataCard } from './YourDataCard.tsx';

type RuleEntry = PreferencesResult['rules'][number];
type LadderEntry = PreferencesResult['sourcePriority'][number];
type Source = LadderEntry['defaults'][number];
type Change = (input: PreferencesInput) => Promise<string | undefined>;

/**
 * `/settings`: the owner's alert rules (on/off, thresholds, back to the default) and, for measurements more than
 * one of their devices can record, which device's value counts for a day. Every change goes to the `preferences`
 * bot, which stores it and queues a recompute; the page then shows what the bot says is stored.
 * @returns the Settings page
 */
export function SettingsPage(): JSX.Element {
  const { preferences, loadError, reload, change } = usePreferences();

  return (
    <Stack maw={960} mx="auto" gap="lg">
      <div>
        <Title order={2}>Settings</Title>
        <Text c="dimmed">
          What Baseline alerts you about, and which device counts when several measure the same thing.
        </Text>
      </div>

      {!preferences && !loadError && <Skeleton height={160} aria-label="Loading your settings" />}
      {loadError && (
        <HumanErrorAlert error={describePreferencesFailure('load', loadError)} data-testid="settings-load-error">
          <Button size="xs" variant="light" color="red" onClick={reload}>
            Try again
          </Button>
        </HumanErrorAlert>
      )}

      {preferences && (
        <>
          <Stack gap="sm">
            <Title order={3}>Alert rules</Title>
            <Text size="sm" c="dimmed">
              A rule compares your recent measurements with your own usual values. When one fires, Home shows an alert
              until the measurements are back. Alerts describe your numbers; they are not a diagnosis.
            </Text>
            {preferences.rules.map((entry) => (
              <RuleCard key={entry.rule.id} entry={entry} change={change} />
            ))}
          </Stack>

          <Stack gap="sm">
            <Title order={3}>Preferred sources</Title>
            <Text size="sm" c="dimmed">
              When more than one device records the same measurement on a day, Baseline uses the first one in this order
              that has a value. Your baselines, trends and summaries are recomputed after a change.
            </Text>
            <Card withBorder padding={0}>
              <Table.ScrollContainer minWidth={560}>
                <Table verticalSpacing="xs" data-testid="source-ladders">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Measurement</Table.Th>
                      <Table.Th>Order (first with a value counts)</Table.Th>
                      <Table.Th />
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {preferences.sourcePriority.map((entry) => (
                      <LadderRow key={entry.metric} entry={entry} change={change} />
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </Card>
          </Stack>
        </>
      )}

      <YourDataCard />
    </Stack>
  );
}

function ruleOrigin(entry: RuleEntry): { label: string; color: string } {
  if (!entry.isDefault) {
    return { label: 'Added by you', color: 'grape' };
  }
  return entry.custom ? { label: 'Changed by you', color: 'teal' } : { label: 'Default', color: 'gray' };
}

function RuleCard(props: { readonly entry: RuleEntry; readonly change: Change }): JSX.Element {
  const { entry, change } = props;
  const { rule } = entry;
  const [editing, setEditing] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const origin = ruleOrigin(entry);
  const description = ruleDescription(rule, 'en');

  const send = async (input: PreferencesInput): Promise<boolean> => {
    setBusy(true);
    setError(undefined);
    const failure = await change(input);
    setBusy(false);
    setError(failure);
    return failure === undefined;
  };

  return (
    <Card withBorder padding="md" data-testid={`rule-${rule.id}`}>
      <Stack gap="xs">
        <Group justify="space-between" wrap="nowrap" align="flex-start">
          <Stack gap={4}>
            <Text fw={600} data-testid="rule-description">
              {description}
            </Text>
            <Group gap="xs">
              <Badge size="sm" variant="light" color={origin.color} data-testid="rule-origin">
                {origin.label}
              </Badge>
              <Badge size="sm" variant="outline" color={rule.severity === 'warning' ? 'orange' : 'blue'}>
                {rule.severity === 'warning' ? 'Warning' : 'Information'}
              </Badge>
              <Text size="xs" c="dimmed">
                Quiet for {rule.cooldownHours} h after it fires
              </Text>
            </Group>
          </Stack>
          <Switch
            checked={rule.enabled}
            disabled={busy}
            label={rule.enabled ? 'On' : 'Off'}
            aria-label={`Alert rule on: ${description}`}
            data-testid="rule-enabled"
            onChange={(e) => void send({ action: 'set-rule', rule: { ...rule, enabled: e.currentTarget.checked } })}
          />
        </Group>
        {error && <HumanErrorAlert error={describePreferencesFailure('save', error)} data-testid="rule-error" />}
        {editing ? (
          <RuleEditor
            rule={rule}
            busy={busy}
            onCancel={() => setEditing(false)}
            onSave={async (next) => {
              if (await send({ action: 'set-rule', rule: next })) {
                setEditing(false);
              }
            }}
          />
        ) : (
          <Group gap="xs">
            <Button size="xs" variant="light" onClick={() => setEditing(true)} disabled={busy}>
              Edit thresholds
            </Button>
            {entry.custom && (
              <Button
                size="xs"
                variant="subtle"
                color="gray"
                loading={busy}
                onClick={() => void send({ action: 'reset-rule', id: rule.id })}
              >
                {entry.isDefault ? 'Reset to default' : 'Remove rule'}
              </Button>
            )}
          </Group>
        )}
      </Stack>
    </Card>
  );
}

/**
 * Inputs do not clamp (Mantine's default pulls 1 up to a minimum of 2 on blur): a value changed behind the owner's
 * back would be saved without them seeing it, so an out-of-range value stays and is explained instead.
 */
function numberField(value: string | number): NumberField {
  return typeof value === 'number' ? value : value.trim() === '' ? '' : Number(value);
}

function RuleEditor(props: {
  readonly rule: AlertRule;
  readonly busy: boolean;
  readonly onCancel: () => void;
  readonly onSave: (rule: AlertRule) => Promise<void>;
}): JSX.Element {
  const [form, setForm] = useState<RuleForm>(() => ruleToForm(props.rule));
  const [errors, setErrors] = useState<Partial<Record<RuleField, string>>>({});

  const setCommon = (patch: Partial<Pick<RuleForm, 'cooldownHours' | 'severity'>>): void =>
    setForm((f) => ({ ...f, ...patch }));
  const setRatio = (patch: Partial<RatioForm>): void =>
    setForm((f) => (f.kind === 'ratio-to-baseline' ? { ...f, ...patch, kind: f.kind } : f));
  const setStreak = (patch: Partial<StreakForm>): void =>
    setForm((f) => (f.kind === 'outside-band-streak' ? { ...f, ...patch, kind: f.kind } : f));
  const save = (): void => {
    const result = formToRule(form, props.rule);
    if (!result.ok) {
      setErrors(result.errors);
      return;
    }
    setErrors({});
    void props.onSave(result.rule);
  };

  return (
    <Stack gap="xs" data-testid="rule-editor">
      {form.kind === 'ratio-to-baseline' ? (
        <Group gap="sm" align="flex-start" grow>
          <NumberInput
            clampBehavior="none"
            label="Recent days averaged"
            min={1}
            max={28}
            allowDecimal={false}
            value={form.shortDays}
            error={errors.shortDays}
            onChange={(v) => setRatio({ shortDays: numberField(v) })}
          />
          <NumberInput
            clampBehavior="none"
            label="Baseline days"
            min={7}
            max={180}
            allowDecimal={false}
            value={form.baselineDays}
            error={errors.baselineDays}
            onChange={(v) => setRatio({ baselineDays: numberField(v) })}
          />
          <NumberInput
            clampBehavior="none"
            label="Alert below (% of baseline)"
            description="Leave empty for no lower limit"
            min={1}
            max={99}
            suffix=" %"
            value={form.belowPercent}
            error={errors.belowPercent}
            onChange={(v) => setRatio({ belowPercent: numberField(v) })}
          />
          <NumberInput
            clampBehavior="none"
            label="Alert above (% of baseline)"
            description="Leave empty for no upper limit"
            min={101}
            max={1000}
            suffix=" %"
            value={form.abovePercent}
            error={errors.abovePercent}
            onChange={(v) => setRatio({ abovePercent: numberField(v) })}
          />
        </Group>
      ) : (
        <Group gap="sm" align="flex-end">
          <NumberInput
            clampBehavior="none"
            label="Days in a row"
            min={2}
            max={30}
            allowDecimal={false}
            value={form.days}
            error={errors.days}
            onChange={(v) => setStreak({ days: numberField(v) })}
          />
          <SegmentedControl
            aria-label="Side of the usual range"
            value={form.direction}
            onChange={(v) => setStreak({ direction: v === 'below' ? 'below' : 'above' })}
            data={[
              { value: 'above', label: 'Above usual range' },
              { value: 'below', label: 'Below usual range' },
            ]}
          />
        </Group>
      )}
      <Group gap="sm" align="flex-end">
        <NumberInput
          clampBehavior="none"
          label="Quiet after firing (hours)"
          min={0}
          max={2160}
          allowDecimal={false}
          value={form.cooldownHours}
          error={errors.cooldownHours}
          onChange={(v) => setCommon({ cooldownHours: numberField(v) })}
        />
        <SegmentedControl
          aria-label="Severity"
          value={form.severity}
          onChange={(v) => setCommon({ severity: v === 'warning' ? 'warning' : 'info' })}
          data={[
            { value: 'info', label: 'Information' },
            { value: 'warning', label: 'Warning' },
          ]}
        />
      </Group>
      {errors.rule && (
        <Text size="sm" c="red">
          {errors.rule}
        </Text>
      )}
      <Group gap="xs">
        <Button size="xs" onClick={save} loading={props.busy}>
          Save
        </Button>
        <Button size="xs" variant="default" onClick={props.onCancel} disabled={props.busy}>
          Cancel
        </Button>
      </Group>
    </Stack>
  );
}

function LadderRow(props: { readonly entry: LadderEntry; readonly change: Change }): JSX.Element {
  const { entry, change } = props;
  const stored = entry.override ?? entry.defaults;
  const [order, setOrder] = useState<readonly Source[]>(stored);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const dirty = order.join(',') !== stored.join(',');

  const send = async (input: PreferencesInput): Promise<void> => {
    setBusy(true);
    setError(undefined);
    const failure = await change(input);
    setBusy(false);
    setError(failure);
    if (failure === undefined && input.action === 'reset-source-priority') {
      setOrder(entry.defaults);
    }
  };

  return (
    <Table.Tr data-testid={`ladder-${entry.metric}`}>
      <Table.Td>
        <Text size="sm" fw={500}>
          {entry.label}
        </Text>
        <Badge size="xs" variant="light" color={entry.override ? 'teal' : 'gray'} data-testid="ladder-origin">
          {entry.override ? 'Your order' : 'Default order'}
        </Badge>
      </Table.Td>
      <Table.Td>
        <Group gap="md" component="ol" m={0} p={0} style={{ listStyle: 'none' }}>
          {order.map((source, i) => (
            <Group key={source} component="li" gap={2} wrap="nowrap" data-testid="ladder-source">
              <Text size="sm">
                {i + 1}. {sourceName(source)}
              </Text>
              <ActionIcon
                variant="subtle"
                size="sm"
                aria-label={`Prefer ${sourceName(source)} more for ${entry.label}`}
                disabled={i === 0 || busy}
                onClick={() => setOrder(moveSource(order, i, -1))}
              >
                ↑
              </ActionIcon>
              <ActionIcon
                variant="subtle"
                size="sm"
                aria-label={`Prefer ${sourceName(source)} less for ${entry.label}`}
                disabled={i === order.length - 1 || busy}
                onClick={() => setOrder(moveSource(order, i, 1))}
              >
                ↓
              </ActionIcon>
            </Group>
          ))}
        </Group>
        {error && <HumanErrorAlert error={describePreferencesFailure('save', error)} />}
      </Table.Td>
      <Table.Td>
        <Group gap={4} wrap="nowrap">
          <Button
            size="compact-xs"
            disabled={!dirty}
            loading={busy}
            onClick={() => void send({ action: 'set-source-priority', metric: entry.metric, sources: [...order] })}
          >
            Save
          </Button>
          {entry.override && (
            <Button
              size="compact-xs"
              variant="subtle"
              color="gray"
              disabled={busy}
              onClick={() => void send({ action: 'reset-source-priority', metric: entry.metric })}
            >
              Reset to default
            </Button>
          )}
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}
