// What changed between two versions, step by step (by id): added, removed, changed (its own
// fields, not its children's), moved (another branch or place).
import type { Definition, Step } from "../../api/types";
import { walk } from "./tree";

export type Change = "added" | "removed" | "changed" | "moved";

export interface StepChange {
  stepId: string;
  change: Change;
  type: string;
  name?: string;
}

/** A step's own content: its fields without the nested step lists (and without its name). */
function own(step: Step): string {
  const copy = structuredClone(step) as Record<string, unknown>;
  for (const field of ["then", "else", "default", "body", "try", "catch"]) delete copy[field];
  for (const field of ["cases", "branches"]) {
    if (Array.isArray(copy[field])) copy[field] = (copy[field] as Record<string, unknown>[]).map(({ steps: _steps, ...rest }) => rest);
  }
  delete copy.name;
  return JSON.stringify(deepSorted(copy));
}

function deepSorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(deepSorted);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value as object).sort().map((k) => [k, deepSorted((value as Record<string, unknown>)[k])]));
  }
  return value;
}

const slotKey = (slot: { parent: string | null; branch: string }) => `${slot.parent ?? ""}/${slot.branch}`;

/** Each step's index among the steps of its list that sit in the same list in the other version
 * (so inserting or removing a neighbour is not a move). */
function orderAmongCommon(mine: Definition, other: Definition): Map<string, number> {
  const otherSlot = new Map(walk(other).map((item) => [item.step.id, slotKey(item.slot)]));
  const lists = new Map<string, string[]>();
  for (const item of walk(mine)) {
    const key = slotKey(item.slot);
    if (otherSlot.get(item.step.id) !== key) continue;
    lists.set(key, [...(lists.get(key) ?? []), item.step.id]);
  }
  const order = new Map<string, number>();
  for (const ids of lists.values()) ids.forEach((id, index) => order.set(id, index));
  return order;
}

export function diffDefinitions(before: Definition, after: Definition): StepChange[] {
  const a = new Map(walk(before).map((item) => [item.step.id, item]));
  const b = new Map(walk(after).map((item) => [item.step.id, item]));
  const orderBefore = orderAmongCommon(before, after);
  const orderAfter = orderAmongCommon(after, before);
  const changes: StepChange[] = [];
  for (const [id, item] of b) {
    const old = a.get(id);
    const base = { stepId: id, type: item.step.type, name: item.step.name };
    if (!old) changes.push({ ...base, change: "added" });
    else if (own(old.step) !== own(item.step)) changes.push({ ...base, change: "changed" });
    else if (slotKey(old.slot) !== slotKey(item.slot) || orderBefore.get(id) !== orderAfter.get(id)) changes.push({ ...base, change: "moved" });
  }
  for (const [id, item] of a) if (!b.has(id)) changes.push({ stepId: id, change: "removed", type: item.step.type, name: item.step.name });
  return changes;
}
