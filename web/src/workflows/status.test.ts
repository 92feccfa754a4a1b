import { describe, expect, it } from "vitest";
import { workflowStatus } from "./status";

describe("workflowStatus", () => {
  it("is draft only for a workflow that was never published", () => {
    expect(workflowStatus({ paused: false, latestVersion: null })).toBe("draft only");
  });
  it("is live once a version is published", () => {
    expect(workflowStatus({ paused: false, latestVersion: 1 })).toBe("live");
  });
  it("is paused when paused, published or not", () => {
    expect(workflowStatus({ paused: true, latestVersion: 2 })).toBe("paused");
    expect(workflowStatus({ paused: true, latestVersion: null })).toBe("paused");
  });
});
