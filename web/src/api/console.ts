// Shapes and calls of the API the operations console reads (runs, run history, events, tasks):
// SPEC §7 and README "Operating runs". Kept apart from types.ts (the designer's) so both grow
// without stepping on each other; both go through the one client in client.ts.
import { api, seg } from "./client";
import type { Page, VersionDetail } from "./types";

export const RUN_STATUSES = ["PENDING", "RUNNING", "WAITING", "SUCCEEDED", "FAILED", "CANCELED"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL: RunStatus[] = ["SUCCEEDED", "FAILED", "CANCELED"];

export interface RunSummary {
  runId: string;
  workflow: string;
  version: number;
  status: RunStatus;
  subject: string | null;
  currentStep: string | null;
  parentRunId: string | null;
  createdAt: string;
  updatedAt?: string | null;
  finishedAt: string | null;
}

export interface WaitingFor {
  kind: "event" | "timer" | "task" | "child";
  stepId: string;
  token: string;
  eventName?: string;
  correlationKey?: string | null;
  reason?: string | null;
  taskId?: string;
  childRunId?: string;
  dueAt: string | null;
}

export interface RunView {
  runId: string;
  workflow: string;
  version: number;
  status: RunStatus;
  subject: string | null;
  output: unknown;
  state: { payload: unknown; vars: unknown; meta: Record<string, unknown> };
  error: { category?: string; message?: string; stepId?: string; [k: string]: unknown } | null;
  waitingFor: WaitingFor[];
  currentStep: string | null;
  parentRunId: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface HistoryItem {
  stepId: string;
  token: string;
  type: string;
  version: number;
  attempt: number;
  status: string;
  at: string;
  startedAt: string | null;
  durationMs: number | null;
  recordedAt: string;
  input: unknown;
  output: unknown;
  error: { category?: string; message?: string; [k: string]: unknown } | null;
  detail: {
    eventId?: string;
    taskId?: string;
    completedBy?: string | null;
    resumedBy?: string;
    operator?: string | null;
    /** Operator rows (stepId "$operator"): what was done, by whom. */
    action?: string;
    by?: string | null;
    fromStep?: string | null;
    newRunId?: string;
    withParent?: string;
    bulk?: boolean;
  } | null;
}

export interface RunCounts {
  counts: Record<RunStatus, number>;
  total: number;
}

export interface RunFilters {
  workflow?: string;
  version?: string;
  status?: string;
  search?: string;
  step?: string;
  createdAfter?: string;
  createdBefore?: string;
}

export interface BulkCancelResult {
  matching: number;
  canceled: number;
  runIds: string[];
  remaining: number;
  dryRun: boolean;
}

export interface RetryAction {
  stepId: string;
  token: string;
  actionId: string;
  version: number;
  effect: string;
  reason: string;
  idempotencyKey: string | null;
  answeredByLedger: boolean | null;
}

export interface RetryPreview {
  runId: string;
  fromStep: string;
  actions: RetryAction[];
}

export interface EventItem {
  id: string;
  eventId: string | null;
  name: string;
  key: string | null;
  payload: unknown;
  sourceRunId: string | null;
  receivedAt: string;
  expiresAt: string | null;
  ttlLeftMs: number | null;
  matched: boolean;
  unmatched: boolean;
  resumedRuns: string[];
  startedRuns: string[];
  consumedBy: string[];
}

export interface EventDetail extends EventItem {
  runs: {
    runId: string;
    workflow: string;
    version: number;
    status: RunStatus;
    subject: string | null;
    relation: "resumed" | "started" | "consumed" | "emitted";
  }[];
}

export interface EventFilters {
  name?: string;
  key?: string;
  outcome?: string;
  /** ISO instants: received at or after, and before. */
  receivedAfter?: string;
  receivedBefore?: string;
}

export interface Task {
  taskId: string;
  runId: string;
  workflow: string | null;
  subject: string | null;
  stepId: string;
  title: string;
  description: string | null;
  assignee: string | null;
  formSchema: Record<string, unknown>;
  status: "open" | "completed" | "timed_out" | "canceled";
  data: unknown;
  dueAt: string | null;
  createdAt: string;
  completedAt: string | null;
  completedBy: string | null;
}

/** `?a=1&b=2` of the values that are set (empty strings and nulls left out). */
export function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const consoleApi = {
  runs: (filters: RunFilters, limit: number, cursor?: string | null) =>
    api.get<Page<RunSummary>>(`/runs${query({ ...filters, limit, cursor })}`),
  children: (runId: string) => api.get<Page<RunSummary>>(`/runs${query({ parent: runId, limit: 100 })}`),
  counts: (filters: RunFilters) => {
    const { status: _ignored, ...rest } = filters;
    return api.get<RunCounts>(`/runs/counts${query({ ...rest })}`);
  },
  bulkCancel: (filters: RunFilters, dryRun: boolean, expectedCount?: number) =>
    api.post<BulkCancelResult>("/runs/cancel", {
      ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined && v !== "")),
      ...(filters.version ? { version: Number(filters.version) } : {}),
      dryRun,
      ...(expectedCount !== undefined ? { expectedCount } : {}),
    }),
  run: (runId: string) => api.get<RunView>(`/runs/${seg(runId)}`),
  steps: (runId: string) => api.get<{ items: HistoryItem[] }>(`/runs/${seg(runId)}/steps`),
  cancel: (runId: string) => api.post<RunView>(`/runs/${seg(runId)}/cancel`),
  resume: (runId: string) => api.post<RunView>(`/runs/${seg(runId)}/resume`),
  retryPreview: (runId: string, fromStep?: string) =>
    api.post<RetryPreview>(`/runs/${seg(runId)}/retry`, { dryRun: true, ...(fromStep ? { fromStep } : {}) }),
  retry: (runId: string, fromStep?: string) =>
    api.post<RunView>(`/runs/${seg(runId)}/retry`, fromStep ? { fromStep } : {}),
  rerun: (runId: string) => api.post<RunView>(`/runs/${seg(runId)}/rerun`, {}),
  version: (workflow: string, version: number) =>
    api.get<VersionDetail>(`/workflows/${seg(workflow)}/versions/${seg(version)}`),
  events: (filters: EventFilters, limit: number, cursor?: string | null) =>
    api.get<Page<EventItem>>(`/events${query({ ...filters, limit, cursor })}`),
  event: (id: string) => api.get<EventDetail>(`/events/${seg(id)}`),
  sendEvent: (body: { name: string; key?: string; payload?: unknown; ttlMs?: number }) =>
    api.post<{ eventId: string; resumed: string[]; started: string[]; duplicate: boolean }>("/events", body),
  tasks: (params: { status?: string; assignee?: string; runId?: string }) =>
    api.get<{ items: Task[] }>(`/tasks${query(params)}`),
  task: (taskId: string) => api.get<Task>(`/tasks/${seg(taskId)}`),
  completeTask: (taskId: string, data: unknown) =>
    api.post<Task>(`/tasks/${seg(taskId)}/complete`, { data }),
};
