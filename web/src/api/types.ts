// Shapes of the flowpin API responses the UI reads (SPEC §2, §5, §7). Shared by the designer
// (src/designer, src/workflows) and the operations console (src/console).

export type Role = "viewer" | "editor" | "admin";

export interface Me {
  tenant: string;
  role: Role;
  keyId: string;
  can: Record<Role, boolean>;
}

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

export interface WorkflowSummary {
  key: string;
  name: string | null;
  paused: boolean;
  concurrencyLimit: number | null;
  draftRevision: number;
  latestVersion: number | null;
  activeRuns: number;
  updatedAt: string;
  /** Present when the API reports it: the draft differs from the latest published version. */
  draftChanged?: boolean;
  lastPublishedAt?: string | null;
}

export interface Position {
  x: number;
  y: number;
}

export interface WorkflowDetail {
  key: string;
  name: string | null;
  draft: Definition | null;
  draftRevision: number;
  layout: Record<string, Position>;
  paused: boolean;
  concurrencyLimit: number | null;
  latestVersion: number | null;
  latestHash: string | null;
  activeRuns: { total: number; byVersion: Record<string, number> };
  runsOnOlderVersions: number;
  createdAt: string;
  updatedAt: string;
}

export interface VersionSummary {
  version: number;
  hash: string;
  publishedAt: string;
}

export interface VersionDetail extends VersionSummary {
  definition: Definition;
  [extra: string]: unknown;
}

export interface StepCount {
  waiting?: number;
  running?: number;
  retrying?: number;
  failed?: number;
  waitingByKind?: Record<string, number>;
}

export interface VersionCounts extends StepCount {
  active: number;
  steps: Record<string, StepCount>;
}

/** GET /api/workflows/{key}/counts */
export interface StepCounts {
  workflow: string;
  latestVersion: number | null;
  total: VersionCounts | StepCount;
  activeOnOlderVersions: number;
  byVersion: Record<string, VersionCounts>;
}

/** The per-step counts of one version. */
export function stepsAt(counts: StepCounts | null | undefined, version: number | null): Record<string, StepCount> {
  if (!counts || version === null) return {};
  return counts.byVersion[String(version)]?.steps ?? {};
}

/** Active runs of one version. */
export function activeAt(counts: StepCounts | null | undefined, version: number): number {
  return counts?.byVersion[String(version)]?.active ?? 0;
}

export const activeHere = (count: StepCount | undefined) => (count ? (count.waiting ?? 0) + (count.running ?? 0) + (count.retrying ?? 0) : 0);

/** GET /api/workflows/{key}/diff */
export interface VersionDiff {
  workflow: string;
  from: number | string;
  to: number | string;
  activeRuns: number;
  summary: Record<string, number>;
  changes: DiffChange[];
  workflowChanges: { path: string; kind?: string; from?: unknown; to?: unknown }[];
}

export interface DiffChange {
  stepId: string;
  change: "added" | "removed" | "changed" | "moved" | "typeChanged";
  type: string;
  fields?: { path: string; kind: string; from?: unknown; to?: unknown }[];
  runs: { at: number; before: number; after: number };
  classification: "safe" | "affects-in-flight" | "needs-mapping";
}

export type Severity = "error" | "warning";

export interface Problem {
  severity: Severity;
  code: string;
  path: string;
  stepId: string | null;
  message: string;
  details?: unknown;
}

export interface NodeType {
  type: string;
  category: string;
  description: string;
  builtin: boolean;
  configSchema: JsonSchema;
}

export interface ActionInfo {
  actionId: string;
  version: number;
  effect: string;
  transactional: boolean;
  description: string | null;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema;
  category?: string;
}

export type JsonSchema = Record<string, unknown>;

/** A value in a definition: literal JSON, {"$expr": "…"} or {"$secret": "NAME"}. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

// Rules are type aliases, not interfaces, so that a condition is also a JSON value (a trigger's
// filter is one of the trigger's JSON fields).
export type Rule = {
  field: string;
  op: RuleOperator;
  value?: Json;
};

export type RuleGroup = {
  all?: Condition[];
  any?: Condition[];
};

export type Condition = Rule | RuleGroup | { $expr: string };

/** A trigger of a workflow (SPEC §2): its fields as JSON; an event trigger's ``filter`` is a
 * condition over ``event`` (rules or ``{"$expr": …}``, SPEC §3.2). */
export type Trigger = { [key: string]: Json | undefined; filter?: Condition };

export type RuleOperator =
  | "equals"
  | "notEquals"
  | "contains"
  | "notContains"
  | "greaterThan"
  | "lessThan"
  | "greaterThanOrEqual"
  | "lessThanOrEqual"
  | "exists"
  | "notExists";

export interface Step {
  id: string;
  type: string;
  name?: string;
  config?: Record<string, Json>;
  retry?: { maxAttempts?: number; backoffMs?: number; [k: string]: Json | undefined };
  onError?: "fail" | "continue";
  timeoutMs?: number;
  // control steps keep their fields at the top level
  [field: string]: unknown;
}

export interface Definition {
  key: string;
  name?: string;
  description?: string;
  payloadSchema?: JsonSchema;
  triggers?: Trigger[];
  settings?: Record<string, Json>;
  steps: Step[];
  output?: Json;
  [field: string]: unknown;
}

export interface ExpressionCheck {
  valid: boolean;
  errors: { message: string; position: number | null; code: string | null; token: string | null }[];
  value?: unknown;
}
