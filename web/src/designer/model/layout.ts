// Positions: a saved position (PUT …/layout, per step id) wins; every other node is placed by
// dagre, top-down, so a new step never needs a position to be drawn.
import dagre from "@dagrejs/dagre";
import type { Position } from "../../api/types";
import type { Graph } from "./graph";

export interface Placed {
  id: string;
  x: number;
  y: number;
  saved: boolean;
}

export function layoutGraph(graph: Graph, saved: Record<string, Position>): Map<string, Placed> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: 48, ranksep: 46, marginx: 24, marginy: 24 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) g.setNode(node.id, { width: node.width, height: node.height });
  for (const edge of graph.edges) g.setEdge(edge.source, edge.target, edge.label ? { width: 60, height: 20 } : {});
  dagre.layout(g);
  const placed = new Map<string, Placed>();
  for (const node of graph.nodes) {
    const at = g.node(node.id);
    const fixed = saved[node.id];
    if (fixed && Number.isFinite(fixed.x) && Number.isFinite(fixed.y)) {
      placed.set(node.id, { id: node.id, x: fixed.x, y: fixed.y, saved: true });
    } else {
      // dagre gives centres; React Flow wants top-left corners
      placed.set(node.id, { id: node.id, x: at.x - node.width / 2, y: at.y - node.height / 2, saved: false });
    }
  }
  return placed;
}
