// Positions: a saved position (PUT …/layout, per step id) wins; every other node is placed by
// dagre, top-down, so a new step never needs a position to be drawn. Dagre's result depends only
// on the graph's shape, so it is remembered per shape: editing a step's fields or dragging a step
// does not lay the whole pipeline out again. A step never lies on another: one dropped on a
// neighbour, or saved where the pipeline has grown since, moves to the nearest free spot.
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

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The space kept between a moved node and the others. */
export const GAP = 16;

const crowds = (a: Box, b: Box) => a.x < b.x + b.width + GAP && b.x < a.x + a.width + GAP && a.y < b.y + b.height + GAP && b.y < a.y + a.height + GAP;

/** Where ``box`` can go without touching ``others`` (keeping GAP apart), as near to where it is
 * as the others allow: beside or above or below what it lies on, then beside that, … . Sideways
 * counts as nearer (a vertical move weighs three times as much): above and below are the
 * pipeline's previous and next steps, and a step put there would seem to have changed its place
 * in the order, which only dropping it on an arrow's + does. */
export function freeSpot(box: Box, others: Box[]): Position {
  const distance = (at: Position) => Math.hypot(at.x - box.x, 3 * (at.y - box.y));
  const queue: Position[] = [{ x: box.x, y: box.y }];
  const seen = new Set<string>();
  for (let tries = 0; queue.length > 0 && tries < 400; tries += 1) {
    queue.sort((a, b) => distance(a) - distance(b));
    const at = queue.shift()!;
    const blocking = others.filter((other) => crowds({ ...box, ...at }, other));
    if (blocking.length === 0) return at;
    for (const other of blocking) {
      for (const next of [
        { x: other.x - box.width - GAP, y: at.y },
        { x: other.x + other.width + GAP, y: at.y },
        { x: at.x, y: other.y - box.height - GAP },
        { x: at.x, y: other.y + other.height + GAP },
      ]) {
        const key = `${Math.round(next.x)},${Math.round(next.y)}`;
        if (!seen.has(key)) {
          seen.add(key);
          queue.push(next);
        }
      }
    }
  }
  // a crowd too thick to search: below everything
  return { x: box.x, y: Math.max(...others.map((other) => other.y + other.height)) + GAP };
}

export function placeNodes(graph: Graph, auto: AutoLayout, saved: Record<string, Position>): Map<string, Placed> {
  const placed = new Map<string, Placed>();
  const boxes: Box[] = [];
  const fixed: typeof graph.nodes = [];
  for (const node of graph.nodes) {
    const at = saved[node.id];
    if (at && Number.isFinite(at.x) && Number.isFinite(at.y)) {
      fixed.push(node);
    } else {
      const at = auto.get(node.id) ?? { x: 0, y: 0 };
      placed.set(node.id, { id: node.id, x: at.x, y: at.y, saved: false });
      boxes.push({ ...at, width: node.width, height: node.height });
    }
  }
  // saved positions go where they were put unless the pipeline (or another saved step) is there now
  for (const node of fixed) {
    const box = { ...saved[node.id]!, width: node.width, height: node.height };
    const at = freeSpot(box, boxes);
    placed.set(node.id, { id: node.id, x: at.x, y: at.y, saved: true });
    boxes.push({ ...at, width: node.width, height: node.height });
  }
  return new Map(graph.nodes.map((node) => [node.id, placed.get(node.id)!]));
}

export function layoutGraph(graph: Graph, saved: Record<string, Position>): Map<string, Placed> {
  return placeNodes(graph, autoLayout(graph), saved);
}
