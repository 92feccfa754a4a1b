import { describe, expect, it } from "vitest";
import { fieldListProblem, fieldsOf, schemaOf } from "./payloadSchema";
import { fromEditable, toEditable } from "../fields/RuleBuilder";
import { filterOrNone as triggerFilter, isCondition } from "./filters";
import { describeTriggers, filterPaths, mappingFromSchema, moveAt, newTrigger, replaceAt } from "./triggers";

const CONTACT = {
  type: "object",
  properties: {
    email: { type: "string", description: "Where journeys write to" },
    plan: { type: "string" },
    score: { type: "integer" },
    extra: {},
  },
  required: ["email"],
};

describe("the payload schema as a list of fields", () => {
  it("reads a flat schema as fields and writes the same schema back", () => {
    const list = fieldsOf(CONTACT);
    expect(list.fields).toEqual([
      { name: "email", type: "string", required: true, description: "Where journeys write to" },
      { name: "plan", type: "string", required: false, description: "" },
      { name: "score", type: "integer", required: false, description: "" },
      { name: "extra", type: "", required: false, description: "" },
    ]);
    expect(schemaOf(list.fields!, CONTACT)).toEqual(CONTACT);
  });

  it("starts from no schema and ends with none", () => {
    expect(fieldsOf(undefined)).toEqual({ fields: [], unsupported: [] });
    const made = schemaOf([{ name: "contactId", type: "string", required: true, description: "" }], undefined);
    expect(made).toEqual({ type: "object", properties: { contactId: { type: "string" } }, required: ["contactId"] });
    expect(schemaOf([], made)).toBeUndefined();
  });

  it("keeps the whole schema's title, description and additionalProperties", () => {
    const schema = { title: "Contact", additionalProperties: false, type: "object", properties: { a: { type: "string" } } };
    const list = fieldsOf(schema);
    expect(list.fields).not.toBeNull();
    expect(schemaOf([...list.fields!, { name: "b", type: "boolean", required: true, description: "" }], schema)).toEqual({
      title: "Contact",
      additionalProperties: false,
      type: "object",
      properties: { a: { type: "string" }, b: { type: "boolean" } },
      required: ["b"],
    });
  });

  it("names what the list cannot show instead of dropping it", () => {
    expect(fieldsOf({ type: "object", properties: { email: { type: "string", format: "email" } } })).toEqual({ fields: null, unsupported: ["email: format"] });
    expect(fieldsOf({ $ref: "schema:payload.Email.v1" }).unsupported).toEqual(["$ref (schema:payload.Email.v1)"]);
    expect(fieldsOf({ type: "object", properties: { tags: { type: "array", items: { type: "string" } } } }).unsupported).toEqual(["tags: items"]);
    expect(fieldsOf({ type: "object", properties: { id: { type: ["string", "null"] } } }).unsupported).toEqual(['id: type ["string","null"]']);
    expect(fieldsOf({ type: "array" }).unsupported).toEqual(['type "array"']);
    expect(fieldsOf({ type: "object", anyOf: [] }).unsupported).toEqual(["anyOf"]);
    expect(fieldsOf({ type: "object", properties: {}, required: ["ghost"] }).unsupported).toEqual(["required ghost (no such field)"]);
  });

  it("says when a list cannot become a schema yet", () => {
    const field = { type: "string" as const, required: false, description: "" };
    expect(fieldListProblem([{ ...field, name: "a" }, { ...field, name: "b" }])).toBeNull();
    expect(fieldListProblem([{ ...field, name: "a" }, { ...field, name: " " }])).toBe("Field 2 needs a name.");
    expect(fieldListProblem([{ ...field, name: "a" }, { ...field, name: "a" }])).toBe("Two fields are named “a”.");
  });
});

describe("triggers", () => {
  it("start with what they need", () => {
    expect(newTrigger("event")).toEqual({ type: "event", eventName: "" });
    expect(newTrigger("schedule")).toMatchObject({ type: "schedule", cron: "0 9 * * 1-5" });
    expect(newTrigger("manual")).toEqual({ type: "manual" });
  });

  it("map the payload schema's fields from the event", () => {
    expect(mappingFromSchema({ properties: { email: {}, "first name": {} } })).toEqual({
      email: { $expr: "event.payload.email" },
      "first name": { $expr: "event.payload.`first name`" },
    });
    expect(mappingFromSchema(undefined)).toEqual({});
  });

  it("are said in a line for the start of the canvas", () => {
    expect(describeTriggers([])).toBe("started by API or by hand");
    expect(describeTriggers([{ type: "event", eventName: "contact.created" }, { type: "schedule", cron: "0 9 * * *" }, { type: "manual" }])).toBe("on “contact.created” · every 0 9 * * * · by hand");
  });

  it("say their filter, rules with the payload's fields by name and expressions as written", () => {
    const plan = { field: "event.payload.plan", op: "contains" as const, value: "pro" };
    expect(describeTriggers([{ type: "event", eventName: "contact.created", filter: plan }])).toBe("on “contact.created” when plan contains \"pro\"");
    expect(describeTriggers([{ type: "event", eventName: "email.received", filter: { any: [{ field: "event.payload.to", op: "equals", value: "support@acme.test" }, { field: "event.key", op: "exists" }] } }])).toBe(
      "on “email.received” when to = \"support@acme.test\" or event.key exists",
    );
    expect(describeTriggers([{ type: "event", eventName: "contact.created", filter: { $expr: "event.payload.plan = 'pro'" } }])).toBe("on “contact.created” when ƒ event.payload.plan = 'pro'");
  });

  it("keep a rule filter through the rule builder, and lose the filter when no rule names a field", () => {
    const rule = { field: "event.payload.plan", op: "contains" as const, value: "pro" };
    expect(triggerFilter(fromEditable(toEditable(rule)))).toEqual(rule);
    const group = { any: [rule, { field: "event.key", op: "exists" as const }] };
    expect(triggerFilter(fromEditable(toEditable(group)))).toEqual(group);
    const expression = { $expr: "event.payload.plan = 'pro'" };
    expect(toEditable(expression)).toMatchObject({ mode: "expression", expression: expression.$expr });
    expect(triggerFilter(fromEditable(toEditable(expression)))).toEqual(expression);
    // the builder's blank rule (no filter yet), blank rules in "any", an empty expression: no filter
    expect(triggerFilter(fromEditable(toEditable(undefined)))).toBeUndefined();
    expect(triggerFilter({ any: [{ field: " ", op: "equals", value: "" }, { field: "", op: "exists" }] })).toBeUndefined();
    expect(triggerFilter({ $expr: "  " })).toBeUndefined();
    expect(triggerFilter(undefined)).toBeUndefined();
    // a rule still being written beside a whole one is kept as it is (publishing says what is missing)
    expect(triggerFilter({ all: [rule, { field: "", op: "equals", value: "" }] })).toEqual({ all: [rule, { field: "", op: "equals", value: "" }] });
  });

  it("tell a condition from a literal filter, and say a literal without a condition", () => {
    expect(isCondition({ field: "event.key", op: "exists" })).toBe(true);
    expect(isCondition({ all: [{ any: [{ $expr: "true" }] }] })).toBe(true);
    expect(isCondition({ field: 5, op: "equals" })).toBe(false);
    expect(isCondition({ all: "no" })).toBe(false);
    expect(isCondition({})).toBe(false);
    expect(isCondition(true)).toBe(false);
    expect(describeTriggers([{ type: "event", eventName: "contact.created", filter: { field: 5 } as never }])).toBe("on “contact.created”");
  });

  it("offer the event's fields to a filter, with the payload's from the schema or the mapping", () => {
    const schema = { type: "object", properties: { plan: {}, "first name": {} } };
    expect(filterPaths({ type: "event", eventName: "contact.created" }, schema)).toEqual(["event.name", "event.key", "event.payload", "event.payload.plan", "event.id", "event.receivedAt"]);
    const mapped = { type: "event", eventName: "contact.created", subject: { $expr: "event.payload.contact.id" }, payloadMapping: { email: { $expr: "event.payload.email" }, tier: { $expr: "$uppercase(event.payload.plan)" } } };
    expect(filterPaths(mapped, schema)).toEqual(["event.name", "event.key", "event.payload", "event.payload.contact.id", "event.payload.email", "event.payload.plan", "event.id", "event.receivedAt"]);
  });

  it("are replaced, removed and moved in their list", () => {
    expect(replaceAt(["a", "b", "c"], 1, "x")).toEqual(["a", "x", "c"]);
    expect(replaceAt(["a", "b", "c"], 1, undefined)).toEqual(["a", "c"]);
    expect(moveAt(["a", "b", "c"], 0, 1)).toEqual(["b", "a", "c"]);
    expect(moveAt(["a", "b", "c"], 0, -1)).toEqual(["a", "b", "c"]);
  });
});
