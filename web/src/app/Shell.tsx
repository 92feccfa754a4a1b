// The frame around every screen: navigation, who is signed in, sign out. Below 1,100 px the
// navigation is a rail of icons (each still named) so a laptop's width goes to the page.
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
          <span className="rail-hide">flowpin</span>
        </div>
        <nav>
          {nav.map((item) => (
            <NavLink key={item.to} to={item.to} className="nav-link" title={item.label}>
              <span className="nav-icon" aria-hidden>
                {item.icon}
              </span>
              <span className="rail-hide">{item.label}</span>
            </NavLink>
          ))}
        </nav>
        <div className="who" data-testid="who">
          <div className="who-tenant" title={`Tenant ${me?.tenant ?? ""}`}>
            <span className="rail-only" aria-hidden>
              {(me?.tenant ?? "?").slice(0, 2)}
            </span>
            <span className="rail-hide">{me?.tenant}</span>
          </div>
          <div className={`role role-${me?.role}`} title={ROLE_HINT[me?.role ?? ""]}>
            {me?.role}
          </div>
          <button type="button" className="link-button" onClick={signOut} title="Sign out">
            <span className="rail-only" aria-hidden>
              ⎋
            </span>
            <span className="rail-hide">Sign out</span>
          </button>
        </div>
      </aside>
      <main className="main">
        <Outlet />
      </main>
    </div>
  );
}
