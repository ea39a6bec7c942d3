// Run-time configuration hook. The server that hosts this build replaces this file with one that sets
// window.__BASELINE_CONFIG__ = { medplumBaseUrl, clientId, projectId } (see src/runtime-config.ts). As shipped it sets
// nothing, so the values baked in at build time (MEDPLUM_* env, default http://127.0.0.1:8103/) apply.
