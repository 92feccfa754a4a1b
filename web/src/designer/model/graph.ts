// The pipeline drawn top-down: a node per step, a small join node after each branching block,
// start and end; every edge knows where a step inserted on it would go (slot and index).
import type { Definition, Step } from "../../api/types";
import { childSlots, isTerminal, ROOT, type Slot } from "./tree";

export type NodeKind = "start" | "step" | "join" | "end" | "empty";

export interface GraphNode {
  id: string;
  kind: NodeKind;
  step?: Step;
  /** Nesting depth (for the container tint of nested steps). */
  depth: number;
  /** An empty branch's placeholder: where a step added there goes, and the branch's label. */
  slot?: Slot;
  label?: string;
  width: number;
  height: number;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  label?: string;
  /** Inserting a step on this edge puts it at ``index`` of ``slot`` (none: not an insert point). */
  insert: { slot: Slot; index: number } | null;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export const START = "__start";
export const END = "__end";
export const joinId = (stepId: string) => `__join:${stepId}`;
export const emptyId = (slot: Slot) => `__empty:${slot.parent}:${slot.branch}`;

export const SIZE = {
  step: { width: 260, height: 68 },
  start: { width: 260, height: 52 },
  end: { width: 140, height: 36 },
  join: { width: 14, height: 14 },
  empty: { width: 150, height: 34 },
} as const;

interface Port {
  source: string;
  label?: string;
}

export function buildGraph(definition: Definition): Graph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const edgeIds = new Set<string>();

  const connect = (from: Port, target: string, insert: GraphEdge["insert"]) => {
    let id = `${from.source}->${target}`;
    for (let n = 2; edgeIds.has(id); n += 1) id = `${from.source}->${target}#${n}`;
    edgeIds.add(id);
    edges.push({ id, source: from.source, target, label: from.label, insert });
  };

  const list = (steps: Step[], slot: Slot, incoming: Port[], depth: number): Port[] => {
    let ports = incoming;
    steps.forEach((step, index) => {
      nodes.push({ id: step.id, kind: "step", step, depth, ...SIZE.step });
      for (const port of ports) connect(port, step.id, { slot, index });
      const children = childSlots(step);
      if (children.length === 0) {
        ports = isTerminal(step.type) ? [] : [{ source: step.id }];
        return;
      }
      const join = joinId(step.id);
      nodes.push({ id: join, kind: "join", depth, ...SIZE.join });
      let reachesJoin = false;
      for (const child of children) {
        const entry: Port = { source: step.id, label: child.label };
        const out = list(child.steps, child.slot, [entry], depth + 1);
        if (child.steps.length === 0) {
          // an empty branch gets a placeholder of its own, so each branch has its own lane
          const empty = emptyId(child.slot);
          nodes.push({ id: empty, kind: "empty", depth: depth + 1, slot: child.slot, label: child.label, ...SIZE.empty });
          connect(entry, empty, null);
          connect({ source: empty }, join, null);
          reachesJoin = true;
        } else {
          for (const port of out) connect(port, join, { slot: child.slot, index: child.steps.length });
          reachesJoin ||= out.length > 0;
        }
      }
      ports = reachesJoin ? [{ source: join }] : [];
    });
    return ports;
  };

  nodes.push({ id: START, kind: "start", depth: 0, ...SIZE.start });
  const out = list(definition.steps ?? [], ROOT, [{ source: START }], 0);
  const steps = definition.steps ?? [];
  // the end is drawn only where the pipeline can reach it (not after a final return or fail)
  if (steps.length === 0 || out.length > 0) nodes.push({ id: END, kind: "end", depth: 0, ...SIZE.end });
  if (steps.length === 0) connect({ source: START }, END, { slot: ROOT, index: 0 });
  else for (const port of out) connect(port, END, { slot: ROOT, index: steps.length });
  return { nodes, edges };
}
