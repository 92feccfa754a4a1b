import { describe, expect, it } from "vitest";
import { completionsFor } from "./ExpressionEditor";
import { fromEditable, parseRuleValue, showRuleValue, toEditable } from "./RuleBuilder";
import { humanize, plainSchema } from "./ValueField";

describe("rules", () => {
  it("round-trips a single rule, groups and expressions", () => {
    const single = { field: "payload.plan", op: "equals" as const, value: "pro" };
    expect(fromEditable(toEditable(single))).toEqual(single);
    const any = { any: [single, { field: "vars.x", op: "exists" as const }] };
    expect(fromEditable(toEditable(any))).toEqual(any);
    expect(fromEditable(toEditable({ $expr: "payload.a > 1" }))).toEqual({ $expr: "payload.a > 1" });
  });

  it("drops the value of exists and notExists", () => {
    const edit = toEditable({ field: "payload.a", op: "exists", value: "x" });
    expect(fromEditable(edit)).toEqual({ field: "payload.a", op: "exists" });
  });

  it("reads typed values as people mean them", () => {
    expect(parseRuleValue("42")).toBe(42);
    expect(parseRuleValue("true")).toBe(true);
    expect(parseRuleValue("pro")).toBe("pro");
    expect(parseRuleValue('"42"')).toBe("42");
    expect(showRuleValue("42")).toBe('"42"');
    expect(showRuleValue(42)).toBe("42");
  });
});

describe("fields", () => {
  it("unwraps pydantic's optional schemas and names fields in words", () => {
    expect(plainSchema({ anyOf: [{ type: "string" }, { type: "null" }], title: "Saveas" }).type).toBe("string");
    expect(humanize("saveAs")).toBe("Save as");
    expect(humanize("timeout_ms")).toBe("Timeout ms");
  });

  it("completes known paths", () => {
    const paths = ["payload.contact.plan", "payload.contact.email", "vars.stock"];
    expect(completionsFor(paths, "payload.contact.p")).toEqual({ from: 0, options: ["payload.contact.plan"] });
    expect(completionsFor(paths, "x & vars.")?.options).toEqual(["vars.stock"]);
    expect(completionsFor(paths, "1 + ")).toBeNull();
  });
});

import { fieldOf } from "../ProblemList";

describe("problems", () => {
  it("name the field they are about", () => {
    const problem = { severity: "error" as const, code: "x", stepId: "w", message: "m", path: "steps[1].config.eventName" };
    expect(fieldOf(problem)).toBe("Event name");
    expect(fieldOf({ ...problem, path: "steps[1]" })).toBeNull();
    expect(fieldOf({ ...problem, path: "" })).toBeNull();
  });
});
