import '@mantine/core/styles.css';
import '@mantine/charts/styles.css';
import '@mantine/notifications/styles.css';
import '@medplum/react/styles.css';

import { MantineProvider } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { MedplumClient } from '@medplum/core';
import { MedplumProvider } from '@medplum/react';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { App } from './App.tsx';
import { getConfig } from './config.ts';
import { medplumStorage } from './lib/storage.ts';
import { theme } from './theme.ts';

const config = getConfig();

const medplum = new MedplumClient({
  baseUrl: config.baseUrl,
  ...(config.clientId ? { clientId: config.clientId } : {}),
  // Shared with the SMART launch helper, which needs the PKCE verifier that startPkce() stores here.
  storage: medplumStorage,
  // A 401 that a refresh cannot fix means the session is gone: start over at sign-in.
  onUnauthenticated: () => window.location.assign('/signin'),
});

const container = document.getElementById('root');
if (!container) {
  throw new Error('index.html has no #root element');
}

createRoot(container).render(
  <StrictMode>
    <BrowserRouter>
      <MedplumProvider medplum={medplum}>
        <MantineProvider theme={theme}>
          <Notifications position="top-right" />
          <App />
        </MantineProvider>
      </MedplumProvider>
    </BrowserRouter>
  </StrictMode>
);
