// Positions: a saved position (PUT …/layout, per step id) wins; every other node is placed by
// dagre, top-down, so a new step never needs a position to be drawn. Dagre's result depends only
// on the graph's shape, so it is remembered per shape: editing a step's fields or dragging a step
// does not lay the whole pipeline out again.
import dagre from "@dagrejs/dagre";
import type { Position } from "../../api/types";
import type { Graph } from "./graph";

export interface Placed {
  id: string;
  x: number;
  y: number;
  saved: boolean;
}

/** Top-left corners by node id, as dagre places them. */
export type AutoLayout = Map<string, Position>;

const remembered = new Map<string, AutoLayout>();
const REMEMBER = 8;

function shapeOf(graph: Graph): string {
  return JSON.stringify([graph.nodes.map((n) => [n.id, n.width, n.height]), graph.edges.map((e) => [e.source, e.target])]);
}

export function autoLayout(graph: Graph): AutoLayout {
  const shape = shapeOf(graph);
  const known = remembered.get(shape);
  if (known) return known;
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: 48, ranksep: 56, marginx: 24, marginy: 24 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) g.setNode(node.id, { width: node.width, height: node.height });
  for (const edge of graph.edges) g.setEdge(edge.source, edge.target);
  dagre.layout(g);
  const auto: AutoLayout = new Map();
  for (const node of graph.nodes) {
    const at = g.node(node.id);
    // dagre gives centres; React Flow wants top-left corners
    auto.set(node.id, { x: at.x - node.width / 2, y: at.y - node.height / 2 });
  }
  remembered.set(shape, auto);
  if (remembered.size > REMEMBER) remembered.delete(remembered.keys().next().value as string);
  return auto;
}

export function placeNodes(graph: Graph, auto: AutoLayout, saved: Record<string, Position>): Map<string, Placed> {
  const placed = new Map<string, Placed>();
  for (const node of graph.nodes) {
    const fixed = saved[node.id];
    if (fixed && Number.isFinite(fixed.x) && Number.isFinite(fixed.y)) {
      placed.set(node.id, { id: node.id, x: fixed.x, y: fixed.y, saved: true });
    } else {
      const at = auto.get(node.id) ?? { x: 0, y: 0 };
      placed.set(node.id, { id: node.id, x: at.x, y: at.y, saved: false });
    }
  }
  return placed;
}

export function layoutGraph(graph: Graph, saved: Record<string, Position>): Map<string, Placed> {
  return placeNodes(graph, autoLayout(graph), saved);
}
