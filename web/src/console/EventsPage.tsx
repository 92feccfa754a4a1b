// Events: what arrived and what each did (runs resumed, started, nothing), filters, an event's
// payload (redacted by the API) with the runs it touched, and a form to send one (editor).
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { describeError } from "../api/client";
import { consoleApi, type EventFilters, type EventItem } from "../api/console";
import { useLoad } from "../api/hooks";
import { useSession } from "../api/session";
import { Modal } from "../app/Modal";
import { isoToLocal, localToIso, plural, relativeTime, zoneName } from "../app/format";
import { dateTime, FilterButtons, formatDuration, JsonBlock, LIVE_MS, shortId, StatusPill } from "./parts";

const PAGE = 50;
const FILTER_NAMES = ["name", "key", "outcome", "receivedAfter", "receivedBefore"] as const;

export function EventsPage() {
  const { canEdit } = useSession();
  const [params, setParams] = useSearchParams();
  const filters: EventFilters = {};
  for (const name of FILTER_NAMES) filters[name] = params.get(name) ?? undefined;
  const filtered = FILTER_NAMES.some((name) => filters[name]);
  const filterKey = JSON.stringify(filters);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  const events = useLoad(() => consoleApi.events(filters, PAGE, cursor), [filterKey, cursor], LIVE_MS);
  const openId = params.get("open");
  const [sending, setSending] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  function setParam(name: string, value: string | null) {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: name === "open" ? false : true });
    if (name !== "open") setCursors([null]);
  }

  function onFilter(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = new URLSearchParams();
    for (const name of FILTER_NAMES) {
      let value = String(form.get(name) ?? "").trim();
      if (name === "receivedAfter" || name === "receivedBefore") value = localToIso(value) ?? "";
      if (value) next.set(name, value);
    }
    setParams(next, { replace: true });
    setCursors([null]);
  }

  const items = events.data?.items ?? [];
  return (
    <div className="page console-page">
      <header className="page-header">
        <div>
          <h1>Events</h1>
          <p className="muted">Messages your application sent: which runs each one resumed or started, and which reached none.</p>
        </div>
        {canEdit && (
          <div className="actions">
            <button className="btn btn-primary" type="button" onClick={() => setSending(true)}>
              Send an event
            </button>
          </div>
        )}
      </header>
      <form className="filters" onSubmit={onFilter} key={filterKey} aria-label="Filter events">
        <label>
          Name
          <input name="name" defaultValue={filters.name ?? ""} placeholder="e.g. email.received" />
        </label>
        <label>
          Key
          <input name="key" defaultValue={filters.key ?? ""} placeholder="correlation key" />
        </label>
        <label>
          Outcome
          <select name="outcome" defaultValue={filters.outcome ?? ""}>
            <option value="">Any</option>
            <option value="matched">Reached a run</option>
            <option value="unmatched">Reached no run</option>
          </select>
        </label>
        <label>
          Received from ({zoneName()})
          <input name="receivedAfter" type="datetime-local" defaultValue={isoToLocal(filters.receivedAfter)} />
        </label>
        <label>
          to
          <input name="receivedBefore" type="datetime-local" defaultValue={isoToLocal(filters.receivedBefore)} />
        </label>
        <FilterButtons
          filtered={filtered}
          onClear={() => {
            setParams(new URLSearchParams(), { replace: true });
            setCursors([null]);
          }}
        />
      </form>
      {notice && (
        <div className="alert alert-info" role="status" onClick={() => setNotice(null)}>
          {notice}
        </div>
      )}
      {events.error ? (
        <div className="alert alert-error" role="alert">
          The events could not be loaded: {describeError(events.error)}
        </div>
      ) : null}
      {!events.loading && items.length === 0 ? (
        <div className="empty">
          <h2>No events{filtered ? " match these filters" : " yet"}</h2>
        </div>
      ) : (
        <table className="table" aria-label="Events">
          <thead>
            <tr>
              <th>Name</th>
              <th>Key</th>
              <th>Received</th>
              <th className="num">Resumed</th>
              <th className="num">Started</th>
              <th>Outcome</th>
              <th>Buffered</th>
            </tr>
          </thead>
          <tbody>
            {items.map((event) => (
              <tr key={event.id} data-testid="event-row">
                <td>
                  <button type="button" className="link-button row-title" onClick={() => setParam("open", event.id)}>
                    {event.name}
                  </button>
                </td>
                <td>{event.key ? <code>{event.key}</code> : <span className="muted">—</span>}</td>
                <td title={dateTime(event.receivedAt)}>{relativeTime(event.receivedAt)}</td>
                <td className="num">{event.resumedRuns.length + event.consumedBy.length}</td>
                <td className="num">{event.startedRuns.length}</td>
                <td>{event.unmatched ? <span className="pill pill-warn">reached no run</span> : <span className="pill pill-ok">matched</span>}</td>
                <td>{ttlText(event)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        <button className="btn btn-small" type="button" disabled={cursors.length === 1} onClick={() => setCursors((s) => s.slice(0, -1))}>
          ← Newer
        </button>
        <span className="muted small">Page {cursors.length}</span>
        <button
          className="btn btn-small"
          type="button"
          disabled={!events.data?.nextCursor}
          onClick={() => events.data?.nextCursor && setCursors((s) => [...s, events.data!.nextCursor!])}
        >
          Older →
        </button>
      </div>
      {openId && <EventDetailDialog id={openId} onClose={() => setParam("open", null)} />}
      {sending && (
        <SendEventDialog
          onClose={() => setSending(false)}
          onSent={(text) => {
            setSending(false);
            setNotice(text);
            events.reload();
          }}
        />
      )}
    </div>
  );
}

function ttlText(event: EventItem): string {
  if (event.ttlLeftMs === null) return "—";
  if (event.ttlLeftMs === 0) return "expired";
  return `${formatDuration(event.ttlLeftMs)} left`;
}

function EventDetailDialog({ id, onClose }: { id: string; onClose: () => void }) {
  const detail = useLoad(() => consoleApi.event(id), [id]);
  const event = detail.data;
  return (
    <Modal title={event ? `Event ${event.name}` : "Event"} onClose={onClose} wide>
      {detail.error ? (
        <div className="alert alert-error" role="alert">
          {describeError(detail.error)}
        </div>
      ) : null}
      {event && (
        <div className="event-detail">
          <p className="muted small">
            id <code>{event.id}</code>
            {event.eventId && event.eventId !== event.id && (
              <>
                {" "}
                · sent as <code>{event.eventId}</code>
              </>
            )}{" "}
            · key <code>{event.key ?? "(none)"}</code> · received {dateTime(event.receivedAt)} · {ttlText(event)}
          </p>
          <JsonBlock label="payload" value={event.payload} open />
          <h3>Runs it touched</h3>
          {event.runs.length === 0 ? (
            <p>No run: nothing waited for it and no trigger matched it{event.ttlLeftMs ? "; a run that starts waiting before it expires still gets it" : ""}.</p>
          ) : (
            <ul className="plain-list">
              {event.runs.map((run) => (
                <li key={`${run.runId}:${run.relation}`}>
                  {run.relation}{" "}
                  <Link to={`/runs/${run.runId}`}>
                    {run.workflow} v{run.version} · {run.subject ?? shortId(run.runId)}
                  </Link>{" "}
                  <StatusPill status={run.status} />
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </Modal>
  );
}

function SendEventDialog({ onClose, onSent }: { onClose: () => void; onSent: (text: string) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const name = String(form.get("name") ?? "").trim();
    const key = String(form.get("key") ?? "").trim();
    const ttl = String(form.get("ttl") ?? "").trim();
    let payload: unknown = undefined;
    const text = String(form.get("payload") ?? "").trim();
    if (text) {
      try {
        payload = JSON.parse(text);
      } catch {
        setError("The payload is not valid JSON (use double quotes around names and strings).");
        return;
      }
    }
    setBusy(true);
    try {
      const sent = await consoleApi.sendEvent({
        name,
        ...(key ? { key } : {}),
        ...(payload !== undefined ? { payload } : {}),
        ...(ttl ? { ttlMs: Math.round(Number(ttl) * 1000) } : {}),
      });
      onSent(
        sent.duplicate
          ? "This event was sent before: nothing new happened."
          : `Event sent: resumed ${plural(sent.resumed.length, "run")}, started ${plural(sent.started.length, "run")}.`,
      );
    } catch (failure) {
      setError(describeError(failure));
      setBusy(false);
    }
  }

  return (
    <Modal title="Send an event" onClose={onClose}>
      <form className="form" onSubmit={submit}>
        <label htmlFor="event-name">Name</label>
        <input id="event-name" name="name" required placeholder="e.g. contract.signed" />
        <label htmlFor="event-key">Key</label>
        <input id="event-key" name="key" placeholder="correlation key, e.g. a contact id" />
        <label htmlFor="event-payload">Payload (JSON)</label>
        <textarea id="event-payload" name="payload" rows={6} placeholder='{"plan": "pro"}' className="mono" />
        <label htmlFor="event-ttl">Keep for (seconds)</label>
        <input id="event-ttl" name="ttl" type="number" min={0} placeholder="0: only runs waiting now get it" />
        {error && (
          <div className="alert alert-error" role="alert">
            {error}
          </div>
        )}
        <div className="form-actions">
          <button className="btn" type="button" onClick={onClose}>
            Back
          </button>
          <button className="btn btn-primary" type="submit" disabled={busy}>
            Send
          </button>
        </div>
      </form>
    </Modal>
  );
}
