// Sign in by pasting an API key; it is kept for this browser tab only.
import { useState, type FormEvent } from "react";
import { ApiError, describeError } from "../api/client";
import { useSession } from "../api/session";
import { Logo } from "./Logo";

export function SignIn() {
  const { signIn } = useSession();
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(key.trim());
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.status === 401
          ? "This key is not known to this server, or it was revoked."
          : describeError(failure),
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="signin">
      <form className="signin-card" onSubmit={submit}>
        <div className="signin-brand">
          <Logo size={36} />
          <h1>flowpin</h1>
        </div>
        <p className="muted">
          Paste an API key to sign in. It stays in this browser tab only and is forgotten when you
          close it.
        </p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          placeholder="fp_…"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          autoFocus
        />
        {error && (
          <div className="alert alert-error" role="alert">
            {error}
          </div>
        )}
        <button className="btn btn-primary" type="submit" disabled={busy || key.trim() === ""}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        <p className="hint">
          No key yet? <code>flowpin serve</code> prints an admin key on its first start;{" "}
          <code>flowpin keys create --role viewer</code> makes more.
        </p>
      </form>
    </div>
  );
}
