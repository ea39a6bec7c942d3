import { Badge, Button, Card, Group, Select, Stack, Text, Textarea, TextInput, Title } from '@mantine/core';
import { normalizeErrorString } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useState } from 'react';
import type { JSX } from 'react';
import { AnnotateResultSchema } from '../../../../bots/analytics/owner-api.ts';
import type { AnnotationView } from '../../../../bots/analytics/owner-api.ts';
import { HumanErrorAlert } from '../../components/HumanErrorAlert/HumanErrorAlert.tsx';
import {
  annotateInput,
  checkAnnotationForm,
  describeAnnotateFailure,
  EMPTY_FORM,
  formFor,
  KIND_OPTIONS,
  mintAnnotationKey,
  spanText,
} from '../../lib/annotations.ts';
import type { AnnotationForm, AnnotationItem, FormErrors } from '../../lib/annotations.ts';
import { executeOwnerBot } from '../../lib/bots.ts';
import type { HumanError } from '../../lib/human-errors.ts';
import { formatDay } from './TrendsChart.tsx';

export interface AnnotationsPanelProps {
  readonly annotations: readonly AnnotationItem[];
  /** The day a new annotation starts on unless changed (today). */
  readonly today: string;
  /** The bot answered: its view of the annotation (a deleted one has status entered-in-error). */
  readonly onChanged: (view: AnnotationView) => void;
}

/** What the form is doing: adding (with the key minted when it opened) or editing one annotation. */
type Editing = { readonly mode: 'create'; readonly key: string } | { readonly mode: 'update'; readonly id: string };

/**
 * The owner's annotations in the charted range, and the form to add, change or delete one. Nothing changes on screen
 * before the `annotate` bot has answered: the list then shows what the bot stored.
 * @param props - the annotations and what to do with the bot's answer.
 * @returns The panel.
 */
export function AnnotationsPanel(props: AnnotationsPanelProps): JSX.Element {
  const { annotations, today, onChanged } = props;
  const medplum = useMedplum();
  const [editing, setEditing] = useState<Editing>();
  const [form, setForm] = useState<AnnotationForm>(EMPTY_FORM);
  const [errors, setErrors] = useState<FormErrors>({});
  const [failure, setFailure] = useState<HumanError>();
  const [busy, setBusy] = useState<string>();
  const [confirmDelete, setConfirmDelete] = useState<string>();

  const open = (next: Editing, initial: AnnotationForm): void => {
    setEditing(next);
    setForm(initial);
    setErrors({});
    setFailure(undefined);
  };
  const close = (): void => {
    setEditing(undefined);
    setErrors({});
  };

  const call = async (what: string, input: Parameters<typeof executeOwnerBot>[2]): Promise<boolean> => {
    setBusy(what);
    setFailure(undefined);
    try {
      const result = await executeOwnerBot(medplum, 'annotate', input, AnnotateResultSchema);
      onChanged(result.annotation);
      return true;
    } catch (err) {
      setFailure(describeAnnotateFailure(normalizeErrorString(err)));
      return false;
    } finally {
      setBusy(undefined);
    }
  };

  const save = async (): Promise<void> => {
    if (!editing) {
      return;
    }
    const found = checkAnnotationForm(form);
    setErrors(found);
    if (Object.keys(found).length > 0) {
      return;
    }
    const target = editing.mode === 'create' ? { key: editing.key } : { id: editing.id };
    if (await call('save', annotateInput(form, target))) {
      close();
    }
  };

  const remove = async (id: string): Promise<void> => {
    if (await call(`delete-${id}`, { action: 'delete', id })) {
      setConfirmDelete(undefined);
      if (editing?.mode === 'update' && editing.id === id) {
        close();
      }
    }
  };

  return (
    <Card withBorder padding="lg" data-testid="annotations-panel">
      <Stack gap="sm">
        <Group justify="space-between" align="flex-start">
          <div>
            <Title order={3}>Annotated days</Title>
            <Text size="sm" c="dimmed">
              Mark days that were not typical for you (ill, travelling, …). They are left out of your baselines and
              projections, and shown on the chart.
            </Text>
          </div>
          {!editing && (
            <Button
              variant="light"
              onClick={() => open({ mode: 'create', key: mintAnnotationKey() }, { ...EMPTY_FORM, start: today })}
            >
              Add annotation
            </Button>
          )}
        </Group>

        {failure && <HumanErrorAlert error={failure} data-testid="annotation-error" />}

        {editing && (
          <Card withBorder padding="md" bg="var(--mantine-color-gray-0)" data-testid="annotation-form">
            <form
              onSubmit={(e) => {
                e.preventDefault();
                void save();
              }}
            >
              <Stack gap="sm">
                <Select
                  label="What was it?"
                  placeholder="Choose one"
                  data={[...KIND_OPTIONS]}
                  value={form.kind === '' ? null : form.kind}
                  onChange={(value) =>
                    setForm({ ...form, kind: KIND_OPTIONS.find((k) => k.value === value)?.value ?? '' })
                  }
                  error={errors.kind}
                  allowDeselect={false}
                  comboboxProps={{ withinPortal: false }}
                />
                <Group grow align="flex-start" wrap="wrap">
                  <TextInput
                    type="date"
                    label="First day"
                    value={form.start}
                    onChange={(e) => setForm({ ...form, start: e.currentTarget.value })}
                    error={errors.start}
                    miw={150}
                  />
                  <TextInput
                    type="date"
                    label="Last day (optional)"
                    value={form.end}
                    onChange={(e) => setForm({ ...form, end: e.currentTarget.value })}
                    error={errors.end}
                    miw={150}
                  />
                </Group>
                <Textarea
                  label="Note"
                  description="Optional, except for Other."
                  value={form.note}
                  onChange={(e) => setForm({ ...form, note: e.currentTarget.value })}
                  error={errors.note}
                  autosize
                  minRows={2}
                  maxLength={500}
                />
                <Group gap="sm">
                  <Button type="submit" loading={busy === 'save'}>
                    {editing.mode === 'create' ? 'Save annotation' : 'Save changes'}
                  </Button>
                  <Button variant="subtle" onClick={close} disabled={busy === 'save'}>
                    Cancel
                  </Button>
                </Group>
              </Stack>
            </form>
          </Card>
        )}

        {annotations.length === 0 ? (
          <Text size="sm" c="dimmed" data-testid="annotations-empty">
            No annotated days in this range.
          </Text>
        ) : (
          <Stack gap={6} data-testid="annotation-list">
            {annotations.map((a) => (
              <Group
                key={a.id}
                justify="space-between"
                wrap="wrap"
                gap="xs"
                data-testid="annotation-item"
                data-id={a.id}
                data-kind={a.kind}
              >
                <Stack gap={0} style={{ minWidth: 0, flex: '1 1 180px' }}>
                  <Group gap={6}>
                    <Badge variant="light" color="yellow">
                      {a.label}
                    </Badge>
                    <Text size="sm">{spanText(a, formatDay)}</Text>
                  </Group>
                  {a.note && (
                    <Text size="xs" c="dimmed" style={{ overflowWrap: 'anywhere' }}>
                      {a.note}
                    </Text>
                  )}
                </Stack>
                <Group gap={4}>
                  <Button
                    size="compact-sm"
                    variant="subtle"
                    onClick={() => open({ mode: 'update', id: a.id }, formFor(a))}
                    disabled={busy !== undefined}
                  >
                    Edit
                  </Button>
                  {confirmDelete === a.id ? (
                    <Button
                      size="compact-sm"
                      color="red"
                      onClick={() => void remove(a.id)}
                      loading={busy === `delete-${a.id}`}
                    >
                      Confirm delete
                    </Button>
                  ) : (
                    <Button
                      size="compact-sm"
                      variant="subtle"
                      color="red"
                      onClick={() => setConfirmDelete(a.id)}
                      disabled={busy !== undefined}
                    >
                      Delete
                    </Button>
                  )}
                </Group>
              </Group>
            ))}
          </Stack>
        )}
      </Stack>
    </Card>
  );
}
