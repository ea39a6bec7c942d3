import { Alert, Button, Card, Group, Modal, Stack, Text, TextInput, Title } from '@mantine/core';
import { normalizeErrorString } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { useMedplum, useMedplumProfile } from '@medplum/react';
import { useState } from 'react';
import type { JSX } from 'react';
import { ShareResultSchema } from '../../../../bots/sharing/owner-api.ts';
import { executeOwnerBot } from '../../lib/bots.ts';
import { ConnectionsResponseSchema, DisconnectResponseSchema } from '../../lib/connections.ts';
import { exportRecord } from '../../lib/export.ts';
import { accessLogResources } from '../../lib/sharing.ts';

const ERASE_WORD = 'ERASE';

/**
 * The owner's rights over their record: download all of it (a FHIR Bundle that re-imports without loss, with the
 * access log), and erase the wearable data — every grant revoked first, then every wearable disconnected with erase
 * (provider access revoked, tokens deleted, the data and everything computed from it deleted in the background).
 * @returns the card
 */
export function YourDataCard(): JSX.Element {
  const medplum = useMedplum();
  const patientId = useMedplumProfile()?.id ?? '';
  const [busy, setBusy] = useState<'export' | 'erase'>();
  const [message, setMessage] = useState<{ color: string; text: string }>();
  const [confirming, setConfirming] = useState(false);
  const [typed, setTyped] = useState('');

  const download = async (): Promise<void> => {
    setBusy('export');
    setMessage(undefined);
    try {
      const list = await executeOwnerBot(medplum, 'share', { action: 'list' }, ShareResultSchema);
      const extra: Resource[] = [];
      for (const grant of 'grants' in list ? list.grants : []) {
        const log = await executeOwnerBot(medplum, 'share', { action: 'access-log', id: grant.id }, ShareResultSchema);
        extra.push(...accessLogResources(grant, 'accessLog' in log ? log.accessLog : []));
      }
      const bundle = await exportRecord(medplum, patientId, { extra });
      const url = URL.createObjectURL(new Blob([JSON.stringify(bundle)], { type: 'application/fhir+json' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `baseline-record-${new Date().toISOString().slice(0, 10)}.json`;
      a.click();
      URL.revokeObjectURL(url);
      setMessage({ color: 'green', text: `Downloaded ${bundle.entry?.length ?? 0} resources.` });
    } catch (err) {
      setMessage({ color: 'red', text: `The export failed: ${normalizeErrorString(err)}` });
    } finally {
      setBusy(undefined);
    }
  };

  const erase = async (): Promise<void> => {
    setConfirming(false);
    setTyped('');
    setBusy('erase');
    setMessage(undefined);
    try {
      const revoked = await executeOwnerBot(medplum, 'share', { action: 'revoke-all' }, ShareResultSchema);
      const connections = await executeOwnerBot(medplum, 'connections', {}, ConnectionsResponseSchema);
      const providers = [
        ...new Set(
          connections.connections.filter((c) => c.status !== 'disconnected' || !c.erase).map((c) => c.provider)
        ),
      ];
      for (const provider of providers) {
        await executeOwnerBot(medplum, 'disconnect', { provider, erase: true }, DisconnectResponseSchema);
      }
      const n = 'revoked' in revoked ? revoked.revoked : 0;
      setMessage({
        color: 'blue',
        text: `${n} grant${n === 1 ? '' : 's'} revoked; ${providers.length} wearable${providers.length === 1 ? '' : 's'} disconnected. Erasing runs in the background (Connections shows its progress).`,
      });
    } catch (err) {
      setMessage({
        color: 'red',
        text: `The erasure stopped: ${normalizeErrorString(err)}. Nothing already done is undone; try again.`,
      });
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <Card withBorder data-testid="your-data">
      <Stack gap="sm">
        <Title order={3}>Your data</Title>
        <Text size="sm" c="dimmed">
          Download everything Baseline holds about you — measurements, baselines, trends, narratives, annotations,
          alerts, your grants and who looked — as one FHIR file that another FHIR server can import.
        </Text>
        <Group>
          <Button onClick={() => void download()} loading={busy === 'export'} data-testid="export">
            Download my record
          </Button>
          <Button
            color="red"
            variant="light"
            onClick={() => setConfirming(true)}
            loading={busy === 'erase'}
            data-testid="erase"
          >
            Erase my wearable data
          </Button>
        </Group>
        {message && (
          <Alert color={message.color} data-testid="your-data-message">
            {message.text}
          </Alert>
        )}
      </Stack>
      <Modal opened={confirming} onClose={() => setConfirming(false)} title="Erase your wearable data">
        <Stack gap="sm">
          <Text size="sm">
            Every grant ends now, every wearable is disconnected (Baseline’s access revoked at the provider) and its
            data is deleted with everything computed from it: baselines, trends, narratives and alerts. This cannot be
            undone. Your account, your annotations and settings, the ended grants and the server’s audit records stay.
          </Text>
          <TextInput
            label={`Type ${ERASE_WORD} to confirm`}
            value={typed}
            onChange={(e) => setTyped(e.currentTarget.value)}
            data-testid="erase-confirm-text"
          />
          <Button color="red" disabled={typed !== ERASE_WORD} onClick={() => void erase()} data-testid="erase-confirm">
            Erase
          </Button>
        </Stack>
      </Modal>
    </Card>
  );
}
