import {
  Alert,
  Badge,
  Button,
  Card,
  Checkbox,
  Group,
  SegmentedControl,
  Select,
  SimpleGrid,
  Skeleton,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { normalizeErrorString } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useCallback, useEffect, useState } from 'react';
import type { JSX } from 'react';
import type { MetricGroup } from '../../../../bots/shared/catalogue.ts';
import type { ShareContent } from '../../../../bots/sharing/grants.ts';
import { ShareResultSchema } from '../../../../bots/sharing/owner-api.ts';
import type {
  AccessLogEntry,
  GranteeView,
  GrantView,
  ShareInput,
  ShareResult,
} from '../../../../bots/sharing/owner-api.ts';
import { executeOwnerBot } from '../../lib/bots.ts';
import {
  CONTENT_LABELS,
  defaultGrantForm,
  describeScope,
  describeVisit,
  formProblems,
  grantStatus,
  GROUP_LABELS,
  latestUntil,
  METRIC_GROUPS,
} from '../../lib/sharing.ts';
import type { GrantForm } from '../../lib/sharing.ts';

async function share(medplum: ReturnType<typeof useMedplum>, input: ShareInput): Promise<ShareResult> {
  return executeOwnerBot(medplum, 'share', { ...input }, ShareResultSchema);
}

/**
 * `/sharing`: the owner's grants. A grant shares chosen metric groups and kinds of data, from a start date, until an
 * end date at most 90 days away, with one clinician or EHR; it can be revoked at once, and each grant shows who
 * looked (Medplum's own audit records of every record the grantee opened).
 * @returns the Sharing page
 */
export function SharingPage(): JSX.Element {
  const medplum = useMedplum();
  const [grants, setGrants] = useState<GrantView[]>();
  const [grantees, setGrantees] = useState<GranteeView[]>([]);
  const [loadError, setLoadError] = useState<string>();
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  useEffect(() => {
    let active = true;
    Promise.all([share(medplum, { action: 'list' }), share(medplum, { action: 'grantees' })])
      .then(([list, people]) => {
        if (!active) {
          return;
        }
        setGrants('grants' in list ? list.grants : []);
        setGrantees('grantees' in people ? people.grantees : []);
        setLoadError(undefined);
      })
      .catch((err: unknown) => active && setLoadError(normalizeErrorString(err)));
    return () => {
      active = false;
    };
  }, [medplum, generation]);

  const now = new Date();
  return (
    <Stack maw={960} mx="auto" gap="lg">
      <div>
        <Title order={2}>Sharing</Title>
        <Text c="dimmed">
          Share part of your record with a clinician or your clinic’s EHR — for a set time, revocable at any moment.
          They see only what you choose, and you see when they looked.
        </Text>
      </div>
      {loadError && (
        <Alert color="red" title="Your sharing could not be loaded" data-testid="sharing-load-error">
          {loadError}{' '}
          <Button size="xs" variant="light" color="red" onClick={reload}>
            Try again
          </Button>
        </Alert>
      )}
      <NewGrant grantees={grantees} onCreated={reload} />
      <Stack gap="sm">
        <Title order={3}>Your grants</Title>
        {!grants && !loadError && <Skeleton height={120} aria-label="Loading your grants" />}
        {grants?.length === 0 && <Text c="dimmed">You have not shared your data with anyone.</Text>}
        {grants?.map((grant) => (
          <GrantCard key={grant.id} grant={grant} now={now} onChanged={reload} />
        ))}
      </Stack>
    </Stack>
  );
}

function NewGrant(props: { grantees: readonly GranteeView[]; onCreated: () => void }): JSX.Element {
  const medplum = useMedplum();
  const [form, setForm] = useState<GrantForm>(() => defaultGrantForm(new Date()));
  const [mode, setMode] = useState<'existing' | 'invite'>('existing');
  const [key, setKey] = useState(() => crypto.randomUUID());
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const problems = formProblems(form, new Date(), mode === 'invite');

  const submit = async (): Promise<void> => {
    setSending(true);
    setError(undefined);
    setDone(undefined);
    const [type, id] = form.grantee.split('/');
    const grantee =
      mode === 'invite'
        ? { invite: form.invite }
        : type === 'Organization'
          ? { organization: id ?? '' }
          : { practitioner: id ?? '' };
    try {
      const result = await share(medplum, {
        action: 'create',
        key,
        grantee,
        groups: form.groups,
        content: form.content,
        since: form.since,
        until: form.until,
      });
      const view = 'grant' in result ? result.grant : undefined;
      setDone(view ? `Shared with ${view.grantee.display} until ${view.end.slice(0, 10)}.` : 'Shared.');
      setKey(crypto.randomUUID());
      setForm(defaultGrantForm(new Date()));
      props.onCreated();
    } catch (err) {
      setError(normalizeErrorString(err));
    } finally {
      setSending(false);
    }
  };

  return (
    <Card withBorder data-testid="new-grant">
      <Stack gap="sm">
        <Title order={3}>Share with someone</Title>
        <SegmentedControl
          value={mode}
          onChange={(v) => setMode(v === 'invite' ? 'invite' : 'existing')}
          data={[
            { value: 'existing', label: 'Someone in Baseline' },
            { value: 'invite', label: 'Invite a clinician by email' },
          ]}
        />
        {mode === 'existing' ? (
          <Select
            label="With"
            placeholder="Choose a clinician or EHR"
            data-testid="grantee"
            data={props.grantees.map((g) => ({
              value: g.reference,
              label: g.kind === 'ehr' ? `${g.display} (EHR system)` : g.display,
            }))}
            value={form.grantee || null}
            onChange={(v) => setForm({ ...form, grantee: v ?? '' })}
          />
        ) : (
          <SimpleGrid cols={{ base: 1, sm: 3 }}>
            <TextInput
              label="Email"
              value={form.invite.email}
              onChange={(e) => setForm({ ...form, invite: { ...form.invite, email: e.currentTarget.value } })}
            />
            <TextInput
              label="First name"
              value={form.invite.firstName}
              onChange={(e) => setForm({ ...form, invite: { ...form.invite, firstName: e.currentTarget.value } })}
            />
            <TextInput
              label="Last name"
              value={form.invite.lastName}
              onChange={(e) => setForm({ ...form, invite: { ...form.invite, lastName: e.currentTarget.value } })}
            />
          </SimpleGrid>
        )}
        <Checkbox.Group
          label="Which measurements"
          value={form.groups}
          onChange={(v) => setForm({ ...form, groups: v as MetricGroup[] })}
        >
          <SimpleGrid cols={{ base: 1, sm: 2 }} mt={4}>
            {METRIC_GROUPS.map((g) => (
              <Checkbox key={g} value={g} label={GROUP_LABELS[g]} data-testid={`group-${g}`} />
            ))}
          </SimpleGrid>
        </Checkbox.Group>
        <Checkbox.Group
          label="What of them"
          value={form.content}
          onChange={(v) => setForm({ ...form, content: v as ShareContent[] })}
        >
          <Stack gap={4} mt={4}>
            {(['wearable', 'derived', 'narratives', 'alerts'] as const).map((c) => (
              <Checkbox key={c} value={c} label={CONTENT_LABELS[c]} data-testid={`content-${c}`} />
            ))}
          </Stack>
        </Checkbox.Group>
        {form.content.includes('narratives') && (
          <Text size="xs" c="dimmed">
            Narratives summarise all your metrics in words, not only the ones chosen above, and may quote your
            annotations.
          </Text>
        )}
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          <TextInput
            type="date"
            label="Data from"
            description="Measurements from before this day are not shared (baselines over earlier days may reflect them)"
            value={form.since}
            onChange={(e) => setForm({ ...form, since: e.currentTarget.value })}
            data-testid="since"
          />
          <TextInput
            type="date"
            label="Sharing ends"
            description={`Required; at most 90 days from today (${latestUntil(new Date())})`}
            required
            max={latestUntil(new Date())}
            value={form.until}
            onChange={(e) => setForm({ ...form, until: e.currentTarget.value })}
            data-testid="until"
          />
        </SimpleGrid>
        {problems.length > 0 && (
          <Text size="sm" c="orange" data-testid="grant-problems">
            {problems.join(' · ')}
          </Text>
        )}
        {error && (
          <Alert color="red" title="Not shared" data-testid="grant-error">
            {error}
          </Alert>
        )}
        {done && (
          <Alert color="green" data-testid="grant-done">
            {done}
          </Alert>
        )}
        <Group>
          <Button
            onClick={() => void submit()}
            loading={sending}
            disabled={problems.length > 0}
            data-testid="grant-submit"
          >
            Share
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

function GrantCard(props: { grant: GrantView; now: Date; onChanged: () => void }): JSX.Element {
  const medplum = useMedplum();
  const { grant } = props;
  const status = grantStatus(grant, props.now);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [log, setLog] = useState<{ entries: AccessLogEntry[]; total: number }>();

  const revoke = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      await share(medplum, { action: 'revoke', id: grant.id });
      props.onChanged();
    } catch (err) {
      setError(normalizeErrorString(err));
    } finally {
      setBusy(false);
    }
  };
  const loadLog = async (): Promise<void> => {
    setError(undefined);
    try {
      const result = await share(medplum, { action: 'access-log', id: grant.id });
      if ('accessLog' in result) {
        setLog({ entries: result.accessLog, total: result.total });
      }
    } catch (err) {
      setError(normalizeErrorString(err));
    }
  };

  return (
    <Card withBorder data-testid="grant" data-grant-id={grant.id}>
      <Stack gap={6}>
        <Group justify="space-between">
          <Text fw={600}>
            {grant.grantee.display}
            {grant.grantee.kind === 'ehr' ? ' (EHR system)' : ''}
          </Text>
          <Badge color={status.color} data-testid="grant-status">
            {status.label}
          </Badge>
        </Group>
        <Text size="sm">{describeScope(grant)}</Text>
        <Text size="sm" c="dimmed">
          {status.line}
        </Text>
        {error && (
          <Alert color="red" data-testid="grant-card-error">
            {error}
          </Alert>
        )}
        <Group gap="xs">
          {status.label === 'Active' && (
            <Button
              size="xs"
              color="red"
              variant="light"
              loading={busy}
              onClick={() => void revoke()}
              data-testid="revoke"
            >
              Revoke now
            </Button>
          )}
          <Button size="xs" variant="default" onClick={() => void loadLog()} data-testid="show-log">
            Who looked
          </Button>
        </Group>
        {log && (
          <Stack gap={4} data-testid="access-log">
            {log.entries.length === 0 ? (
              <Text size="sm" c="dimmed">
                No records opened yet.
              </Text>
            ) : (
              <Table fz="sm">
                <Table.Tbody>
                  {log.entries.map((entry) => (
                    <Table.Tr key={entry.from}>
                      <Table.Td>{new Date(entry.from).toLocaleString()}</Table.Td>
                      <Table.Td>{describeVisit(entry)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
            <Text size="xs" c="dimmed">
              From the server’s own audit records of every record opened one by one (Baseline’s clinician view opens
              each record it shows this way). Searches are not recorded by the server, so this is not complete
              {grant.grantee.kind === 'ehr' ? ' — an EHR system usually reads by search, which is not tracked' : ''}.
            </Text>
          </Stack>
        )}
      </Stack>
    </Card>
  );
}
