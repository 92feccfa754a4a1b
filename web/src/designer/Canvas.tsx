// The pipeline on a React Flow canvas: cards for steps (with live count badges and problem
// marks), small joins after branching blocks, "+" on every edge to insert a step there.
import {
  Background,
  BaseEdge,
  Controls,
  EdgeLabelRenderer,
  Handle,
  MiniMap,
  Position as Side,
  ReactFlow,
  applyNodeChanges,
  getSmoothStepPath,
  type Edge,
  type EdgeProps,
  type Node,
  type NodeChange,
  type NodeProps,
  type ReactFlowInstance,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { createContext, memo, useContext, useEffect, useMemo, useRef, useState } from "react";
import type { Definition, Position, Step, StepCount } from "../api/types";
import { buildGraph, SIZE, type GraphEdge, type GraphNode } from "./model/graph";
import { autoLayout, freeSpot, placeNodes, type Box } from "./model/layout";
import { revealViewport, type Rect } from "./model/reveal";
import { summarize, summaryParts, typeInfo } from "./steps";

export type Mark = "added" | "changed" | "removed" | "moved" | "taken" | "current" | "failed";

export interface CanvasState {
  counts: Record<string, StepCount>;
  problems: Record<string, number>;
  marks: Record<string, Mark>;
  editable: boolean;
  insertTarget: string | null;
  /** The insert point a dragged step would move to if dropped now. */
  dropTarget?: string | null;
  triggerSummary: string;
  onInsert: (edge: GraphEdge) => void;
  onAddInto: (placeholder: GraphNode) => void;
}

const CanvasContext = createContext<CanvasState | null>(null);
const useCanvas = () => useContext(CanvasContext)!;

type StepData = { node: GraphNode };

function Badges({ id }: { id: string }) {
  const count = useCanvas().counts[id];
  if (!count) return null;
  const running = (count.running ?? 0) + (count.retrying ?? 0);
  const waiting = count.waiting ?? 0;
  const failed = count.failed ?? 0;
  if (running + waiting + failed === 0) return null;
  const parts = [
    running ? `${running} running` : null,
    waiting ? `${waiting} waiting` : null,
    failed ? `${failed} failed` : null,
  ].filter(Boolean);
  return (
    <div className="badges" data-testid={`badge-${id}`} title={`Active runs here: ${parts.join(", ")}`}>
      {running > 0 && <span className="badge badge-running">{running} running</span>}
      {waiting > 0 && <span className="badge badge-waiting">{waiting} waiting</span>}
      {failed > 0 && <span className="badge badge-failed">{failed} failed</span>}
    </div>
  );
}

/** A summary cut where it may be: its first part gets the ellipsis, its tail stays whole. */
function Clipped({ parts: [main, tail] }: { parts: [string, string] }) {
  if (!tail) return <>{main}</>;
  return (
    <span className="clipped">
      <span className="clipped-main">{main}</span>
      <span className="clipped-tail">{tail}</span>
    </span>
  );
}

const StepNode = memo(function StepNode({ data, selected }: NodeProps<Node<StepData>>) {
  const { problems, marks } = useCanvas();
  const step = data.node.step as Step;
  const info = typeInfo(step.type);
  const problemCount = problems[step.id] ?? 0;
  const mark = marks[step.id];
  const classes = [
    "step-card",
    `tone-${info.tone}`,
    selected ? "is-selected" : "",
    problemCount ? "has-problem" : "",
    mark ? `mark-${mark}` : "",
    data.node.depth > 0 ? `depth-${Math.min(data.node.depth, 3)}` : "",
  ];
  const summary = summarize(step);
  const parts = summaryParts(step);
  const title = step.name || summary || step.id;
  const sub = step.name ? summary : step.id;
  // the whole card says everything on hover, however narrow it is drawn
  const whole = [`${info.label}: ${title}`, sub, step.name || !summary ? "" : `id ${step.id}`].filter(Boolean).join("\n");
  return (
    <div className={classes.join(" ")} data-testid={`step-${step.id}`} aria-label={`${info.label} ${step.name ?? step.id}`} title={whole}>
      <Handle type="target" position={Side.Top} className="handle" isConnectable={false} />
      <div className="step-icon" aria-hidden>
        {info.icon}
      </div>
      <div className="step-text">
        <div className="step-type">
          {info.label}
          {mark && <span className={`mark-tag mark-tag-${mark}`}>{mark}</span>}
        </div>
        {/* a long summary (a wait's filter) is cut on the card: whole on hover */}
        <div className="step-title" title={title}>
          {!step.name && summary ? <Clipped parts={parts} /> : title}
        </div>
        <div className="step-sub mono" title={sub}>
          {step.name && summary ? <Clipped parts={parts} /> : sub}
        </div>
      </div>
      {problemCount > 0 && (
        <div className="step-problem" title={`${problemCount} problem${problemCount === 1 ? "" : "s"}`}>
          !
        </div>
      )}
      <Badges id={step.id} />
      <Handle type="source" position={Side.Bottom} className="handle" isConnectable={false} />
    </div>
  );
});

function StartNode() {
  const { triggerSummary } = useCanvas();
  return (
    <div className="start-card" data-testid="start">
      <div className="start-label">Start</div>
      <div className="start-sub" title={triggerSummary}>
        {triggerSummary}
      </div>
      <Handle type="source" position={Side.Bottom} className="handle" isConnectable={false} />
    </div>
  );
}

function EndNode() {
  return (
    <div className="end-card">
      <Handle type="target" position={Side.Top} className="handle" isConnectable={false} />
      End
    </div>
  );
}

function EmptyNode({ data }: NodeProps<Node<StepData>>) {
  const { editable, onAddInto } = useCanvas();
  const node = data.node;
  return (
    <div className="empty-slot">
      <Handle type="target" position={Side.Top} className="handle" isConnectable={false} />
      {editable ? (
        <button type="button" className="empty-add nodrag" data-testid={`add-${node.slot!.parent}-${node.slot!.branch}`} aria-label={`Add a step in “${node.label}” of ${node.slot!.parent}`} onClick={(event) => {
          event.stopPropagation();
          onAddInto(node);
        }}>
          + Add step
        </button>
      ) : (
        <span className="muted small">empty</span>
      )}
      <Handle type="source" position={Side.Bottom} className="handle" isConnectable={false} />
    </div>
  );
}

function JoinNode() {
  return (
    <div className="join-dot">
      <Handle type="target" position={Side.Top} className="handle" isConnectable={false} />
      <Handle type="source" position={Side.Bottom} className="handle" isConnectable={false} />
    </div>
  );
}

type InsertData = { edge: GraphEdge };

function InsertEdge(props: EdgeProps<Edge<InsertData>>) {
  const { editable, onInsert, insertTarget, dropTarget, marks } = useCanvas();
  const [path, labelX, labelY] = getSmoothStepPath({ ...props, borderRadius: 10, offset: 16 });
  const edge = props.data!.edge;
  const active = insertTarget === edge.id || dropTarget === edge.id;
  const reached = ["taken", "current", "failed"].includes(marks[edge.target] ?? "");
  const intoJoin = edge.target.startsWith("__join") || edge.target.startsWith("__end");
  const taken = marks[edge.source] === "taken" && (reached || (intoJoin && !edge.source.startsWith("__")));
  return (
    <>
      <BaseEdge id={props.id} path={path} className={taken ? "edge-taken" : undefined} />
      <EdgeLabelRenderer>
        <div className="edge-tools" style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}>
          {edge.label && <span className="edge-label">{edge.label}</span>}
          {editable && edge.insert && (
            <button
              type="button"
              className={`edge-add nodrag nopan ${active ? "is-active" : ""}`}
              aria-label={`Insert a step ${edge.label ? `in “${edge.label}”` : "here"}`}
              data-testid={`insert-${edge.id}`}
              onClick={(event) => {
                event.stopPropagation();
                onInsert(edge);
              }}
            >
              +
            </button>
          )}
        </div>
      </EdgeLabelRenderer>
    </>
  );
}

/** Show the top of the pipeline, as wide as fits, readable: zoom between 0.55 and 1. */
function fitTop(flow: ReactFlowInstance, nodes: Node[]) {
  const box = document.querySelector(".canvas-wrap")?.getBoundingClientRect();
  if (!box || nodes.length === 0) return;
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (const node of nodes) {
    minX = Math.min(minX, node.position.x);
    maxX = Math.max(maxX, node.position.x + (node.width ?? 0));
    minY = Math.min(minY, node.position.y);
    maxY = Math.max(maxY, node.position.y + (node.height ?? 0));
  }
  const width = maxX - minX;
  const height = maxY - minY;
  const zoom = Math.max(0.55, Math.min(1, (box.width - 64) / width, Math.max((box.height - 48) / height, 0.8)));
  const x = width * zoom < box.width ? (box.width - width * zoom) / 2 - minX * zoom : 32 - minX * zoom;
  flow.setViewport({ x, y: 28 - minY * zoom, zoom });
}

/** How close (in canvas units) a dragged step's centre must come to an edge's + to move there. */
const DROP_REACH = 40;

/** Room kept around a step brought into sight: below the badge legend, beside the zoom
 * controls (bottom left), off the edges. */
const REVEAL_MARGINS = { top: 44, right: 20, bottom: 20, left: 56 };

const nodeTypes = { step: StepNode, start: StartNode, end: EndNode, join: JoinNode, empty: EmptyNode };
const edgeTypes = { insert: InsertEdge };

export interface CanvasProps extends CanvasState {
  doc: Definition;
  layout: Record<string, Position>;
  selectedId: string | null;
  onSelect: (id: string | null) => void;
  onMoved: (id: string, position: Position) => void;
  /** A step dropped onto an insert point: move it there in the pipeline. */
  onDropOnEdge?: (id: string, edge: GraphEdge) => void;
  /** Called once the first layout is on screen (for the render-time measurement). */
  onReady?: () => void;
  /** Open centred on this step instead of the top of the pipeline (the run viewer: where the
   * run is now). */
  focusId?: string | null;
}

export function Canvas(props: CanvasProps) {
  const { doc, layout, selectedId, onSelect, onMoved, onDropOnEdge, editable, onReady, focusId } = props;
  const [dropTarget, setDropTarget] = useState<string | null>(null);
  const graph = useMemo(() => buildGraph(doc), [doc]);
  const auto = useMemo(() => autoLayout(graph), [graph]);
  const placed = useMemo(() => placeNodes(graph, auto, layout), [graph, auto, layout]);
  // one data object per node while the graph stands, so a moved node re-renders alone
  const dataOf = useMemo(() => new Map(graph.nodes.map((node) => [node.id, { node }])), [graph]);
  const computed = useMemo<Node[]>(
    () =>
      graph.nodes.map((node) => {
        const at = placed.get(node.id)!;
        return {
          id: node.id,
          type: node.kind,
          position: { x: at.x, y: at.y },
          data: dataOf.get(node.id)!,
          draggable: editable && node.kind === "step",
          selectable: node.kind === "step",
          focusable: node.kind === "step",
          width: node.width,
          height: node.height,
        };
      }),
    [graph, placed, editable, dataOf],
  );
  const edges = useMemo<Edge[]>(
    () =>
      graph.edges.map((edge) => ({
        id: edge.id,
        source: edge.source,
        target: edge.target,
        type: "insert",
        data: { edge },
        selectable: false,
        focusable: false,
      })),
    [graph],
  );
  const [nodes, setNodes] = useState<Node[]>(computed);
  const selectedRef = useRef(selectedId);
  selectedRef.current = selectedId;
  useEffect(() => setNodes(computed.map((n) => (n.id === selectedRef.current ? { ...n, selected: true } : n))), [computed]);
  useEffect(() => {
    // only the nodes whose selection changes get new objects (a 200-step canvas stays quick)
    setNodes((current) =>
      current.map((n) => ((n.id === selectedId) === Boolean(n.selected) ? n : { ...n, selected: n.id === selectedId })),
    );
  }, [selectedId]);
  const instance = useRef<ReactFlowInstance | null>(null);
  const fitted = useRef(false);

  const frame = useRef<HTMLDivElement>(null);

  /** Pan (never zoom) so ``box`` lies whole inside the canvas: a step is never left cut off at
   * the canvas's edge, behind the side panel. Margins keep it off the legend and the controls. */
  const reveal = (box: Rect, animate = true) => {
    const flow = instance.current;
    const area = frame.current?.getBoundingClientRect();
    if (!flow || !area || area.width === 0) return;
    const next = revealViewport(box, flow.getViewport(), area.width, area.height, REVEAL_MARGINS);
    if (next) void flow.setViewport(next, animate ? { duration: 250 } : undefined);
  };
  /** Where ``id`` is laid out (after a move in the pipeline: its new place). */
  const boxOf = (id: string): Rect | null => {
    const at = placed.get(id);
    const size = dataOf.get(id)?.node;
    return at && size ? { x: at.x, y: at.y, width: size.width, height: size.height } : null;
  };

  // a newly selected step comes into sight once it is laid out (a step just added from the
  // palette, or moved to another place in the pipeline, is there one render later)
  const toReveal = useRef<string | null>(null);
  useEffect(() => {
    toReveal.current = selectedId;
  }, [selectedId]);
  useEffect(() => {
    const id = toReveal.current;
    if (!id || !instance.current) return;
    const box = boxOf(id);
    if (!box) return;
    toReveal.current = null;
    reveal(box);
    // when the selection changes or the layout does
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selectedId, placed]);

  // the canvas narrows (the window, the palette opening): the selected step stays in sight
  const revealSelected = useRef(() => {});
  revealSelected.current = () => {
    const box = selectedRef.current ? boxOf(selectedRef.current) : null;
    if (box) reveal(box, false);
  };
  useEffect(() => {
    const element = frame.current;
    if (!element) return;
    let last = element.getBoundingClientRect();
    const observer = new ResizeObserver(() => {
      const now = element.getBoundingClientRect();
      if (Math.abs(now.width - last.width) < 1 && Math.abs(now.height - last.height) < 1) return;
      last = now;
      revealSelected.current();
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  // a stable context: node cards re-render when what they show changes, not on every parent render
  const callbacks = useRef({ onInsert: props.onInsert, onAddInto: props.onAddInto });
  callbacks.current = { onInsert: props.onInsert, onAddInto: props.onAddInto };
  const { counts, problems, marks, insertTarget, triggerSummary } = props;
  const state = useMemo<CanvasState>(
    () => ({
      counts,
      problems,
      marks,
      editable,
      insertTarget,
      dropTarget,
      triggerSummary,
      onInsert: (edge) => callbacks.current.onInsert(edge),
      onAddInto: (node) => callbacks.current.onAddInto(node),
    }),
    [counts, problems, marks, editable, insertTarget, dropTarget, triggerSummary],
  );

  /** Every node's box but ``id``'s, where it is drawn. */
  const othersThan = (id: string): Box[] =>
    graph.nodes.filter((n) => n.id !== id).map((n) => ({ ...placed.get(n.id)!, width: n.width, height: n.height }));

  /** The insert point under a step being dragged: the + under the pointer (a branch's + sits
   * beside its label, away from the arrow's middle), else one within reach of its centre. */
  const dropPointFor = (id: string, position: { x: number; y: number }, event?: MouseEvent | TouchEvent): GraphEdge | null => {
    const pointer = event && "clientX" in event ? event : event?.changedTouches?.[0];
    if (pointer) {
      const under = document.elementsFromPoint(pointer.clientX, pointer.clientY).find((element) => element.classList.contains("edge-add"));
      const edgeId = under?.getAttribute("data-testid")?.replace(/^insert-/, "");
      const edge = edgeId ? graph.edges.find((e) => e.id === edgeId) : undefined;
      if (edge?.insert && edge.source !== id && edge.target !== id) return edge;
    }
    const centre = { x: position.x + 130, y: position.y + 34 };
    let best: GraphEdge | null = null;
    let bestDistance = DROP_REACH;
    for (const edge of graph.edges) {
      if (!edge.insert || edge.source === id || edge.target === id) continue;
      const from = placed.get(edge.source);
      const to = placed.get(edge.target);
      const fromNode = dataOf.get(edge.source)?.node;
      const toNode = dataOf.get(edge.target)?.node;
      if (!from || !to || !fromNode || !toNode) continue;
      const mx = (from.x + fromNode.width / 2 + to.x + toNode.width / 2) / 2;
      const my = (from.y + fromNode.height + to.y) / 2;
      const distance = Math.hypot(mx - centre.x, my - centre.y);
      if (distance < bestDistance) {
        best = edge;
        bestDistance = distance;
      }
    }
    return best;
  };
  return (
    <CanvasContext.Provider value={state}>
      <div
        className="canvas-keys"
        ref={frame}
        onKeyDown={(event) => {
          // keyboard selection: Tab to a step, Enter or Space opens it
          const focused = (event.target as HTMLElement).closest?.(".react-flow__node-step");
          if (focused && (event.key === "Enter" || event.key === " ")) {
            event.preventDefault();
            onSelect(focused.getAttribute("data-id"));
          }
        }}
      >
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        onInit={(flow) => {
          instance.current = flow;
          if (!fitted.current) {
            fitted.current = true;
            const focus = focusId ? nodes.find((n) => n.id === focusId) : undefined;
            if (focus) flow.setCenter(focus.position.x + 130, focus.position.y + 34, { zoom: 0.85 });
            else fitTop(flow, nodes);
          }
          requestAnimationFrame(() => onReady?.());
        }}
        onNodesChange={(changes: NodeChange[]) => {
          // selection is the designer's (selectedId), not React Flow's own
          const kept = changes.filter((change) => change.type !== "select");
          if (kept.length) setNodes((current) => applyNodeChanges(kept, current));
        }}
        onNodeClick={(_, node) => node.type === "step" && onSelect(node.id)}
        onPaneClick={() => onSelect(null)}

        onNodeDrag={(event, node) => {
          if (node.type !== "step" || !onDropOnEdge) return;
          const target = dropPointFor(node.id, node.position, event)?.id ?? null;
          if (target !== dropTarget) setDropTarget(target);
        }}
        onNodeDragStop={(event, node) => {
          if (node.type !== "step") return;
          setDropTarget(null);
          const edge = onDropOnEdge ? dropPointFor(node.id, node.position, event) : null;
          if (edge && onDropOnEdge) {
            toReveal.current = node.id; // at its new place, once laid out there
            onDropOnEdge(node.id, edge);
          }
          else {
            // dropped on another node: it goes to the nearest free spot instead
            const at = freeSpot({ ...node.position, width: SIZE.step.width, height: SIZE.step.height }, othersThan(node.id));
            setNodes((current) => current.map((n) => (n.id === node.id ? { ...n, position: at } : n)));
            onMoved(node.id, { x: Math.round(at.x), y: Math.round(at.y) });
            // dropped at (or past) the canvas's edge: it does not stay cut off behind the panel
            reveal({ ...at, width: SIZE.step.width, height: SIZE.step.height }, false);
          }
        }}
        nodesConnectable={false}
        nodesDraggable={editable}
        edgesFocusable={false}
        elementsSelectable
        deleteKeyCode={null}
        minZoom={0.1}
        maxZoom={1.6}
        onlyRenderVisibleElements={graph.nodes.length > 80}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={20} size={1} color="#d9dde5" />
        <Controls showInteractive={false} position="bottom-left" />
        {graph.nodes.length > 30 && <MiniMap pannable zoomable position="bottom-right" nodeStrokeWidth={2} style={{ width: 120, height: 150 }} maskColor="rgba(240, 242, 247, 0.6)" />}
      </ReactFlow>
      </div>
    </CanvasContext.Provider>
  );
}
