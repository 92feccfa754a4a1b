import { describe, expect, it } from "vitest";
import { summarize } from "./steps";

describe("summarize", () => {
  it("shows a human task whose title is an expression as the expression, not [object Object]", () => {
    const step = { id: "ask", type: "human.task", config: { title: { $expr: "'Check ' & payload.name" } } };
    expect(summarize(step)).not.toContain("[object Object]");
    expect(summarize(step)).toContain("payload.name");
    expect(summarize({ id: "t", type: "human.task", config: { title: "Approve?" } })).toContain("Approve?");
  });
});
