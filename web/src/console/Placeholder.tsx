// Stands in for a console screen until the operations console lands (issue 13).
export function Placeholder({ title }: { title: string }) {
  return (
    <div className="page">
      <header className="page-header">
        <h1>{title}</h1>
      </header>
      <div className="empty">
        <h2>{title} is coming soon</h2>
        <p>This part of the operations console is not built yet. The API has it already: see /docs.</p>
      </div>
    </div>
  );
}
