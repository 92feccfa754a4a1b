// The pipeline as a tree of step lists ("slots"): every edit the designer makes is one of these
// pure functions over a Definition, so undo/redo is a stack of documents and each is testable.
import type { Definition, Json, Step } from "../../api/types";

/** Where a step list lives: the root pipeline, or a named branch of a control step. */
export interface Slot {
  parent: string | null;
  /** "steps" (root), "then", "else", "default", "body", "try", "catch", "case:<id>", "branch:<id>" */
  branch: string;
}

export const ROOT: Slot = { parent: null, branch: "steps" };

export interface SlotInfo {
  slot: Slot;
  label: string;
  steps: Step[];
}

export const CONTROL_TYPES = [
  "control.if",
  "control.switch",
  "control.forEach",
  "control.parallel",
  "control.tryCatch",
  "control.callWorkflow",
  "control.return",
  "control.fail",
] as const;

export const isControl = (type: string) => type.startsWith("control.");

/** Steps after which nothing in the same list runs. */
export const isTerminal = (type: string) => type === "control.return" || type === "control.fail";

const asSteps = (value: unknown): Step[] => (Array.isArray(value) ? (value as Step[]) : []);

interface Named {
  id: string;
  name?: string;
  steps?: Step[];
}

/** The child step lists of a step, in display order, with the label people see on the canvas. */
export function childSlots(step: Step): SlotInfo[] {
  const id = step.id;
  switch (step.type) {
    case "control.if":
      return [
        { slot: { parent: id, branch: "then" }, label: "Yes", steps: asSteps(step.then) },
        { slot: { parent: id, branch: "else" }, label: "No", steps: asSteps(step.else) },
      ];
    case "control.switch": {
      const cases = (Array.isArray(step.cases) ? step.cases : []) as Named[];
      return [
        ...cases.map((c) => ({
          slot: { parent: id, branch: `case:${c.id}` },
          label: c.name || c.id,
          steps: asSteps(c.steps),
        })),
        { slot: { parent: id, branch: "default" }, label: "Otherwise", steps: asSteps(step.default) },
      ];
    }
    case "control.forEach":
      return [{ slot: { parent: id, branch: "body" }, label: "For each item", steps: asSteps(step.body) }];
    case "control.parallel": {
      const branches = (Array.isArray(step.branches) ? step.branches : []) as Named[];
      return branches.map((b) => ({
        slot: { parent: id, branch: `branch:${b.id}` },
        label: b.name || b.id,
        steps: asSteps(b.steps),
      }));
    }
    case "control.tryCatch":
      return [
        { slot: { parent: id, branch: "try" }, label: "Try", steps: asSteps(step.try) },
        { slot: { parent: id, branch: "catch" }, label: "On error", steps: asSteps(step.catch) },
      ];
    default:
      return [];
  }
}

export interface Located {
  step: Step;
  slot: Slot;
  index: number;
  /** Ids of the control steps containing it, outermost first. */
  ancestors: string[];
}

/** Every step with where it is, in document order (depth first). */
export function walk(definition: Definition): Located[] {
  const found: Located[] = [];
  const visit = (steps: Step[], slot: Slot, ancestors: string[]) => {
    steps.forEach((step, index) => {
      found.push({ step, slot, index, ancestors });
      for (const child of childSlots(step)) visit(child.steps, child.slot, [...ancestors, step.id]);
    });
  };
  visit(definition.steps ?? [], ROOT, []);
  return found;
}

export function findStep(definition: Definition, id: string): Located | undefined {
  return walk(definition).find((item) => item.step.id === id);
}

/** The step and every step nested inside it (what goes when it is deleted). */
export function nestedIds(step: Step): string[] {
  return [step.id, ...childSlots(step).flatMap((s) => s.steps.flatMap(nestedIds))];
}

function cloneDefinition(definition: Definition): Definition {
  return structuredClone(definition);
}

/** The array holding ``slot``'s steps inside ``definition`` (created when missing). */
function listAt(definition: Definition, slot: Slot): Step[] {
  if (slot.parent === null) {
    definition.steps ??= [];
    return definition.steps;
  }
  const owner = walk(definition).find((item) => item.step.id === slot.parent)?.step;
  if (!owner) throw new Error(`no step ${slot.parent}`);
  const [kind, childId] = slot.branch.split(":", 2) as [string, string | undefined];
  const ensure = (holder: Record<string, unknown>, field: string): Step[] => {
    if (!Array.isArray(holder[field])) holder[field] = [];
    return holder[field] as Step[];
  };
  if (kind === "case" || kind === "branch") {
    const field = kind === "case" ? "cases" : "branches";
    const items = (owner[field] ?? []) as Named[];
    const holder = items.find((item) => item.id === childId);
    if (!holder) throw new Error(`no ${kind} ${childId} in ${owner.id}`);
    return ensure(holder as unknown as Record<string, unknown>, "steps");
  }
  return ensure(owner as Record<string, unknown>, kind);
}

export function insertStep(definition: Definition, slot: Slot, index: number, step: Step): Definition {
  const next = cloneDefinition(definition);
  const list = listAt(next, slot);
  list.splice(Math.max(0, Math.min(index, list.length)), 0, step);
  return next;
}

/** ``definition`` without step ``id`` (and what is nested in it). */
export function removeStep(definition: Definition, id: string): Definition {
  const next = cloneDefinition(definition);
  const located = findStep(next, id);
  if (!located) return next;
  const list = listAt(next, located.slot);
  list.splice(located.index, 1);
  pruneEmpty(next, located.slot);
  return next;
}

/** Optional branches left empty are dropped so the document stays as people would write it. */
function pruneEmpty(definition: Definition, slot: Slot) {
  if (slot.parent === null || !["else", "default", "catch"].includes(slot.branch)) return;
  const owner = findStep(definition, slot.parent)?.step;
  if (owner && Array.isArray(owner[slot.branch]) && (owner[slot.branch] as Step[]).length === 0) {
    if (slot.branch !== "catch") delete owner[slot.branch];
  }
}

export function replaceStep(definition: Definition, id: string, step: Step): Definition {
  const next = cloneDefinition(definition);
  const located = findStep(next, id);
  if (!located) return next;
  listAt(next, located.slot)[located.index] = step;
  return next;
}

/** Move step ``id`` to ``index`` of ``slot`` (index counted before the move). Refuses to move a
 * step into itself. */
export function moveStep(definition: Definition, id: string, slot: Slot, index: number): Definition {
  const located = findStep(definition, id);
  if (!located) return definition;
  if (slot.parent !== null && nestedIds(located.step).includes(slot.parent)) return definition;
  const sameList = located.slot.parent === slot.parent && located.slot.branch === slot.branch;
  const target = sameList && located.index < index ? index - 1 : index;
  const without = removeStep(definition, id);
  return insertStep(without, slot, target, located.step);
}

/** Move a step one place up or down within its list. */
export function shiftStep(definition: Definition, id: string, delta: -1 | 1): Definition {
  const located = findStep(definition, id);
  if (!located) return definition;
  const target = located.index + (delta > 0 ? 2 : -1);
  if (target < 0) return definition;
  const length = listAt(cloneDefinition(definition), located.slot).length;
  if (target > length) return definition;
  return moveStep(definition, id, located.slot, target);
}

/** An id not used anywhere in the definition, from a readable base ("send-email-2"). */
export function uniqueId(definition: Definition, base: string): string {
  const used = new Set(walk(definition).map((item) => item.step.id));
  for (const located of walk(definition)) {
    for (const field of ["cases", "branches"]) {
      for (const item of (located.step[field] ?? []) as Named[]) used.add(item.id);
    }
  }
  const clean = base.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "step";
  if (!used.has(clean)) return clean;
  for (let n = 2; ; n += 1) if (!used.has(`${clean}-${n}`)) return `${clean}-${n}`;
}

/** What a new step of ``type`` starts as. */
export function newStep(
  definition: Definition,
  type: string,
  options: { actionId?: string; version?: number; name?: string } = {},
): Step {
  const base = options.actionId ?? type.replace(/^control\./, "");
  const id = uniqueId(definition, base.replace(/\./g, "-"));
  const named = options.name ? { name: options.name } : {};
  switch (type) {
    case "action.call":
      return {
        id,
        type,
        ...named,
        config: { actionId: options.actionId ?? "", version: options.version ?? 1, inputMapping: {} },
      };
    case "state.set":
      return { id, type, ...named, config: { state: "STATE" } };
    case "transform.assign":
      return { id, type, ...named, config: { assign: { "vars.value": null } } };
    case "event.wait":
      return { id, type, ...named, config: { eventName: "" } };
    case "time.wait":
      return { id, type, ...named, config: { durationMs: 60_000 } };
    case "human.task":
      return { id, type, ...named, config: { title: "", formSchema: { type: "object", properties: {} } } };
    case "event.emit":
      return { id, type, ...named, config: { eventName: "", correlationKey: { $expr: "run.subject" }, payload: {} } };
    case "control.if":
      return { id, type, ...named, condition: { field: "payload.value", op: "exists" }, then: [], else: [] };
    case "control.switch":
      return {
        id,
        type,
        ...named,
        cases: [{ id: uniqueId(definition, `${id}-case`), name: "Case 1", when: { field: "payload.value", op: "equals", value: "" }, steps: [] }],
        default: [],
      };
    case "control.forEach":
      return { id, type, ...named, items: { $expr: "payload.items" }, itemVar: "item", body: [] };
    case "control.parallel":
      return {
        id,
        type,
        ...named,
        branches: [
          { id: `${id}-a`, steps: [] },
          { id: `${id}-b`, steps: [] },
        ],
      };
    case "control.tryCatch":
      return { id, type, ...named, try: [], catch: [], captureErrorAs: "vars.error" };
    case "control.callWorkflow":
      return { id, type, ...named, workflowKey: "", version: "latest", inputMapping: {} };
    case "control.return":
      return { id, type, ...named };
    case "control.fail":
      return { id, type, ...named, message: "Stopped" };
    default:
      return { id, type, ...named, config: {} };
  }
}

/** Paths an expression can read: payload fields from the payload schema, each step's saveAs,
 * the usual meta fields (for completion in the expression editor). */
export function knownPaths(definition: Definition): string[] {
  const paths = new Set<string>(["payload", "vars", "meta.state", "meta.timedOut", "meta.lastEvent", "run.id", "run.subject", "run.startedAt", "error.message"]);
  const fromSchema = (schema: unknown, prefix: string, depth: number) => {
    if (depth > 5 || !schema || typeof schema !== "object") return;
    const properties = (schema as { properties?: Record<string, unknown> }).properties;
    if (!properties) return;
    for (const [name, child] of Object.entries(properties)) {
      const path = `${prefix}.${name}`;
      paths.add(path);
      fromSchema(child, path, depth + 1);
    }
  };
  fromSchema(definition.payloadSchema, "payload", 0);
  for (const { step } of walk(definition)) {
    const config = (step.config ?? {}) as Record<string, Json>;
    for (const holder of [config, step as Record<string, unknown>]) {
      for (const field of ["saveAs", "captureErrorAs"]) {
        const value = holder[field];
        if (typeof value === "string" && value) paths.add(value);
      }
    }
    if (step.type === "transform.assign" && config.assign && typeof config.assign === "object") {
      Object.keys(config.assign as object).forEach((path) => paths.add(path));
    }
    if (step.type === "control.forEach") paths.add(`vars.${(step.itemVar as string) || "item"}`);
  }
  return [...paths].sort();
}
