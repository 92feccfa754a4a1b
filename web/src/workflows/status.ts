// A workflow's status in the list, in the words the list uses.
import type { WorkflowSummary } from "../api/types";

export type WorkflowStatus = "paused" | "draft only" | "live";

/** Paused wins; otherwise a workflow is live only once a version is published (the draft alone
 * runs nothing). */
export function workflowStatus(workflow: Pick<WorkflowSummary, "paused" | "latestVersion">): WorkflowStatus {
  if (workflow.paused) return "paused";
  return workflow.latestVersion ? "live" : "draft only";
}
