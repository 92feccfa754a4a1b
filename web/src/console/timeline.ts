// The run viewer's timeline: history rows nested by the loop iteration or parallel branch they
// ran in. A row's token names where it ran: "items[3]/notify" is step notify in iteration 3 of
// forEach items, "fan:left/wait" step wait in branch left of parallel fan (SPEC §4.2 frames).
import type { HistoryItem } from "../api/console";
import type { Definition, Step } from "../api/types";

export interface TimelineGroup {
  kind: "group";
  key: string;
  label: string;
  entries: TimelineEntry[];
}

export interface TimelineRow {
  kind: "row";
  key: string;
  item: HistoryItem;
}

export type TimelineEntry = TimelineGroup | TimelineRow;

export function describeScope(segment: string): string {
  const loop = /^(.+)\[(\d+)\]$/.exec(segment);
  if (loop) return `${loop[1]} · item ${Number(loop[2]) + 1}`;
  const branch = /^(.+):(.+)$/.exec(segment);
  if (branch) return `${branch[1]} · branch ${branch[2]}`;
  return segment;
}

/** History in order, each row under the groups of its token's scopes (first seen first). */
export function buildTimeline(items: HistoryItem[]): TimelineEntry[] {
  const root: TimelineEntry[] = [];
  const groups = new Map<string, TimelineGroup>();
  items.forEach((item, index) => {
    const scopes = item.token.split("/").slice(0, -1);
    let level = root;
    let path = "";
    for (const scope of scopes) {
      path = path ? `${path}/${scope}` : scope;
      let group = groups.get(path);
      if (!group) {
        group = { kind: "group", key: path, label: describeScope(scope), entries: [] };
        groups.set(path, group);
        level.push(group);
      }
      level = group.entries;
    }
    level.push({ kind: "row", key: String(index), item });
  });
  return root;
}

export interface StepBlock {
  label: string;
  steps: Step[];
}

/** The nested pipelines of a control step (then/else, cases, body, branches, try/catch). */
export function nestedBlocks(step: Step): StepBlock[] {
  const list = (value: unknown) => (Array.isArray(value) ? (value as Step[]) : []);
  switch (step.type) {
    case "control.if":
      return [
        { label: "then", steps: list(step.then) },
        { label: "else", steps: list(step.else) },
      ].filter((b) => b.steps.length > 0);
    case "control.switch": {
      const cases = Array.isArray(step.cases) ? (step.cases as { id: string; name?: string; steps?: Step[] }[]) : [];
      const blocks = cases.map((c) => ({ label: `case ${c.name ?? c.id}`, steps: list(c.steps) }));
      if (list(step.default).length) blocks.push({ label: "default", steps: list(step.default) });
      return blocks;
    }
    case "control.forEach":
      return [{ label: "each item", steps: list(step.body) }];
    case "control.parallel": {
      const branches = Array.isArray(step.branches) ? (step.branches as { id: string; steps?: Step[] }[]) : [];
      return branches.map((b) => ({ label: `branch ${b.id}`, steps: list(b.steps) }));
    }
    case "control.tryCatch":
      return [
        { label: "try", steps: list(step.try) },
        { label: "catch", steps: list(step.catch) },
      ];
    default:
      return [];
  }
}

/** Every step id of a definition, in document order (the choices of "retry from"). */
export function allSteps(definition: Definition | null | undefined): Step[] {
  const found: Step[] = [];
  const walk = (steps: Step[]) => {
    for (const step of steps) {
      found.push(step);
      for (const block of nestedBlocks(step)) walk(block.steps);
    }
  };
  walk(definition?.steps ?? []);
  return found;
}

export type StepMark = "done" | "failed" | "current" | "skipped" | "retrying";

/** How the run map colours each step: its last history row, or where the run is now. */
export function stepMarks(items: HistoryItem[], current: string[]): Record<string, StepMark> {
  const marks: Record<string, StepMark> = {};
  for (const item of items) {
    if (item.status === "succeeded" || item.status === "continued" || item.status === "caught") marks[item.stepId] = "done";
    else if (item.status === "failed") marks[item.stepId] = "failed";
    else if (item.status === "retrying") marks[item.stepId] = "retrying";
    else if (item.status === "skipped") marks[item.stepId] = marks[item.stepId] ?? "skipped";
  }
  for (const step of current) marks[step] = "current";
  return marks;
}
