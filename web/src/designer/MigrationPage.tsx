import { useParams } from "react-router-dom";

export function MigrationPage() {
  const { key } = useParams();
  return (
    <div className="page">
      <h1>Migrate runs of {key}</h1>
    </div>
  );
}
