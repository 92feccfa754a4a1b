// The operations console's screens (issue 13). The app shell adds `consoleNav` to its
// navigation and mounts `consoleRoutes` inside the signed-in frame.
import type { ReactElement } from "react";
import "./console.css";
import { EventsPage } from "./EventsPage";
import { RunPage } from "./RunPage";
import { RunsPage } from "./RunsPage";
import { TasksPage } from "./TasksPage";

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
  { path: "runs", element: <RunsPage /> },
  { path: "runs/:runId", element: <RunPage /> },
  { path: "events", element: <EventsPage /> },
  { path: "tasks", element: <TasksPage /> },
];
