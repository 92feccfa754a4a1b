// Routes of the whole UI. The designer owns /workflows; the operations console
// (src/console/routes.tsx) owns /runs, /events and /tasks.
import { BrowserRouter, Navigate, Route, Routes } from "react-router-dom";
import { SessionProvider, useSession } from "../api/session";
import { consoleRoutes } from "../console/routes";
import { WorkflowList } from "../workflows/WorkflowList";
import { DesignerPage } from "../designer/DesignerPage";
import { MigrationPage } from "../designer/MigrationPage";
import { Shell } from "./Shell";
import { SignIn } from "./SignIn";

function Gate() {
  const { me, checking } = useSession();
  if (checking) return <div className="boot">Loading…</div>;
  if (me === null) return <SignIn />;
  return (
    <Routes>
      <Route element={<Shell />}>
        <Route index element={<Navigate to="/workflows" replace />} />
        <Route path="workflows" element={<WorkflowList />} />
        <Route path="workflows/:key" element={<DesignerPage />} />
        <Route path="workflows/:key/migrate" element={<MigrationPage />} />
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
