// Who is signed in (GET /api/me with the pasted key) for every screen: tenant, role, and what
// the role may do. The key lives in sessionStorage only.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, forgetKey, onSignedOut, storedKey, storeKey } from "./client";
import type { Me } from "./types";

export interface Session {
  me: Me | null;
  /** True until the stored key (if any) has been checked. */
  checking: boolean;
  signIn: (key: string) => Promise<void>;
  signOut: () => void;
  canEdit: boolean;
  canPublish: boolean;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState<boolean>(() => storedKey() !== null);

  useEffect(() => {
    if (storedKey() === null) return;
    api
      .get<Me>("/me")
      .then(setMe)
      .catch(() => {
        forgetKey();
        setMe(null);
      })
      .finally(() => setChecking(false));
  }, []);

  useEffect(
    () =>
      onSignedOut(() => {
        forgetKey();
        setMe(null);
      }),
    [],
  );

  const signIn = useCallback(async (key: string) => {
    const found = await api.get<Me>("/me", { key });
    storeKey(key);
    setMe(found);
  }, []);

  const signOut = useCallback(() => {
    forgetKey();
    setMe(null);
  }, []);

  const value: Session = {
    me,
    checking,
    signIn,
    signOut,
    canEdit: me?.can.editor ?? false,
    canPublish: me?.can.admin ?? false,
  };
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error("useSession outside SessionProvider");
  return session;
}
