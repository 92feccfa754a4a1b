// The operations console's screens (issue 13) — owned by the console work. The app shell adds
// `consoleNav` to its navigation and mounts `consoleRoutes` inside the signed-in frame.
import type { ReactElement } from "react";
import { Placeholder } from "./Placeholder";

export interface ConsoleRoute {
  path: string;
  element: ReactElement;
}

export const consoleNav = [
  { to: "/runs", label: "Runs", icon: "▶" },
  { to: "/events", label: "Events", icon: "✉" },
  { to: "/tasks", label: "Tasks", icon: "✓" },
];

export const consoleRoutes: ConsoleRoute[] = [
  { path: "runs", element: <Placeholder title="Runs" /> },
  { path: "runs/:runId", element: <Placeholder title="Run" /> },
  { path: "events", element: <Placeholder title="Events" /> },
  { path: "tasks", element: <Placeholder title="Tasks" /> },
];
