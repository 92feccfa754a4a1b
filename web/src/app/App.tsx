// Routes of the whole UI. The designer owns /workflows; the operations console
// (src/console/routes.tsx) owns /runs, /events and /tasks.
import { lazy, Suspense } from "react";
import { BrowserRouter, Navigate, Route, Routes } from "react-router-dom";
import { SessionProvider, useSession } from "../api/session";
import { consoleRoutes } from "../console/routes";
import { WorkflowList } from "../workflows/WorkflowList";
import { Shell } from "./Shell";
import { SignIn } from "./SignIn";

// the designer's canvas, forms and editors load when a workflow is opened, not at sign-in
const DesignerPage = lazy(() => import("../designer/DesignerPage").then((m) => ({ default: m.DesignerPage })));
const MigrationPage = lazy(() => import("../designer/MigrationPage").then((m) => ({ default: m.MigrationPage })));
const opening = <div className="boot">Opening…</div>;

function Gate() {
  const { me, checking } = useSession();
  if (checking) return <div className="boot">Loading…</div>;
  if (me === null) return <SignIn />;
  return (
    <Routes>
      <Route element={<Shell />}>
        <Route index element={<Navigate to="/workflows" replace />} />
        <Route path="workflows" element={<WorkflowList />} />
        <Route path="workflows/:key" element={<Suspense fallback={opening}><DesignerPage /></Suspense>} />
        <Route path="workflows/:key/migrate" element={<Suspense fallback={opening}><MigrationPage /></Suspense>} />
        {consoleRoutes.map((route) => (
          <Route key={route.path} path={route.path} element={route.element} />
        ))}
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

function NotFound() {
  return (
    <div className="page">
      <div className="empty">
        <h2>Nothing here</h2>
        <p>This address does not match a screen. Use the navigation on the left.</p>
      </div>
    </div>
  );
}

export function App() {
  return (
    <SessionProvider>
      <BrowserRouter>
        <Gate />
      </BrowserRouter>
    </SessionProvider>
  );
}
