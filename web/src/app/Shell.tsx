// The frame around every screen: navigation, who is signed in, sign out.
import { NavLink, Outlet } from "react-router-dom";
import { useSession } from "../api/session";
import { consoleNav } from "../console/routes";
import { Logo } from "./Logo";

const ROLE_HINT: Record<string, string> = {
  viewer: "Read-only: you can look at everything but change nothing.",
  editor: "You can edit drafts, start runs, send events and complete tasks.",
  admin: "You can publish, migrate runs and use operator actions.",
};

export function Shell() {
  const { me, signOut } = useSession();
  const nav = [{ to: "/workflows", label: "Workflows", icon: "◇" }, ...consoleNav];
  return (
    <div className="shell">
      <aside className="sidebar" aria-label="Main">
        <div className="brand">
          <Logo />
          <span>flowpin</span>
        </div>
        <nav>
          {nav.map((item) => (
            <NavLink key={item.to} to={item.to} className="nav-link">
              <span className="nav-icon" aria-hidden>
                {item.icon}
              </span>
              {item.label}
            </NavLink>
          ))}
        </nav>
        <div className="who" data-testid="who">
          <div className="who-tenant" title="Tenant">
            {me?.tenant}
          </div>
          <div className={`role role-${me?.role}`} title={ROLE_HINT[me?.role ?? ""]}>
            {me?.role}
          </div>
          <button type="button" className="link-button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </aside>
      <main className="main">
        <Outlet />
      </main>
    </div>
  );
}
