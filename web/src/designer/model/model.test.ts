import { describe, expect, it } from "vitest";
import type { Definition } from "../../api/types";
import { buildGraph, emptyId, END, joinId, START } from "./graph";
import { freeSpot, GAP, layoutGraph, type Box } from "./layout";
import { findStep, insertStep, knownPaths, moveStep, nestedIds, newStep, removeStep, ROOT, shiftStep, uniqueId, walk } from "./tree";

const sample = (): Definition => ({
  key: "demo",
  payloadSchema: { type: "object", properties: { contact: { type: "object", properties: { plan: { type: "string" } } } } },
  steps: [
    { id: "check", type: "action.call", config: { actionId: "inventory.check_stock", version: 1, inputMapping: {}, saveAs: "vars.stock" } },
    {
      id: "vip",
      type: "control.if",
      condition: { field: "payload.contact.plan", op: "equals", value: "pro" },
      then: [{ id: "wait", type: "event.wait", config: { eventName: "paid" } }],
      else: [],
    },
    { id: "done", type: "state.set", config: { state: "DONE" } },
  ],
});

describe("tree edits", () => {
  it("inserts into a branch and finds it there", () => {
    const def = insertStep(sample(), { parent: "vip", branch: "else" }, 0, { id: "no", type: "state.set", config: { state: "NO" } });
    const found = findStep(def, "no");
    expect(found?.slot).toEqual({ parent: "vip", branch: "else" });
    expect(found?.ancestors).toEqual(["vip"]);
    expect(findStep(sample(), "no")).toBeUndefined(); // the original is untouched
  });

  it("deletes a block with everything nested in it", () => {
    const def = sample();
    expect(nestedIds(findStep(def, "vip")!.step)).toEqual(["vip", "wait"]);
    const after = removeStep(def, "vip");
    expect(walk(after).map((s) => s.step.id)).toEqual(["check", "done"]);
  });

  it("moves a step into a branch and back, never into itself", () => {
    const moved = moveStep(sample(), "done", { parent: "vip", branch: "then" }, 1);
    expect(findStep(moved, "done")?.slot.branch).toBe("then");
    expect(moveStep(sample(), "vip", { parent: "vip", branch: "then" }, 0)).toEqual(sample());
    const up = shiftStep(sample(), "done", -1);
    expect(up.steps.map((s) => s.id)).toEqual(["check", "done", "vip"]);
    const down = shiftStep(sample(), "check", 1);
    expect(down.steps.map((s) => s.id)).toEqual(["vip", "check", "done"]);
    expect(shiftStep(sample(), "check", -1)).toEqual(sample());
  });

  it("makes readable unique ids", () => {
    expect(uniqueId(sample(), "check")).toBe("check-2");
    expect(uniqueId(sample(), "Send email!")).toBe("send-email");
    const step = newStep(sample(), "action.call", { actionId: "inventory.check_stock", version: 1 });
    expect(step.id).toBe("inventory-check_stock".replace("_", "-"));
    expect(step.config).toMatchObject({ actionId: "inventory.check_stock", version: 1 });
  });

  it("knows the paths expressions can read", () => {
    const paths = knownPaths(sample());
    expect(paths).toContain("payload.contact.plan");
    expect(paths).toContain("vars.stock");
  });
});

describe("graph", () => {
  it("draws branches with labels and knows where an insert goes", () => {
    const graph = buildGraph(sample());
    expect(graph.nodes.map((n) => n.id).sort()).toEqual([START, "check", "vip", joinId("vip"), "wait", emptyId({ parent: "vip", branch: "else" }), "done", END].sort());
    const yes = graph.edges.find((e) => e.source === "vip" && e.target === "wait");
    expect(yes?.label).toBe("Yes");
    expect(yes?.insert).toEqual({ slot: { parent: "vip", branch: "then" }, index: 0 });
    const no = graph.edges.find((e) => e.source === "vip" && e.label === "No");
    expect(no?.target).toBe(emptyId({ parent: "vip", branch: "else" }));
    const placeholder = graph.nodes.find((n) => n.kind === "empty");
    expect(placeholder?.slot).toEqual({ parent: "vip", branch: "else" });
    const last = graph.edges.find((e) => e.target === END);
    expect(last?.insert).toEqual({ slot: ROOT, index: 3 });
  });

  it("stops a list at a return", () => {
    const def = sample();
    def.steps.splice(1, 0, { id: "stop", type: "control.return" });
    const graph = buildGraph(def);
    expect(graph.edges.some((e) => e.source === "stop")).toBe(false);
  });

  it("places every node, saved positions first", () => {
    const graph = buildGraph(sample());
    const placed = layoutGraph(graph, { vip: { x: 900, y: 40 } });
    expect(placed.get("vip")).toMatchObject({ x: 900, y: 40, saved: true });
    const check = placed.get("check")!;
    const done = placed.get("done")!;
    expect(done.y).toBeGreaterThan(check.y);
  });

  it("moves a step dropped on another to the nearest free spot", () => {
    const a: Box = { x: 0, y: 0, width: 260, height: 68 };
    const b: Box = { x: 0, y: 124, width: 260, height: 68 };
    // where it is free, it stays
    expect(freeSpot({ x: 400, y: 60, width: 260, height: 68 }, [a, b])).toEqual({ x: 400, y: 60 });
    // onto a, a little right of it: beside a, to the right
    expect(freeSpot({ x: 30, y: 0, width: 260, height: 68 }, [a, b])).toEqual({ x: 260 + GAP, y: 0 });
    // a little left of a: beside it to the left
    expect(freeSpot({ x: -30, y: 0, width: 260, height: 68 }, [a, b])).toEqual({ x: -260 - GAP, y: 0 });
    // between a and b, slightly over both: out to the side nearest
    const between = freeSpot({ x: 20, y: 60, width: 260, height: 68 }, [a, b]);
    expect([a, b].some((o) => overlaps({ ...between, width: 260, height: 68 }, o))).toBe(false);
  });

  it("never draws a saved position on top of the pipeline", () => {
    const graph = buildGraph(sample());
    const auto = layoutGraph(graph, {});
    const onCheck = auto.get("check")!;
    // "done" was saved where "check" is now drawn (the pipeline grew after the drag, say)
    const placed = layoutGraph(graph, { done: { x: onCheck.x + 10, y: onCheck.y } });
    const boxes = graph.nodes.map((node) => ({ ...placed.get(node.id)!, width: node.width, height: node.height }));
    for (const [i, x] of boxes.entries()) for (const y of boxes.slice(i + 1)) expect(overlaps(x, y), `${x.id} on ${y.id}`).toBe(false);
    expect(placed.get("done")).toMatchObject({ saved: true });
  });

  it("lays out 200 steps", () => {
    const def: Definition = { key: "big", steps: [] };
    for (let i = 0; i < 200; i += 1) def.steps.push({ id: `s${i}`, type: "state.set", config: { state: `S${i}` } });
    const placed = layoutGraph(buildGraph(def), {});
    expect(placed.size).toBe(202);
  });
});

import { diffDefinitions } from "./diff";

describe("diff", () => {
  it("finds added, removed, changed and moved steps", () => {
    const before = sample();
    const after = structuredClone(before);
    after.steps[0]!.config = { ...after.steps[0]!.config, saveAs: "vars.other" }; // changed
    after.steps.splice(2, 1); // removed "done"
    after.steps.push({ id: "new", type: "state.set", config: { state: "NEW" } }); // added
    const changes = Object.fromEntries(diffDefinitions(before, after).map((c) => [c.stepId, c.change]));
    expect(changes).toEqual({ check: "changed", done: "removed", new: "added" });
  });

  it("sees a move into a branch and ignores a rename", () => {
    const before = sample();
    const after = moveStep(before, "done", { parent: "vip", branch: "then" }, 0);
    after.steps[0]!.name = "Check the stock";
    const changes = diffDefinitions(before, after);
    expect(changes).toEqual([{ stepId: "done", change: "moved", type: "state.set", name: undefined }]);
  });
});

function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}
